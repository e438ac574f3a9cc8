import math
from pathlib import Path

import pytest
from snakemake.utils import validate

from rnn_landscape.config import parse_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def python_state(w: float, b: float, x0: float, steps: int, activation="sigmoid") -> float:
    """x_T by a plain Python loop, with the sigmoid written as 0.5 (1 + tanh(x/2)):
    a formula neither the kernel nor the numpy reference uses."""
    acts = {
        "sigmoid": lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)),
        "tanh": math.tanh,
        "linear": lambda x: x,
    }
    x = x0
    for _ in range(steps):
        x = w * acts[activation](x) + b
    return x


def python_loss(w, b, x0, steps, target, readout, activation="sigmoid") -> float:
    x = python_state(w, b, x0, steps, activation)
    read = 0.5 * (1.0 + math.tanh(0.5 * x)) if readout == "sigmoid" else x
    return (read - target) ** 2


def validated(config: dict) -> dict:
    """A config dict as the workflow sees it: checked and defaulted by the schema."""
    validate(config, str(SCHEMA))
    return config


@pytest.fixture
def tiny_config() -> dict:
    """Two presets, three small surfaces (one across the w = 5 wall) and all figures."""
    return {
        "presets": {
            "paper": {"x0": 0.5, "readout": "sigmoid", "targets": [0.7]},
            "notebook": {"x0": 0.0, "readout": "identity", "targets": [1.0, 0.0]},
        },
        "surfaces": {
            "zoom": {
                "w": {"start": 4.5, "stop": 5.4, "spacing": 0.05},
                "b": {"start": -3.0, "stop": -1.0, "spacing": 0.05},
                "steps": [50],
                "derivatives": "first",
            },
            "wide": {
                "w": {"start": -4.0, "stop": 6.0, "num": 21},
                "b": {"start": -5.0, "stop": 5.0, "num": 23},
                "steps": [20, 50],
                "derivatives": "second",
            },
            "sweep": {
                "w": 5.0,
                # 7 points: a single tile and a single chunk, so one job, one thread.
                "b": {"start": -3.0, "stop": 0.0, "spacing": 0.5},
                "steps": [1, 2, 10, 50],
            },
        },
        "compute": {"threads": 2, "chunk": {"b": 8, "w": 16}, "tile": {"b": 16, "w": 16}},
        "figures": {
            "figure6_zoom": {"surface": "zoom", "stride": 2},
            "wide_panels": {"surfaces": ["zoom", "wide"], "stride": 2},
            "steps_sweep": {"surface": "sweep", "columns": 2},
        },
    }


@pytest.fixture
def tiny(tiny_config):
    return parse_config(validated(tiny_config))


def is_smooth(w, b, x0, steps, activation="sigmoid", slope=1e3, h=1e-7) -> bool:
    """True where x_T changes by less than `slope * h` when b moves by h either way.

    Near a wall x_T is ill-conditioned: two correct implementations that differ by
    one rounding in any step legitimately end in different basins there. Tests that
    compare implementations to tight tolerances keep to the points this accepts.
    """
    here = python_state(w, b, x0, steps, activation)
    return all(
        abs(python_state(w, b + d, x0, steps, activation) - here) < slope * h
        for d in (-h, h)
    )


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory):
    """Stores of the tiny config, written once by the engine: {(preset, surface): path}."""
    from rnn_landscape.engine import compute_surface

    config = parse_config(validated(tiny_config.__wrapped__()))
    root = tmp_path_factory.mktemp("surfaces")
    paths = {}
    for preset in config.presets:
        for surface in config.surfaces:
            path = root / preset / f"{surface}.zarr"
            compute_surface(config.job(preset, surface), path, threads=2)
            paths[preset, surface] = path
    return paths
