"""The recurrence x_t = w * act(x_{t-1}) + b and its loss, on arrays of (b, w) points.

Numbers in, numbers out: nothing here knows about xarray, Dask or files.
Activations and readouts are looked up by name, so a new one is a new entry in
`ACTIVATIONS` or `READOUTS` and nothing else changes (config, rules, stores).
"""

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid that never overflows, for any finite float64 input.

    `1 / (1 + exp(-x))` overflows in `exp` once x < -709. Taking exp of -|x| only
    ever underflows (to 0, silently), and the two branches keep full relative
    precision on both tails: for x << 0 the result is e / (1 + e) ~ exp(x), not 0.
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)


def identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": np.tanh, "linear": identity}
READOUTS = {"identity": identity, "sigmoid": sigmoid}


def final_states(
    w: np.ndarray,
    b: np.ndarray,
    x0: float,
    steps: np.ndarray,
    activation: str = "sigmoid",
) -> np.ndarray:
    """States x_T for every T in `steps`, from a single pass of the recurrence.

    `w` and `b` broadcast against each other (a column of b against a row of w
    gives a grid). `steps` must be positive integers in increasing order. The
    result has shape `(len(steps),) + broadcast shape`; cost grows with the
    largest step count only, not with how many are asked for.
    """
    act = ACTIVATIONS[activation]
    steps = np.asarray(steps, dtype=np.int64)
    if steps.ndim != 1 or steps.size == 0 or steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be increasing positive integers, got {steps}")

    w, b = np.broadcast_arrays(np.asarray(w, np.float64), np.asarray(b, np.float64))
    out = np.empty((steps.size, *w.shape), dtype=np.float64)

    x = np.full(w.shape, x0, dtype=np.float64)
    wanted = 0
    for t in range(1, int(steps[-1]) + 1):
        x = w * act(x) + b
        if t == steps[wanted]:
            out[wanted] = x
            wanted += 1
    return out


def squared_error(states: np.ndarray, targets: np.ndarray, readout: str) -> np.ndarray:
    """Loss (readout(x_T) - target)^2 for every target, from stored final states.

    `states` has shape `(steps, ...)`; the result has shape `(steps, targets, ...)`,
    so all targets cost one readout and one subtraction each, no recurrence.
    """
    read = READOUTS[readout](states)
    targets = np.asarray(targets, dtype=np.float64)
    shape = (1, targets.size) + (1,) * (states.ndim - 1)
    return (read[:, None] - targets.reshape(shape)) ** 2
