"""Does a surface store keep the data contract? `check_store` lists every way it
does not, in the order of its report:

- metadata: Zarr format 2 with consolidated metadata that agrees with the files
  it was copied from (xarray reads the first and zarr without consolidation the
  second, so an edit to only one of them makes two different stores);
- attributes: each one the README's contract names, of its JSON type, and
  `config` a job that `Job.from_json` rebuilds and the other attributes match;
- dimensions, coordinates and variables against that job: names and sizes,
  dtypes, coordinate values bit for bit, `long_name`s, chunk layout, and exactly
  the variables its `derivatives` asks for;
- completeness: `complete` is true and every chunk has its file. A chunk never
  written reads as NaN, and so does a true NaN (the alignment of a zero
  gradient): files tell the two apart, values cannot;
- values: a seeded sample of grid points computed again by the engine's own
  function, `quantities.stacked_quantities`, and compared exactly.

Why exactly: a point goes through the same operations whatever block it is
computed in (tests/test_store.py gets the same bits for any tile, chunk, thread
count and scheduler; tests/test_check.py computes every point of a store again,
scattered, and gets them too), so on the kind of CPU that computed a store the
check gets its bits back. Numba compiles for the CPU it runs on: on another kind, values
may differ in their last bits, and near a wall, where one rounding can switch
the basin, by far more. `rtol` allows the first.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, store
from .config import Job
from .grid import tile_slices
from .variables import VARIABLES

if TYPE_CHECKING:
    import xarray as xr

AREAS = (
    *("metadata", "attributes", "dimensions", "coordinates"),
    *("variables", "completeness", "values"),
)
DIMENSIONS = ("steps", "target", "b", "w")
COORDINATE_DTYPES = {
    "steps": np.dtype(np.int64),
    "target": np.dtype(np.float64),
    "b": np.dtype(np.float64),
    "w": np.dtype(np.float64),
}

# The dataset attributes the README's contract names, with their JSON types
# (`complete` is judged under completeness).
NUMBER = (int, float)
REQUIRED_ATTRS = {
    "x0": NUMBER,
    **dict.fromkeys(("activation", "readout", "loss", "model"), str),
    **dict.fromkeys(("preset", "surface", "rnn_landscape_version", "config"), str),
}
REPAIR = "Delete the store and run snakemake again, which recomputes it."

# Largest relative difference still told as "last bits": a curvature that is a
# difference of two nearly equal numbers moved by 1e-6 when one kernel change
# moved its terms by one rounding (seen while checking this module).
LAST_BITS = 1e-6


class NotAStore(ValueError):
    """A path that holds no Zarr format 2 store at all."""


@dataclass(frozen=True)
class Problem:
    area: str  # one of AREAS
    message: str


@dataclass
class Report:
    """What `check_store` found: every problem, what it checked, what it could not."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    # Checks that could not run, and why: never silent.
    skipped: list[str] = field(default_factory=list)
    # What may help to read the problems.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, area: str, message: str) -> None:
        self.problems.append(Problem(area, message))

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": [asdict(problem) for problem in self.problems],
            "checked": self.checked,
            "skipped": self.skipped,
            "notes": self.notes,
        }

    def text(self, shown: int = 20) -> str:
        """The report for people: at most `shown` problems of each area."""
        skipped = [f"  not checked: {reason}" for reason in self.skipped]
        if self.ok:
            checked = [f"  {line}" for line in self.checked]
            return "\n".join([f"{self.path}: OK", *checked, *skipped])

        count = len(self.problems)
        lines = [f"{self.path}: {count} problem{'s' if count > 1 else ''}"]
        for area in AREAS:
            found = [problem.message for problem in self.problems if problem.area == area]
            lines += [f"  {area}: {message}" for message in found[:shown]]
            if len(found) > shown:
                lines.append(f"  {area}: and {len(found) - shown} more like these")
        notes = [f"  note: {note}" for note in self.notes]
        lines += [*notes, *skipped, REPAIR]
        return "\n".join(lines)


