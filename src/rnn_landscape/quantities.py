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


@nb.njit(inline="always", **JIT)
def _sigmoid_readout(x):
    """r(x), r'(x), r''(x)."""
    r = kernel._sigmoid(x)
    slope = r * (1.0 - r)
    return r, slope, slope * (1.0 - 2.0 * r)


@nb.njit(inline="always", **JIT)
def _identity_readout(x):
    return x, 1.0, 0.0


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
def _hessian_summary(grad_w, grad_b, hess_ww, hess_wb, hess_bb):
    """Curvature and alignment at one point, in closed form for a symmetric 2 x 2.

    The eigenvalues are mean +- spread. An eigenvector of mean + spread is
    (half + spread, hess_wb) or, with no cancellation when half < 0,
    (hess_wb, spread - half); that of mean - spread is at a right angle to it.
    Leading means largest in size: mean + spread where the mean is positive.
    Alignment is NaN where the gradient is zero (it has no direction) and 1
    where the Hessian is a multiple of the identity (every direction is an
    eigenvector).
    """
    mean = 0.5 * (hess_ww + hess_bb)
    half = 0.5 * (hess_ww - hess_bb)
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
    return mean + spread, alignment


@nb.njit(inline="always", **JIT)
def _loss_row(readout, jet, target, out):
    for i in range(jet.shape[1]):
        x = jet[0, i]
        error = readout(x)[0] - target
        out[0, i] = x
        out[1, i] = error * error


@nb.njit(inline="always", **JIT)
def _first_row(readout, jet, target, out):
    for i in range(jet.shape[1]):
        x, x_w, x_b = jet[0, i], jet[1, i], jet[2, i]
        r, dr, _ = readout(x)
        error = r - target
        slope = 2.0 * error * dr
        out[0, i] = x
        out[1, i] = error * error
        out[2, i] = slope * x_w
        out[3, i] = slope * x_b
        out[4, i] = _hypot(slope * x_w, slope * x_b)


@nb.njit(inline="always", **JIT)
def _second_row(readout, jet, target, out):
    for i in range(jet.shape[1]):
        x, x_w, x_b = jet[0, i], jet[1, i], jet[2, i]
        r, dr, ddr = readout(x)
        error = r - target
        slope = 2.0 * error * dr
        grad_w, grad_b = slope * x_w, slope * x_b
        # E_uv = 2 (r'^2 x_u x_v + e (r'' x_u x_v + r' x_uv))
        bend = 2.0 * (dr * dr + error * ddr)
        hess_ww = bend * x_w * x_w + slope * jet[3, i]
        hess_wb = bend * x_w * x_b + slope * jet[4, i]
        hess_bb = bend * x_b * x_b + slope * jet[5, i]
        curvature, alignment = _hessian_summary(grad_w, grad_b, hess_ww, hess_wb, hess_bb)
        out[0, i] = x
        out[1, i] = error * error
        out[2, i] = grad_w
        out[3, i] = grad_b
        out[4, i] = _hypot(grad_w, grad_b)
        out[5, i] = hess_ww
        out[6, i] = hess_wb
        out[7, i] = hess_bb
        out[8, i] = curvature
        out[9, i] = alignment


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
