"""What a store holds, derived from the kernel's final states and jets.

The loss E = (r(x_T) - y)^2 for every target y, its exact first and second
derivatives in (w, b) by the chain rule through the readout r, and three numbers
that summarise them at each point: the gradient's norm, the curvature (largest
eigenvalue of the Hessian) and the alignment of the gradient with the Hessian's
leading eigenvector (the paper's section 3.2 guesses that the two align at a wall).

Speed. These are a few dozen operations per point, against a few thousand for
the recurrence, yet as numpy expressions over a block they took as long as the
recurrence itself (each expression a pass over memory for a temporary). One
compiled loop per readout computes every variable of a point in registers and
writes it once: a block of 512 x 512 points with second derivatives went from
46 to 23 ms, 18 of them in the kernel. Results never depend on how points are
blocked: each point sees the same operations.
"""

import math

import numba as nb
import numpy as np

from . import kernel
from .kernel import JIT
from .variables import ORDER, VARIABLES

# r (1 - r) keeps 1.1e-16 / (1 - r) of relative precision as r nears 1: 12 % off
# at x = 35 and 0, not 4e-18, at x = 40, where r rounds to 1
# (tests/test_extreme.py). Beyond 1 - r = 2^-30 (x > 20.8) the careful pass
# takes the slope from the other tail; up to there it is within 2.6e-7 and the
# bits are as they were (every default surface with derivatives has |x_T| <= 16).
_NEAR_ONE = 1.0 - 2.0**-30


@nb.njit(inline="always", **JIT)
def _sigmoid_readout(x, careful):
    """r(x), r'(x), r''(x), and whether r' needs the careful pass."""
    r = kernel._sigmoid(x)
    slope = r * (1.0 - r)
    lost = r > _NEAR_ONE
    if careful and lost:
        slope = r * kernel._sigmoid(-x)
    return r, slope, slope * (1.0 - 2.0 * r), lost


@nb.njit(inline="always", **JIT)
def _identity_readout(x, careful):
    return x, 1.0, 0.0, False


@nb.njit(inline="always", **JIT)
def _times(factor, u, v=1.0):
    """factor * u * v, with 0 * inf taken as 0 rather than NaN.

    Here a zero is exact (the identity's r'' = 0, the linear unit's x_bb = 0, an
    error of 0) or a saturated sigmoid's exp(-|x_T|) below float64's range,
    which falls faster than any derivative of x_T grows (|x_w| is about T |x_T|
    at most); an infinity is an overflowed x_T or derivative. Their true product
    is 0 in float64 (linear unit, w = 1e6, T = 100000: tests/test_extreme.py).
    """
    zero = factor == 0.0 or u == 0.0 or v == 0.0
    infinite = math.isinf(factor) or math.isinf(u) or math.isinf(v)
    return 0.0 if zero and infinite else factor * u * v


@nb.njit(inline="always", **JIT)
def _hypot(u, v):
    """sqrt(u^2 + v^2), scaled so that the squares neither overflow nor vanish.

    Where the larger size is 0, inf or NaN, |u| + |v| is the answer and carries
    a NaN through. Within 2 ulp of `math.hypot`, and unlike it, vectorizes.
    """
    a, c = abs(u), abs(v)
    big = a if a > c else c
    p, q = a / big, c / big
    scaled = big * math.sqrt(p * p + q * q)
    return scaled if 0.0 < big < math.inf else a + c


@nb.njit(inline="always", **JIT)
def _infinite_curvature(hess_ww, hess_wb, hess_bb):
    """The largest eigenvalue of a Hessian with an entry that is not finite, where
    bounds decide it: at least hess_ww, hess_bb and their mean + |hess_wb|, at
    most max(hess_ww, hess_bb) + |hess_wb| (Gershgorin). NaN where they do not."""
    if hess_ww == math.inf or hess_bb == math.inf:
        return math.inf
    off_infinite = abs(hess_wb) == math.inf
    if off_infinite and hess_ww > -math.inf and hess_bb > -math.inf:
        return math.inf
    if hess_ww == -math.inf and hess_bb == -math.inf and not off_infinite:
        return -math.inf
    return math.nan