def is_store(path: Path) -> bool:
    path = Path(path)
    return (path / ".zgroup").is_file() or (path / ".zmetadata").is_file()


def check_store(path: Path, samples: int = 64, seed: int = 0, rtol: float = 0.0) -> Report:
    """Check the store at `path` against the data contract; see the module's doc.

    `samples` grid points (every point, if the grid has no more) are computed
    again at every step count and target; `seed` picks them; `rtol` is the
    relative difference allowed between stored and computed values (0: none).
    Raises `NotAStore` if `path` holds no Zarr format 2 store.
    """
    path = Path(path)
    if not is_store(path):
        raise NotAStore(
            f"{path} is not a Zarr format 2 store: it has no .zgroup or .zmetadata"
        )
    if (path / "run" / ".zarray").is_file():
        # A store of gradient descent runs (`trajectories.py`), not a surface: its
        # contract is another one, and checked against this one it looks broken.
        raise NotAStore(
            f"{path} holds gradient descent runs (dimensions run, iteration), not a"
            " surface; check reads the stores under results/surfaces/"
        )
    report = Report(str(path))

    metadata = _read_metadata(path, report)
    attrs = metadata.get(".zattrs", {})
    job = _check_attributes(attrs, report)
    if job is None:
        report.skipped.append("anything against the job: 'config' gives none")
    dataset = _open(path, report)
    if dataset is not None:
        _check_dimensions(dataset, job, report)
        _check_coordinates(dataset, job, report)
        _check_variables(dataset, metadata, job, report)
    missing = _check_completeness(path, attrs, metadata, job, report)

    unsampled = _why_not_sampled(dataset, job, samples)
    if unsampled:
        report.skipped.append(f"values computed again: {unsampled}")
    else:
        b_index, w_index = sample_points(job, samples, seed)
        sample = _Sample(b_index, w_index, _coordinates(job), missing, rtol)
        _check_values(dataset, store.arrays_of(metadata), job, sample, report)
    if job is not None:
        _describe(job, attrs.get("rnn_landscape_version"), report)
    return report


def _read_metadata(path: Path, report: Report) -> dict:
    """The metadata readers see (consolidated, if there is any), once compared
    with the files it was copied from."""
    files, unreadable = {}, set()
    for file in store.metadata_files(path):
        key = file.relative_to(path).as_posix()
        try:
            files[key] = json.loads(file.read_text())
        except ValueError as error:
            report.add("metadata", f"{key} is not valid JSON: {error}")
            unreadable.add(key)
    if files.get(".zgroup", {}).get("zarr_format", 2) != 2:
        report.add("metadata", f".zgroup says {files['.zgroup']}, expected Zarr format 2")

    if not (path / ".zmetadata").is_file():
        report.add(
            "metadata",
            "no consolidated metadata (.zmetadata): finalize writes it, and"
            " open_zarr reads it",
        )
        return files
    try:
        consolidated = store.consolidated_metadata(path)
    except (ValueError, KeyError) as error:
        report.add("metadata", f".zmetadata cannot be read: {error!r}")
        return files

    for key in sorted((files.keys() | consolidated.keys()) - unreadable):
        if key not in files:
            report.add("metadata", f"{key} is in .zmetadata, but its file is gone")
        elif key not in consolidated:
            report.add("metadata", f"{key} is not in .zmetadata: added after finalize")
        elif files[key] != consolidated[key]:
            apart = _keys_apart(files[key], consolidated[key])
            report.add(
                "metadata",
                f"{key} differs from its copy in .zmetadata{apart}: one of them was"
                " edited after finalize",
            )
    return consolidated


def _keys_apart(one, other) -> str:
    """' in key, key' for the keys whose values two mappings do not share."""
    if not (isinstance(one, dict) and isinstance(other, dict)):
        return ""
    keys = one.keys() | other.keys()
    apart = sorted(key for key in keys if one.get(key) != other.get(key))
    return f" in {', '.join(apart)}" if apart else ""


