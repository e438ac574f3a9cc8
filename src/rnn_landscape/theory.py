"""Closed-form facts about x_t = w * act(x_{t-1}) + b (arrays in, arrays out).

Write f(x) = w act(x) + b. Everything here follows from three facts:

- Fixed points solve h(x) = x - w act(x) - b = 0, and a fixed point x* is stable
  when its multiplier w act'(x*) has modulus below 1. For the sigmoid and tanh,
  act' rises to one maximum at the inflection point x = 0 and falls, so h has at
  most two turning points (where w act'(x) = 1) and at most three roots.
- Read backwards, x is a fixed point of every (w, b) with b = x - w act(x). So a
  fold (saddle-node) is w = 1/act'(x), b = x - w act(x), parametrised by x; it
  exists for w > 1/max act' (4 for the sigmoid, 1 for tanh) and bounds the
  bistable region. For w < 0 the map decreases, its one fixed point loses
  stability at the flip w act'(x) = -1, and a stable 2-cycle takes over.
- The loss after many steps jumps where x_0 changes basin, which is where x_0 is
  itself an unstable fixed point: the straight line b = x0 - w act(x0) with
  |w act'(x0)| > 1 (for w < 0 the even iterates then change which point of the
  2-cycle they approach, and the odd ones too). For w > 0 that line is tangent to
  the fold at the fold's point with parameter x = x0; between the cusp (x = 0)
  and that point the fold itself is the wall, because x0 then sits in the basin
  of the attractor that the fold destroys.

Checked numerically in tests/test_theory.py against plain Python loops; the
wide (w, b) in [-20, 20]^2 surfaces of both default presets show no other wall
(tests/test_walls.py).
"""

import math
from typing import NamedTuple

import numpy as np

from .kernel import ACTIVATIONS

# Where each bounded activation lives: every fixed point lies in
# [b + w * low, b + w * high] (ends in either order).
ACTIVATION_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def basin_boundary_b(w, x0: float, activation: str = "sigmoid"):
    """Bias at which x0 itself is a fixed point: b = x0 - w * act(x0).

    Inside the bistable range this fixed point is the unstable one, the boundary
    between the two basins of attraction; as b crosses this line the state's fate
    flips, and the loss after many steps jumps there (the wall of Figure 6).
    """
    return x0 - np.asarray(w, dtype=np.float64) * ACTIVATIONS[activation](x0)


def slope(x, activation: str = "sigmoid") -> np.ndarray:
    """act'(x): s (1 - s) for the sigmoid, 1 - tanh^2 for tanh, 1 for linear."""
    x = np.asarray(x, dtype=np.float64)
    if activation == "sigmoid":
        s = ACTIVATIONS["sigmoid"](x)
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if activation == "linear":
        return np.ones_like(x)
    raise ValueError(f"unknown activation '{activation}'; known: sigmoid, tanh, linear")


def steepest_slope(activation: str) -> float:
    """max act', reached at x = 0: below 1/max act' the map has no fold or flip."""
    return float(slope(0.0, activation))


def where_slope(m, activation: str = "sigmoid") -> np.ndarray:
    """The x >= 0 with act'(x) = m (act' is even); NaN where m is out of (0, max act'].

    Written to avoid cancellation for small m: for the sigmoid, 1 - s = m / s
    gives x = log(s / (1 - s)) = log(s^2 / m); for tanh, x = log((1 + t)^2 / m) / 2.
    """
    m = np.asarray(m, dtype=np.float64)
    inside = (m > 0) & (m <= steepest_slope(activation))
    m = np.where(inside, m, np.nan)
    if activation == "sigmoid":
        s = 0.5 * (1.0 + np.sqrt(np.maximum(1.0 - 4.0 * m, 0.0)))
        return np.log(s * s / m)
    if activation == "tanh":
        t = np.sqrt(np.maximum(1.0 - m, 0.0))
        return 0.5 * np.log((1.0 + t) ** 2 / m)
    return np.full_like(m, np.nan)  # linear: act' is 1 everywhere, no turning point


class FixedPoints(NamedTuple):
    """Fixed points along a last axis of length 3, ascending, NaN-padded at the end."""

    x: np.ndarray
    multiplier: np.ndarray  # w act'(x*): the map's slope there
    stable: np.ndarray  # |multiplier| < 1; False where there is no fixed point

    @property
    def count(self) -> np.ndarray:
        return np.count_nonzero(~np.isnan(self.x), axis=-1)