@nb.njit(inline="always", **JIT)
def _hessian_summary(grad_w, grad_b, hess_ww, hess_wb, hess_bb):
    """Curvature and alignment at one point, in closed form for a symmetric 2 x 2.

    The eigenvalues are mean +- spread. An eigenvector of mean + spread is
    (half + spread, hess_wb) or, with no cancellation when half < 0,
    (hess_wb, spread - half); that of mean - spread is at a right angle to it.
    Leading means largest in size: mean + spread where the mean is positive.
    Alignment is NaN where the gradient is zero (it has no direction) and 1
    where the Hessian is a multiple of the identity (every direction is an
    eigenvector). Where a derivative overflowed to inf, directions are lost:
    alignment is NaN, and the curvature is `_infinite_curvature`.
    """
    # Halved before adding: entries near 1e308 would overflow their sum.
    mean = 0.5 * hess_ww + 0.5 * hess_bb
    half = 0.5 * hess_ww - 0.5 * hess_bb
    spread = _hypot(half, hess_wb)

    if half >= 0.0:
        along_w, along_b = half + spread, hess_wb
    else:
        along_w, along_b = hess_wb, spread - half
    if mean < 0.0:
        along_w, along_b = -along_b, along_w

    size = _hypot(along_w, along_b)
    norm = _hypot(grad_w, grad_b)
    cosine = (grad_w / norm) * (along_w / size) + (grad_b / norm) * (along_b / size)
    alignment = abs(cosine) if size > 0.0 else 1.0
    alignment = alignment if norm > 0.0 else math.nan

    hessian_finite = abs(hess_ww) < math.inf and abs(hess_bb) < math.inf
    hessian_finite = hessian_finite and abs(hess_wb) < math.inf
    if not hessian_finite:
        return _infinite_curvature(hess_ww, hess_wb, hess_bb), math.nan
    if not (abs(grad_w) < math.inf and abs(grad_b) < math.inf):
        return mean + spread, math.nan
    return mean + spread, alignment


@nb.njit(inline="always", **JIT)
def _loss_row(readout, jet, target, out):
    for i in range(jet.shape[1]):
        x = jet[0, i]
        error = readout(x, False)[0] - target
        out[0, i] = x
        out[1, i] = error * error


# Each row of derivatives is a plain pass, then, only if some point needs it, a
# careful pass over that row: a point whose sigmoid readout is within 2^-30 of 1,
# or with a product of 0 * inf (NaN), is computed again with the other tail and
# `_times`. In the plain pass, those cost the first derivatives 3 % and, with
# both forms in one loop, LLVM shared their products, fused fewer into FMAs, and
# a quarter of ordinary points lost their last bit. Points are scalars in and
# tuples out: with arrays passed to the point's function, the loop ran 3.3 times
# slower.
@nb.njit(inline="always", **JIT)
def _product(factor, u, v=1.0):
    return factor * u * v


@nb.njit(inline="always", **JIT)
def _first_point(readout, careful, times, jet, target):
    """The variables of `VARIABLES["first"]` at a point with jet (x, x_w, x_b),
    and whether it needs the careful pass."""
    x, x_w, x_b = jet
    r, dr, _, lost = readout(x, careful)
    error = r - target
    slope = 2.0 * error * dr
    grad_w, grad_b = times(slope, x_w), times(slope, x_b)
    values = (x, error * error, grad_w, grad_b, _hypot(grad_w, grad_b))
    return values, lost | math.isnan(grad_w) | math.isnan(grad_b)


@nb.njit(inline="always", **JIT)
def _first_row(readout, jet, target, out):
    care = False
    for i in range(jet.shape[1]):
        point = (jet[0, i], jet[1, i], jet[2, i])
        values, lost = _first_point(readout, False, _product, point, target)
        for v in range(len(values)):
            out[v, i] = values[v]
        care |= lost

    if care:
        for i in range(jet.shape[1]):
            point = (jet[0, i], jet[1, i], jet[2, i])
            if _first_point(readout, False, _product, point, target)[1]:
                values = _first_point(readout, True, _times, point, target)[0]
                for v in range(len(values)):
                    out[v, i] = values[v]


@nb.njit(inline="always", **JIT)
def _second_point(readout, careful, times, jet, target):
    """The variables of `VARIABLES["second"]` at a point with jet (x, x_w, x_b,
    x_ww, x_wb, x_bb), and whether it needs the careful pass."""
    x, x_w, x_b, x_ww, x_wb, x_bb = jet
    r, dr, ddr, lost = readout(x, careful)
    error = r - target
    slope = 2.0 * error * dr
    grad_w, grad_b = times(slope, x_w), times(slope, x_b)
    # E_uv = 2 (r'^2 x_u x_v + e (r'' x_u x_v + r' x_uv))
    bend = 2.0 * (dr * dr + times(ddr, error))
    hess_ww = times(bend, x_w, x_w) + times(slope, x_ww)
    hess_wb = times(bend, x_w, x_b) + times(slope, x_wb)
    hess_bb = times(bend, x_b, x_b) + times(slope, x_bb)
    curvature, alignment = _hessian_summary(grad_w, grad_b, hess_ww, hess_wb, hess_bb)
    values = (
        *(x, error * error, grad_w, grad_b, _hypot(grad_w, grad_b)),
        *(hess_ww, hess_wb, hess_bb, curvature, alignment),
    )
    lost |= math.isnan(grad_w) | math.isnan(grad_b) | math.isnan(hess_ww)
    return values, lost | math.isnan(hess_wb) | math.isnan(hess_bb)


@nb.njit(inline="always", **JIT)
def _second_row(readout, jet, target, out):
    care = False
    for i in range(jet.shape[1]):
        point = (jet[0, i], jet[1, i], jet[2, i], jet[3, i], jet[4, i], jet[5, i])
        values, lost = _second_point(readout, False, _product, point, target)
        for v in range(len(values)):
            out[v, i] = values[v]
        care |= lost

    if care:
        for i in range(jet.shape[1]):
            point = (jet[0, i], jet[1, i], jet[2, i], jet[3, i], jet[4, i], jet[5, i])
            if _second_point(readout, False, _product, point, target)[1]:
                values = _second_point(readout, True, _times, point, target)[0]
                for v in range(len(values)):
                    out[v, i] = values[v]


