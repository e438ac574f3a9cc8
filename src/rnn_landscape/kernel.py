"""The recurrence x_t = w * act(x_{t-1}) + b and its loss, on arrays of (b, w) points.

Numbers in, numbers out: nothing here knows about xarray, Dask or files.
Activations and readouts are looked up by name. A new activation is a scalar
function here, its carrier `_carry_<name>` in `CARRIERS`, an entry in
`ACTIVATIONS` (the array form, for theory), its twin in `reference.py` and its
name in the schema's enum; rules and stores do not change.

Speed. The recurrence is serial in t but independent across points, so the kernel
carries a block of points through all steps at once and lets LLVM vectorize the
loop over the block. Three obstacles, each measured with benchmarks/kernel.py:
- numba calls libm's scalar `exp`, which does not vectorize; here exp is written
  out with range reduction, and the loop is then bound by its floating-point
  operations per point-step: about 31 with exp as a polynomial (15 of them);
- exp as a ratio of two polynomials (a Pade approximant) takes 9, and its
  division merges with the sigmoid's own, 22 operations in all:
  1.45 times faster on an AMD EPYC with AVX-512 (1450 against 1000 million
  point-steps/s on one core), and more accurate (2.5 ulp at most, against 3.9);
- one vector chain per loop iteration leaves the CPU waiting on latency on some
  CPUs: four independent quarters of the block per iteration ran 1.5 times
  faster on an Intel Xeon with the polynomial exp, and as fast on the EPYC.
Results never depend on where a point sits in a block or how blocks are cut: each
point sees the same operations in the same order (tests/test_kernel.py checks a
point's position in a block; tests/test_store.py tiles, chunks, threads and
schedulers).
"""

import fcntl
import math
import os
import tempfile
from pathlib import Path

import llvmlite.binding
import numba
import numba as nb
import numpy as np


def _prefer_full_width_vectors() -> None:
    """Let LLVM vectorize with 512-bit registers on CPUs that have them.

    LLVM's tuning for AVX-512 CPUs prefers 256-bit vectors (early Xeons slowed
    their clock on wide ones); here the loss kernel ran 1.2 times faster with
    the full width (about 990 against 1200 million point-steps/s on one core of
    an Intel Xeon, with exp as a polynomial); on an AMD EPYC, whose AVX-512
    units are 256 bits wide, both widths run as fast. Only speed changes:
    every lane does the same operations, so the bits do not
    (tests/test_kernel.py compares the two builds). Numba reads this setting
    when it first compiles; a user's own NUMBA_CPU_NAME or NUMBA_CPU_FEATURES
    is left alone.
    """
    if numba.config.CPU_NAME is not None or numba.config.CPU_FEATURES is not None:
        return
    features = llvmlite.binding.get_host_cpu_features()
    if features.get("avx512f"):
        numba.config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"


_prefer_full_width_vectors()

# Shared by every kernel: `error_model="numpy"` drops the division-by-zero check
# that blocks vectorization, `contract` lets LLVM fuse a*b+c into one FMA (the same
# fusion in every position, so results stay independent of the blocking).
JIT = dict(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})

BLOCK = 512  # points carried together: 4 x 128, a few KiB, well inside L1
LANES = 4
QUARTER = BLOCK // LANES

# exp(z) = 2**k * exp(r), k = round(z / ln 2), |r| <= ln(2) / 2, with ln 2 split
# in two (Cody and Waite) so that r is exact to double precision.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
# Adding 1.5 * 2**52 rounds to an integer held in the low mantissa bits, which
# gives both k as a float and k's bits without a float-to-int conversion (that
# has no vector instruction below AVX-512).
_SHIFTER = 6755399441055744.0
_SHIFTER_BITS = np.float64(_SHIFTER).view(np.int64)
# exp(r) = P(r) / P(-r), the (6, 6) Pade approximant: P's even part in s = r^2 has
# the coefficients _EVEN, its odd part r times those in _ODD. Its error at
# |r| = ln(2) / 2 is 2e-19, far below an ulp.
_EVEN = (1.0, 5.0 / 44.0, 1.0 / 792.0, 1.0 / 665280.0)
_ODD = (1.0 / 2.0, 1.0 / 66.0, 1.0 / 15840.0)
_E0, _E1, _E2, _E3 = _EVEN
_O0, _O1, _O2 = _ODD