def fixed_points(w, b, activation: str = "sigmoid") -> FixedPoints:
    """All solutions of x = w act(x) + b for every broadcast (w, b) point.

    Bounded activations: h(x) = x - w act(x) - b is monotone between its turning
    points (`where_slope(1 / w)`, only for w above 1/max act'), so each of the up
    to three monotone pieces of a bracket holding every root has at most one root,
    found by bisection to the last bit. Linear: x* = b / (1 - w), none at w = 1.
    """
    w, b = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(w, b))
    if activation == "linear":
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.where(w == 1.0, np.nan, b / (1.0 - w))
        nothing = np.full_like(root, np.nan)
        x = np.stack([root, nothing, nothing], axis=-1)
    else:
        x = np.sort(_bisect(_monotone_pieces(w, b, activation), w, b, activation), -1)

    multiplier = np.where(np.isnan(x), np.nan, w[..., None] * slope(x, activation))
    stable = np.abs(multiplier) < 1.0  # False for NaN
    return FixedPoints(x, multiplier, stable)


def _monotone_pieces(w, b, activation) -> np.ndarray:
    """Edges (..., 4) of three pieces [e0, e1], [e1, e2], [e2, e3] covering every
    root of h, each with h monotone; a piece with no turning point collapses."""
    low, high = ACTIVATION_RANGE[activation]
    # One unit of margin: h(start) <= -1 < 0 < 1 <= h(stop), strictly, so a sign
    # change is never missed at the ends (w = 0 would otherwise be start == stop).
    start = b + np.minimum(w * low, w * high) - 1.0
    stop = b + np.maximum(w * low, w * high) + 1.0
    with np.errstate(divide="ignore"):
        turn = where_slope(1.0 / w, activation)
    turn = np.where(w > 0, turn, np.nan)  # for w <= 0, h' = 1 - w act' > 0
    left = np.clip(np.where(np.isnan(turn), start, -turn), start, stop)
    right = np.clip(np.where(np.isnan(turn), start, turn), start, stop)
    return np.stack([start, left, right, stop], axis=-1)


def _bisect(edges, w, b, activation) -> np.ndarray:
    """Root of h in each piece (a, c] where h changes sign (negative to not, or
    back), else NaN; bisection down to the rounding of h itself."""
    act = ACTIVATIONS[activation]
    w, b = (np.broadcast_to(a[..., None], edges[..., :3].shape) for a in (w, b))
    a, c = edges[..., :3], edges[..., 1:]
    a_negative = _negative_h(a, w, b, act)
    has_root = a_negative != _negative_h(c, w, b, act)

    # Only the pieces holding a root are bisected: about one in three.
    a, c, w, b, a_negative = (array[has_root] for array in (a, c, w, b, a_negative))
    # h sums terms of size |w| and |b|, so its rounding hides x's last bits below
    # eps (1 + |w| + |b|); halving further would crawl through tiny floats near 0.
    tolerance = 4 * np.finfo(np.float64).eps * (1.0 + np.abs(w) + np.abs(b))
    while np.any(c - a > tolerance):
        middle = 0.5 * (a + c)
        same = _negative_h(middle, w, b, act) == a_negative
        a = np.where(same, middle, a)
        c = np.where(same, c, middle)

    roots = np.full(has_root.shape, np.nan)
    roots[has_root] = 0.5 * (a + c)
    return roots


def _negative_h(x, w, b, act) -> np.ndarray:
    return x - w * act(x) - b < 0


def bistable_range(w, activation: str = "sigmoid") -> tuple[np.ndarray, np.ndarray]:
    """(b_low, b_high): the b between the two folds at weight w, where two stable
    fixed points coexist; NaN where w is too small for a fold (w <= 4 for the
    sigmoid). At w = 5, sigmoid: (-2.6556, -2.3444), the range of Figure 3."""
    w = np.asarray(w, dtype=np.float64)
    with np.errstate(divide="ignore"):
        turn = where_slope(1.0 / w, activation)
    turn = np.where(w > 0, turn, np.nan)
    act = ACTIVATIONS[activation]
    ends = (-turn - w * act(-turn), turn - w * act(turn))
    return np.fmin(*ends), np.fmax(*ends)


