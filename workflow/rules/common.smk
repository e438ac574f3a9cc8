import json
import math
import os
from dataclasses import asdict
from pathlib import Path
import sys

from snakemake.exceptions import WorkflowError

from rnn_landscape.config import SCHEDULER_VARIABLE, ConfigProblems, check_config
from rnn_landscape.variables import VARIABLES

FIGURE_FORMATS = ["png", "pdf"]
# As the report's toggle between the two names them; it shows the first in sort
# order unless asked, so the PNG, which every browser displays inline, comes first.
FORMAT_NAMES = {"png": "PNG", "pdf": "vector PDF"}


def path_with_first(folder):
    """PATH with `folder` first and nowhere else, without empty entries (which
    would mean the current folder)."""
    entries = os.environ.get("PATH", "").split(os.pathsep)
    others = [entry for entry in entries if entry not in ("", folder)]
    return os.pathsep.join([folder, *others])


# Jobs call `rnn-landscape`. Their PATH starts with the folder of the Python that
# runs Snakemake, where pip installed that command, so a virtual environment works
# without being activated; under --use-conda the rule's environment is activated
# after this and comes first.
os.environ.update(PATH=path_with_first(str(Path(sys.executable).parent)))

# Checked before any job is scheduled: keys repeated in the YAML files, the
# schema (types, bounds, spelling), then what it cannot express (spacings that
# fit their range, surfaces that exist). Every problem is listed by its key.
try:
    CONFIG = check_config(
        config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml", workflow.configfiles
    )
except ConfigProblems as problems:
    raise WorkflowError(f"Invalid configuration:\n{problems}") from None

# Compute jobs inherit this environment: with a Dask scheduler named in the
# config (or already in the environment) they send their tasks there.
if CONFIG.dask_scheduler:
    os.environ[SCHEDULER_VARIABLE] = CONFIG.dask_scheduler
DASK_SCHEDULER = os.environ.get(SCHEDULER_VARIABLE)


wildcard_constraints:
    preset="[A-Za-z][A-Za-z0-9_]*",
    surface="[A-Za-z][A-Za-z0-9_]*",
    figure="[A-Za-z][A-Za-z0-9_]*",
    tile="[0-9]+",


def tile_count(surface):
    # Tiles cut the grid only: the same under every preset.
    any_preset = next(iter(CONFIG.presets))
    return len(CONFIG.job(any_preset, surface).tiles)


def names_regex(names):
    # Names are plain identifiers (see the constraints above); an empty list
    # gives a pattern that matches nothing.
    return "|".join(names) or "(?!)"


SINGLE_TILE_SURFACES = [name for name in CONFIG.surfaces if tile_count(name) == 1]
MANY_TILE_SURFACES = [name for name in CONFIG.surfaces if tile_count(name) > 1]


def store_path(preset, surface):
    return f"results/surfaces/{preset}/{surface}.zarr"


def get_final_outputs():
    stores = [
        store_path(preset, surface)
        for preset in CONFIG.presets
        for surface in CONFIG.surfaces
    ]
    figures = expand(
        "results/figures/{preset}/{figure}.{ext}",
        preset=CONFIG.presets,
        figure=CONFIG.figures,
        ext=FIGURE_FORMATS,
    )
    trajectories = [trajectory_path(preset) for preset in CONFIG.presets]
    # Walls are exported for the surface the walls figure draws.
    walls = [
        f"results/walls/{preset}/{CONFIG.figures['walls']['surface']}.csv"
        for preset in CONFIG.presets
        if "walls" in CONFIG.figures
    ]
    return stores + trajectories + walls + figures


def get_job(wildcards):
    # The whole resolved job is a parameter, so editing one surface or preset
    # reruns exactly the stores (and figures) that depend on it.
    return CONFIG.job(wildcards.preset, wildcards.surface).to_json()


def get_threads(wildcards):
    # A job runs one Dask task per chunk: threads beyond its chunk count would sit
    # idle while Snakemake could give them to another job.
    # With a Dask cluster the job only waits on it: one thread.
    if DASK_SCHEDULER:
        return 1
    job = CONFIG.job(wildcards.preset, wildcards.surface)
    return min(CONFIG.threads, job.chunks_per_tile())


# What a job asks a cluster for (Slurm's --mem and --time); a local run ignores
# these unless `--resources` caps them. Each retry asks for that many times more,
# so a job killed for memory or time gets a second chance with room to spare.

