import json
from dataclasses import asdict
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rnn_landscape.config import ConfigError, parse_config

FIGURE_FORMATS = ["png", "pdf"]

# The CLI run by the Python that runs Snakemake, so jobs find the package even
# when its virtual environment's bin/ is not on PATH.
RNN_LANDSCAPE = f"{shlex.quote(sys.executable)} -m rnn_landscape"

# Checked before any job is scheduled: the schema (types, bounds, spelling), then
# what it cannot express (spacings that fit their range, surfaces that exist).
validate(config, schema="../schemas/config.schema.yaml")
try:
    CONFIG = parse_config(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None


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
    job = CONFIG.job(wildcards.preset, wildcards.surface)
    return min(CONFIG.threads, job.chunks_per_tile())


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
        "preset": asdict(CONFIG.presets[wildcards.preset]),
        "descent": asdict(CONFIG.descent),
    }
    return json.dumps(settings, sort_keys=True)


def get_figure_options(wildcards):
    options = dict(CONFIG.figures[wildcards.figure])
    options.pop("surface", None)
    options.pop("surfaces", None)
    return json.dumps(options, sort_keys=True)
