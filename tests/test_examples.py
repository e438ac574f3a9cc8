"""examples/wall_sharpening.py on sweeps the engine computes from a small config,
its numbers checked against plain loops: the loss on either side of the wall,
the two stable fixed points the jump tends to, and the target's algebra."""

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, python_loss, python_state, validated
from rnn_landscape.config import parse_config
from rnn_landscape.engine import compute_surface
from rnn_landscape.store import open_surface

SPACING = 0.01
STEPS = [1, 2, 5, 10, 20, 50, 100]
# Long enough for a plain loop to sit on a stable fixed point to the last bit
# (multipliers there are at most 0.8 at w = 5).
CONVERGED = 2000


def load_example():
    path = REPO / "examples" / "wall_sharpening.py"
    spec = importlib.util.spec_from_file_location("wall_sharpening", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where its dataclass looks itself up
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Sweeps at w = 5 like the default `steps_sweep`, coarser, and with two
    targets for the notebook's preset."""
    config = {
        "presets": {
            "paper": {"x0": 0.5, "readout": "sigmoid", "targets": [0.7]},
            "notebook": {"x0": 0.0, "readout": "identity", "targets": [1.0, 0.0]},
        },
        "surfaces": {
            "steps_sweep": {
                "w": 5.0,
                "b": {"start": -3.0, "stop": 0.0, "spacing": SPACING},
                "steps": STEPS,
            }
        },
        "figures": {},
    }
    parsed = parse_config(validated(config))
    root = tmp_path_factory.mktemp("project") / "results"
    for preset in parsed.presets:
        path = root / "surfaces" / preset / "steps_sweep.zarr"
        compute_surface(parsed.job(preset, "steps_sweep"), path, threads=1)
    return root


def sweep(results, preset):
    return open_surface(results / "surfaces" / preset / "steps_sweep.zarr")


def stable_points(w, b) -> tuple[float, float]:
    """The two attractors at (w, b), by running the map from far below and above."""
    low, high = -10.0, 10.0
    for _ in range(CONVERGED):
        low = w * (0.5 * (1 + math.tanh(0.5 * low))) + b
        high = w * (0.5 * (1 + math.tanh(0.5 * high))) + b
    return low, high


@pytest.mark.parametrize(
    ("preset", "x0", "readout", "wall_b", "on_grid"),
    [("paper", 0.5, "sigmoid", -2.6123, False), ("notebook", 0.0, "identity", -2.5, True)],
)
def test_the_jump_across_the_wall_tends_to_the_gap_between_the_attractors(
    results, preset, x0, readout, wall_b, on_grid
):
    ds = sweep(results, preset)
    target = float(ds.target[0])

    wall = example.locate_wall(ds, 5.0)
    table = example.sharpening(ds, wall, window=0.1)

    assert wall.b == pytest.approx(wall_b, abs=5e-5)  # the README's walls
    assert wall.on_grid is on_grid  # b = -2.5 is a grid point: skipped
    b_below, b_above = ds.b.values[[wall.below, wall.above]]
    assert b_above - b_below == pytest.approx(SPACING * (2 if on_grid else 1))
    assert b_below < wall.b < b_above

    # The jump at T = 100 is the plain loop's at the same two b, and by then
    # each side sits on its attractor (to 0.8^100 = 2e-10).
    last = table[(table["T"] == 100) & (table.target == target)].iloc[0]
    plain = [
        python_loss(5.0, b_above, x0, steps, target, readout)
        - python_loss(5.0, b_below, x0, steps, target, readout)
        for steps in (100, CONVERGED)
    ]
    assert last["across"] == pytest.approx(plain[0], rel=1e-12)
    assert last["across"] == pytest.approx(plain[1], rel=1e-8)

    # And that is the gap between the attractors at b*, up to how far the two
    # points are from b* times the slope of the plateaus (finite differences).
    def plateau(b):
        low, high = stable_points(5.0, b)
        read = (lambda x: 0.5 * (1 + math.tanh(0.5 * x))) if readout == "sigmoid" else float
        return (read(low) - target) ** 2, (read(high) - target) ** 2

    low, high = plateau(wall.b)
    gap = high - low
    h = 1e-4
    up, down = plateau(wall.b + h), plateau(wall.b - h)
    slopes = [abs(up[side] - down[side]) / (2 * h) for side in (0, 1)]
    assert last["limit"] == pytest.approx(gap, rel=1e-9)
    assert abs(last["across"] - gap) <= 1.5 * SPACING * sum(slopes)
    assert abs(last["across"] - gap) < 0.02 * abs(gap)  # at a spacing of 0.01


def test_the_wall_narrows_like_the_multiplier_to_the_minus_t(results):
    ds = sweep(results, "paper")
    wall = example.locate_wall(ds, 5.0)

    table = example.sharpening(ds, wall, window=0.1).set_index("T")

    m = 5.0 * 0.5 * (1 + math.tanh(0.25)) * 0.5 * (1 - math.tanh(0.25))  # 5 s'(0.5)
    assert wall.multiplier == pytest.approx(m, rel=1e-12)
    assert np.allclose(table["m^-T"], [m**-t for t in STEPS], rtol=1e-12)
    gap = abs(table["limit"].iloc[0])
    # While m^-T is wider than the window the rise is spread over it, a few
    # percent per grid step; it steepens with every T, and once m^-T is below a
    # grid step it takes one.
    assert (table.loc[[1, 2, 5, 10], "across"].abs() < 0.05 * gap).all()
    assert np.all(np.diff(table.loc[[1, 2, 5, 10, 20, 50], "across"].abs()) > 0)
    assert (table.loc[[1, 2, 5, 10], "share"] < 0.2).all()  # 20 grid steps in the window
    assert (table.loc[[50, 100], "share"] > 0.9).all()
    assert (table.loc[[50, 100], "at b"] - wall.b).abs().max() < SPACING


def test_the_target_scales_the_jump_and_cancels_it_midway(results):
    ds = sweep(results, "notebook")  # stored targets 1 and 0
    wall = example.locate_wall(ds, 5.0)
    x_below = python_state(5.0, float(ds.b[wall.below]), 0.0, 100)
    x_above = python_state(5.0, float(ds.b[wall.above]), 0.0, 100)

    targets = [-2.0, 0.0, 0.5, 1.0, 2.0]
    table = example.target_dependence(ds, wall, targets, window=0.1).set_index("target")
    middle = example.vanishing_target(ds, wall)

    expected = [(x_above - x_below) * (x_above + x_below - 2 * t) for t in targets]
    assert np.allclose(table["across"], expected, rtol=1e-9, atol=1e-12)
    assert list(table["stored"]) == [False, True, False, True, False]
    stored = ds.loss.isel(steps=-1, w=0)
    for target in (0.0, 1.0):
        across = (
            stored.sel(target=target)[wall.above] - stored.sel(target=target)[wall.below]
        )
        assert table.loc[target, "across"] == pytest.approx(float(across), rel=1e-12)
    assert middle == pytest.approx(0.5 * (x_above + x_below), abs=1e-9)
    assert example.stored_loss_agrees(ds, wall) < 1e-12
    # Where the jump cancels, the steepest step is no longer at the wall.
    flat = example.target_dependence(ds, wall, [middle], window=0.1).iloc[0]
    assert abs(flat["across"]) < 1e-9
    assert abs(flat["at b"] - wall.b) > SPACING


def test_a_w_where_the_wall_is_not_the_line_is_refused(results):
    ds = sweep(results, "paper")

    with pytest.raises(ValueError, match=r"pick a w beyond 4\.255"):
        example.locate_wall(ds.assign_coords(w=[4.1]), 4.1)


def test_the_script_prints_both_tables_and_draws_its_figure(results, tmp_path, capsys):
    figure = tmp_path / "figures" / "sharpening.png"
    stores = [
        str(results / "surfaces" / p / "steps_sweep.zarr") for p in ("paper", "notebook")
    ]

    code = example.main(
        [arg for s in stores for arg in ("--store", s)] + ["--figure", str(figure)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "paper/steps_sweep: E_T = (sigmoid(x_T) - target)^2" in out
    assert "wall predicted at b* = -2.6123" in out
    assert "a grid point lies on b*" in out  # the notebook's b = -2.5
    assert out.count(" target ") >= 4  # two tables per store
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_the_script_runs_from_the_command_line_on_a_results_folder(results):
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "wall_sharpening.py")]
        + ["--results", str(results), "--preset", "paper", "--targets", "0.7", "0.2"],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
    assert "wall predicted at b* = -2.6123" in done.stdout
    assert "notebook" not in done.stdout