# Two Pythons: the job's own Snakemake (under a cluster executor), 140 MB, and the
# compute job with its imports, 230 MB (measured: a 7-point surface peaks at
# 223 MB, a 4096 x 4096 tile at T = 50 with 2 threads at 292 MB).
COMPUTE_BASE_MEM_MB = 600
# Each thread holds one chunk's results, its jets and a copy being compressed:
# measured 1.3 to 3 times the results (1024 x 1024 points, 100 values per point:
# 554 MB with 1 thread, 778 MB with 2).
CHUNK_COPIES = 3
# Measured per thread: 300 million point-steps/s plain, 80 million with second
# derivatives; a job with 2 threads wrote 300 MB/s to local disk. A quarter of
# the slower rate and a fifteenth of the write rate leave room for older CPUs
# and a busy shared filesystem.
POINT_STEPS_PER_THREAD_S = 20e6
WRITTEN_MB_PER_S = 20
# Python starts, the job step's launch, the store's metadata: seconds, rounded up.
COMPUTE_BASE_MINUTES = 5
# Descent, walls and figures: one Python start and at most one surface's slice
# in memory; under a second to a few seconds each on the default config.
LIGHT_MEM_MB = 2000
LIGHT_MINUTES = 15


def largest_tile_points(job):
    b_range, w_range = job.tiles[0]
    return (b_range.stop - b_range.start) * (w_range.stop - w_range.start)


def values_per_point(job):
    # Every step count, target and variable is a float64 stored per grid point
    # (state counted once per target: an overestimate of one variable).
    variables = len(VARIABLES[job.surface.derivatives])
    return len(job.surface.steps) * len(job.preset.targets) * variables


def get_compute_mem_mb(wildcards, threads, attempt):
    job = CONFIG.job(wildcards.preset, wildcards.surface)
    surface, chunk = job.surface, job.chunk
    chunk_points = min(chunk.b, surface.b.num) * min(chunk.w, surface.w.num)
    chunk_mb = chunk_points * values_per_point(job) * 8 / 1e6
    needed = COMPUTE_BASE_MEM_MB + threads * CHUNK_COPIES * chunk_mb
    return attempt * 100 * math.ceil(needed / 100)


def get_compute_runtime(wildcards, threads, attempt):
    # Minutes, for the largest tile (the first): a job of a smaller one asks the same.
    job = CONFIG.job(wildcards.preset, wildcards.surface)
    points = largest_tile_points(job)
    computing = points * job.surface.steps[-1] / (threads * POINT_STEPS_PER_THREAD_S)
    writing = points * values_per_point(job) * 8 / 1e6 / WRITTEN_MB_PER_S
    return attempt * (COMPUTE_BASE_MINUTES + math.ceil((computing + writing) / 60))


def get_light_mem_mb(wildcards, attempt):
    return attempt * LIGHT_MEM_MB


def get_light_runtime(wildcards, attempt):
    return attempt * LIGHT_MINUTES


def get_tile_marks(wildcards):
    job = CONFIG.job(wildcards.preset, wildcards.surface)
    return expand(
        "results/surfaces/{preset}/{surface}.tiles/{tile}.done",
        preset=wildcards.preset,
        surface=wildcards.surface,
        tile=range(len(job.tiles)),
    )


def trajectory_path(preset):
    return f"results/trajectories/{preset}.zarr"


def get_figure_stores(wildcards):
    stores = [
        store_path(wildcards.preset, surface)
        for surface in CONFIG.figure_surfaces(wildcards.figure)
    ]
    if wildcards.figure == "trajectories":
        stores.append(trajectory_path(wildcards.preset))
    return stores


def get_descent(wildcards):
    # The preset and the descent settings: editing either reruns the trajectories.
    settings = {
        "preset": asdict(CONFIG.presets[wildcards["preset"]]),
        "descent": asdict(CONFIG.descent),
    }
    return json.dumps(settings, sort_keys=True)


def get_figure_options(wildcards):
    options = dict(CONFIG.figures[wildcards.figure])
    options.pop("surface", None)
    options.pop("surfaces", None)
    return json.dumps(options, sort_keys=True)


# What each store and each descent is computed from, as files beside them,
# rewritten only when their content changes. Their times tell Snakemake that a
# store is out of date even when its records of params are gone with
# `.snakemake/` (a new-user trial deleted it, then edited a surface, and got
# "Nothing to be done" and the old store).
def job_file(preset, surface):
    return f"results/surfaces/{preset}/{surface}.job.json"


def settings_file(preset):
    return f"results/trajectories/{preset}.settings.json"


def write_if_changed(path, text):
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


for preset_name in CONFIG.presets:
    for surface_name in CONFIG.surfaces:
        job = CONFIG.job(preset_name, surface_name)
        write_if_changed(job_file(preset_name, surface_name), job.store_json() + "\n")
    write_if_changed(
        settings_file(preset_name), get_descent({"preset": preset_name}) + "\n"
    )