@nb.njit(inline="always", **JIT)
def _exp_parts(z):
    """exp(z) as scale * numerator / denominator, for |z| <= 708.

    scale is 2**k, a normal number; numerator / denominator is exp(r). Beyond
    +-708 the parts are meaningless: callers select what the tails mean, which
    costs less than clamping z (1.16 times faster in the kernel).
    """
    shifted = z * _INV_LN2 + _SHIFTER
    k = shifted - _SHIFTER
    r = (z - k * _LN2_HI) - k * _LN2_LO

    s = r * r
    even = _E0 + s * (_E1 + s * (_E2 + s * _E3))
    odd = r * (_O0 + s * (_O1 + s * _O2))

    exponent = (np.float64(shifted).view(np.int64) - _SHIFTER_BITS + 1023) << 52
    return np.int64(exponent).view(np.float64), even + odd, even - odd


@nb.njit(inline="always", **JIT)
def _sigmoid(x):
    # 1 / (1 + exp(-x)) = d / (d + scale * n) with exp(-x) = scale * n / d: the
    # rational form of exp pays its one division here, where the sigmoid needs a
    # division anyway. Both sides keep full relative precision (for x < 0 the
    # sum is dominated by scale * n): within 2.5 ulp of the true value, checked
    # in tests/test_kernel.py. Below -708 the true value is subnormal or zero,
    # and 0 is returned; above 708 it rounds to 1. NaN stays NaN.
    scale, numerator, denominator = _exp_parts(-x)
    s = denominator / (scale * numerator + denominator)
    s = 0.0 if x < -708.0 else s
    return 1.0 if x > 708.0 else s


@nb.njit(inline="always", **JIT)
def _tanh(x):
    return math.tanh(x)  # libm, not vectorized: tanh is not on the hot path yet


@nb.njit(inline="always", **JIT)
def _linear(x):
    return x


@nb.njit(inline="always", **JIT)
def _advance(act, x, w, b):
    """One step for a block: four independent quarters per iteration."""
    for i in range(QUARTER):
        j, k, m = i + QUARTER, i + 2 * QUARTER, i + 3 * QUARTER
        x[i] = w[i] * act(x[i]) + b[i]
        x[j] = w[j] * act(x[j]) + b[j]
        x[k] = w[k] * act(x[k]) + b[k]
        x[m] = w[m] * act(x[m]) + b[m]


@nb.njit(inline="always", **JIT)
def _load_block(w, b, start, wb, bb):
    """Copy the points from `start` into the block; return how many are real.

    A short last block is padded with copies of its last point, so that every
    block runs the same vector loop with no scalar remainder.
    """
    filled = min(BLOCK, w.size - start)
    for i in range(BLOCK):
        source = start + min(i, filled - 1)
        wb[i] = w[source]
        bb[i] = b[source]
    return filled


@nb.njit(inline="always", **JIT)
def _carry(act, w, b, x0, steps, out):
    """out[k, i] = x_{steps[k]} at point i, for flat arrays `w`, `b` of points."""
    x = np.empty(BLOCK)
    wb = np.empty(BLOCK)
    bb = np.empty(BLOCK)

    for start in range(0, w.size, BLOCK):
        filled = _load_block(w, b, start, wb, bb)
        x[:] = x0

        wanted = 0
        for t in range(1, steps[-1] + 1):
            _advance(act, x, wb, bb)
            if t == steps[wanted]:
                out[wanted, start : start + filled] = x[:filled]
                wanted += 1


# One compiled function per activation, each with a plain array signature: numba's
# disk cache keys on it, and a job compiles only the activation it uses.
@nb.njit(**JIT)
def _carry_sigmoid(w, b, x0, steps, out):
    _carry(_sigmoid, w, b, x0, steps, out)


@nb.njit(**JIT)
def _carry_tanh(w, b, x0, steps, out):
    _carry(_tanh, w, b, x0, steps, out)


@nb.njit(**JIT)
def _carry_linear(w, b, x0, steps, out):
    _carry(_linear, w, b, x0, steps, out)


# Derivatives by forward mode: along with x_t, carry its derivatives with respect
# to w and b. Differentiating x_t = w a(x_{t-1}) + b, with a, a', a'' taken at
# x_{t-1} and every right-hand derivative at t - 1:
#   x_w  = a + w a' x_w                  x_b  = 1 + w a' x_b
#   x_ww = 2 a' x_w + w (a'' x_w^2 + a' x_ww)
#   x_wb = a' x_b + w (a'' x_w x_b + a' x_wb)
#   x_bb = w (a'' x_b^2 + a' x_bb)
# all zero at t = 0, since x_0 does not depend on (w, b).
JET_FIRST = ("x", "x_w", "x_b")
JET_SECOND = (*JET_FIRST, "x_ww", "x_wb", "x_bb")


