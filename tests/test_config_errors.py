"""Every kind of bad configuration, each with the message a user must see.

The workflow runs `check_config` on the config files it was given before it
schedules anything (tests/test_workflow.py shows it stops there and writes
nothing); here each case goes through that same call.
"""

import copy

import pytest
import yaml

from conftest import SCHEMA
from rnn_landscape.config import ConfigProblems, check_config


def zoom(config):
    return config["surfaces"]["zoom"]


def paper(config):
    return config["presets"]["paper"]


# (case, edit of the tiny config, text the message must contain). An edit that
# returns a string appends it to the YAML file, for what a dict cannot hold.
CASES = [
    # Values that are not numbers.
    (
        "string bound",
        lambda c: zoom(c)["w"].update(start="4.5"),
        "config key 'surfaces.zoom.w.start': '4.5' is not of type 'number'",
    ),
    (
        "boolean bound",
        lambda c: zoom(c)["b"].update(stop=True),
        "config key 'surfaces.zoom.b.stop': True is not of type 'number'",
    ),
    (
        "string single value",
        lambda c: c["surfaces"]["sweep"].update(w="five"),
        "config key 'surfaces.sweep.w': 'five' is not of type 'number', 'object'",
    ),
    (
        "string x0",
        lambda c: paper(c).update(x0="0.5"),
        "config key 'presets.paper.x0': '0.5' is not of type 'number'",
    ),
    (
        "string target",
        lambda c: paper(c).update(targets=["high"]),
        "config key 'presets.paper.targets[0]': 'high' is not of type 'number'",
    ),
    # NaN and infinities, which YAML spells .nan and .inf.
    (
        "NaN bound",
        lambda c: zoom(c)["w"].update(start=float("nan")),
        "config key 'surfaces.zoom.w.start': found nan; expected a finite number",
    ),
    (
        "infinite bound",
        lambda c: zoom(c)["b"].update(stop=float("inf")),
        "config key 'surfaces.zoom.b.stop': found inf; expected a finite number",
    ),
    (
        "infinite single value",
        lambda c: c["surfaces"]["sweep"].update(w=-float("inf")),
        "config key 'surfaces.sweep.w': found -inf; expected a finite number",
    ),
    (
        "NaN x0",
        lambda c: paper(c).update(x0=float("nan")),
        "config key 'presets.paper.x0': found nan; expected a finite number",
    ),
    # Ranges and their sampling.
    (
        "start above stop",
        lambda c: zoom(c)["w"].update(start=6.0),
        "config key 'surfaces.zoom.w': start must be below stop, got 6.0..5.4",
    ),
    (
        "start equal to stop",
        lambda c: zoom(c)["w"].update(start=5.4),
        "config key 'surfaces.zoom.w': start must be below stop, got 5.4..5.4",
    ),
    (
        "zero spacing",
        lambda c: zoom(c)["w"].update(spacing=0),
        "config key 'surfaces.zoom.w.spacing': 0 is less than or equal to the minimum of 0",
    ),
    (
        "negative spacing",
        lambda c: zoom(c)["b"].update(spacing=-0.05),
        "config key 'surfaces.zoom.b.spacing': -0.05 is less than or equal to the minimum",
    ),
    (
        "zero points",
        lambda c: c["surfaces"]["wide"]["w"].update(num=0),
        "config key 'surfaces.wide.w.num': 0 is less than the minimum of 2",
    ),
    (
        "fractional points",
        lambda c: c["surfaces"]["wide"]["b"].update(num=2.5),
        "config key 'surfaces.wide.b.num': 2.5 is not of type 'integer'",
    ),
    (
        "spacing that does not fit",
        lambda c: zoom(c)["w"].update(spacing=0.07),
        "config key 'surfaces.zoom.w': spacing 0.07 does not fit the range 4.5..5.4:"
        " (stop - start) / spacing = 12.857142857142861 must be a whole number >= 1",
    ),
    (
        "spacing and num",
        lambda c: zoom(c)["w"].update(num=5),
        "config key 'surfaces.zoom.w': give exactly one of `spacing` or `num`",
    ),
    (
        "no spacing nor num",
        lambda c: zoom(c)["w"].pop("spacing") and None,
        "config key 'surfaces.zoom.w': give exactly one of `spacing` or `num`",
    ),
    (
        "range wider than float64",
        lambda c: c["surfaces"]["wide"]["w"].update(start=-1.0e308, stop=1.0e308),
        "config key 'surfaces.wide.w': the range -1e+308..1e+308 is wider than float64",
    ),
    # Step counts.
    (
        "no steps",
        lambda c: zoom(c).update(steps=[]),
        "config key 'surfaces.zoom.steps': [] should be non-empty",
    ),
    (
        "steps not a list",
        lambda c: zoom(c).update(steps=50),
        "config key 'surfaces.zoom.steps': 50 is not of type 'array'",
    ),
    (
        "fractional step",
        lambda c: zoom(c).update(steps=[2.5]),
        "config key 'surfaces.zoom.steps[0]': 2.5 is not of type 'integer'",
    ),
    (
        "zero steps",
        lambda c: zoom(c).update(steps=[0, 50]),
        "config key 'surfaces.zoom.steps[0]': 0 is less than the minimum of 1",
    ),
    (
        "negative steps",
        lambda c: zoom(c).update(steps=[50, -3]),
        "config key 'surfaces.zoom.steps[1]': -3 is less than the minimum of 1",
    ),
    (
        "repeated steps",
        lambda c: zoom(c).update(steps=[5, 5]),
        "config key 'surfaces.zoom.steps': [5, 5] has non-unique elements",
    ),
    # Names given twice, which YAML would otherwise resolve silently.
    (
        "surface named twice",
        lambda c: "surfaces:\n  zoom: {w: 1.0, b: 1.0, steps: [1]}\n",
        "key 'surfaces' appears twice in one mapping",
    ),
    (
        "preset named twice",
        lambda c: None,  # replaced below: needs raw text
        "line 3: key 'paper' appears twice in one mapping",
    ),
    # Unknown names and keys: a misspelled key is an error, not ignored.
    (
        "unknown top-level key",
        lambda c: c.update(surface={}),
        "config key 'surface': unknown key; expected one of presets, surfaces",
    ),
    (
        "misspelled preset key",
        lambda c: paper(c).update(x_0=1.0),
        "config key 'presets.paper.x_0': unknown key; expected one of x0, activation",
    ),
    (
        "misspelled surface key",
        lambda c: zoom(c).update(stpes=[50]),
        "config key 'surfaces.zoom.stpes': unknown key; expected one of w, b, steps",
    ),
    (
        "misspelled compute key",
        lambda c: c["compute"].update(thread=2),
        "config key 'compute.thread': unknown key; expected one of threads",
    ),
    (
        "unknown figure kind",
        lambda c: c["figures"].update(heatmap={"surface": "zoom"}),
        "config key 'figures.heatmap': unknown key; expected one of figure6_zoom",
    ),
    (
        "unknown activation",
        lambda c: paper(c).update(activation="relu"),
        "config key 'presets.paper.activation': 'relu' is not one of"
        " ['sigmoid', 'tanh', 'linear']",
    ),
    (
        "unknown readout",
        lambda c: paper(c).update(readout="softmax"),
        "config key 'presets.paper.readout': 'softmax' is not one of"
        " ['identity', 'sigmoid']",
    ),
    (
        "figure of an unknown surface",
        lambda c: c["figures"]["steps_sweep"].update(surface="swep"),
        "config key 'figures.steps_sweep.surface': no surface named 'swep'; known: zoom",
    ),
    (
        "no presets",
        lambda c: c.update(presets={}),
        "config key 'presets': {} should be non-empty",
    ),
    # Names become folders, files and shell words.
    (
        "name leaving results/",
        lambda c: c["surfaces"].update({"../../etc": zoom(c)}),
        "config key 'surfaces': '../../etc' does not match '^[A-Za-z][A-Za-z0-9_]*$';"
        " expected: Letters, digits and underscores, starting with a letter",
    ),
    (
        "name with a space",
        lambda c: c["presets"].update({"my paper": paper(c)}),
        "config key 'presets': 'my paper' does not match",
    ),
    (
        "name with shell syntax",
        lambda c: c["surfaces"].update({"z;rm -rf ~": zoom(c)}),
        "config key 'surfaces': 'z;rm -rf ~' does not match",
    ),
    (
        "name with a quote",
        lambda c: c["presets"].update({"it's": paper(c)}),
        "config key 'presets': \"it's\" does not match",
    ),
    (
        "dask scheduler without protocol",
        lambda c: c["compute"].update(dask_scheduler="localhost:8786"),
        "config key 'compute.dask_scheduler': 'localhost:8786' does not match",
    ),
    # Work and layout.
    (
        "surface over the budget",
        lambda c: c["compute"].update(max_point_steps=1000),
        "config key 'surfaces.zoom': 41 x 19 points x 50 steps = 3.9e+04 point-steps, over"
        " the budget of 1e+03; coarsen the grid, or raise compute.max_point_steps",
    ),
    (
        "tile not a whole number of chunks",
        lambda c: c["compute"]["tile"].update(b=12),
        "config key 'compute.tile.b': 12 (4096 unless set) is not a multiple of"
        " compute.chunk.b = 8",
    ),
    (
        "zero threads",
        lambda c: c["compute"].update(threads=0),
        "config key 'compute.threads': 0 is less than the minimum of 1",
    ),
]

