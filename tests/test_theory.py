"""Theory against independent oracles: plain Python loops, brute-force scans, closed
forms. Nothing here calls the kernel."""

import math

import numpy as np
import pytest

from conftest import python_state
from rnn_landscape import theory

# Written differently from the package (which calls the kernel's sigmoid).
ACT = {
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "tanh": np.tanh,
    "linear": lambda x: x,
}


def scanned_roots(w, b, activation, step=1e-3):
    """Roots of x - w act(x) - b by sign changes on a fine grid: every root lies
    within |w| + |b| + 1 of 0 for the bounded activations."""
    x = np.arange(b - abs(w) - 1, b + abs(w) + 1, step)
    h = x - w * ACT[activation](x) - b
    crossing = np.flatnonzero(np.sign(h[:-1]) != np.sign(h[1:]))
    return x[crossing] + step / 2


POINTS = [  # (w, b): one root, three roots, near a fold, w < 0, w = 0
    (5.0, -2.5),
    (5.0, -2.7),
    (5.0, -2.3),
    (12.0, -6.0),
    (-8.0, 3.0),
    (0.0, 0.4),
    (2.0, 1.0),
    (20.0, -10.0),
]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_fixed_points_solve_the_map_and_match_a_brute_force_scan(activation):
    w, b = np.array(POINTS).T
    if activation == "tanh":
        b = b + 0.5 * w  # tanh(x) = 2 sigmoid(2x) - 1: shift into its bistable band

    found = theory.fixed_points(w, b, activation)

    for i in range(len(w)):
        roots = found.x[i][~np.isnan(found.x[i])]
        residual = roots - w[i] * ACT[activation](roots) - b[i]
        assert np.all(np.abs(residual) < 1e-12 * (1 + abs(w[i]) + abs(b[i])))
        scanned = scanned_roots(w[i], b[i], activation)
        assert len(roots) == len(scanned), (w[i], b[i], roots, scanned)
        assert np.allclose(roots, scanned, atol=1e-3)
    assert np.all(np.diff(found.x, axis=-1)[found.count == 3] > 0)  # ascending


def test_three_fixed_points_inside_the_bistable_range_one_outside():
    b = np.linspace(-3.0, -2.0, 401)

    count = theory.fixed_points(5.0, b).count

    # The paper notes: w = 5 is bistable for b in (-2.6556, -2.3444).
    low, high = theory.bistable_range(5.0)
    assert (round(float(low), 4), round(float(high), 4)) == (-2.6556, -2.3444)
    assert np.all(count[(b > low + 1e-9) & (b < high - 1e-9)] == 3)
    assert np.all(count[(b < low) | (b > high)] == 1)


def test_linear_fixed_point_is_closed_form_and_absent_at_w_one():
    found = theory.fixed_points(np.array([0.5, 2.0, 1.0]), 1.0, "linear")

    assert found.x[0, 0] == 2.0 and found.x[1, 0] == -1.0
    assert np.isnan(found.x[2]).all() and list(found.count) == [1, 1, 0]
    assert list(found.stable[:, 0]) == [True, False, False]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "linear"])
def test_stability_matches_the_finite_difference_slope_of_the_map(activation):
    w, b = np.array(POINTS).T
    found = theory.fixed_points(w, b, activation)
    h = 1e-6

    for i, k in zip(*np.nonzero(~np.isnan(found.x)), strict=True):
        x = found.x[i, k]
        step = [python_state(w[i], b[i], x + d, 1, activation) for d in (-h, h)]
        slope = (step[1] - step[0]) / (2 * h)
        assert found.multiplier[i, k] == pytest.approx(slope, rel=1e-6, abs=1e-8)
        if abs(abs(slope) - 1) > 1e-3:
            assert found.stable[i, k] == (abs(slope) < 1)


