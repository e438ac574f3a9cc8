import math

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import REPO, validated
from rnn_landscape import theory
from rnn_landscape.config import parse_config
from rnn_landscape.kernel import READOUTS, final_states
from rnn_landscape.walls import compare_walls, distance_to_curves, find_walls


def slice_of(values, w, b, **scalars) -> xr.DataArray:
    coords = {"b": b, "w": w, **scalars}
    return xr.DataArray(values, coords=coords, dims=("b", "w"))


def straight_wall(b_of_w, w, b) -> xr.DataArray:
    """A smooth bowl with a step of 0.3 above the line b = b_of_w(w); the bowl's
    differences between neighbours stay below 0.3 / 20."""
    bb, ww = np.meshgrid(b, w, indexing="ij")
    smooth = 0.01 * ww**2 + 0.02 * bb**2 + 0.05 * np.sin(ww)
    return slice_of(smooth + 0.3 * (bb > b_of_w(ww)), w, b)


def test_finder_puts_one_point_per_crossing_within_half_a_step_of_a_step():
    w, b = np.linspace(-4, 4, 81), np.linspace(-3, 3, 61)  # spacing 0.1
    loss = straight_wall(lambda w: 0.33 - 0.5 * w, w, b)

    found = find_walls(loss)

    wall = theory.Curve("wall", w, 0.33 - 0.5 * w, w, w)
    distance = distance_to_curves(found.w, found.b, [wall], w_spacing=0.1, b_spacing=0.1)
    assert np.all(distance <= 0.5 + 1e-9)
    # The line crosses every w column, and the 40 rows of b from -1.67 to 2.33:
    # one point per crossing.
    along_b = found.axis.values == "b"
    assert sorted(found.w.values[along_b]) == pytest.approx(w)
    assert np.count_nonzero(~along_b) == 40
    assert np.allclose(np.abs(found.jump), 0.3, atol=0.05)


def test_finder_ignores_smooth_steep_flanks_and_flat_plateaus():
    w, b = np.linspace(0, 8, 161), np.linspace(-1, 1, 21)
    bb, ww = np.meshgrid(b, w, indexing="ij")
    rng = np.random.default_rng(0)

    # exp(3 w) grows by 1e10 over the slice: steep, yet no neighbour stands out.
    steep = slice_of(np.exp(3 * ww) * (1 + 0.1 * bb), w, b)
    # Rounding noise on a plateau: infinitely steep next to exact zeros, but tiny.
    flat = slice_of(0.49 + 1e-17 * rng.standard_normal(ww.shape) * (ww > 4) + bb, w, b)

    assert find_walls(steep).sizes["point"] == 0
    assert find_walls(flat).sizes["point"] == 0


def test_finder_is_quiet_about_missing_values():
    w, b = np.linspace(-4, 4, 41), np.linspace(-3, 3, 31)
    loss = straight_wall(lambda w: 0 * w, w, b)
    loss[:, :20] = np.nan  # a tile not written yet

    found = find_walls(loss)  # warnings are errors in the tests

    assert found.sizes["point"] > 0 and np.all(found.w > w[19])


def test_found_walls_carry_their_slice_and_criterion_and_survive_zarr(tmp_path):
    w, b = np.linspace(-4, 4, 41), np.linspace(-3, 3, 31)
    loss = straight_wall(lambda w: 0 * w, w, b).assign_coords(steps=50, target=0.7)

    found = find_walls(loss)
    found.to_zarr(tmp_path / "walls.zarr", zarr_format=2, consolidated=True)
    back = xr.open_zarr(tmp_path / "walls.zarr").load()

    assert (found.attrs["steps"], found.attrs["target"]) == (50, 0.7)
    assert found.attrs["w_spacing"] == pytest.approx(0.2)
    assert "median" in found.attrs["criterion"]
    xr.testing.assert_identical(found, back)


def test_compare_measures_in_grid_steps_and_matches_samples():
    curve = theory.Curve(
        "wall",
        w=np.array([0.0, 1.0]),
        b=np.zeros(2),
        x=np.zeros(2),
        multiplier=np.full(2, 2.0),
    )
    found = xr.Dataset(
        {"w": ("point", [0.5, 0.5]), "b": ("point", [0.01, 0.03])},
        attrs={"w_spacing": 0.1, "b_spacing": 0.01},
    )

    result = compare_walls(found, [curve])

    assert result.distance.values == pytest.approx([1.0, 3.0])
    assert list(result.matched.values) == [False, False]  # samples at w = 0 and 1
    assert list(result.multiplier.values) == [2.0, 2.0]