def _check_attributes(attrs: dict, report: Report) -> Job | None:
    """Type-check the contract's attributes; return the job `config` records."""
    wrong = set()
    for name, kind in REQUIRED_ATTRS.items():
        value = attrs.get(name)
        if name not in attrs:
            report.add("attributes", f"'{name}' is missing")
        elif not isinstance(value, kind) or isinstance(value, bool):
            expected = "a number" if kind is NUMBER else "a string"
            report.add("attributes", f"'{name}' is {value!r}, expected {expected}")
            wrong.add(name)
    if not isinstance(attrs.get("config"), str):
        return None

    try:
        job = Job.from_json(attrs["config"])
    except (ValueError, KeyError, TypeError) as error:
        report.add("attributes", f"'config' does not give a job: {error!r}")
        return None

    preset = job.preset
    recorded = {
        "x0": preset.x0,
        "activation": preset.activation,
        "readout": preset.readout,
        "preset": preset.name,
        "surface": job.surface.name,
    }
    for name, value in recorded.items():
        if name in attrs and name not in wrong and attrs[name] != value:
            report.add(
                "attributes",
                f"'{name}' is {attrs[name]!r}, but the job in 'config' says {value!r}",
            )
    if attrs.get("loss", "squared_error") != "squared_error":
        report.add(
            "attributes",
            f"'loss' is {attrs['loss']!r}, expected 'squared_error', the only loss"
            " this package computes",
        )
    return job


def _open(path: Path, report: Report) -> xr.Dataset | None:
    import xarray as xr

    try:
        consolidated = (path / ".zmetadata").is_file()
        # chunks=None: lazy arrays without Dask, read only where indexed.
        return xr.open_zarr(path, consolidated=consolidated, chunks=None)
    except Exception as error:  # whatever zarr or xarray raise, reported
        report.add("metadata", f"xarray cannot open the store: {error!r}")
        return None


def _sizes(job: Job) -> dict[str, int]:
    return {
        "steps": len(job.surface.steps),
        "target": len(job.preset.targets),
        "b": job.surface.b.num,
        "w": job.surface.w.num,
    }


def _coordinates(job: Job) -> dict[str, np.ndarray]:
    return {
        "steps": np.asarray(job.surface.steps, dtype=np.int64),
        "target": np.asarray(job.preset.targets, dtype=np.float64),
        "b": job.surface.b.values,
        "w": job.surface.w.values,
    }


def _check_dimensions(dataset: xr.Dataset, job: Job | None, report: Report) -> None:
    if set(dataset.sizes) != set(DIMENSIONS):
        found = ", ".join(map(str, dataset.sizes))
        report.add("dimensions", f"the store has ({found}), expected steps, target, b, w")
    if job is not None:
        for dim, size in _sizes(job).items():
            if dim in dataset.sizes and dataset.sizes[dim] != size:
                found = dataset.sizes[dim]
                report.add(
                    "dimensions", f"'{dim}' has {found} values, the job in 'config' {size}"
                )
    for name, variable in dataset.data_vars.items():
        expected = store.variable_dims(name)
        if variable.dims != expected:
            report.add(
                "dimensions",
                f"'{name}' is ({', '.join(variable.dims)}), expected"
                f" ({', '.join(expected)})",
            )


def _check_coordinates(dataset: xr.Dataset, job: Job | None, report: Report) -> None:
    expected_values = _coordinates(job) if job is not None else {}
    for dim, dtype in COORDINATE_DTYPES.items():
        if dim not in dataset.coords:
            report.add("coordinates", f"'{dim}' has no coordinate")
            continue
        coordinate = dataset[dim]
        if coordinate.dtype != dtype:
            report.add("coordinates", f"'{dim}' is {coordinate.dtype}, expected {dtype}")
        if not _has_long_name(coordinate):
            report.add("coordinates", f"'{dim}' has no long_name")
        values = coordinate.values
        # Targets keep the configured order; the swept axes always increase.
        if dim != "target" and not np.all(np.diff(values) > 0):
            report.add("coordinates", f"'{dim}' does not increase strictly")
        if dim in expected_values:
            difference = _difference(values, expected_values[dim])
            if difference:
                report.add("coordinates", f"'{dim}' {difference}")


