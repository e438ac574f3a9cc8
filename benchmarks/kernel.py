"""Kernel throughput, side by side in one process, as ratios.

Times on the same grid and the same granted threads:
- the notebook-style numpy reference (`rnn_landscape.reference`, one thread: numpy
  does not parallelize elementwise code), once in fresh memory as a notebook
  runs it, and again warm;
- our engine (the numba kernel in a tile job's Dask tasks, one per chunk, loss
  included, each chunk dropped where the job would write it to Zarr), for the
  loss alone and with its first derivatives;
- `np.exp` alone on an in-cache array, one copy per thread: the throughput of the
  one transcendental the model needs, as a practical roofline.
Throughputs are in million point-steps per second (grid points times T).

    python benchmarks/kernel.py --json benchmarks/results/kernel-4000.json
"""

import argparse
import json
import os
import platform
import resource
import threading
import time
from functools import partial
from pathlib import Path

import dask
import numba
import numpy as np

import rnn_landscape
from rnn_landscape import engine, reference
from rnn_landscape.config import Block, Job, Preset, Surface
from rnn_landscape.grid import Axis


def zoom_job(size: int, steps: int, chunk: int, derivatives: str = "none") -> Job:
    """The paper's Figure 6 region on a size x size grid."""
    preset = Preset(
        "paper", x0=0.5, activation="sigmoid", readout="sigmoid", targets=(0.7,)
    )
    surface = Surface(
        "benchmark",
        w=Axis(4.5, 5.4, size),
        b=Axis(-3.0, -1.0, size),
        steps=(steps,),
        derivatives=derivatives,
    )
    return Job(preset, surface, Block(chunk, chunk), Block(size, size))


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _compute_and_drop(job: Job, b_range: slice, w_range: slice) -> None:
    # What a tile job's task does, less the write to Zarr.
    engine.chunk_values(job, b_range, w_range)


def time_engine(job: Job, threads: int) -> tuple[float, np.ndarray]:
    """Seconds to compute every variable the job stores, with the Dask tasks of a
    tile job (one per chunk), each chunk dropped where the job would write it;
    and, untimed, the engine's states for the accuracy check."""
    tasks = engine.chunk_tasks(job, 0, partial(_compute_and_drop, job))
    with dask.config.set(scheduler="threads", num_workers=threads):
        dask.compute(*tasks[:1])  # compile or load the JIT
        seconds = best_of(3, lambda: dask.compute(*tasks))

    states = np.empty((job.surface.b.num, job.surface.w.num))
    for b_range, w_range in job.chunks_of(*job.tiles[0]):
        states[b_range, w_range] = engine.chunk_values(job, b_range, w_range)["state"][0]
    return seconds, states


def time_exp(threads: int, size: int = 32768, repeats: int = 500) -> float:
    """Million exp evaluations per second over `threads` threads (np.exp drops the GIL).

    Each thread's array (256 KiB) stays in its core's L2 cache, and is long enough
    that the call's own overhead, under the GIL, does not serialize the threads:
    with 4096 points two threads ran slower than one.
    """
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-5.0, 0.0, size) for _ in range(threads)]

    def work(a):
        out = np.empty_like(a)
        for _ in range(repeats):
            np.exp(a, out=out)

    def run():
        pool = [threading.Thread(target=work, args=(a,)) for a in arrays]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    return threads * size * repeats / best_of(3, run) / 1e6


def accuracy(job: Job, engine_states: np.ndarray, reference_states: np.ndarray) -> dict:
    """Relative agreement with the reference, away from the wall and beside it.

    At the wall (b = x0 - w sigmoid(x0)) the final state is ill-conditioned: one
    rounding in any step may switch basins, so disagreement there is expected.
    """
    w = job.surface.w.values[None, :]
    b = job.surface.b.values[:, None]
    wall = 0.5 - w / (1.0 + np.exp(-0.5))
    away = np.abs(b - wall) > 0.02
    relative = np.abs(engine_states - reference_states) / np.maximum(
        np.abs(reference_states), 1e-300
    )
    return {
        "max_relative_error_away_from_wall": float(relative[away].max()),
        "fraction_within_1e-12_away_from_wall": float((relative[away] <= 1e-12).mean()),
        "fraction_within_1e-12_near_wall": float((relative[~away] <= 1e-12).mean()),
        "points_near_wall": int((~away).sum()),
    }


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    fields = dict(line.split(":", 1) for line in lines[:40] if ":" in line)
    flags = fields.get("flags\t\t", "").split()
    return {
        "cpu": fields.get("model name\t", platform.processor()).strip(),
        "simd": [flag for flag in ("avx2", "fma", "avx512f") if flag in flags],
        "granted_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "rnn_landscape": rnn_landscape.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write results")
    parser.add_argument("--size", type=int, default=4000, help="grid points per axis")
    parser.add_argument("--steps", type=int, default=50, help="T")
    parser.add_argument("--chunk", type=int, default=512, help="Dask chunk per axis")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads granted (default: the cores this process may use)",
    )
    args = parser.parse_args()

    job = zoom_job(args.size, args.steps, args.chunk)
    point_steps = args.size**2 * args.steps
    w, b = np.meshgrid(job.surface.w.values, job.surface.b.values)

    # The reference twice: once as a notebook runs it, in fresh memory (its
    # temporaries of 128 MB each fault in page by page), and once more in memory
    # numpy has had back (best of two more), which ran 1.3 times faster here.
    started = time.perf_counter()
    reference_states = reference.state(w, b, 0.5, args.steps)
    reference_seconds = time.perf_counter() - started
    warm_reference_seconds = best_of(2, lambda: reference.state(w, b, 0.5, args.steps))
    engine_seconds, engine_states = time_engine(job, args.threads)
    gradient_job = zoom_job(args.size, args.steps, args.chunk, derivatives="first")
    gradient_seconds, _ = time_engine(gradient_job, args.threads)
    roofline = time_exp(args.threads)

    results = {
        "grid": [args.size, args.size],
        "steps": args.steps,
        "threads": args.threads,
        "reference_mpts": point_steps / reference_seconds / 1e6,
        "warm_reference_mpts": point_steps / warm_reference_seconds / 1e6,
        "engine_mpts": point_steps / engine_seconds / 1e6,
        "grad_engine_mpts": point_steps / gradient_seconds / 1e6,
        "roofline_mpts": roofline,
        "accuracy": accuracy(job, engine_states, reference_states),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine(),
    }
    results["ratio_vs_reference"] = results["engine_mpts"] / results["reference_mpts"]
    results["ratio_vs_warm_reference"] = (
        results["engine_mpts"] / results["warm_reference_mpts"]
    )
    results["roofline_fraction"] = results["engine_mpts"] / roofline
    results["grad_roofline_fraction"] = results["grad_engine_mpts"] / roofline

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