@nb.njit(inline="always", **JIT)
def _summarise(readout, jets, targets, out):
    """out[s, k, v, i]: variable v of `VARIABLES` at step count s, target k, point i.

    `jets` is `(steps, 1, points)` (the state alone), or the kernel's jets of
    first or second order; `out`'s variable axis says how many variables.
    """
    for s in range(jets.shape[0]):
        for k in range(targets.size):
            if out.shape[2] == 2:
                _loss_row(readout, jets[s], targets[k], out[s, k])
            elif out.shape[2] == 5:
                _first_row(readout, jets[s], targets[k], out[s, k])
            else:
                _second_row(readout, jets[s], targets[k], out[s, k])


# One compiled function per readout, as for the kernel's activations.
@nb.njit(**JIT)
def _summarise_sigmoid(jets, targets, out):
    _summarise(_sigmoid_readout, jets, targets, out)


@nb.njit(**JIT)
def _summarise_identity(jets, targets, out):
    _summarise(_identity_readout, jets, targets, out)


@nb.njit(**JIT)
def _hessian_summary_flat(grad_w, grad_b, hess_ww, hess_wb, hess_bb, out):
    for i in range(grad_w.size):
        out[0, i], out[1, i] = _hessian_summary(
            grad_w[i], grad_b[i], hess_ww[i], hess_wb[i], hess_bb[i]
        )


SUMMARISERS = {"sigmoid": _summarise_sigmoid, "identity": _summarise_identity}
_SUMMARY_SIGNATURE = "void(float64[:, :, ::1], float64[::1], float64[:, :, :, ::1])"
_FLAT = "float64[::1]"
_FLAT_SIGNATURE = f"void({', '.join([_FLAT] * 5)}, float64[:, ::1])"


def stacked_quantities(
    x0: float,
    w: np.ndarray,
    b: np.ndarray,
    steps,
    targets,
    activation: str,
    readout: str,
    derivatives: str = "none",
) -> np.ndarray:
    """Every variable of `VARIABLES[derivatives]` at broadcast points (w, b), stacked:
    `(steps, targets, variables) + broadcast shape`, the state repeated along targets.

    One pass of the recurrence, whatever is asked for.
    """
    order = ORDER[derivatives]
    if order == 0:
        jets = kernel.final_states(w, b, x0, steps, activation)[:, None]
    else:
        jets = kernel.final_jets(w, b, x0, steps, activation, order)
    shape = jets.shape[2:]
    jets = jets.reshape(jets.shape[:2] + (-1,))

    targets = np.array(targets, dtype=np.float64, ndmin=1)
    count = len(VARIABLES[derivatives])
    out = np.empty((jets.shape[0], targets.size, count, jets.shape[2]))
    summarise = kernel.compiled(SUMMARISERS[readout], _SUMMARY_SIGNATURE)
    summarise(jets, targets, out)
    return out.reshape(out.shape[:3] + shape)


def surface_quantities(
    x0: float,
    w: np.ndarray,
    b: np.ndarray,
    steps,
    targets,
    activation: str,
    readout: str,
    derivatives: str = "none",
) -> dict[str, np.ndarray]:
    """`stacked_quantities` by variable name: `state` has shape `(steps,)` and the
    others `(steps, targets)`, then the broadcast shape of (w, b)."""
    stacked = stacked_quantities(x0, w, b, steps, targets, activation, readout, derivatives)
    names = VARIABLES[derivatives]
    values = {name: stacked[:, :, index] for index, name in enumerate(names)}
    values["state"] = values["state"][:, 0]
    return values


def squared_error(states: np.ndarray, targets, readout: str) -> np.ndarray:
    """Loss (readout(x_T) - target)^2 for every target, from final states.

    `states` has shape `(steps, ...)`; the result has shape `(steps, targets, ...)`.
    Plain numpy: the same values as the stores' `loss`, bit for bit.
    """
    read = kernel.READOUTS[readout](states)
    targets = np.asarray(targets, dtype=np.float64)
    with np.errstate(over="ignore"):  # an error above 1.3e154 squares to inf
        return (read[:, None] - targets.reshape((1, -1) + (1,) * (read.ndim - 1))) ** 2


def hessian_summary(grad_w, grad_b, hess_ww, hess_wb, hess_bb):
    """Curvature (largest Hessian eigenvalue) and alignment (|cos| between the
    gradient and the eigenvector of the eigenvalue largest in size), elementwise
    over arrays of one shape, as the stores hold them."""
    arrays = np.broadcast_arrays(grad_w, grad_b, hess_ww, hess_wb, hess_bb)
    flat = [np.array(a, dtype=np.float64, order="C").ravel() for a in arrays]
    out = np.empty((2, flat[0].size))
    kernel.compiled(_hessian_summary_flat, _FLAT_SIGNATURE)(*flat, out)
    return out[0].reshape(arrays[0].shape), out[1].reshape(arrays[0].shape)