def _difference(found: np.ndarray, expected: np.ndarray) -> str:
    """How coordinate values differ from the job's, or '' if they are the same."""
    if found.shape != expected.shape:
        return f"has {found.size} values, the job in 'config' {expected.size}"
    unequal = np.flatnonzero(found != expected)
    if unequal.size == 0:
        return ""
    i = unequal[0]
    return (
        f"differs from the job in 'config' at {unequal.size} of {found.size} values,"
        f" first at index {i}: {found[i].item()!r}, the job's {expected[i].item()!r}"
    )


def _has_long_name(variable: xr.DataArray) -> bool:
    name = variable.attrs.get("long_name")
    return isinstance(name, str) and bool(name)


def _check_variables(
    dataset: xr.Dataset, metadata: dict, job: Job | None, report: Report
) -> None:
    present = set(dataset.data_vars)
    layouts = {}
    if job is not None:
        derivatives = job.surface.derivatives
        expected = VARIABLES[derivatives]
        missing = [name for name in expected if name not in present]
        extra = sorted(present - set(expected))
        if missing:
            report.add(
                "variables",
                f"{', '.join(missing)} missing: derivatives '{derivatives}' asks for"
                f" {', '.join(expected)}",
            )
        if extra:
            report.add(
                "variables",
                f"{', '.join(extra)} not expected: derivatives '{derivatives}' asks"
                f" for {', '.join(expected)} only",
            )
        layouts = store.chunk_encoding(job)

    arrays = store.arrays_of(metadata)
    for name in sorted(present):
        variable = dataset[name]
        if variable.dtype != np.float64:
            report.add("variables", f"'{name}' is {variable.dtype}, expected float64")
        if not _has_long_name(variable):
            report.add("variables", f"'{name}' has no long_name")
        if name in layouts and name in arrays:
            chunks = tuple(arrays[name]["chunks"])
            if chunks != layouts[name]["chunks"]:
                report.add(
                    "variables",
                    f"'{name}' has chunks {chunks}, the job in 'config' asks for"
                    f" {layouts[name]['chunks']}",
                )


def _check_completeness(
    path: Path, attrs: dict, metadata: dict, job: Job | None, report: Report
) -> set[str]:
    """Report the completion mark and every chunk without a file; return those."""
    if "complete" not in attrs:
        report.add("completeness", "attribute 'complete' is missing: never finalized")
    elif attrs["complete"] is not True:
        report.add(
            "completeness",
            f"attribute 'complete' is {json.dumps(attrs['complete'])}, not true:"
            " never finalized, or marked incomplete since",
        )

    arrays = store.arrays_of(metadata)
    coordinates = _coordinates(job) if job is not None else {}
    missing = store.missing_chunks(path, arrays)
    for key in missing:
        name, chunk = key.split("/", 1)
        region = _region(chunk, arrays[name], metadata.get(f"{name}/.zattrs"), coordinates)
        report.add("completeness", f"chunk {key}{region} has no file: it reads as NaN")

    if not missing:
        count = sum(len(store.chunk_keys(array)) for array in arrays.values())
        report.checked.append(f"complete, with all {count} chunk files present")
    return set(missing)


def _region(chunk: str, array: dict, attrs: dict | None, coordinates: dict) -> str:
    """Where a chunk lies, as ' (steps=50, target=0.7, b -3..-2.65, w 4.5..5.25)'."""
    dims = (attrs or {}).get("_ARRAY_DIMENSIONS", [])
    index = [int(i) for i in re.split(r"[./]", chunk)]
    if not len(dims) == len(index) == len(array["shape"]) == len(array["chunks"]):
        return ""

    parts = []
    for dim, i, size, length in zip(
        dims, index, array["shape"], array["chunks"], strict=True
    ):
        low, high = i * length, min((i + 1) * length, size)
        values = coordinates.get(dim)
        if values is None or high > len(values):
            parts.append(f"{dim}[{low}:{high}]")
        elif high - low == 1:
            parts.append(f"{dim}={values[low]:g}")
        else:
            parts.append(f"{dim} {values[low]:g}..{values[high - 1]:g}")
    return f" ({', '.join(parts)})"