@nb.njit(inline="always", **JIT)
def _sigmoid_slopes(x):
    s = _sigmoid(x)
    slope = s * (1.0 - s)
    return s, slope, slope * (1.0 - 2.0 * s)


@nb.njit(inline="always", **JIT)
def _tanh_slopes(x):
    t = math.tanh(x)
    slope = 1.0 - t * t
    return t, slope, -2.0 * t * slope


@nb.njit(inline="always", **JIT)
def _linear_slopes(x):
    return x, 1.0, 0.0


# Careful steps. Where a' or a'' is 0 (exactly: the linear unit's a'' and
# sigmoid's and tanh's at x = 0; or below float64's range: a saturated unit), the
# terms it multiplies are 0, also where a derivative of x has overflowed to inf,
# which gives 0 * inf = NaN otherwise (tanh from x0 = b = 0 at w = 5, T = 100000;
# from x0 = 1e-300 at w = 1e6: tests/test_extreme.py). The derivatives are zeroed
# inside those terms, not the terms, so that each keeps its FMA and every other
# point its bits. `careful` is a constant of each compiled loop: the plain one
# is the loop as it was, and only a block that came out NaN is carried again
# carefully (`_carry_jet`); a test in every step cost 6 % of the second-order
# kernel's speed on the sigmoid.
@nb.njit(inline="always", **JIT)
def _advance_first(slopes, careful, jet, w, b):
    x, x_w, x_b = jet[0], jet[1], jet[2]
    for i in range(BLOCK):
        a, da, _ = slopes(x[i])
        gain = w[i] * da
        flat = careful and da == 0.0
        p1 = 0.0 if flat else x_w[i]
        q1 = 0.0 if flat else x_b[i]
        x_w[i] = a + gain * p1
        x_b[i] = 1.0 + gain * q1
        x[i] = w[i] * a + b[i]


@nb.njit(inline="always", **JIT)
def _advance_second(slopes, careful, jet, w, b):
    x, x_w, x_b, x_ww, x_wb, x_bb = jet[0], jet[1], jet[2], jet[3], jet[4], jet[5]
    for i in range(BLOCK):
        a, da, dda = slopes(x[i])
        p, q = x_w[i], x_b[i]
        gain = w[i] * da
        flat = careful and da == 0.0
        straight = careful and dda == 0.0
        p1, q1 = (0.0, 0.0) if flat else (p, q)
        p2, q2 = (0.0, 0.0) if straight else (p, q)
        ww1, wb1, bb1 = (0.0, 0.0, 0.0) if flat else (x_ww[i], x_wb[i], x_bb[i])
        x_ww[i] = 2.0 * da * p1 + w[i] * dda * p2 * p2 + gain * ww1
        x_wb[i] = da * q1 + w[i] * dda * p2 * q2 + gain * wb1
        x_bb[i] = w[i] * dda * q2 * q2 + gain * bb1
        x_w[i] = a + gain * p1
        x_b[i] = 1.0 + gain * q1
        x[i] = w[i] * a + b[i]


@nb.njit(inline="always", **JIT)
def _carry_block(slopes, careful, jet, wb, bb, x0, steps, out, start, filled):
    """Carry one block's jet through every step into out[:, :, start:]."""
    jet[:] = 0.0
    jet[0, :] = x0

    wanted = 0
    for t in range(1, steps[-1] + 1):
        if out.shape[1] == len(JET_FIRST):
            _advance_first(slopes, careful, jet, wb, bb)
        else:
            _advance_second(slopes, careful, jet, wb, bb)
        if t == steps[wanted]:
            out[wanted, :, start : start + filled] = jet[:, :filled]
            wanted += 1


@nb.njit(inline="always", **JIT)
def _derivative_nan(jet):
    """Whether any derivative in the block is NaN. Each carries gain times
    itself, so a NaN stays to the last step. No early exit: a branch per point
    kept this loop from vectorizing and cost the linear unit 7 %."""
    found = False
    for v in range(1, jet.shape[0]):
        for i in range(BLOCK):
            found |= math.isnan(jet[v, i])
    return found