@pytest.mark.parametrize(
    ("activation", "cusp"), [("sigmoid", (4.0, -2.0)), ("tanh", (1.0, 0.0))]
)
def test_fold_curve_meets_its_closed_form_cusp(activation, cusp):
    (fold,) = theory.fold_curves((0.0, 10.0), (-10.0, 10.0), activation)

    tip = np.argmin(fold.w)
    assert fold.x[tip] == pytest.approx(0.0, abs=1e-12)
    assert (fold.w[tip], fold.b[tip]) == pytest.approx(cusp, abs=1e-12)
    assert np.allclose(fold.multiplier, 1.0)  # w act'(x) = 1 all along
    assert np.allclose(fold.b, fold.x - fold.w * ACT[activation](fold.x))


def test_fold_curve_at_w_five_bounds_the_paper_bistable_range():
    (fold,) = theory.fold_curves((0.0, 5.0), (-10.0, 10.0))

    # s (1 - s) = 1/5: s = (1 +- sqrt(1/5)) / 2 by hand.
    for s in (0.5 + 0.5 * math.sqrt(0.2), 0.5 - 0.5 * math.sqrt(0.2)):
        x = math.log(s / (1 - s))
        assert np.min(np.hypot(fold.w - 5.0, fold.b - (x - 5 * s))) < 1e-6


def test_flip_curve_has_multiplier_minus_one_and_a_two_cycle_beyond_it():
    (flip,) = theory.flip_curves((-10.0, 0.0), (-10.0, 10.0))
    i = np.argmin(np.abs(flip.w + 6.0))
    w, b = flip.w[i], flip.b[i]

    assert flip.multiplier[i] == pytest.approx(-1.0)
    before = [python_state(w + 0.5, b, 0.3, t) for t in (2000, 2001)]
    beyond = [python_state(w - 0.5, b, 0.3, t) for t in (2000, 2001)]
    assert abs(before[0] - before[1]) < 1e-9  # a fixed point
    assert abs(beyond[0] - beyond[1]) > 0.1  # a 2-cycle


CASES = [(0.5, "sigmoid"), (0.0, "sigmoid"), (0.5, "tanh"), (-1.0, "tanh")]


@pytest.mark.parametrize(("x0", "activation"), CASES)
@pytest.mark.parametrize("w", [-15.0, -6.0, 6.0, 15.0])
def test_final_state_jumps_across_the_wall_line_where_x0_is_unstable(x0, activation, w):
    if abs(w * float(theory.slope(x0, activation))) < 1.3:
        pytest.skip("x0 is stable or barely unstable here")
    line = float(theory.basin_boundary_b(w, x0, activation))

    # T = 200, even: for w < 0 the even iterates settle on one point of the 2-cycle.
    ends = [python_state(w, line + d, x0, 200, activation) for d in (-1e-3, 1e-3)]

    # Each side ends on an attractor (a fixed point or a 2-cycle of the map) ...
    for d, end in zip((-1e-3, 1e-3), ends, strict=True):
        assert python_state(w, line + d, end, 2, activation) == pytest.approx(end)
    # ... and the two lie on either side of x0, the unstable fixed point between.
    assert min(ends) < x0 - 0.1 and max(ends) > x0 + 0.1


def test_no_jump_across_the_line_where_x0_is_stable():
    w = 3.0  # sigmoid'(0.5) w = 0.71
    line = float(theory.basin_boundary_b(w, 0.5))

    below, above = (python_state(w, line + d, 0.5, 200) for d in (-1e-3, 1e-3))

    assert abs(above - below) < 1e-2


def jump_location(w, x0, low, high, steps, activation="sigmoid"):
    """b where x_T switches attractor, by bisection on b with a plain loop; the
    attractors lie on either side of x = 0, act's inflection point."""
    side = python_state(w, low, x0, steps, activation) > 0
    for _ in range(40):
        middle = 0.5 * (low + high)
        if (python_state(w, middle, x0, steps, activation) > 0) == side:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def test_between_cusp_and_tangent_point_the_wall_is_the_fold_not_the_line():
    # x0 = 0.5 is unstable only for w > 1/sigma'(0.5) = 4.2553; at w = 4.1 the
    # line and the fold's x > 0 branch lie 0.0032 apart.
    (stretch,) = [
        c for c in theory.wall_curves(0.5, (0.0, 6.0), (-5.0, 0.0)) if c.x[0] != 0.5
    ]
    fold_b = np.interp(4.1, stretch.w, stretch.b)
    line_b = float(theory.basin_boundary_b(4.1, 0.5))

    # T = 5000: near the fold the state crawls through its bottleneck for long.
    jump = jump_location(4.1, 0.5, -2.2, -2.0, 5000)

    assert abs(line_b - fold_b) > 3e-3
    assert jump == pytest.approx(fold_b, abs=1e-4)


