"""What a store holds, derived from the kernel's final states and jets.

The loss E = (r(x_T) - y)^2 for every target y, its exact first and second
derivatives in (w, b) by the chain rule through the readout r, and three numbers
that summarise them at each point: the gradient's norm, the curvature (largest
eigenvalue of the Hessian) and the alignment of the gradient with the Hessian's
leading eigenvector (the paper's section 3.2 guesses that the two align at a wall).

Arrays in, arrays out: the kernel's outputs have a leading `steps` axis (and a
jet axis after it); every result here has `(steps, targets, ...)` axes.
"""

import numpy as np

from . import kernel
from .variables import ORDER, VARIABLES  # noqa: F401 (VARIABLES re-exported)


def _readout_slopes(readout: str, x: np.ndarray):
    """r(x), r'(x), r''(x) for a readout."""
    if readout == "identity":
        return x, np.ones_like(x), np.zeros_like(x)
    s = kernel.sigmoid(x)
    slope = s * (1.0 - s)
    return s, slope, slope * (1.0 - 2.0 * s)


def _by_target(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """`values` (steps, ...) against `targets`: (steps, targets, ...)."""
    shape = (1, targets.size) + (1,) * (values.ndim - 1)
    return values[:, None] - targets.reshape(shape)


def squared_error(states: np.ndarray, targets, readout: str) -> np.ndarray:
    """Loss (readout(x_T) - target)^2 for every target, from final states.

    `states` has shape `(steps, ...)`; the result has shape `(steps, targets, ...)`,
    so all targets cost one readout and one subtraction each, no recurrence.
    """
    read = kernel.READOUTS[readout](states)
    return _by_target(read, np.asarray(targets, dtype=np.float64)) ** 2


def loss_derivatives(jets: np.ndarray, targets, readout: str) -> dict[str, np.ndarray]:
    """The loss and its exact derivatives in (w, b), from the kernel's jets.

    `jets` is `kernel.final_jets` output, `(steps, 3 or 6, ...)`. With e = r - y:
    E_w = 2 e r' x_w, and E_wb = 2 (r'^2 x_w x_b + e (r'' x_w x_b + r' x_wb)),
    the same for every pair. Returns grad_w, grad_b and, from a second-order jet,
    hess_ww, hess_wb, hess_bb, each `(steps, targets, ...)`.
    """
    targets = np.asarray(targets, dtype=np.float64)
    x, x_w, x_b = jets[:, 0], jets[:, 1], jets[:, 2]
    r, dr, ddr = _readout_slopes(readout, x)
    error = _by_target(r, targets)
    dr, ddr = dr[:, None], ddr[:, None]
    x_w, x_b = x_w[:, None], x_b[:, None]

    result = {"grad_w": 2.0 * error * dr * x_w, "grad_b": 2.0 * error * dr * x_b}
    if jets.shape[1] == len(kernel.JET_SECOND):
        second = {
            "hess_ww": (x_w, x_w, 3),
            "hess_wb": (x_w, x_b, 4),
            "hess_bb": (x_b, x_b, 5),
        }
        for name, (u, v, index) in second.items():
            x_uv = jets[:, index][:, None]
            result[name] = 2.0 * (dr * dr * u * v + error * (ddr * u * v + dr * x_uv))
    return result


def gradient_norm(grad_w: np.ndarray, grad_b: np.ndarray) -> np.ndarray:
    return np.hypot(grad_w, grad_b)


def _hessian_eigen(hess_ww, hess_wb, hess_bb):
    """Mean and half-spread of the two eigenvalues, and the angle of the first
    eigenvector: a closed form for symmetric 2 x 2 matrices, with no division."""
    mean = 0.5 * (hess_ww + hess_bb)
    half_difference = 0.5 * (hess_ww - hess_bb)
    spread = np.hypot(half_difference, hess_wb)
    angle = 0.5 * np.arctan2(hess_wb, half_difference)  # eigenvector of mean + spread
    return mean, spread, angle


def curvature(hess_ww, hess_wb, hess_bb) -> np.ndarray:
    """Largest eigenvalue of the Hessian [[E_ww, E_wb], [E_wb, E_bb]]."""
    mean, spread, _ = _hessian_eigen(hess_ww, hess_wb, hess_bb)
    return mean + spread


def alignment(grad_w, grad_b, hess_ww, hess_wb, hess_bb) -> np.ndarray:
    """|cos| of the angle between the gradient and the Hessian's leading eigenvector.

    Leading: of the eigenvalue largest in magnitude (mean + spread where the mean
    is positive, mean - spread, a right angle away, where it is negative). NaN
    where the gradient is zero and has no direction.
    """
    mean, _, angle = _hessian_eigen(hess_ww, hess_wb, hess_bb)
    angle = np.where(mean >= 0.0, angle, angle + 0.5 * np.pi)
    along = grad_w * np.cos(angle) + grad_b * np.sin(angle)
    norm = gradient_norm(grad_w, grad_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0.0, np.abs(along) / norm, np.nan)


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
    """Every variable of `VARIABLES[derivatives]` at broadcast points (w, b).

    `state` has shape `(steps, ...)`, the others `(steps, targets, ...)`. One pass
    of the recurrence, whatever is asked for.
    """
    order = ORDER[derivatives]
    if order == 0:
        states = kernel.final_states(w, b, x0, steps, activation)
        return {"state": states, "loss": squared_error(states, targets, readout)}

    jets = kernel.final_jets(w, b, x0, steps, activation, order)
    result = {"state": jets[:, 0], "loss": squared_error(jets[:, 0], targets, readout)}
    result.update(loss_derivatives(jets, targets, readout))
    result["grad_norm"] = gradient_norm(result["grad_w"], result["grad_b"])
    if order == 2:
        hessian = (result["hess_ww"], result["hess_wb"], result["hess_bb"])
        result["curvature"] = curvature(*hessian)
        result["alignment"] = alignment(result["grad_w"], result["grad_b"], *hessian)
    return {name: result[name] for name in VARIABLES[derivatives]}