@nb.njit(inline="always", **JIT)
def _carry_jet(slopes, w, b, x0, steps, out):
    """out[k, v, i]: x_{steps[k]} (v = 0) and its derivatives in JET_FIRST or
    JET_SECOND order, as many as out's second axis holds (3 or 6)."""
    jet = np.zeros((out.shape[1], BLOCK))
    wb = np.empty(BLOCK)
    bb = np.empty(BLOCK)

    for start in range(0, w.size, BLOCK):
        filled = _load_block(w, b, start, wb, bb)
        _carry_block(slopes, False, jet, wb, bb, x0, steps, out, start, filled)
        if _derivative_nan(jet):
            _carry_block(slopes, True, jet, wb, bb, x0, steps, out, start, filled)


@nb.njit(**JIT)
def _jet_sigmoid(w, b, x0, steps, out):
    _carry_jet(_sigmoid_slopes, w, b, x0, steps, out)


@nb.njit(**JIT)
def _jet_tanh(w, b, x0, steps, out):
    _carry_jet(_tanh_slopes, w, b, x0, steps, out)


@nb.njit(**JIT)
def _jet_linear(w, b, x0, steps, out):
    _carry_jet(_linear_slopes, w, b, x0, steps, out)


@nb.njit(**JIT)
def _sigmoid_flat(x, out):
    for i in range(x.size):
        out[i] = _sigmoid(x[i])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid of an array: never overflows, never warns, a few ulp."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    _compiled(_sigmoid_flat)(x.ravel(), out.reshape(-1))
    return out


def identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


CARRIERS = {"sigmoid": _carry_sigmoid, "tanh": _carry_tanh, "linear": _carry_linear}
JET_CARRIERS = {"sigmoid": _jet_sigmoid, "tanh": _jet_tanh, "linear": _jet_linear}
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": np.tanh, "linear": identity}
READOUTS = {"identity": identity, "sigmoid": sigmoid}


def _points(w, b, steps):
    """Flat float64 copies of broadcast `w` and `b`, their shape, checked `steps`."""
    steps = np.asarray(steps, dtype=np.int64)
    if steps.ndim != 1 or steps.size == 0 or steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be increasing positive integers, got {steps}")
    w, b = np.broadcast_arrays(w, b)
    # Fresh, writable, contiguous float64: the one type each carrier is compiled for.
    flat = (np.array(a, dtype=np.float64, order="C").ravel() for a in (w, b))
    return *flat, w.shape, steps


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
    carry = _compiled(CARRIERS[activation])
    w, b, shape, steps = _points(w, b, steps)
    out = np.empty((steps.size, w.size), dtype=np.float64)
    carry(w, b, float(x0), steps, out)
    return out.reshape((steps.size, *shape))


def final_jets(
    w: np.ndarray,
    b: np.ndarray,
    x0: float,
    steps: np.ndarray,
    activation: str = "sigmoid",
    order: int = 1,
) -> np.ndarray:
    """x_T and its exact derivatives in (w, b), for every T in `steps`.

    As `final_states`, with a second axis: `JET_FIRST` (x, x_w, x_b) for
    `order` 1, `JET_SECOND` (adding x_ww, x_wb, x_bb) for `order` 2. Shape
    `(len(steps), 3 or 6) + broadcast shape`.
    """
    names = {1: JET_FIRST, 2: JET_SECOND}[order]
    carry = _compiled(JET_CARRIERS[activation])
    w, b, shape, steps = _points(w, b, steps)
    out = np.empty((steps.size, len(names), w.size), dtype=np.float64)
    carry(w, b, float(x0), steps, out)
    return out.reshape((steps.size, len(names), *shape))


_CARRY_SIGNATURE = "void(float64[::1], float64[::1], float64, int64[::1], float64[:, ::1])"
_JET_SIGNATURE = "void(float64[::1], float64[::1], float64, int64[::1], float64[:, :, ::1])"
_SIGNATURES = {
    _sigmoid_flat: "void(float64[::1], float64[::1])",
    **{carrier: _CARRY_SIGNATURE for carrier in CARRIERS.values()},
    **{carrier: _JET_SIGNATURE for carrier in JET_CARRIERS.values()},
}
_ready = set()


def _compiled(function):
    return compiled(function, _SIGNATURES[function])


def compiled(function, signature: str):
    """`function`, compiled for `signature` or loaded from numba's disk cache,
    under a file lock.

    Several jobs starting at once would otherwise all compile and write the same
    cache entries together, numba's known cache race; with the lock the first
    compiles and the rest load its result. One lock per function: jobs that need
    different functions compile them side by side.
    """
    if function in _ready:
        return function
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / f"rnn_landscape.{function.__name__}.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        function.compile(signature)
    _ready.add(function)
    return function
