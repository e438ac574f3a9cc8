"""The data contract: one Zarr store per (preset, surface), readable with plain xarray.

A store holds
- dimensions `steps`, `target`, `b`, `w` (each present, even of length 1), with
  coordinate values and `long_name` attributes;
- `loss (steps, target, b, w)` and `state (steps, b, w)`, the final state x_T;
- attributes naming the model, the loss, the preset and surface, the package
  version and the whole job configuration as JSON.

A store is built as a template at `<name>.zarr.partial` (metadata only; unwritten
chunks read as NaN), filled tile by tile through chunk-aligned region writes, then
finalized: attribute `complete` set to true, metadata consolidated, and one rename
to `<name>.zarr`.

Stores use Zarr format 2, whose consolidated metadata every Zarr reader knows
(zarr-python 3 warns that consolidated metadata is not part of format 3).
Chunks hold one step count and one target over a block of the (b, w) grid, so a
reader of one slice or one region touches only the chunks it needs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from . import __version__
from .config import Job

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
        "x0": preset.x0,
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


def label_surface(job: Job, state, loss) -> xr.Dataset:
    """Labeled dataset from raw `state (steps, b, w)` and `loss (steps, target, b, w)`
    arrays (NumPy or Dask)."""
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
    loss_attrs = {
        "long_name": f"loss ({preset.readout}(x_T) - target)^2",
        "units": "1",
    }
    state_attrs = {"long_name": "final state x_T", "units": "1"}
    return xr.Dataset(
        {
            "loss": (("steps", "target", "b", "w"), loss, loss_attrs),
            "state": (("steps", "b", "w"), state, state_attrs),
        },
        coords=coords,
        attrs=surface_attrs(job),
    )


def chunk_encoding(job: Job) -> dict:
    cb, cw = job.chunk.b, job.chunk.w
    return {
        "loss": {"chunks": (1, 1, cb, cw)},
        "state": {"chunks": (1, cb, cw)},
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
    shape = (len(surface.steps), surface.b.num, surface.w.num)
    chunks = (1, job.chunk.b, job.chunk.w)
    state = da.empty(shape, chunks=chunks, dtype=np.float64)
    loss = da.empty(
        (shape[0], len(job.preset.targets), *shape[1:]),
        chunks=(1, 1, *chunks[1:]),
        dtype=np.float64,
    )

    label_surface(job, state, loss).to_zarr(
        partial,
        mode="w",
        compute=False,
        encoding=chunk_encoding(job),
        consolidated=False,
        zarr_format=ZARR_FORMAT,
    )


class TemplateMismatch(RuntimeError):
    """A template left by a run of another configuration."""


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


def write_region(dataset: xr.Dataset, partial: Path, region: dict[str, slice]) -> None:
    """Write the data variables of `dataset` into their region of a template.

    Coordinates are left out: the template holds them already, and rewriting them
    from every tile would make several writers share their chunks.
    """
    data = dataset.drop_vars(list(dataset.coords))
    data.to_zarr(partial, mode="r+", region=region, consolidated=False)


def finalize(job: Job, partial: Path, path: Path) -> None:
    """Mark a fully written store complete, consolidate its metadata and move it
    to its final place in one rename."""
    check_template(job, partial)
    group = zarr.open_group(partial, mode="r+", zarr_format=ZARR_FORMAT)
    group.attrs["complete"] = True
    zarr.consolidate_metadata(partial, zarr_format=ZARR_FORMAT)

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    Path(partial).rename(path)


def open_surface(path: Path) -> xr.Dataset:
    """Open a store lazily, as any user would."""
    import xarray as xr

    return xr.open_zarr(path, consolidated=True)
