import json
import math
from dataclasses import replace

import matplotlib
import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import REPO, python_loss, validated
from rnn_landscape.config import parse_config
from rnn_landscape.figures.common import save
from rnn_landscape.figures.trajectories import inside_path, trajectories
from rnn_landscape.trajectories import (
    descend,
    open_trajectories,
    trajectory_dataset,
    write_trajectories,
)

matplotlib.use("Agg")

# The figure6_zoom region, where the default settings are meant to tell the story.
REGION = ((4.5, 5.4), (-3.0, -1.0))
DIAGONAL = math.hypot(0.9, 2.0)

PAPER = dict(x0=0.5, steps=50, target=0.7, activation="sigmoid", readout="sigmoid")
LINEAR = dict(x0=0.5, target=1.0, activation="linear", readout="identity")
# The settings shipped in the default configuration.
DEFAULT_CONFIG = parse_config(
    validated(yaml.safe_load((REPO / "config/config.yaml").read_text()))
)
DEFAULT_DESCENT = DEFAULT_CONFIG.descent
PAPER_PRESET = DEFAULT_CONFIG.presets["paper"]


@pytest.fixture(scope="module")
def paper_runs():
    return trajectory_dataset(PAPER_PRESET, DEFAULT_DESCENT)


def step_lengths(history) -> np.ndarray:
    return np.hypot(np.diff(history["w"]), np.diff(history["b"]))


def inside(w, b) -> np.ndarray:
    (w_lo, w_hi), (b_lo, b_hi) = REGION
    return (w_lo <= w) & (w <= w_hi) & (b_lo <= b) & (b <= b_hi)


# Hand-derived for x_T = w act(x_{T-1}) + b with act(x) = x, readout identity:
# T = 1: x = w x0 + b, so dE/dw = 2 e x0 and dE/db = 2 e;
# T = 2: x = w^2 x0 + w b + b, so dE/dw = 2 e (2 w x0 + b) and dE/db = 2 e (w + 1).
HAND = {
    1: lambda w, b, x0: (w * x0 + b, x0, 1.0),
    2: lambda w, b, x0: (w * w * x0 + w * b + b, 2 * w * x0 + b, w + 1.0),
}


@pytest.mark.parametrize("steps", [1, 2])
def test_one_step_is_the_hand_computed_update_on_the_linear_model(steps):
    starts = [(0.3, -0.2), (1.5, 0.4), (-2.0, 1.0)]
    learning_rate = 0.05

    history = descend(
        starts, steps=steps, learning_rate=learning_rate, iterations=1, **LINEAR
    )

    for run, (w, b) in enumerate(starts):
        x, dx_dw, dx_db = HAND[steps](w, b, LINEAR["x0"])
        error = x - LINEAR["target"]
        grad = np.array([2 * error * dx_dw, 2 * error * dx_db])
        expected = np.array([w, b]) - learning_rate * grad
        assert history["loss"][run, 0] == pytest.approx(error**2, rel=1e-14)
        assert history["grad_norm"][run, 0] == pytest.approx(np.hypot(*grad), rel=1e-14)
        got = [history["w"][run, 1], history["b"][run, 1]]
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        assert not history["clipped"][run].any()


def test_a_tiny_threshold_makes_every_step_threshold_times_learning_rate():
    rng = np.random.default_rng(7)
    starts = np.column_stack([rng.uniform(4.5, 5.4, 8), rng.uniform(-3.0, -1.0, 8)])

    history = descend(starts, **PAPER, learning_rate=0.1, iterations=10, threshold=1e-6)

    # Exact up to the rounding of the positions (w near 5) they are measured from.
    rounding = 4 * np.spacing(5.4)
    np.testing.assert_allclose(step_lengths(history), 1e-7, rtol=0, atol=rounding)
    assert history["clipped"].all()


def test_a_huge_threshold_repeats_the_plain_runs_bit_for_bit():
    # The default starts include runs whose gradient reaches 4854 on the wall.
    settings = dict(PAPER, learning_rate=0.1, iterations=32)

    plain = descend(DEFAULT_DESCENT.starts, **settings)
    never = descend(DEFAULT_DESCENT.starts, **settings, threshold=1e300)

    for name in ("w", "b", "loss", "grad_norm"):
        np.testing.assert_array_equal(never[name], plain[name])
    assert not never["clipped"].any() and not plain["clipped"].any()