DUPLICATE_PRESET = """\
presets:
  paper: {x0: 0.5, readout: sigmoid, targets: [0.7]}
  paper: {x0: 0.0, readout: identity, targets: [1.0]}
surfaces:
  sweep: {w: 5.0, b: {start: -3.0, stop: 0.0, num: 7}, steps: [50]}
"""


def config_file(tmp_path, tiny_config, edit):
    """The tiny config, edited, as the YAML file a user would write."""
    path = tmp_path / "mine.yaml"
    config = copy.deepcopy(tiny_config)
    appended = edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False) + (appended or ""))
    return path


@pytest.mark.parametrize(("case", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_config_is_refused_with_its_message(
    tmp_path, tiny_config, case, edit, message
):
    path = config_file(tmp_path, tiny_config, edit)
    if case == "preset named twice":
        path.write_text(DUPLICATE_PRESET)

    with pytest.raises(ConfigProblems) as refused:
        check_config(yaml.safe_load(path.read_text()), SCHEMA, [path])

    assert message in str(refused.value)


def test_every_problem_is_listed_not_only_the_first(tmp_path, tiny_config):
    def edit(config):
        zoom(config)["w"].update(start="4.5")
        paper(config).update(activation="relu")
        config["compute"].update(thread=2)

    path = config_file(tmp_path, tiny_config, edit)

    with pytest.raises(ConfigProblems) as refused:
        check_config(yaml.safe_load(path.read_text()), SCHEMA, [path])

    assert [line.split("'")[1] for line in refused.value.problems] == [
        "compute.thread",
        "presets.paper.activation",
        "surfaces.zoom.w.start",
    ]


def test_the_tiny_config_passes_and_gets_the_defaults(tmp_path, tiny_config):
    path = config_file(tmp_path, tiny_config, lambda c: None)

    config = check_config(yaml.safe_load(path.read_text()), SCHEMA, [path])

    assert config.presets["paper"].activation == "sigmoid"  # the schema's default
    assert config.dask_scheduler is None
