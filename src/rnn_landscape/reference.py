"""The slow, obvious twin of `kernel`: the notebook's way, one pass per step count.

Kept deliberately naive (textbook sigmoid, a fresh recurrence for every T) so that
it shares no code and no trick with the kernel; tests compare the two and the
benchmarks time one against the other.
"""

import numpy as np


def _sigmoid(x):
    # exp(-x) overflows to inf for x < -709, and 1 / (1 + inf) = 0 is then the
    # right answer; the warning is expected and silenced.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


_ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": np.tanh, "linear": lambda x: x}
_READOUTS = {"identity": lambda x: x, "sigmoid": _sigmoid}


def state(w, b, x0: float, steps: int, activation: str = "sigmoid"):
    """x_T of x_t = w * act(x_{t-1}) + b, from x_0 = x0."""
    act = _ACTIVATIONS[activation]
    x = x0
    # The linear unit's x_T passes 1.8e308 for |w| > 1 and T large enough
    # (w = 1e6, T = 52): inf, with the true sign, is float64's answer, and
    # the warning is silenced.
    with np.errstate(over="ignore"):
        for _ in range(steps):
            x = w * act(x) + b
    return x


def loss(w, b, x0: float, steps: int, target: float, readout: str, activation="sigmoid"):
    """E_T = (readout(x_T) - target)^2."""
    read = _READOUTS[readout](state(w, b, x0, steps, activation))
    with np.errstate(over="ignore"):  # the square passes 1.8e308 before x_T does
        return np.square(read - target)
