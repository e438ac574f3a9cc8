"""One surface: its tiles cut into Zarr chunks, one Dask task per chunk.

Each task runs the kernel once over its chunk up to the largest step count and
keeps every requested step count on the way; the loss for every target, and the
derivatives when asked for, come from those final states and jets in the same
task, which then writes its chunk straight into the store. One task per chunk,
and none to slice or move arrays between them: with a task per variable and a
task per write the threads lost a fifth of their time to Dask (benchmarks/).
"""

import logging
import time
from functools import partial
from pathlib import Path

import dask
import numpy as np
from dask.callbacks import Callback

from . import quantities, store
from .config import Job
from .variables import VARIABLES

log = logging.getLogger(__name__)


def chunk_values(job: Job, b_range: slice, w_range: slice) -> dict[str, np.ndarray]:
    """Every stored variable over one region of the grid: `state (steps, b, w)`,
    the others `(steps, target, b, w)`."""
    preset, surface = job.preset, job.surface
    # b runs down the rows and w along the columns: the (b, w) order of the store.
    stacked = quantities.stacked_quantities(
        preset.x0,
        surface.w.values[None, w_range],
        surface.b.values[b_range, None],
        surface.steps,
        preset.targets,
        preset.activation,
        preset.readout,
        surface.derivatives,
    )
    values = {
        name: stacked[:, :, index]
        for index, name in enumerate(VARIABLES[surface.derivatives])
    }
    values["state"] = values["state"][:, 0]
    return values


def _fill_chunk(job: Job, template: Path, b_range: slice, w_range: slice) -> None:
    store.write_chunk(template, chunk_values(job, b_range, w_range), b_range, w_range)


def chunk_tasks(job: Job, tile: int, work) -> list:
    """One delayed call of `work(b_range, w_range)` per chunk of a tile."""
    return [
        dask.delayed(work, pure=False)(b_range, w_range)
        for b_range, w_range in job.chunks_of(*job.tiles[tile])
    ]


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

    tasks = chunk_tasks(job, tile, partial(_fill_chunk, job, template))
    with (
        dask.config.set(scheduler=scheduler, num_workers=threads),
        _LogProgress(label),
    ):
        dask.compute(*tasks)

    elapsed = time.perf_counter() - started
    points = (b_range.stop - b_range.start) * (w_range.stop - w_range.start)
    point_steps = points * surface.steps[-1]
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
