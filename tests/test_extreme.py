"""Extreme but valid input: |w| and |b| up to 1e6, T up to 100000, a grid of one
point, a single b value.

Expected values come from outside the code under test: exact rational arithmetic
for the linear unit (its closed forms, carried as 40-digit decimals of any size),
a plain Python loop in forward mode for the sigmoid and tanh, the map itself for
one step, and the numpy reference for the states.

What a stored value is where float64 cannot hold it:
- the true value rounded to float64: beyond 1.8e308 it is +-inf with the true
  sign, below the smallest subnormal it is 0;
- in the chain rule, 0 times inf is 0: the zero is exact (the linear unit's
  a'' = 0, the identity's r'' = 0) or a saturated slope exp(-|x|), which falls
  faster than any derivative of x grows;
- NaN only where float64 cannot decide: `alignment` where the gradient is 0 (no
  direction) or a derivative is infinite (direction lost), `curvature` where an
  infinite Hessian entry leaves the eigenvalue's bounds open, and a Hessian entry
  whose two terms overflow with opposite signs, which happens at an exact
  unstable fixed point (the linear unit's b = x0 (1 - w), the sigmoid's x0 = 0,
  b = -w / 2) once |gain|^T passes 1e308.
"""

import decimal
import functools
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import SCHEMA, python_state, validated
from rnn_landscape import kernel, quantities, reference
from rnn_landscape.config import ConfigError, ConfigProblems, check_config, parse_config
from rnn_landscape.engine import compute_surface
from rnn_landscape.variables import VARIABLES

W = (-1e6, -5.0, -1.0, 0.0, 1.0, 5.0, 1e6)
# +-40: the sigmoid readout rounds to 1 there, yet its slope, 4e-18, is not 0.
B = (-1e6, -40.0, 0.0, 40.0, 1e6)
STEPS = (1, 2, 100_000)
X0, TARGET = 0.5, 0.7
ACTIVATIONS = ("sigmoid", "tanh", "linear")
READOUTS = ("identity", "sigmoid")
DERIVATIVES = ("none", "first", "second")
GRID = [(w, b) for w in W for b in B]