# The acceptance test: the default surfaces, computed here with the kernel.
CONFIG = parse_config(validated(yaml.safe_load((REPO / "config/config.yaml").read_text())))
GRIDS = ["figure6_zoom", "wide_2_6", "wide_8", "wide_20"]


def default_loss(preset, surface) -> xr.DataArray:
    preset, surface = CONFIG.presets[preset], CONFIG.surfaces[surface]
    steps = surface.steps[-1]
    w, b = surface.w.values, surface.b.values
    (state,) = final_states(w[None], b[:, None], preset.x0, [steps], preset.activation)
    loss = (READOUTS[preset.readout](state) - preset.targets[0]) ** 2
    return slice_of(loss, w, b, steps=steps, target=preset.targets[0])


def sharp_enough(multiplier, steps, spacing) -> np.ndarray:
    """Where theory expects the jump resolved on the grid at T steps.

    On either side of a wall the state leaves the unstable fixed point by a factor
    |multiplier| per step. Starting one grid step off (in b, the size of the
    offset), it has reached the attractors' scale (order 1) by step T when
    |multiplier|^T h >= 1; we ask for ten times that. Towards the ends of the
    lines (|multiplier| -> 1) and on the fold stretch (= 1) the jump fades. For
    T = 50 this keeps |multiplier| >= 1.112 on the 0.05 grids (w >= 4.73 for
    x0 = 0.5, w >= 4.45 for x0 = 0) and >= 1.164 on the 0.005 zoom. Measured: the
    largest |multiplier| of a sample with no wall found near it was 1.087 (paper)
    and 1.066 (notebook), both on the 0.05 grids.
    """
    return steps * np.log(np.abs(multiplier)) >= math.log(10 / spacing)


@pytest.mark.parametrize("surface", GRIDS)
@pytest.mark.parametrize("preset", ["paper", "notebook"])
def test_every_wall_found_on_the_default_surfaces_is_predicted_and_vice_versa(
    preset, surface
):
    loss = default_loss(preset, surface)
    x0, activation = CONFIG.presets[preset].x0, CONFIG.presets[preset].activation
    box = [(float(a[0]), float(a[-1])) for a in (loss.w, loss.b)]
    curves = theory.wall_curves(x0, *box, activation)

    found = find_walls(loss)
    comparison = compare_walls(found, curves, tolerance=1.0)

    assert found.sizes["point"] > 10
    assert comparison.distance.max() <= 1.0
    spacing = min(found.attrs["w_spacing"], found.attrs["b_spacing"])
    sharp = sharp_enough(comparison.multiplier, int(loss.steps), spacing)
    on_lines = comparison.x.values == x0  # not the fold stretch
    assert sharp[on_lines].mean() > 0.4  # much of the lines, not a token few
    missed = comparison.sel(sample=~comparison.matched & sharp)
    assert missed.sizes["sample"] == 0, missed[["w", "b", "multiplier"]]


def test_tanh_shows_the_flip_onset_as_a_small_step_and_nothing_else():
    # Not a default preset: the one extra feature we found on tanh surfaces. The
    # 2-cycle grows like the square root of the distance beyond the flip curve,
    # a steep onset near w = -1 that the finder reports as a jump of ~1% of the
    # loss range; every point found lies on a wall line or a flip curve.
    w = b = np.linspace(-8, 8, 321)
    (state,) = final_states(w[None], b[:, None], 0.5, [50], "tanh")
    loss = slice_of((READOUTS["sigmoid"](state) - 0.7) ** 2, w, b)

    found = find_walls(loss)

    spacing = {"w_spacing": 0.05, "b_spacing": 0.05}
    walls = theory.wall_curves(0.5, (-8, 8), (-8, 8), "tanh")
    every = theory.predicted_curves(0.5, (-8, 8), (-8, 8), "tanh")
    off_walls = distance_to_curves(found.w, found.b, walls, **spacing) > 1
    assert 0 < off_walls.sum() < 20
    assert np.all(distance_to_curves(found.w, found.b, every, **spacing) <= 1)
    assert np.all(found.w.values[off_walls] < -1)
    assert np.all(np.abs(found.jump.values[off_walls]) < 0.02)