def test_wall_curves_are_clipped_and_tangent_to_the_fold():
    curves = theory.wall_curves(0.5, (-20.0, 20.0), (-20.0, 20.0))

    edge = 1 / float(theory.slope(0.5))  # 4.2553
    lines = [c for c in curves if np.all(c.x == 0.5)]
    assert sorted(round(float(c.w[0]), 4) for c in lines) == [-20.0, round(edge, 4)]
    assert all(np.all(np.abs(c.multiplier) >= 1 - 1e-12) for c in curves)
    # The fold stretch ends where the line starts, with the same slope db/dw.
    (stretch,) = [c for c in curves if c.x[0] != 0.5]
    (line,) = [c for c in lines if c.w[0] > 0]
    assert (stretch.w[-1], stretch.b[-1]) == pytest.approx((line.w[0], line.b[0]))
    stretch_slope = (stretch.b[-1] - stretch.b[-2]) / (stretch.w[-1] - stretch.w[-2])
    assert stretch_slope == pytest.approx(-ACT["sigmoid"](0.5), rel=1e-3)  # the line's


def test_curves_stay_inside_the_rectangle():
    box = ((-8.0, 8.0), (-6.0, 3.0))

    curves = theory.predicted_curves(0.5, *box)

    assert {c.kind for c in curves} == {"wall", "fold", "flip"}
    for c in curves:
        assert box[0][0] - 1e-8 <= c.w.min() and c.w.max() <= box[0][1] + 1e-8
        assert box[1][0] - 1e-8 <= c.b.min() and c.b.max() <= box[1][1] + 1e-8


def test_linear_curves_are_the_lines_w_plus_and_minus_one():
    (fold,) = theory.fold_curves((-3.0, 3.0), (-1.0, 1.0), "linear")
    (flip,) = theory.flip_curves((-3.0, 3.0), (-1.0, 1.0), "linear")

    assert np.all(fold.w == 1.0) and np.all(flip.w == -1.0)
    assert theory.wall_curves(0.5, (-0.9, 0.9), (-1.0, 1.0), "linear") == []


def test_branches_of_figure_3_are_fixed_points_with_the_right_stability():
    branches = theory.fixed_point_branches(5.0, (-3.0, 0.0))

    assert [branch.stable for branch in branches] == [True, False, True]
    for branch in branches:
        residual = branch.x - 5.0 * ACT["sigmoid"](branch.x) - branch.b
        assert np.abs(residual).max() < 1e-12
    # The unstable branch spans the bistable range, from fold to fold.
    low, high = theory.bistable_range(5.0)
    middle = branches[1]
    assert (middle.b.min(), middle.b.max()) == pytest.approx((low, high), abs=1e-4)
    # Interior samples agree with the root finder on stability.
    for branch in branches:
        inner = slice(2, -2)
        found = theory.fixed_points(5.0, branch.b[inner])
        nearest = np.nanargmin(np.abs(found.x - branch.x[inner, None]), axis=-1)
        picked = np.take_along_axis(found.stable, nearest[:, None], -1)[:, 0]
        assert np.all(picked == branch.stable)


def test_no_wall_where_the_slope_at_x0_underflows():
    # tanh'(1e6) is 0 in float64: x0 is stable for every w, so no wall line; a
    # new-user trial got a ZeroDivisionError here.
    curves = theory.wall_curves(1e6, (-20.0, 20.0), (-20.0, 20.0), "tanh")

    assert all(np.isfinite(curve.w).all() for curve in curves)
    assert all(np.abs(curve.x).max() < 1e6 for curve in curves)  # only the fold stretch
