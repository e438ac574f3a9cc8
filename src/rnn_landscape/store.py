"""The data contract: one Zarr store per (preset, surface), readable with plain xarray.

A store holds
- dimensions `steps`, `target`, `b`, `w` (each present, even of length 1), with
  coordinate values and `long_name` attributes;
- `loss (steps, target, b, w)` and `state (steps, b, w)`, the final state x_T;
  with the surface's `derivatives`, the loss's gradient and Hessian and what
  summarises them, each `(steps, target, b, w)` (`quantities.VARIABLES`);
- attributes naming the model, the loss, the preset and surface, the package
  version and the whole job configuration as JSON.

A store is built as a template at `<name>.zarr.partial` (metadata only; unwritten
chunks read as NaN), filled tile by tile through chunk-aligned region writes, then
finalized: attribute `complete` set to true, metadata consolidated, and one rename
to `<name>.zarr`. Every chunk is written, even one of NaN only, so a chunk without
a file is one never written (or deleted since): `finalize` refuses to mark such a
store complete, and `open_surface` refuses to open one, or one not marked complete.

Stores use Zarr format 2, whose consolidated metadata every Zarr reader knows
(zarr-python 3 warns that consolidated metadata is not part of format 3).
Chunks hold one step count and one target over a block of the (b, w) grid, so a
reader of one slice or one region touches only the chunks it needs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from . import __version__
from .config import Job
from .variables import LONG_NAMES, VARIABLES

# xarray and Dask are imported where used: `finalize` runs as a job of its own,
# and without them it starts in a third of the time (0.4 s instead of 1.4 s).
if TYPE_CHECKING:
    import xarray as xr

ZARR_FORMAT = 2

COORD_NAMES = {
    "steps": "number of recurrence steps T",
    "target": "target of the loss",
    "b": "bias b",
    "w": "recurrent weight w",
}


def surface_attrs(job: Job) -> dict:
    """Dataset attributes, all JSON-native so they survive the Zarr round trip."""
    preset = job.preset
    return {
        "title": f"Loss surface '{job.surface.name}' of preset '{preset.name}'",
        "model": (
            f"x_t = w * {preset.activation}(x_(t-1)) + b for t = 1..T, "
            f"starting from x_0 = {preset.x0}"
        ),
        "loss": "squared_error",
        "loss_formula": f"E_T = ({preset.readout}(x_T) - target)^2",
        # float(): a preset built in Python may hold a NumPy scalar, which would
        # come back from JSON as a plain float, no longer what was written.
        "x0": float(preset.x0),
        "activation": preset.activation,
        "readout": preset.readout,
        "preset": preset.name,
        "surface": job.surface.name,
        "rnn_landscape_version": __version__,
        "config": job.store_json(),
        # False while tiles are being written; `finalize` sets it once all are.
        "complete": False,
        "references": (
            "Pascanu, Mikolov & Bengio, ICML 2013, arXiv:1211.5063, Eq. 8 and Figure 6"
        ),
    }


def variable_dims(name: str) -> tuple[str, ...]:
    # The state does not depend on the target; everything else does.
    return ("steps", "b", "w") if name == "state" else ("steps", "target", "b", "w")


def label_surface(job: Job, arrays: dict) -> xr.Dataset:
    """Labeled dataset from raw arrays (NumPy or Dask) named as in
    `quantities.VARIABLES`: `state (steps, b, w)`, the rest `(steps, target, b, w)`."""
    import xarray as xr

    surface, preset = job.surface, job.preset
    values = {
        "steps": np.asarray(surface.steps, dtype=np.int64),
        "target": np.asarray(preset.targets, dtype=np.float64),
        "b": surface.b.values,
        "w": surface.w.values,
    }
    coords = {
        name: (name, values[name], {"long_name": long_name})
        for name, long_name in COORD_NAMES.items()
    }
    long_names = {**LONG_NAMES, "loss": f"loss ({preset.readout}(x_T) - target)^2"}
    variables = {
        name: (variable_dims(name), array, {"long_name": long_names[name], "units": "1"})
        for name, array in arrays.items()
    }
    return xr.Dataset(variables, coords=coords, attrs=surface_attrs(job))


def chunk_encoding(job: Job) -> dict:
    chunk = {"steps": 1, "target": 1, "b": job.chunk.b, "w": job.chunk.w}
    return {
        name: {"chunks": tuple(chunk[dim] for dim in variable_dims(name))}
        for name in VARIABLES[job.surface.derivatives]
    }


def partial_path(path: Path) -> Path:
    """Where a store is built before it is complete: beside its final place."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def create_template(job: Job, partial: Path) -> None:
    """Metadata, coordinates and chunk layout only: no data chunk is written yet,
    and every unwritten chunk reads back as NaN (the fill value), never as zero."""
    import dask.array as da

    shutil.rmtree(partial, ignore_errors=True)
    surface = job.surface
    sizes = {
        "steps": len(surface.steps),
        "target": len(job.preset.targets),
        "b": surface.b.num,
        "w": surface.w.num,
    }
    encoding = chunk_encoding(job)
    placeholders = {
        name: da.empty(
            tuple(sizes[dim] for dim in variable_dims(name)),
            chunks=encoding[name]["chunks"],
            dtype=np.float64,
        )
        for name in VARIABLES[surface.derivatives]
    }

    label_surface(job, placeholders).to_zarr(
        partial,
        mode="w",
        compute=False,
        encoding=encoding,
        consolidated=False,
        zarr_format=ZARR_FORMAT,
    )