def test_the_gradient_is_that_of_an_independent_loss():
    starts = [*DEFAULT_DESCENT.starts, (5.2, -1.5), (4.6, -2.0)]
    h = 1e-6

    # With a learning rate of 1, one step moves a run by minus its gradient.
    history = descend(starts, **PAPER, learning_rate=1.0, iterations=1)

    def loss(w, b):
        return python_loss(w, b, 0.5, 50, 0.7, "sigmoid")

    for run, (w, b) in enumerate(starts):
        grad_w = (loss(w + h, b) - loss(w - h, b)) / (2 * h)
        grad_b = (loss(w, b + h) - loss(w, b - h)) / (2 * h)
        moved = [w - history["w"][run, 1], b - history["b"][run, 1]]
        np.testing.assert_allclose(moved, [grad_w, grad_b], rtol=1e-6)
        assert history["grad_norm"][run, 0] == pytest.approx(math.hypot(grad_w, grad_b))
        assert history["loss"][run, 0] == pytest.approx(loss(w, b), rel=1e-12)


def test_the_defaults_throw_plain_runs_off_the_wall_and_keep_clipped_ones(paper_runs):
    ds = paper_runs
    plain = ds.isel(run=~ds.clipped_run.values)
    clipped = ds.isel(run=ds.clipped_run.values)
    plain_steps = np.hypot(plain.w.diff("iteration"), plain.b.diff("iteration")).values
    clipped_steps = np.hypot(clipped.w.diff("iteration"), clipped.b.diff("iteration"))

    # Thrown: one step many times the region's size, ending far outside it.
    thrown = plain_steps.max(axis=1) > 10 * DIAGONAL
    assert thrown.sum() >= 1 and plain_steps.max() > 100 * DIAGONAL
    assert not inside(plain.w[:, -1], plain.b[:, -1]).values[thrown].any()

    # Their clipped twins: never a step longer than learning rate x threshold,
    # clipped on the wall, every iterate inside the region, ending in the valley.
    limit = ds.attrs["learning_rate"] * ds.attrs["threshold"]
    assert (clipped_steps.values <= limit * (1 + 1e-12)).all()
    assert inside(clipped.w, clipped.b).values.all()
    twins = clipped.isel(run=np.isin(clipped.start, plain.start[thrown]))
    assert twins.clipped.any("iteration").all()
    assert (twins.loss[:, -1] < twins.loss[:, 0] / 10).all()


def test_a_run_that_blows_up_stops_without_warnings_and_alone():
    # Linear activation: from w = 3 the first gradient (about 1e49) throws w far
    # past PARAMETER_BOUND; from w = 1e5 with T = 100, x_T overflows at the start.
    starts = [(3.0, 0.0), (1e5, 0.0), (0.5, 0.1)]
    settings = dict(LINEAR, steps=50, learning_rate=0.1, iterations=4)

    history = descend(starts, **settings)
    far = descend(starts[1:2], **dict(settings, steps=100))
    alone = descend(starts[2:], **settings)

    assert np.isfinite(history["w"][0, 0]) and np.isnan(history["w"][0, 1:]).all()
    assert np.isnan(far["loss"]).all() and not far["clipped"].any()
    for name in ("w", "b", "loss", "grad_norm"):
        np.testing.assert_array_equal(history[name][2], alone[name][0])


def test_starts_must_be_pairs():
    with pytest.raises(ValueError, match=r"\(w, b\) pairs"):
        descend([4.9, -2.9], **PAPER, learning_rate=0.1, iterations=1)


def test_the_dataset_pairs_each_plain_run_with_its_clipped_twin(paper_runs):
    ds = paper_runs
    starts = len(DEFAULT_DESCENT.starts)

    assert dict(ds.sizes) == {
        "run": 2 * starts,
        "iteration": DEFAULT_DESCENT.iterations + 1,
    }
    assert ds.clipped_run.values.tolist() == [False] * starts + [True] * starts
    assert ds.start.values.tolist() == 2 * list(range(starts))
    np.testing.assert_array_equal(ds.w[:, 0], ds.start_w)
    np.testing.assert_array_equal(ds.b[:, 0], ds.start_b)
    assert ds.clipped.dtype == bool
    assert not ds.clipped.isel(run=~ds.clipped_run.values).any()
    for name in ("w", "b", "loss", "grad_norm", "clipped"):
        assert ds[name].attrs["long_name"]
    assert ds.attrs["preset"] == "paper" and ds.attrs["threshold"] == 1.0