def _why_not_sampled(dataset: xr.Dataset | None, job: Job | None, samples: int) -> str:
    """Why stored values cannot be compared with the job's, or '' if they can."""
    if samples == 0:
        return "no samples asked for"
    if dataset is None or job is None:
        return "no job, or no store xarray can open"
    for dim, values in _coordinates(job).items():
        if dim not in dataset.coords or _difference(dataset[dim].values, values):
            return f"the store's '{dim}' is not the job's"
    return ""


def sample_points(job: Job, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices along (b, w) of `samples` grid points, or of every point if the
    grid has no more.

    Points are spread over the chunks' (b, w) blocks, taken in a seeded random
    order: no block gets a second point before each has one, so with as many
    samples as blocks every chunk of every variable is read.
    """
    num_b, num_w = job.surface.b.num, job.surface.w.num
    if samples >= num_b * num_w:
        return np.divmod(np.arange(num_b * num_w), num_w)

    rng = np.random.default_rng(seed)
    blocks = tile_slices(num_b, num_w, job.chunk)
    b_index, w_index = [], []
    for rank, block in enumerate(rng.permutation(len(blocks))):
        b_range, w_range = blocks[block]
        width = w_range.stop - w_range.start
        size = (b_range.stop - b_range.start) * width
        visits = samples // len(blocks) + (rank < samples % len(blocks))
        flat = rng.choice(size, size=min(visits, size), replace=False)
        b_index += (b_range.start + flat // width).tolist()
        w_index += (w_range.start + flat % width).tolist()
    return np.array(b_index, dtype=np.int64), np.array(w_index, dtype=np.int64)


@dataclass(frozen=True)
class _Sample:
    """The sampled points, and what comparing values there needs."""

    b_index: np.ndarray
    w_index: np.ndarray
    coordinates: dict[str, np.ndarray]  # the job's, to say where a value lies
    missing: set[str]  # chunks without a file: reported already, not compared
    rtol: float


def _check_values(
    dataset: xr.Dataset, arrays: dict, job: Job, sample: _Sample, report: Report
) -> None:
    """Compute sampled points again and report, by chunk, values that differ."""
    # Imported here: numba, and the kernel's compilation, only for this check.
    import xarray as xr

    from . import quantities

    b_index, w_index = sample.b_index, sample.w_index
    surface, preset = job.surface, job.preset
    computed = quantities.stacked_quantities(
        preset.x0,
        surface.w.values[w_index],
        surface.b.values[b_index],
        surface.steps,
        preset.targets,
        preset.activation,
        preset.readout,
        surface.derivatives,
    )
    points = {"b": xr.DataArray(b_index, dims="point")}
    points["w"] = xr.DataArray(w_index, dims="point")

    compared, problems_before, largest = 0, len(report.problems), 0.0
    for index, name in enumerate(VARIABLES[surface.derivatives]):
        dims = store.variable_dims(name)
        if name not in arrays or dataset.get(name) is None or dataset[name].dims != dims:
            continue  # reported as a variable or dimension problem
        expected = computed[:, 0, index] if name == "state" else computed[:, :, index]
        try:
            stored = dataset[name].isel(points).transpose(..., "point").values
        except Exception as error:  # a chunk file zarr cannot decode, reported
            report.add(
                "values", f"'{name}' cannot be read at the sampled points: {error!r}"
            )
            continue
        difference = _compare(name, stored, expected, arrays[name], sample, report)
        largest = max(largest, difference)
        compared += stored.size

    if 0 < largest <= LAST_BITS:
        enough = 10.0 ** np.ceil(np.log10(largest))
        report.notes.append(
            f"values differ from the kernel's by at most a relative {largest:.2g}:"
            " more like another version of the kernel or another kind of CPU than"
            f" damage; --rtol {enough:g} would accept them"
        )
    elif compared and len(report.problems) == problems_before:
        points_of = f"{b_index.size} of {surface.points}"
        if b_index.size == surface.points:
            points_of = f"all {surface.points}"
        how = "bit for bit" if not sample.rtol else f"within a relative {sample.rtol:g}"
        report.checked.append(
            f"{points_of} grid points computed again at every step count and target:"
            f" {compared} values, all equal to the stored ones {how}"
        )


def _indices(
    dims: tuple[str, ...], shape: tuple[int, ...], sample: _Sample
) -> dict[str, np.ndarray]:
    """For each value read at the sampled points (the variable's dims before b
    and w, then `point`), its index along every dimension of the store."""
    ndim = len(shape)
    along = {}
    for axis, dim in enumerate(dims[:-2]):
        along[dim] = np.arange(shape[axis]).reshape(
            [-1 if a == axis else 1 for a in range(ndim)]
        )
    along["b"] = sample.b_index.reshape([1] * (ndim - 1) + [-1])
    along["w"] = sample.w_index.reshape([1] * (ndim - 1) + [-1])
    return {dim: np.broadcast_to(along[dim], shape) for dim in dims}


def _compare(
    name: str,
    stored: np.ndarray,
    expected: np.ndarray,
    array: dict,
    sample: _Sample,
    report: Report,
) -> float:
    """Report each chunk of `name` (`array`, its `.zarray`) where stored values
    at the sampled points differ from those computed again; return the largest
    relative difference (inf where one is NaN and the other not)."""
    same = (stored == expected) | (np.isnan(stored) & np.isnan(expected))
    if sample.rtol:
        same |= np.isclose(stored, expected, rtol=sample.rtol, atol=0.0)
    if same.all():
        return 0.0

    dims = store.variable_dims(name)
    indices = _indices(dims, stored.shape, sample)
    chunk_of = np.stack(
        [indices[dim] // length for dim, length in zip(dims, array["chunks"], strict=True)],
        axis=-1,
    )
    separator = array.get("dimension_separator") or "."
    coordinates = sample.coordinates
    differing = {}
    for position in map(tuple, np.argwhere(~same)):
        key = separator.join(map(str, chunk_of[position]))
        differing.setdefault(key, []).append(position)

    largest = 0.0
    for key, positions in sorted(differing.items()):
        if f"{name}/{key}" in sample.missing:
            continue  # a missing chunk, reported as such
        rows = tuple(np.array(positions).T)
        largest = max(largest, _largest_relative(stored[rows], expected[rows]))
        sampled = int(np.all(chunk_of == chunk_of[positions[0]], axis=-1).sum())
        first = positions[0]
        where = ", ".join(
            f"{dim}={coordinates[dim][indices[dim][first]]:g}" for dim in dims
        )
        report.add(
            "values",
            f"{name}/{key}: {len(positions)} of the {sampled} values sampled in this"
            f" chunk {'differs' if len(positions) == 1 else 'differ'} from the"
            f" kernel's, first at {where}: stored"
            f" {stored[first].item()!r}, computed {expected[first].item()!r}",
        )
    return largest


def _largest_relative(stored: np.ndarray, expected: np.ndarray) -> float:
    """The largest |stored - expected| / |expected|: inf where only one is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(stored - expected) / np.abs(expected)
    return float(np.nan_to_num(relative, nan=np.inf).max())


def _describe(job: Job, version: str | None, report: Report) -> None:
    surface, preset = job.surface, job.preset
    report.checked[:0] = [
        f"{preset.name}/{surface.name}: {surface.b.num} b x {surface.w.num} w,"
        f" steps {list(surface.steps)}, targets {list(preset.targets)}",
        f"variables {', '.join(VARIABLES[surface.derivatives])}",
        # Values are compared with this version's kernel, not the writer's.
        f"written by rnn_landscape {version}, checked with {__version__}",
    ]