class StoreError(RuntimeError):
    """A store that cannot be used as it is; the message says what to do."""


class TemplateMismatch(StoreError):
    """A template left by a run of another configuration."""


class IncompleteStore(StoreError):
    """A store not marked complete, or with chunks never written (or deleted)."""


def check_template(job: Job, partial: Path) -> None:
    """Refuse to fill or finalize a template made for another job.

    Snakemake rebuilds a template whose job changed, but not when its records are
    gone or `--rerun-triggers mtime` is used: tiles of two grids would then mix in
    one store that says it is complete (found by a review that edited w mid-run).
    """
    made_for = zarr.open_group(partial, mode="r", zarr_format=ZARR_FORMAT).attrs["config"]
    if made_for != job.store_json():
        raise TemplateMismatch(
            f"{partial} was made for another configuration of this surface; delete it"
            " and its .tiles folder beside it, then run again"
        )


def write_chunk(
    partial: Path, values: dict[str, np.ndarray], b_range: slice, w_range: slice
) -> None:
    """Write the variables of one chunk-aligned region of the grid into a template.

    `values` holds each variable over the region, with its dimensions as stored.
    Only data chunks are written: the template holds the coordinates and the
    metadata already, and rewriting them from every task would make several
    writers share their chunks.
    """
    group = zarr.open_group(partial, mode="r+", zarr_format=ZARR_FORMAT)
    for name, block in values.items():
        # zarr skips a chunk that holds only the fill value (NaN) by default; it
        # would read back the same, but its missing file would look like a chunk
        # never written, which `missing_chunks` must be able to tell apart.
        array = group[name].with_config({"write_empty_chunks": True})
        array[..., b_range, w_range] = block


def finalize(job: Job, partial: Path, path: Path) -> None:
    """Mark a fully written store complete, consolidate its metadata and move it
    to its final place in one rename."""
    check_template(job, partial)
    missing = missing_chunks(partial, arrays_of(file_metadata(partial)))
    if missing:
        raise IncompleteStore(
            f"{partial} is not fully written: {_count_chunks(missing)}; not every"
            " tile finished. Delete it and its .tiles folder beside it, then run again"
        )
    group = zarr.open_group(partial, mode="r+", zarr_format=ZARR_FORMAT)
    group.attrs["complete"] = True
    zarr.consolidate_metadata(partial, zarr_format=ZARR_FORMAT)

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    Path(partial).rename(path)