def test_zarr_round_trip_keeps_everything(paper_runs, tmp_path):
    path = tmp_path / "paper.zarr"
    write_trajectories(paper_runs.isel(iteration=slice(0, 3)), path)  # then replaced

    write_trajectories(paper_runs, path)

    with xr.open_zarr(path, consolidated=True) as back:
        xr.testing.assert_identical(back.load(), paper_runs)
    assert json.loads(json.dumps(paper_runs.attrs)) == paper_runs.attrs
    assert not (tmp_path / "paper.zarr.partial").exists()
    with open_trajectories(path) as back:
        assert back.clipped.dtype == bool and back.clipped_run.dtype == bool


def test_inside_path_cuts_runs_at_the_edges_of_the_region():
    limits = ((0.0, 1.0), (0.0, 1.0))
    # Out through w = 1, a step that misses the square, back in through b = 1;
    # the run ends at its NaN.
    w = np.array([0.5, 1.5, 0.5, 0.25, np.nan, 0.5])
    b = np.array([0.5, 0.5, 2.0, 0.5, 0.5, 0.5])
    height = np.array([2.0, 4.0, 0.0, 1.0, 1.0, 1.0])

    path, exits = inside_path(w, b, height, limits)

    # Heights along a cut step are interpolated linearly: 2 -> 4 is cut halfway,
    # 0 -> 1 two thirds of the way.
    expected = [
        [0.5, 0.5, 2.0],
        [1.0, 0.5, 3.0],
        [np.nan] * 3,
        [1 / 3, 1.0, 2 / 3],
        [0.25, 0.5, 1.0],
    ]
    np.testing.assert_allclose(path, expected, rtol=1e-15)
    (exit_,) = exits
    assert (exit_.w, exit_.b, exit_.height) == (1.0, 0.5, 3.0)
    assert exit_.direction == (1.0, 0.0) and exit_.end == (0.25, 0.5)


def test_figure_draws_plain_solid_and_clipped_dashed_inside_the_region(
    tiny_stores, paper_runs
):
    surface = xr.open_zarr(tiny_stores["paper", "zoom"])

    figure = trajectories(surface, paper_runs, stride=2)

    ax3d, ax2d = figure.axes[:2]
    for ax in (ax3d, ax2d):
        lines = {line.get_label(): line for line in ax.get_lines()}
        for w, b in DEFAULT_DESCENT.starts:
            plain = lines[f"plain run from ({w:g}, {b:g})"]
            clipped = lines[f"clipped run from ({w:g}, {b:g})"]
            assert (plain.get_linestyle(), clipped.get_linestyle()) == ("-", "--")
            assert plain.get_color() == clipped.get_color()
    for line in ax2d.get_lines():
        w, b = (np.asarray(data, dtype=float) for data in line.get_data())
        assert inside(w[np.isfinite(w)], b[np.isfinite(b)]).all()
    texts = [text.get_text() for text in ax2d.texts]
    assert "to (261, 410)" in texts and "to (-39.3, -74.5)" in texts

    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[:2] == ["plain gradient descent", r"clipped: $|g| \leq 1$"]
    assert [line.get_linestyle() for line in legend.get_lines()[:2]] == ["-", "--"]
    assert (ax2d.get_xlabel(), ax2d.get_ylabel()) == ("$w$", "$b$")
    assert (ax3d.get_xlabel(), ax3d.get_ylabel(), ax3d.get_zlabel()) == (
        "$w$",
        "$b$",
        "$E_{50}$",
    )


def test_figure_saves_as_png_and_pdf(tiny_stores, paper_runs, tmp_path):
    figure = trajectories(xr.open_zarr(tiny_stores["paper", "zoom"]), paper_runs)
    paths = [tmp_path / "trajectories.png", tmp_path / "trajectories.pdf"]

    save(figure, paths)

    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def test_figure_refuses_a_surface_of_another_step_count(tiny_stores, paper_runs):
    runs = paper_runs.assign_attrs(steps=20)

    with pytest.raises(ValueError, match="E_20"):
        trajectories(xr.open_zarr(tiny_stores["paper", "zoom"]), runs)


def test_other_settings_give_their_own_runs(paper_runs):
    shorter = replace(DEFAULT_DESCENT, iterations=5)

    ds = trajectory_dataset(PAPER_PRESET, shorter)

    xr.testing.assert_identical(ds.w, paper_runs.w.isel(iteration=slice(0, 6)))
    assert ds.attrs["iterations"] == 5
