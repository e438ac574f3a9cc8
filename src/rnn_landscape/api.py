"""Stored surfaces from Python: find them, open one, slice it, find its walls.

Everything here reads what `snakemake` stored under a results folder
(`results/surfaces/<preset>/<surface>.zarr`) and computes nothing again. With the
default surfaces computed, from the repository root (tests/test_api.py runs
these lines as doctests against the default `figure6_zoom` and `steps_sweep`):

>>> from rnn_landscape import find_walls, loss_slice, open_surface, predicted_walls
>>> ds = open_surface("paper", "steps_sweep")
>>> ds.attrs["loss_formula"]
'E_T = (sigmoid(x_T) - target)^2'
>>> sizes = dict(ds.sizes)
>>> print(sizes["steps"], sizes["target"], sizes["b"], sizes["w"])
12 1 601 1
>>> e50 = loss_slice(ds, steps=50)  # E_50 over (b, w), at the first target
>>> print(e50.dims, float(e50.target))
('b', 'w') 0.7
>>> print(f"{float(predicted_walls(ds).sel(w=5)):.4f}")  # b = x0 - w sigmoid(x0)
-2.6123
>>> walls = find_walls(ds, steps=50)  # one jump, between the points around b*
>>> print(walls.sizes["point"], float(walls.b[0]), round(float(walls.jump[0]), 3))
1 -2.6125 -0.332

`list_surfaces` and `describe_store` read metadata and coordinates only: they
are what `rnn-landscape list` and `rnn-landscape show` print.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import store
from .variables import VARIABLES

# xarray, zarr's readers and the theory (which compiles numba kernels) are
# imported where used: `rnn-landscape list` needs none of them.
if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "StoreSummary",
    "describe_store",
    "find_walls",
    "list_surfaces",
    "loss_slice",
    "open_surface",
    "predicted_walls",
    "slice_at",
    "surface_path",
    "wall_b",
]

PARTIAL = ".zarr.partial"


def surface_path(preset: str, surface: str, results: str | Path = "results") -> Path:
    """Where the workflow stores a surface: `<results>/surfaces/<preset>/<surface>.zarr`.

    >>> surface_path("paper", "figure6_zoom").as_posix()
    'results/surfaces/paper/figure6_zoom.zarr'
    """
    return Path(results) / "surfaces" / preset / f"{surface}.zarr"


def open_surface(preset: str, surface: str, results: str | Path = "results") -> xr.Dataset:
    """Open a complete stored surface lazily, by preset and surface name.

    Raises `FileNotFoundError` naming the stores there are when there is none at
    that path, and `store.IncompleteStore` for a store not marked complete or
    missing chunk files (its gaps would read as NaN).

    >>> ds = open_surface("paper", "figure6_zoom")
    >>> print(ds.attrs["preset"], ds.attrs["surface"], ds.attrs["x0"])
    paper figure6_zoom 0.5
    >>> open_surface("paper", "figure7")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no store at results/surfaces/paper/figure7.zarr; ...
    """
    path = surface_path(preset, surface, results)
    if not path.is_dir():
        raise FileNotFoundError(_not_found(path, results))
    return store.open_surface(path)


def _not_found(path: Path, results: str | Path) -> str:
    partial = store.partial_path(path)
    if partial.is_dir():
        return (
            f"no store at {path.as_posix()}; {partial.as_posix()} is being built, or was"
            " left by an interrupted run: run snakemake to finish it"
        )
    try:
        there = [f"{s.preset}/{s.surface}" for s in list_surfaces(results)]
    except FileNotFoundError:
        there = []
    known = f"stores under {results}: {', '.join(there)}" if there else "none there yet"
    return (
        f"no store at {path.as_posix()}; {known}. Run snakemake to compute the"
        " surfaces of the config, or pass results= the folder it wrote"
    )


def slice_at(
    dataset: xr.Dataset, name: str = "loss", *, steps: int | None = None, target=None
) -> xr.DataArray:
    """Variable `name` at one step count and one target, over (b, w).

    `steps` defaults to the largest step count stored, `target` to the first
    target (as the figures draw); `state` has no target and ignores it. The two
    are kept as scalar coordinates. A value that is not stored is refused with
    the values that are.

    >>> ds = open_surface("notebook", "steps_sweep")
    >>> x = slice_at(ds, "state", steps=100)
    >>> print(x.dims, int(x.steps), f"{float(x.sel(b=-3, w=5)):.4f}")
    ('b', 'w') 100 -2.6788
    >>> slice_at(ds, steps=7)
    Traceback (most recent call last):
    ...
    ValueError: steps=7 is not stored in ...; it holds steps 1, 2, 3, 4, 5, 6, 10, ...
    """
    if name not in dataset.data_vars:
        stored = ", ".join(map(str, dataset.data_vars))
        raise KeyError(f"no variable '{name}' in the store; it holds {stored}")
    return _select(dataset[name], steps, target, dataset.attrs.get("surface"))


def loss_slice(dataset: xr.Dataset, *, steps: int | None = None, target=None):
    """`slice_at(dataset, "loss", ...)`: the loss E_T over (b, w) at one T and target.

    >>> e = loss_slice(open_surface("paper", "figure6_zoom"))  # T = 50, target 0.7
    >>> print(int(e.steps), float(e.target), f"{float(e.sel(w=5, b=-1)):.4f}")
    50 0.7 0.0785
    """
    return slice_at(dataset, "loss", steps=steps, target=target)


def _select(variable: xr.DataArray, steps, target, surface=None) -> xr.DataArray:
    """The (b, w) slice of `variable` at `steps` and `target` where it has those
    dimensions (None: the last step count, the first target)."""
    where = {}
    for dim, value in (("steps", steps), ("target", target)):
        if dim in variable.dims:
            where[dim] = _index(variable[dim].values, dim, value, surface)
    return variable.isel(where).transpose("b", "w")


def _index(values: np.ndarray, dim: str, value, surface: str | None) -> int:
    """Position of `value` among a dimension's `values`; targets match up to
    rounding, as 0.7 typed and 0.7 stored do."""
    if value is None:
        return values.size - 1 if dim == "steps" else 0
    found = np.flatnonzero(np.isclose(values, value, rtol=1e-12, atol=0.0))
    if found.size == 0:
        where = f"surface '{surface}'" if surface else "this slice"
        stored = ", ".join(f"{v:g}" for v in values)
        raise ValueError(f"{dim}={value} is not stored in {where}; it holds {dim} {stored}")
    return int(found[0])


def find_walls(data, *, steps: int | None = None, target=None, **criterion) -> xr.Dataset:
    """Where the loss jumps between neighbouring grid points: `walls.find_walls`
    on one (b, w) slice.

    `data` is a store's Dataset or its `loss` (a DataArray with dims b and w,
    and steps and target as dimensions or scalars); `steps` and `target` pick the
    slice as in `slice_at`. `criterion` passes `ratio`, `window` and `floor` on.
    From a Dataset the result also has `distance`: grid steps from each point to
    the nearest predicted curve (`theory.predicted_curves`; on a grid with a
    single w, steps along b to `predicted_walls`).

    >>> walls = find_walls(open_surface("paper", "figure6_zoom"))
    >>> print(walls.sizes["point"] > 100, float(walls.distance.max()) < 1)
    True True
    """
    import xarray as xr

    from . import walls

    if isinstance(data, xr.Dataset):
        loss = slice_at(data, "loss", steps=steps, target=target)
    else:
        loss = _select(data, steps, target)
    found = walls.find_walls(loss.load(), **criterion)
    if isinstance(data, xr.Dataset):
        found["distance"] = _distance(found, data)
    return found


def _distance(found: xr.Dataset, dataset: xr.Dataset) -> xr.DataArray:
    import xarray as xr

    from .theory import predicted_curves
    from .walls import compare_walls

    long_name = {"long_name": "grid steps to nearest predicted curve"}
    if dataset.sizes["w"] > 1 and dataset.sizes["b"] > 1:
        limits = [(float(dataset[axis].min()), float(dataset[axis].max())) for axis in "wb"]
        curves = predicted_curves(dataset.attrs["x0"], *limits, dataset.attrs["activation"])
        return compare_walls(found, curves).distance.assign_attrs(long_name)
    # One w (a sweep along b): the curves are points there, so measure along b.
    wall = predicted_walls(dataset).sel(w=found.w)
    spacing = found.attrs["b_spacing"] or math.nan
    distance = np.abs(found.b - wall).values / spacing
    return xr.DataArray(np.nan_to_num(distance, nan=np.inf), dims="point", attrs=long_name)


def predicted_walls(dataset: xr.Dataset) -> xr.DataArray:
    """The bias b at which theory puts the wall, at each w of the store.

    x_T jumps for large T where x_0 changes basin (`theory.wall_curves`): on the
    line b = x0 - w act(x0) where x0 is an unstable fixed point, |w act'(x0)| > 1,
    and for w between the cusp and that line on the fold w act'(x) = 1 with x
    between 0 and x0. At most one of them crosses each w. NaN where no wall
    crosses; the b may lie outside the stored range.

    >>> wall = predicted_walls(open_surface("notebook", "figure6_zoom"))
    >>> print(wall.dims, f"{float(wall.sel(w=5)):.4f}")  # x0 = 0: b = -w / 2
    ('w',) -2.5000
    """
    import xarray as xr

    w = dataset.w.values
    b = wall_b(w, float(dataset.attrs["x0"]), dataset.attrs["activation"])
    attrs = {"long_name": "bias b of the predicted wall", "x0": dataset.attrs["x0"]}
    return xr.DataArray(b, coords={"w": dataset.w}, dims="w", name="wall_b", attrs=attrs)


def wall_b(w, x0: float, activation: str = "sigmoid") -> np.ndarray:
    """The b of the wall at each weight `w` (NaN where there is none); see
    `predicted_walls`. Agrees with every sample of `theory.wall_curves`
    (tests/test_api.py)."""
    from .kernel import ACTIVATIONS
    from .theory import basin_boundary_b, instability_edge, where_slope

    w = np.asarray(w, dtype=np.float64)
    # As `theory.wall_curves` has it: the line's ends, where the multiplier is
    # +-1, included (w act'(x0) could round to just below 1).
    unstable = np.abs(w) >= instability_edge(x0, activation)
    b = np.where(unstable, basin_boundary_b(w, x0, activation), np.nan)
    if activation == "linear" or x0 == 0.0:
        return b  # no fold, or a fold stretch of one point (the cusp)

    with np.errstate(divide="ignore"):
        x = math.copysign(1.0, x0) * where_slope(1.0 / w, activation)
    # NaN where w is below the cusp or not positive: no fold there.
    on_fold = ~unstable & (w > 0) & (np.abs(x) <= abs(x0))
    with np.errstate(invalid="ignore"):
        fold_b = x - w * ACTIVATIONS[activation](x)
    return np.where(on_fold, fold_b, b)


@dataclass(frozen=True)
class StoreSummary:
    """One surface store under a results folder, from its metadata and coordinates.

    `status` is "complete", "incomplete" (a store at its final path that is not:
    `problems` says why) or "partial" (a `.zarr.partial` being built, or left by
    an interrupted run; `chunks_written` of `chunks` so far).
    """

    path: str
    preset: str
    surface: str
    status: str
    sizes: dict[str, int]
    steps: list[int]
    targets: list[float]
    variables: list[str]
    bytes_on_disk: int
    chunks: int
    chunks_written: int
    problems: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def list_surfaces(results: str | Path = "results") -> list[StoreSummary]:
    """Every surface store under `<results>/surfaces`, partial ones included,
    sorted by preset and surface. Raises `FileNotFoundError` if `results` is not
    a folder; an empty list if nothing has been computed there yet.

    >>> [f"{s.preset}/{s.surface} {s.status}" for s in list_surfaces()]
    ['notebook/figure6_zoom complete', 'notebook/steps_sweep complete', \
'paper/figure6_zoom complete', 'paper/steps_sweep complete']
    """
    results = Path(results)
    if not results.is_dir():
        raise FileNotFoundError(f"no results folder at {results}")
    found = [
        path
        for pattern in ("*/*.zarr", f"*/*{PARTIAL}")
        for path in (results / "surfaces").glob(pattern)
        if path.is_dir()
    ]
    summaries = [_summary(path) for path in found]
    return sorted(summaries, key=lambda s: (s.preset, s.surface, s.status == "partial"))


def _summary(path: Path) -> StoreSummary:
    preset = path.parent.name
    surface = path.name.removesuffix(PARTIAL).removesuffix(".zarr")
    try:
        described = describe_store(path)
    except (ValueError, OSError) as error:
        # Not a store, or metadata that cannot be read: listed, with the reason.
        described = {
            "status": _status(path, [str(error)]),
            "problems": [str(error)],
            "bytes_on_disk": bytes_on_disk(path),
            **dict.fromkeys(("chunks", "chunks_written"), 0),
            **dict.fromkeys(("dimensions", "variables", "attributes"), {}),
        }

    dims = described["dimensions"]
    attrs = described["attributes"]
    return StoreSummary(
        path=path.as_posix(),
        preset=attrs.get("preset", preset),
        surface=attrs.get("surface", surface),
        status=described["status"],
        sizes={dim: spec["size"] for dim, spec in dims.items()},
        steps=dims.get("steps", {}).get("values", []),
        targets=dims.get("target", {}).get("values", []),
        variables=list(described["variables"]),
        bytes_on_disk=described["bytes_on_disk"],
        chunks=described["chunks"],
        chunks_written=described["chunks_written"],
        problems=described["problems"],
    )


def _status(path: Path, problems: list[str]) -> str:
    if path.name.endswith(PARTIAL):
        return "partial"
    return "incomplete" if problems else "complete"


def describe_store(path: str | Path) -> dict:
    """A store's summary as JSON-native values, from metadata and coordinates only:
    `status` and `problems` (as in `StoreSummary`), `bytes_on_disk`, `chunks` and
    `chunks_written` (data chunks with a file), `dimensions` (size, first, last,
    spacing to 12 digits if uniform, every value of steps and target),
    `variables` (dims, dtype, shape, chunk shape, long_name, units) and
    `attributes` (`config` as an object).

    Raises `integrity.NotAStore` if `path` holds no Zarr format 2 store.

    >>> info = describe_store("results/surfaces/paper/figure6_zoom.zarr")
    >>> print(info["status"], info["dimensions"]["w"])
    complete {'size': 181, 'first': 4.5, 'last': 5.4, 'spacing': 0.005}
    >>> info["variables"]["loss"]["chunks"]
    [1, 1, 512, 512]
    """
    from .integrity import NotAStore, is_store

    path = Path(path)
    if not is_store(path):
        raise NotAStore(
            f"{path} is not a Zarr format 2 store: it has no .zgroup or .zmetadata"
        )
    consolidated = (path / ".zmetadata").is_file()
    metadata = (
        store.consolidated_metadata(path) if consolidated else store.file_metadata(path)
    )
    arrays = store.arrays_of(metadata)
    coordinates = _coordinate_names(metadata, arrays)
    data = {name: array for name, array in arrays.items() if name not in coordinates}
    chunks = sum(len(store.chunk_keys(array)) for array in data.values())
    missing = store.missing_chunks(path, data)
    problems = [] if path.name.endswith(PARTIAL) else store.incompleteness(path)

    return {
        "path": path.as_posix(),
        "status": _status(path, problems),
        "problems": problems,
        "bytes_on_disk": bytes_on_disk(path),
        "chunks": chunks,
        "chunks_written": chunks - len(missing),
        "dimensions": _dimensions(path, metadata, arrays),
        "variables": {name: _variable(name, metadata) for name in _in_order(data)},
        "attributes": _attributes(metadata.get(".zattrs", {})),
    }


def _in_order(names) -> list[str]:
    """Variables in the order the package writes them; any other after, sorted."""
    known = VARIABLES["second"]
    return sorted(
        names,
        key=lambda name: (known.index(name), "") if name in known else (len(known), name),
    )


def _dimensions(path: Path, metadata: dict, arrays: dict[str, dict]) -> dict[str, dict]:
    """Each dimension coordinate (a 1-D array named after its dimension), read."""
    import zarr

    dimensions = {}
    for name in _coordinate_names(metadata, arrays):
        values = zarr.open_array(path / name, mode="r", zarr_format=store.ZARR_FORMAT)[...]
        spec = {"size": int(values.size)}
        if values.size:
            spec |= {"first": values[0].item(), "last": values[-1].item()}
        spacing = _spacing(values)
        if spacing is not None:
            spec["spacing"] = spacing
        if name in ("steps", "target"):
            spec["values"] = values.tolist()
        dimensions[name] = spec
    return dimensions


def _coordinate_names(metadata: dict, arrays: dict[str, dict]) -> list[str]:
    """Dimension coordinates, those of a surface first in their order (the
    trajectories' `run` and `iteration` too, for a store of those)."""
    names = [
        name
        for name in arrays
        if metadata.get(f"{name}/.zattrs", {}).get("_ARRAY_DIMENSIONS") == [name]
    ]
    order = list(store.COORD_NAMES)
    return sorted(names, key=lambda name: (order + [name]).index(name))


def _spacing(values: np.ndarray) -> float | None:
    """The grid spacing of a uniform axis (linspace) to 12 significant digits,
    as a config writes it; None for one value, or for uneven steps such as the
    step counts."""
    if values.size < 2 or values.dtype.kind != "f":
        return None
    steps = np.diff(values)
    if not np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        return None
    return float(f"{(values[-1] - values[0]) / (values.size - 1):.12g}")


def _variable(name: str, metadata: dict) -> dict:
    array = metadata[f"{name}/.zarray"]
    attrs = metadata.get(f"{name}/.zattrs", {})
    return {
        "dims": attrs.get("_ARRAY_DIMENSIONS", []),
        "dtype": np.dtype(array["dtype"]).name,
        "shape": array["shape"],
        "chunks": array["chunks"],
        "long_name": attrs.get("long_name", ""),
        "units": attrs.get("units", ""),
    }


def _attributes(attrs: dict) -> dict:
    attrs = dict(attrs)
    if isinstance(attrs.get("config"), str):
        # A damaged job stays as the text it is; `rnn-landscape check` explains it.
        with contextlib.suppress(ValueError):
            attrs["config"] = json.loads(attrs["config"])
    return attrs


def bytes_on_disk(path: str | Path) -> int:
    """Space the store takes, as `du -s` counts it: allocated blocks of every
    file and folder (a store of many small chunks takes more than their sizes)."""
    total = 0
    for root, _, files in os.walk(path):
        for entry in [root, *(os.path.join(root, name) for name in files)]:
            stat = os.lstat(entry)
            # st_blocks counts 512-byte units on every POSIX system; not on Windows.
            total += getattr(stat, "st_blocks", 0) * 512 or stat.st_size
    return total