class Branch(NamedTuple):
    """Fixed points x* against b at a fixed w, all stable or all unstable."""

    b: np.ndarray
    x: np.ndarray
    stable: bool


def fixed_point_branches(
    w: float, b_limits, activation: str = "sigmoid", samples: int = 4001
) -> list[Branch]:
    """The bifurcation diagram of Figure 3: every fixed point for b in `b_limits`.

    Each x is the fixed point of exactly one b = x - w act(x), so sampling x
    rather than b traces every branch at once, round the folds where they turn
    back. Neighbouring branches share their end sample, so drawn they join.
    """
    if activation == "linear" and w == 1.0:
        return []  # no fixed point, or (b = 0) every x is one
    x = np.linspace(*_fixed_point_span(w, b_limits, activation), samples)
    b = x - w * ACTIVATIONS[activation](x)
    stable = np.abs(w * slope(x, activation)) < 1.0
    # 1 stable, 0 unstable, -1 outside the b range; a branch is a run of one label.
    label = np.where((b >= b_limits[0]) & (b <= b_limits[1]), stable.astype(int), -1)
    edges = np.flatnonzero(np.diff(label)) + 1
    branches = []
    for start, stop in zip([0, *edges], [*edges, samples], strict=True):
        if label[start] < 0:
            continue
        # Take the next sample too when it is inside, so that drawn branches join.
        end = stop + 1 if stop < samples and label[stop] >= 0 else stop
        branches.append(Branch(b[start:end], x[start:end], bool(label[start])))
    return branches


def _fixed_point_span(w, b_limits, activation) -> tuple[float, float]:
    """x range holding every fixed point of every b in `b_limits`."""
    if activation == "linear":
        ends = sorted(limit / (1.0 - w) for limit in b_limits)
        return (ends[0], ends[1])
    low, high = ACTIVATION_RANGE[activation]
    return (b_limits[0] + min(w * low, w * high), b_limits[1] + max(w * low, w * high))


class Curve(NamedTuple):
    """A curve in the (w, b) plane, sampled: a fold, a flip or a wall.

    Every such curve is a set of (w, x) with x a fixed point, so b = x - w act(x);
    `x` says which fixed point at each sample (x0 on a wall line, the merging
    point on a fold) and `multiplier` is its w act'(x): 1 on a fold, -1 on a flip,
    beyond +-1 on a wall line, where it says how fast the two sides of the wall
    separate per step.
    """

    kind: str
    w: np.ndarray
    b: np.ndarray
    x: np.ndarray
    multiplier: np.ndarray


def fold_curves(w_limits, b_limits, activation="sigmoid", samples=2001) -> list[Curve]:
    """Saddle-node curves w = 1/act'(x), b = x - w act(x), inside the rectangle.

    The branches x < 0 and x > 0 meet at the cusp (x = 0: w = 4, b = -2 for the
    sigmoid; w = 1, b = 0 for tanh); between them lies the bistable region. The
    linear map's multiplier is w everywhere: its "fold" is the line w = 1, where
    the fixed point runs off to infinity.
    """
    if activation == "linear":
        return _vertical("fold", 1.0, w_limits, b_limits, samples)
    reach = _parameter_reach(max(w_limits[1], 0.0), activation)
    if reach is None:
        return []
    x = np.linspace(-reach, reach, samples)
    return _curves("fold", 1.0 / slope(x, activation), x, w_limits, b_limits, activation)


def flip_curves(w_limits, b_limits, activation="sigmoid", samples=2001) -> list[Curve]:
    """Period-doubling curves w = -1/act'(x), b = x - w act(x) (w < 0): beyond them
    (w more negative) the fixed point is unstable and a stable 2-cycle takes over.
    The 2-cycle grows from nothing there, so a flip curve is no wall; but its
    amplitude grows like the square root of the distance, a steep onset that a
    finite grid can show as a small step (tanh near w = -1). The linear map's flip
    is the line w = -1, where x_T turns from converging to diverging."""
    if activation == "linear":
        return _vertical("flip", -1.0, w_limits, b_limits, samples)
    reach = _parameter_reach(max(-w_limits[0], 0.0), activation)
    if reach is None:
        return []
    x = np.linspace(-reach, reach, samples)
    return _curves("flip", -1.0 / slope(x, activation), x, w_limits, b_limits, activation)


