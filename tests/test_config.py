import json
import math
from dataclasses import asdict

import pytest
import yaml

from conftest import REPO, validated
from rnn_landscape.config import ConfigError, descent_from_json, parse_config


def test_default_config_has_the_regions_of_the_notebook_with_both_ends():
    config = parse_config(
        validated(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    )

    sizes = {
        name: (surface.w.num, surface.b.num, surface.steps)
        for name, surface in config.surfaces.items()
    }
    assert sizes == {
        "figure6_zoom": (181, 401, (50,)),
        "wide_2_6": (81, 101, (50,)),
        "wide_8": (321, 321, (50,)),
        "wide_20": (801, 801, (50,)),
        "steps_sweep": (1, 601, (1, 2, 3, 4, 5, 6, 10, 20, 35, 50, 75, 100)),
    }
    assert config.presets["paper"].x0 == 0.5
    assert config.presets["paper"].targets == (0.7,)
    assert config.presets["notebook"].readout == "identity"
    assert config.figure_surfaces("wide_panels") == [
        "figure6_zoom",
        "wide_2_6",
        "wide_8",
        "wide_20",
    ]


def test_schema_fills_in_defaults(tiny_config):
    del tiny_config["compute"]
    del tiny_config["figures"]["figure6_zoom"]["stride"]

    config = parse_config(validated(tiny_config))

    assert (config.threads, config.chunk.b, config.chunk.w) == (2, 512, 512)
    assert config.figures["figure6_zoom"] == {
        "surface": "zoom",
        "elevation": 32,
        "azimuth": 10,
        "stride": 10,
    }
    assert config.presets["paper"].activation == "sigmoid"
    assert config.surfaces["sweep"].derivatives == "none"
    assert config.descent.iterations >= 1 and config.descent.starts


def test_descent_settings_reach_a_job_unchanged(tiny_config):
    tiny_config["trajectories"] = {"starts": [[5, -2.5], [4.8, -2.0]], "threshold": 0.5}
    config = parse_config(validated(tiny_config))
    settings = json.dumps(
        {"preset": asdict(config.presets["paper"]), "descent": asdict(config.descent)}
    )

    preset, descent = descent_from_json(settings)

    assert preset == config.presets["paper"] and descent == config.descent
    assert descent.starts == ((5.0, -2.5), (4.8, -2.0)) and descent.threshold == 0.5


@pytest.mark.parametrize(
    ("where", "value", "key"),
    [
        (("presets", "paper", "x0"), math.nan, "presets.paper.x0"),
        (("surfaces", "sweep", "w"), math.inf, "surfaces.sweep.w"),
        (("surfaces", "zoom", "b", "spacing"), math.nan, "surfaces.zoom.b.spacing"),
    ],
)
def test_non_finite_numbers_are_refused_by_key(tiny_config, where, value, key):
    *path, last = where
    node = tiny_config
    for name in path:
        node = node[name]
    node[last] = value

    with pytest.raises(ConfigError, match=f"'{key}'.*expected a finite number"):
        parse_config(validated(tiny_config))


def test_steps_are_stored_in_increasing_order(tiny_config):
    tiny_config["surfaces"]["sweep"]["steps"] = [50, 1, 10]

    config = parse_config(validated(tiny_config))

    assert config.surfaces["sweep"].steps == (1, 10, 50)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["compute"].update(max_point_steps=10_000),
            r"'surfaces.zoom': 41 x 19 points x 50 steps = 3.9e\+04 point-steps, over",
        ),
        (
            lambda c: c["figures"]["wide_panels"].update(colors=["blue"]),
            "'figures.wide_panels.colors': 1 colours for 2 surfaces",
        ),
        (
            lambda c: c["figures"]["wide_panels"].update(colors=["blue", "bleu"]),
            "'figures.wide_panels.colors\\[1\\]': 'bleu' is not a matplotlib colour",
        ),
        (
            lambda c: c["figures"]["figure6_zoom"].update(surface="sweep"),
            "'figures.figure6_zoom': surface 'sweep' has a single w or b",
        ),
        (
            lambda c: c["figures"].update(curvature={"surface": "zoom"}),
            "'figures.curvature.surface': surface 'zoom' stores derivatives 'first';"
            " this figure needs at least 'second': set surfaces.zoom.derivatives",
        ),
        (
            lambda c: c["figures"].update(gradient_norm={"surface": "sweep"}),
            "'figures.gradient_norm': surface 'sweep' has a single w or b",
        ),
        (
            lambda c: c["figures"].update(bifurcation={"surface": "zoom"}),
            "'figures.bifurcation.surface': surface 'zoom' has 19 values of w",
        ),
    ],
)
def test_figures_and_budget_are_checked_before_any_job(tiny_config, edit, message):
    edit(tiny_config)

    with pytest.raises(ConfigError, match=message):
        parse_config(validated(tiny_config))


def test_whole_floats_where_integers_belong_become_integers(tiny_config):
    # JSON Schema's "integer" admits 512.0; Zarr chunks and job records must not.
    tiny_config["compute"]["chunk"] = {"b": 8.0, "w": 16.0}
    tiny_config["surfaces"]["sweep"]["steps"] = [50.0, 1.0]
    tiny_config["figures"]["figure6_zoom"]["stride"] = 2.0

    config = parse_config(validated(tiny_config))

    assert config.chunk.b == 8 and isinstance(config.chunk.b, int)
    assert config.surfaces["sweep"].steps == (1, 50)
    assert all(isinstance(t, int) for t in config.surfaces["sweep"].steps)
    assert isinstance(config.figures["figure6_zoom"]["stride"], int)
    assert '"steps": [1, 50]' in config.job("paper", "sweep").to_json()