# 40 digits at any size: float64 ends at 1.8e308, these at 1e(1e9).
EXACT = decimal.Context(
    prec=40,
    Emax=10**9,
    Emin=-(10**9),
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def decimal_of(value) -> Decimal:
    """An exact rational (or float) to 40 digits, however large or small."""
    value = Fraction(value)
    if value == 0:
        return Decimal(0)
    top, bottom = abs(value.numerator), value.denominator
    shift = top.bit_length() - bottom.bit_length() - 160
    mantissa = (top >> shift) // bottom if shift >= 0 else (top << -shift) // bottom
    sign = 1 if value > 0 else -1
    return EXACT.multiply(Decimal(sign * mantissa), EXACT.power(Decimal(2), shift))


def geometric(g: Fraction, steps: int) -> tuple[Fraction, Fraction, Fraction]:
    """S = sum of g^k for k < T, and its first two derivatives in g."""
    t = steps
    if g == 1:
        return Fraction(t), Fraction(t * (t - 1), 2), Fraction(t * (t - 1) * (t - 2), 3)
    d = g - 1
    top = g**t - 1
    top_1 = t * g ** (t - 1)
    top_2 = t * (t - 1) * g ** (t - 2) if t >= 2 else 0  # 0 ** -1 would raise
    s = top / d
    s_1 = top_1 / d - top / d**2
    s_2 = top_2 / d - 2 * top_1 / d**2 + 2 * top / d**3
    return s, s_1, s_2


@functools.cache
def exact_linear_jet(w: float, b: float, x0: float, steps: int) -> tuple[Decimal, ...]:
    """x_T and its derivatives for act(x) = x, exactly:
    x_T = w^T x0 + b S(w), with S = (w^T - 1) / (w - 1)."""
    w, b, x0, t = Fraction(w), Fraction(b), Fraction(x0), steps
    s, s_1, s_2 = geometric(w, t)
    power_1 = w ** (t - 1)
    power_2 = w ** (t - 2) if t >= 2 else 0  # 0 ** -1 would raise
    x = w**t * x0 + b * s
    x_w = t * power_1 * x0 + b * s_1
    x_ww = t * (t - 1) * power_2 * x0 + b * s_2
    return tuple(map(decimal_of, (x, x_w, s, x_ww, s_1, 0)))


def _sigmoid_slopes(x):
    # From exp(-|x|): no overflow, and no cancellation in the slope.
    tail = math.exp(-abs(x))
    a = 1.0 / (1.0 + tail) if x >= 0 else tail / (1.0 + tail)
    da = tail / (1.0 + tail) ** 2
    return a, da, da * (1.0 - 2.0 * a)


def _tanh_slopes(x):
    tail = math.exp(-2.0 * abs(x))
    a = math.tanh(x)
    da = 4.0 * tail / (1.0 + tail) ** 2
    return a, da, -2.0 * a * da


@functools.cache
def python_jet(w: float, b: float, x0: float, steps: int, activation: str) -> tuple:
    """x_T and its derivatives by forward mode in a plain Python loop, with the
    slopes written from exp(-|x|), unlike the kernel. A jet that repeats after
    one or two steps repeats forever: the loop skips ahead from there."""
    slopes = {"sigmoid": _sigmoid_slopes, "tanh": _tanh_slopes}[activation]
    jet = (x0, 0.0, 0.0, 0.0, 0.0, 0.0)
    before_last = last = None
    for t in range(1, steps + 1):
        x, x_w, x_b, x_ww, x_wb, x_bb = jet
        a, da, dda = slopes(x)
        gain = w * da
        jet = (
            w * a + b,
            a + gain * x_w,
            1.0 + gain * x_b,
            2.0 * da * x_w + w * dda * x_w * x_w + gain * x_ww,
            da * x_b + w * dda * x_w * x_b + gain * x_wb,
            w * dda * x_b * x_b + gain * x_bb,
        )
        if jet == last:  # a fixed point
            return jet
        if jet == before_last:  # a two-cycle, with `last`
            return jet if (steps - t) % 2 == 0 else last
        before_last, last = last, jet
    return jet


def reference_jet(w, b, steps, activation, x0=X0) -> tuple[Decimal, ...]:
    if activation == "linear":
        return exact_linear_jet(w, b, x0, steps)
    with decimal.localcontext(EXACT):
        return tuple(Decimal(v) for v in python_jet(w, b, x0, steps, activation))


def _readout_slopes(x: Decimal, readout: str):
    """r(x), r'(x), r''(x)."""
    if readout == "identity":
        return x, Decimal(1), Decimal(0)
    tail = (-abs(x)).exp()
    r = 1 / (1 + tail) if x >= 0 else tail / (1 + tail)
    slope = tail / (1 + tail) ** 2
    return r, slope, slope * (1 - 2 * r)


def _hessian_entry(gauss_newton: Decimal, curving: Decimal) -> float:
    """The entry rounded to float64; NaN where both terms overflow with opposite
    signs, since float64 holds nothing that tells which is larger."""
    first, second = float(gauss_newton), float(curving)
    if math.isinf(first) and math.isinf(second) and first != second:
        return math.nan
    return float(gauss_newton + curving)


def _curvature(hessian: list[float], exact: list[Decimal]) -> float:
    """The largest eigenvalue; with an infinite entry, what its bounds decide:
    at least either diagonal entry and their mean + |hess_wb|, at most the
    larger diagonal entry + |hess_wb|."""
    ww, wb, bb = hessian
    if all(map(math.isfinite, hessian)):
        scale = max(map(abs, hessian)) or 1.0
        matrix = np.array([[ww, wb], [wb, bb]]) / scale
        return float(np.linalg.eigvalsh(matrix)[1] * scale)
    if math.inf in (ww, bb) or (math.isinf(wb) and min(ww, bb) > -math.inf):
        decided = math.inf
    elif ww == bb == -math.inf and math.isfinite(wb):
        decided = -math.inf
    else:
        return math.nan
    # The bounds agree with the exact eigenvalue, rounded.
    e_ww, e_wb, e_bb = exact
    with decimal.localcontext(EXACT):
        mean, half = (e_ww + e_bb) / 2, (e_ww - e_bb) / 2
        assert float(mean + (half * half + e_wb * e_wb).sqrt()) == decided
    return decided


def _alignment(gradient: list[float], hessian: list[float]) -> float:
    if not all(map(math.isfinite, gradient + hessian)) or not any(gradient):
        return math.nan
    ww, wb, bb = hessian
    if wb == 0.0 and ww == bb:
        return 1.0  # every direction is an eigenvector
    scale = max(map(abs, hessian))
    values, vectors = np.linalg.eigh(np.array([[ww, wb], [wb, bb]]) / scale)
    leading = vectors[:, np.argmax(np.abs(values))]
    return float(abs(np.dot(gradient, leading)) / math.hypot(*gradient))


def expected_variables(jet: tuple[Decimal, ...], readout: str) -> dict[str, float]:
    """Every stored variable from an exact jet, by the chain rule in 40-digit
    decimals, rounded to float64 by the rule of this module's docstring."""
    with decimal.localcontext(EXACT):
        x, x_w, x_b, x_ww, x_wb, x_bb = jet
        r, r_1, r_2 = _readout_slopes(x, readout)
        error = r - Decimal(TARGET)
        grad_scale = 2 * error * r_1
        hess_scale = 2 * (r_1 * r_1 + error * r_2)
        grad_w, grad_b = grad_scale * x_w, grad_scale * x_b
        terms = {
            "hess_ww": (hess_scale * x_w * x_w, grad_scale * x_ww),
            "hess_wb": (hess_scale * x_w * x_b, grad_scale * x_wb),
            "hess_bb": (hess_scale * x_b * x_b, grad_scale * x_bb),
        }
        values = {
            "state": float(x),
            "loss": float(error * error),
            "grad_w": float(grad_w),
            "grad_b": float(grad_b),
            "grad_norm": float((grad_w * grad_w + grad_b * grad_b).sqrt()),
        }
        values.update({name: _hessian_entry(*pair) for name, pair in terms.items()})
        exact_hessian = [sum(pair) for pair in terms.values()]
        values["exact_hessian"] = [float(entry) for entry in exact_hessian]
        # r' = r (1 - r) keeps 2.8e-16 / (1 - r) of relative precision (r within
        # 2.5 ulp), taken from the other tail past 1 - r = 2^-30.
        values["readout_rtol"] = 2.8e-16 / max(float(1 - r), 2.0**-30)

    hessian = [values[name] for name in terms]
    values["curvature"] = _curvature(hessian, exact_hessian)
    values["alignment"] = _alignment([values["grad_w"], values["grad_b"]], hessian)
    return values


def assert_matches(got: dict, expected: list[dict], derivatives: str, rtol: float):
    """Each stored variable against its expected values at every point: equal
    infinities, equal NaN, finite values to `rtol` (the entries of a Hessian
    and its eigenvalue to `rtol` of the Hessian's size, as they may cancel), and
    derivatives also to a few times the readout slope's own precision."""
    readout_rtol = np.array([e["readout_rtol"] for e in expected])
    size = np.array(
        [max(abs(e[n]) for n in ("hess_ww", "hess_wb", "hess_bb")) for e in expected]
    )
    for name in VARIABLES[derivatives]:
        want = np.array([e[name] for e in expected])
        have = np.asarray(got[name], dtype=np.float64).ravel()
        assert np.array_equal(np.isnan(have), np.isnan(want)), name
        assert np.array_equal(have[np.isinf(want)], want[np.isinf(want)]), name
        finite = np.isfinite(want)
        assert np.isfinite(have[finite]).all(), name
        scale = np.abs(want)
        if name.startswith("hess") or name == "curvature":
            scale = np.maximum(scale, np.where(np.isfinite(size), size, 0.0))
        error = np.subtract(have, want, where=finite, out=np.zeros_like(want))
        tolerance = rtol if name in ("state", "loss") else rtol + 4 * readout_rtol
        wrong = np.abs(error) > tolerance * scale
        assert not wrong.any(), (name, np.flatnonzero(wrong), have[wrong], want[wrong])


def surface_values(activation, readout, derivatives, points, steps, x0=X0) -> dict:
    w, b = np.array(points).T
    values = quantities.surface_quantities(
        x0, w, b, [steps], [TARGET], activation, readout, derivatives
    )
    return {
        name: array[0, 0] if name != "state" else array[0] for name, array in values.items()
    }


# Rounding over 100000 steps: each step's error at most a few ulp.
TOLERANCE = {1: 1e-13, 2: 1e-13, 100_000: 1e-9}


@pytest.mark.parametrize("derivatives", DERIVATIVES)
@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_step_is_the_map_and_its_derivatives(activation, readout, derivatives):
    # x_1 = w act(x0) + b: x_w = act(x0), x_b = 1, second derivatives 0.
    act = {"sigmoid": 1.0 / (1.0 + math.exp(-X0)), "tanh": math.tanh(X0), "linear": X0}
    with decimal.localcontext(EXACT):
        a0 = Decimal(act[activation])
        jets = [(Decimal(w) * a0 + Decimal(b), a0, 1, 0, 0, 0) for w, b in GRID]

    got = surface_values(activation, readout, derivatives, GRID, 1)

    expected = [expected_variables(jet, readout) for jet in jets]
    assert_matches(got, expected, derivatives, rtol=1e-13)


@pytest.mark.parametrize("steps", [2, 100_000])
@pytest.mark.parametrize("derivatives", DERIVATIVES)
@pytest.mark.parametrize("readout", READOUTS)
def test_linear_unit_is_its_exact_closed_form_rounded(readout, derivatives, steps):
    # |w| = 5 and 1e6 overflow at T = 100000: inf with the true sign, 0 * inf
    # nowhere, and the sigmoid readout's slope exp(-inf) makes every derivative 0.
    got = surface_values("linear", readout, derivatives, GRID, steps)

    expected = [
        expected_variables(exact_linear_jet(w, b, X0, steps), readout) for w, b in GRID
    ]
    assert_matches(got, expected, derivatives, rtol=TOLERANCE[steps])
    overflowing = sum(abs(w) > 1 for w in W) * len(B) if steps > 2 else 0
    assert np.isinf(got["state"]).sum() == overflowing


@pytest.mark.parametrize("steps", [2, 100_000])
@pytest.mark.parametrize("derivatives", DERIVATIVES)
@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturating_units_match_a_plain_python_loop(
    activation, readout, derivatives, steps
):
    # At |w| = 1e6 or |b| = 1e6 the unit saturates at once, into a fixed point
    # (x_T = +-w + b, or b) or a two-cycle through 0 (w = -b).
    got = surface_values(activation, readout, derivatives, GRID, steps)

    jets = [reference_jet(w, b, steps, activation) for w, b in GRID]
    assert_matches(got, [expected_variables(j, readout) for j in jets], derivatives, 1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_states_agree_with_the_numpy_reference_and_a_python_loop(activation):
    w, b = np.array(GRID).T

    states = kernel.final_states(w, b, X0, STEPS, activation)

    for row, steps in zip(states, STEPS, strict=True):
        np.testing.assert_allclose(row, reference.state(w, b, X0, steps, activation), 1e-12)
    # The plain loop at T = 100000 would take seconds; `python_jet` covers it.
    for row, steps in zip(states[:2], STEPS[:2], strict=True):
        expected = [python_state(wi, bi, X0, steps, activation) for wi, bi in GRID]
        np.testing.assert_allclose(row, expected, rtol=1e-12)
    # Python's own floats overflow to inf too: the reference's infinities agree.
    loss = reference.loss(w, b, X0, STEPS[-1], TARGET, "identity", activation)
    np.testing.assert_array_equal(np.isinf(loss), np.isinf(states[-1]))


@pytest.mark.parametrize("derivatives", DERIVATIVES)
@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nothing_on_the_extreme_grid_is_nan_but_a_missing_direction(
    activation, readout, derivatives
):
    w, b = np.array(GRID).T

    stacked = quantities.stacked_quantities(
        X0, w, b, STEPS, [TARGET, 1.0], activation, readout, derivatives
    )

    values = dict(zip(VARIABLES[derivatives], np.moveaxis(stacked, 2, 0), strict=True))
    decided = [name for name in values if name != "alignment"]
    assert not any(np.isnan(values[name]).any() for name in decided)
    if derivatives == "second":
        gradient = np.stack([values["grad_w"], values["grad_b"]])
        hessian = np.stack([values[n] for n in ("hess_ww", "hess_wb", "hess_bb")])
        directed = np.isfinite(gradient).all(0) & np.isfinite(hessian).all(0)
        directed &= (gradient != 0).any(0)
        assert np.array_equal(np.isnan(values["alignment"]), ~directed)


def linear_fixed_point():
    # The linear unit at its fixed point b = x0 (1 - w): x_T = x0, jets ~ w^T.
    return "linear", 0.5, 1e6, -499999.5, exact_linear_jet(1e6, -499999.5, 0.5, 100_000)


def sigmoid_fixed_point():
    # The sigmoid from x0 = 0 at b = -w / 2 (the notebook's wall at w = 5): there
    # a = 1/2, a' = 1/4, a'' = 0, so the jets are geometric in g = w / 4.
    s, s_1, _ = geometric(Fraction(5, 4), 100_000)
    jet = tuple(map(decimal_of, (0, s / 2, s, s_1 / 4, s_1 / 4, 0)))
    return "sigmoid", 0.0, 5.0, -2.5, jet


@pytest.mark.parametrize("fixed_point", [linear_fixed_point, sigmoid_fixed_point])
@pytest.mark.parametrize("readout", READOUTS)
def test_hessian_entries_float64_cannot_decide_are_nan_and_the_rest_is_decided(
    fixed_point, readout
):
    activation, x0, w, b, jet = fixed_point()

    got = surface_values(activation, readout, "second", [(w, b)], 100_000, x0=x0)

    expected = expected_variables(jet, readout)
    # Truly hess_ww and hess_wb are +huge: x_w^2 ~ g^2T outgrows e x_ww ~ T g^T,
    # but in float64 both are inf, of opposite signs.
    assert expected["exact_hessian"] == [math.inf] * 3
    assert np.isnan(expected["hess_ww"]) and np.isnan(expected["hess_wb"])
    assert expected["hess_bb"] == expected["curvature"] == math.inf
    assert_matches(got, [expected], "second", rtol=1e-9)


@pytest.mark.parametrize("w", [5.0, 1e6, -1e6])
def test_tanh_at_its_unstable_fixed_point_zero_has_no_nan(w):
    # From x0 = b = 0 the state stays 0, where tanh is x up to second order
    # (tanh'' = 0): the jets are the linear unit's, x_b = S(w) overflowing.
    got = surface_values("tanh", "identity", "second", [(w, 0.0)], 100_000, x0=0.0)

    expected = expected_variables(exact_linear_jet(w, 0.0, 0.0, 100_000), "identity")
    assert_matches(got, [expected], "second", rtol=1e-9)
    assert not any(np.isnan(got[name]).any() for name in got if name != "alignment")


@pytest.mark.parametrize("x0", [1e-300, 5e-324])
def test_a_derivative_that_overflows_before_saturation_comes_back_finite(x0):
    # tanh from x0 tiny at w = 1e6: x_b ~ w^t overflows before x leaves 0, then
    # tanh saturates (a' = 0) and x_b = 1 + a' w x_b is 1, not 1 + 0 * inf.
    jets = kernel.final_jets(np.array([1e6]), np.array([0.0]), x0, [100], "tanh", 2)

    np.testing.assert_array_equal(jets[0, :, 0], [1e6, 1.0, 1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("activation", "x0", "fixed_point"),
    [
        ("sigmoid", 0.0, (5.0, -2.5)),
        ("tanh", 0.0, (5.0, 0.0)),
        ("linear", 0.5, (1.1, -0.05)),
    ],
)
def test_a_block_carried_again_carefully_keeps_every_other_bit(activation, x0, fixed_point):
    # An exact unstable fixed point makes its block's plain pass NaN, and the
    # block is carried again carefully: its other points must not notice.
    rng = np.random.default_rng(4)
    w, b = rng.uniform(-8, 8, 600), rng.uniform(-8, 8, 600)
    alone = kernel.final_jets(w, b, x0, [3, 100_000], activation, order=2)
    w[100], b[100] = fixed_point

    together = kernel.final_jets(w, b, x0, [3, 100_000], activation, order=2)

    assert not np.isnan(together[..., 100]).any()
    others = np.arange(600) != 100
    assert np.array_equal(together[..., others], alone[..., others], equal_nan=True)


@pytest.mark.parametrize(
    ("hessian", "curvature"),
    [
        ((math.inf, 1.0, 2.0), math.inf),  # at least hess_ww
        ((-3.0, -math.inf, 2.0), math.inf),  # at least the mean + |hess_wb|
        ((math.nan, 1.0, math.inf), math.inf),  # at least hess_bb, whatever hess_ww
        ((-math.inf, 1.0, -math.inf), -math.inf),  # at most max + |hess_wb|
        ((-math.inf, math.inf, 2.0), math.nan),  # between 2 and inf
        ((-math.inf, 1.0, 2.0), math.nan),  # between 2 and 3: bounds are not enough
    ],
)
def test_infinite_hessians_have_the_curvature_their_bounds_decide(hessian, curvature):
    got, alignment = quantities.hessian_summary(0.3, -2.0, *hessian)

    np.testing.assert_equal([got, alignment], [curvature, math.nan])


def test_finite_hessians_near_the_float64_limit_do_not_overflow():
    # 0.5 (hess_ww + hess_bb) would overflow here; the eigenvalues do not.
    curvature, alignment = quantities.hessian_summary(1.0, 0.0, 1.5e308, 0.0, 1.5e308)

    assert curvature == 1.5e308 and alignment == 1.0
    assert quantities.hessian_summary(1.0, 0.0, 1.5e308, 0.0, -1.5e308)[0] == 1.5e308


def test_squared_error_overflows_to_inf_quietly():
    loss = quantities.squared_error(np.array([[1e200, -np.inf]]), [TARGET], "identity")

    assert np.array_equal(loss, [[[np.inf, np.inf]]])


def extreme_config(surface: dict, activation: str, readout: str) -> dict:
    preset = {"x0": X0, "activation": activation, "readout": readout}
    return {
        "presets": {"edge": {**preset, "targets": [TARGET]}},
        "surfaces": {"edge": surface},
    }


def stored_surface(tmp_path, surface, activation, readout) -> xr.Dataset:
    config = parse_config(validated(extreme_config(surface, activation, readout)))
    path = tmp_path / "edge.zarr"

    compute_surface(config.job("edge", "edge"), path, threads=1)

    return xr.open_zarr(path).load()


def test_a_one_point_grid_is_stored_with_its_infinities(tmp_path):
    surface = {"w": 1e6, "b": -1e6, "steps": list(STEPS), "derivatives": "second"}

    stored = stored_surface(tmp_path, surface, "linear", "identity")

    assert dict(stored.sizes) == {"steps": 3, "target": 1, "b": 1, "w": 1}
    for steps in STEPS:
        expected = expected_variables(exact_linear_jet(1e6, -1e6, X0, steps), "identity")
        at = stored.sel(steps=steps).squeeze()
        got = {name: at[name].values for name in VARIABLES["second"]}
        assert_matches(got, [expected], "second", rtol=TOLERANCE[steps])
    assert stored.state.sel(steps=100_000).item() == -math.inf


def test_a_single_b_value_is_stored_along_w(tmp_path):
    w_axis = {"start": -1e6, "stop": 1e6, "num": 5}
    surface = {"w": w_axis, "b": 1e6, "steps": [1, 100_000], "derivatives": "second"}

    stored = stored_surface(tmp_path, surface, "sigmoid", "sigmoid")

    assert dict(stored.sizes) == {"steps": 2, "target": 1, "b": 1, "w": 5}
    w = stored.w.values
    for steps in (1, 100_000):
        jets = [reference_jet(wi, 1e6, steps, "sigmoid") for wi in w]
        at = stored.sel(steps=steps).squeeze()
        got = {name: at[name].values for name in VARIABLES["second"]}
        assert_matches(
            got, [expected_variables(j, "sigmoid") for j in jets], "second", 1e-9
        )
    # x_T = w + b, saturated, except at w = -b: the two-cycle 5e5, 0, 5e5, ...
    np.testing.assert_array_equal(
        stored.state.sel(steps=100_000).squeeze(), [0.0, 5e5, 1e6, 1.5e6, 2e6]
    )


def test_config_takes_the_extremes_single_points_and_a_single_b_value():
    surfaces = {
        "point": {"w": 1e6, "b": -1e6, "steps": [1, 100_000]},
        "line": {"w": {"start": -1e6, "stop": 1e6, "num": 5}, "b": 1e6, "steps": [100_000]},
        "wide": {
            "w": {"start": -1e6, "stop": 1e6, "spacing": 5e5},
            "b": {"start": -1e6, "stop": 1e6, "num": 3},
            "steps": [100_000, 1],
        },
    }
    config = extreme_config(surfaces["point"], "linear", "identity")
    config["surfaces"] = surfaces

    parsed = parse_config(validated(config)).surfaces

    assert parsed["point"].w.values.tolist() == [1e6]
    assert parsed["point"].b.values.tolist() == [-1e6]
    assert parsed["point"].steps == (1, 100_000) and parsed["point"].point_steps == 100_000
    assert parsed["line"].w.values.tolist() == [-1e6, -5e5, 0.0, 5e5, 1e6]
    assert (parsed["line"].b.num, parsed["wide"].w.num, parsed["wide"].b.num) == (1, 5, 3)
    assert parsed["wide"].steps == (1, 100_000)


def test_a_range_with_equal_ends_names_the_single_value_form():
    surface = {"w": {"start": 5.0, "stop": 5.0, "num": 2}, "b": 0.0, "steps": [1]}
    config = extreme_config(surface, "sigmoid", "sigmoid")

    with pytest.raises(ConfigError, match=r"give a single value as a bare number \(5.0\)"):
        parse_config(validated(config))


def test_an_exponent_yaml_reads_as_text_is_named_with_its_fix():
    # YAML 1.1, which PyYAML and so Snakemake follow, wants a dot and a sign.
    text = """
    presets: {edge: {x0: 0.5, readout: sigmoid, targets: [0.7]}}
    surfaces: {edge: {w: 1e6, b: 1.0e+6, steps: [1e5]}}
    """
    config = yaml.safe_load(text)
    assert config["surfaces"]["edge"]["b"] == 1e6  # the one written right

    with pytest.raises(ConfigProblems) as raised:
        check_config(config, SCHEMA)

    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "config key 'surfaces.edge.steps[0]'",
        "config key 'surfaces.edge.w'",
    ]
    assert all(p.endswith("write 1.0e+6 or 1000000") for p in problems)