def instability_edge(x0: float, activation: str = "sigmoid") -> float:
    """|w| from which x0, as a fixed point, is unstable: 1 / act'(x0).

    Infinite where the slope at x0 underflows to 0 (tanh at x0 = 1e6, found by a
    new-user trial as a ZeroDivisionError): x0 is then stable at every w.
    """
    slope_at_x0 = float(slope(x0, activation))
    return 1.0 / slope_at_x0 if slope_at_x0 > 0.0 else math.inf


def wall_curves(
    x0: float, w_limits, b_limits, activation="sigmoid", samples=2001
) -> list[Curve]:
    """Where x_T jumps for large T: the curves in (w, b) across which x0 changes basin.

    - The line b = x0 - w act(x0) where x0 is an unstable fixed point,
      |w act'(x0)| > 1, on both sides of w = 0. At its ends the multiplier tends to
      +-1 and at finite T the jump is smoothed out.
    - For w > 0, the stretch of the fold between the cusp (x = 0) and the line's
      tangent point (x = x0). At finite T the state creeps through the fold's
      bottleneck, so this jump sharpens only slowly with T.
    The linear map has no fold: x_T - x* = w^T (x0 - x*) is continuous, but for
    |w| > 1 it changes sign across the same line with slope w^T, a cliff.
    """
    edge = instability_edge(x0, activation)
    curves = []
    sides = ((max(edge, w_limits[0]), w_limits[1]), (w_limits[0], min(-edge, w_limits[1])))
    for first, last in sides:
        if first < last:
            w = np.linspace(first, last, samples)
            x = np.full_like(w, x0)
            curves += _curves("wall", w, x, w_limits, b_limits, activation)

    if activation != "linear" and x0 != 0.0:
        x = np.linspace(0.0, x0, samples)
        with np.errstate(divide="ignore", over="ignore"):
            w = 1.0 / slope(x, activation)
        # Where the slope underflows the fold is beyond any w a grid can hold.
        reachable = np.abs(w) < 1e300
        curves += _curves(
            "wall", w[reachable], x[reachable], w_limits, b_limits, activation
        )
    return curves


def predicted_curves(
    x0: float, w_limits, b_limits, activation="sigmoid", samples=2001
) -> list[Curve]:
    """Walls, folds and flips inside the rectangle, in that order."""
    return [
        *wall_curves(x0, w_limits, b_limits, activation, samples),
        *fold_curves(w_limits, b_limits, activation, samples),
        *flip_curves(w_limits, b_limits, activation, samples),
    ]


def _parameter_reach(w_max: float, activation: str) -> float | None:
    """The x with 1/act'(x) = w_max: |w| = 1/act'(x) stays below w_max for
    |x| <= reach. None where no fold or flip exists below w_max."""
    if activation == "linear" or w_max * steepest_slope(activation) <= 1.0:
        return None
    return float(where_slope(1.0 / w_max, activation))


def _curves(kind, w, x, w_limits, b_limits, activation) -> list[Curve]:
    """The samples (w, x, b = x - w act(x)) inside the rectangle, one Curve per run."""
    b = x - w * ACTIVATIONS[activation](x)
    multiplier = w * slope(x, activation)
    inside = _within(w, w_limits) & _within(b, b_limits)
    # Runs start and stop where `inside` switches, the ends padded as outside.
    switches = np.flatnonzero(np.diff(np.concatenate([[False], inside, [False]])))
    runs = [slice(start, stop) for start, stop in switches.reshape(-1, 2)]
    return [Curve(kind, w[r], b[r], x[r], multiplier[r]) for r in runs]


def _vertical(kind, w, w_limits, b_limits, samples) -> list[Curve]:
    """The line at weight w across the rectangle, for the linear map."""
    if not _within(np.array(w), w_limits):
        return []
    b = np.linspace(b_limits[0], b_limits[1], samples)
    # At w = 1 there is no fixed point (b != 0); at w = -1 it is b / 2.
    x = np.full_like(b, np.nan) if w == 1.0 else b / (1.0 - w)
    return [Curve(kind, np.full_like(b, w), b, x, np.full_like(b, w))]


def _within(values, limits) -> np.ndarray:
    # A margin of 1e-9 of the range keeps a sample that rounding put just outside
    # (the fold sampled up to w_max computes w_max + 1 ulp).
    margin = 1e-9 * (limits[1] - limits[0])
    return (values >= limits[0] - margin) & (values <= limits[1] + margin)
