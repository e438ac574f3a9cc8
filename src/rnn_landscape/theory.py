"""Closed-form facts about x_t = w * act(x_{t-1}) + b (arrays in, arrays out)."""

import numpy as np

from .kernel import ACTIVATIONS


def basin_boundary_b(w, x0: float, activation: str = "sigmoid"):
    """Bias at which x0 itself is a fixed point: b = x0 - w * act(x0).

    Inside the bistable range this fixed point is the unstable one, the boundary
    between the two basins of attraction; as b crosses this line the state's fate
    flips, and the loss after many steps jumps there (the wall of Figure 6).
    """
    return x0 - np.asarray(w, dtype=np.float64) * ACTIVATIONS[activation](x0)