def metadata_files(path: Path) -> list[Path]:
    """The metadata files of a Zarr format 2 store, its arrays' included: what
    consolidation copies into `.zmetadata`."""
    names = (".zgroup", ".zattrs", ".zarray")
    path = Path(path)
    found = [*path.glob(".z*"), *path.glob("*/.z*")]
    return sorted(file for file in found if file.name in names)


def file_metadata(path: Path) -> dict:
    """A store's metadata as its own files hold it, keyed as in `.zmetadata`."""
    return {
        file.relative_to(path).as_posix(): json.loads(file.read_text())
        for file in metadata_files(path)
    }


def consolidated_metadata(path: Path) -> dict:
    """A finished store's metadata as readers see it, from `.zmetadata`."""
    return json.loads((Path(path) / ".zmetadata").read_text())["metadata"]


def arrays_of(metadata: dict) -> dict[str, dict]:
    """{array name: its `.zarray`} from a store's metadata."""
    suffix = "/.zarray"
    return {
        key.removesuffix(suffix): meta
        for key, meta in metadata.items()
        if key.endswith(suffix)
    }


def chunk_keys(array: dict) -> list[str]:
    """Every chunk of an array, named as its files are, from its `.zarray`."""
    counts = [
        math.ceil(size / chunk)
        for size, chunk in zip(array["shape"], array["chunks"], strict=True)
    ]
    separator = array.get("dimension_separator") or "."
    indices = itertools.product(*map(range, counts))
    return [separator.join(map(str, index)) or "0" for index in indices]


def _files_under(folder: Path) -> set[str]:
    # One listing per array: chunk files are never opened, so this stays cheap
    # for the largest stores (a few thousand chunks per variable).
    found = set()
    for root, _, files in os.walk(folder):
        prefix = Path(root).relative_to(folder)
        found.update((prefix / name).as_posix() for name in files)
    return found


def missing_chunks(path: Path, arrays: dict[str, dict]) -> list[str]:
    """Chunks of `arrays` without a file in the store, as `loss/0.0.1.2`.

    A chunk never written reads as NaN everywhere, like a chunk of true NaN:
    only the file tells them apart (`write_chunk` writes both).
    """
    path = Path(path)
    missing = []
    for name, array in sorted(arrays.items()):
        present = _files_under(path / name)
        missing += [f"{name}/{key}" for key in chunk_keys(array) if key not in present]
    return missing


def _count_chunks(missing: list[str], shown: int = 5) -> str:
    names = ", ".join(missing[:shown])
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    files = "chunk file" if len(missing) == 1 else "chunk files"
    return f"{len(missing)} {files} missing ({names}{more}), which read as NaN"


def incompleteness(path: Path) -> list[str]:
    """Why the store at `path` is not complete, empty if it is: its completion
    mark and the chunk files it should have. Files are listed, never read."""
    path = Path(path)
    if not (path / ".zmetadata").is_file():
        return ["it has no consolidated metadata (.zmetadata), which finalize writes"]
    metadata = consolidated_metadata(path)

    reasons = []
    attrs = metadata.get(".zattrs", {})
    if "complete" not in attrs:
        reasons.append("it has no attribute 'complete', which finalize sets")
    elif attrs["complete"] is not True:
        shown = json.dumps(attrs["complete"])
        reasons.append(f"its attribute 'complete' is {shown}, not true")
    missing = missing_chunks(path, arrays_of(metadata))
    if missing:
        reasons.append(_count_chunks(missing))
    return reasons


def open_surface(path: Path) -> xr.Dataset:
    """Open a complete store lazily, as any user would.

    A store not marked complete, or missing chunk files, is refused with
    `IncompleteStore`: its gaps would read as NaN and draw as empty regions.
    """
    import xarray as xr

    reasons = incompleteness(path)
    if reasons:
        raise IncompleteStore(
            f"{path} is not a complete store: {'; '.join(reasons)}. Delete it and run"
            " snakemake again, which recomputes it; `rnn-landscape check"
            f" {path}` lists every problem"
        )
    return xr.open_zarr(path, consolidated=True)
