"""One surface: the (b, w) grid cut into blocks, one Dask task per block, into Zarr.

Each task runs the kernel once over its block up to the largest step count and
keeps every requested step count on the way; the loss for every target, and the
derivatives when asked for, come from those final states and jets in the same
task, so no state is computed twice.
"""

import logging
import time
from functools import partial
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.callbacks import Callback

from . import quantities, store
from .config import Job
from .variables import VARIABLES

log = logging.getLogger(__name__)


def _block_quantities(b_block, w_block, *, preset, steps, derivatives):
    """Every stored variable over one (b, w) block, stacked on a variable axis:
    `(steps, targets, variables, b, w)`, the state repeated along targets."""
    # b runs down the rows and w along the columns: the (b, w) order of the store.
    return quantities.stacked_quantities(
        preset.x0,
        w_block[None, :],
        b_block[:, None],
        steps,
        preset.targets,
        preset.activation,
        preset.readout,
        derivatives,
    )


def surface_arrays(job: Job) -> dict[str, da.Array]:
    """Lazy arrays of every stored variable, chunked as stored: `state (steps, b, w)`,
    the others `(steps, target, b, w)`."""
    preset, surface, chunk = job.preset, job.surface, job.chunk
    names = VARIABLES[surface.derivatives]
    b = da.from_array(surface.b.values, chunks=chunk.b)
    w = da.from_array(surface.w.values, chunks=chunk.w)

    # One task per (b, w) block computes everything there: one pass of the
    # recurrence, then the loss, its derivatives and their summaries.
    stacked = da.blockwise(
        partial(
            _block_quantities,
            preset=preset,
            steps=np.asarray(surface.steps, dtype=np.int64),
            derivatives=surface.derivatives,
        ),
        "stvbw",
        b,
        "b",
        w,
        "w",
        new_axes={"s": len(surface.steps), "t": len(preset.targets), "v": len(names)},
        dtype=np.float64,
        meta=np.empty((0, 0, 0, 0, 0)),
    )

    # Stored chunks hold one step count and one target each (see store.py); the
    # split happens after the kernel, so the recurrence still runs once per block.
    arrays = {name: stacked[:, :, index] for index, name in enumerate(names)}
    arrays["state"] = arrays["state"][:, 0]
    return {
        name: array.rechunk({0: 1} if name == "state" else {0: 1, 1: 1})
        for name, array in arrays.items()
    }


def surface_dataset(job: Job) -> xr.Dataset:
    return store.label_surface(job, surface_arrays(job))


class _LogProgress(Callback):
    """Logs the share of finished Dask tasks every tenth of the way."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label

    def _start_state(self, dsk, state):
        self.started = time.perf_counter()
        self.total = len(state["ready"]) + len(state["waiting"]) + len(state["running"])
        self.next_report = 0.1

    def _posttask(self, key, result, dsk, state, worker_id):
        done = len(state["finished"]) / max(self.total, 1)
        if done >= self.next_report:
            elapsed = time.perf_counter() - self.started
            log.info(
                "%s: %3.0f%% of %d tasks, %.1f s",
                self.label,
                100 * done,
                self.total,
                elapsed,
            )
            self.next_report = np.floor(done * 10 + 1) / 10


def compute_tile(
    job: Job, template: Path, tile: int, threads: int, scheduler="threads"
) -> None:
    """Compute tile number `tile` of a surface into its template.

    `scheduler` is any Dask scheduler: a name ("threads", "processes",
    "synchronous") run with `threads` workers, or a `distributed.Client`.
    """
    b_range, w_range = job.tiles[tile]
    surface = job.surface
    label = f"{job.preset.name}/{surface.name} tile {tile + 1}/{len(job.tiles)}"
    log.info(
        "computing %s: b[%d:%d] x w[%d:%d] of %d x %d points, steps %s, targets %s,"
        " %d threads",
        label,
        b_range.start,
        b_range.stop,
        w_range.start,
        w_range.stop,
        surface.b.num,
        surface.w.num,
        list(surface.steps),
        list(job.preset.targets),
        threads,
    )
    started = time.perf_counter()
    store.check_template(job, template)

    # Slicing the lazy surface keeps only the tasks of this tile's chunks.
    dataset = surface_dataset(job).isel(b=b_range, w=w_range)
    with (
        dask.config.set(scheduler=scheduler, num_workers=threads),
        _LogProgress(label),
    ):
        store.write_region(dataset, template, {"b": b_range, "w": w_range})

    elapsed = time.perf_counter() - started
    point_steps = dataset.sizes["b"] * dataset.sizes["w"] * surface.steps[-1]
    log.info(
        "%s done in %.2f s (%.1f million point-steps/s)",
        label,
        elapsed,
        point_steps / elapsed / 1e6,
    )


def compute_surface(job: Job, path: Path, threads: int, scheduler="threads") -> None:
    """The whole life of a store in one call: template, every tile, finalize."""
    template = store.partial_path(path)
    store.create_template(job, template)
    for tile in range(len(job.tiles)):
        compute_tile(job, template, tile, threads, scheduler)
    store.finalize(job, template, path)
    log.info("wrote %s", path)
