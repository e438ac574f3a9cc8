"""One surface: its tiles cut into Zarr chunks, one Dask task per chunk.

Each task runs the kernel once over its chunk up to the largest step count and
keeps every requested step count on the way; the loss for every target, and the
derivatives when asked for, come from those final states and jets in the same
task, which then writes its chunk straight into the store. One task per chunk,
and none to slice or move arrays between them: with a task per variable and a
task per write the threads lost a fifth of their time to Dask (benchmarks/).
"""

import logging
import os
import time
from functools import partial
from pathlib import Path

import dask
import numpy as np
from dask.callbacks import Callback

from . import quantities, store
from .config import SCHEDULER_VARIABLE, Job
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


class _Progress:
    """Logs the share of finished tasks of a tile every tenth of the way, with a rate."""

    def __init__(self, label: str, total: int, point_steps: int):
        self.label = label
        self.total = max(total, 1)
        self.point_steps = point_steps
        self.done = 0
        self.next_report = 0.1
        self.started = time.perf_counter()

    def task_done(self) -> None:
        self.done += 1
        share = self.done / self.total
        if share < self.next_report:
            return
        elapsed = time.perf_counter() - self.started
        log.info(
            "%s: %3.0f%% of %d tasks, %.1f s, %.0f million point-steps/s",
            self.label,
            100 * share,
            self.total,
            elapsed,
            share * self.point_steps / max(elapsed, 1e-9) / 1e6,
        )
        self.next_report = np.floor(share * 10 + 1) / 10


class _LocalProgress(Callback):
    """Feeds a local Dask scheduler's finished tasks to a `_Progress`."""

    def __init__(self, progress: _Progress):
        super().__init__()
        self.progress = progress

    def _posttask(self, key, result, dsk, state, worker_id):
        self.progress.task_done()


def scheduler_address(given: str | None = None) -> str | None:
    """The Dask scheduler to send tasks to: `given`, else the environment's
    `RNN_LANDSCAPE_DASK_SCHEDULER`, else None for local threads."""
    return given or os.environ.get(SCHEDULER_VARIABLE) or None


def _run_on_cluster(tasks: list, client, progress: _Progress) -> None:
    """Run `tasks` on a distributed cluster, logging each one as it finishes.

    The local Dask callbacks never fire there: the scheduler runs elsewhere.
    """
    from distributed import as_completed

    futures = client.compute(tasks)
    for future in as_completed(futures):
        future.result()  # a failed chunk fails the tile, with the worker's error
        progress.task_done()


def _connect(address: str):
    from distributed import Client

    try:
        # Waits up to Dask's `distributed.comm.timeouts.connect` (30 s by default).
        return Client(address)
    except OSError as error:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address}: {error}"
        ) from None


def _run_tasks(tasks: list, scheduler, threads: int, progress: _Progress) -> None:
    if isinstance(scheduler, str) and "://" in scheduler:
        with _connect(scheduler) as client:
            workers = client.scheduler_info()["workers"]
            log.info(
                "sending %d tasks to the Dask scheduler at %s (%d workers, dashboard %s)",
                len(tasks),
                scheduler,
                len(workers),
                client.dashboard_link,
            )
            _run_on_cluster(tasks, client, progress)
    elif isinstance(scheduler, str):
        log.info("running %d tasks on %d threads (local threads)", len(tasks), threads)
        with (
            dask.config.set(scheduler=scheduler, num_workers=threads),
            _LocalProgress(progress),
        ):
            dask.compute(*tasks)
    else:  # a distributed.Client already connected
        _run_on_cluster(tasks, scheduler, progress)


def compute_tile(
    job: Job, template: Path, tile: int, threads: int, scheduler="threads"
) -> None:
    """Compute tile number `tile` of a surface into its template.

    `scheduler` is a local Dask scheduler's name ("threads", "processes",
    "synchronous") run with `threads` workers, the address of a Dask
    distributed scheduler ("tcp://host:8786"), or a `distributed.Client`.
    With a cluster, its workers write the chunks: they must see `template`
    at the same absolute path (a shared filesystem).
    """
    b_range, w_range = job.tiles[tile]
    surface = job.surface
    label = f"{job.preset.name}/{surface.name} tile {tile + 1}/{len(job.tiles)}"
    log.info(
        "computing %s: b[%d:%d] x w[%d:%d] of %d x %d points, steps %s, targets %s",
        label,
        b_range.start,
        b_range.stop,
        w_range.start,
        w_range.stop,
        surface.b.num,
        surface.w.num,
        list(surface.steps),
        list(job.preset.targets),
    )
    started = time.perf_counter()
    # Absolute, because a cluster's workers do not share this process's folder.
    template = Path(template).resolve()
    store.check_template(job, template)

    tasks = chunk_tasks(job, tile, partial(_fill_chunk, job, template))
    points = (b_range.stop - b_range.start) * (w_range.stop - w_range.start)
    point_steps = points * surface.steps[-1]
    _run_tasks(tasks, scheduler, threads, _Progress(label, len(tasks), point_steps))

    elapsed = time.perf_counter() - started
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
