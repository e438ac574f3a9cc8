"""The recurrence x_t = w * act(x_{t-1}) + b and its loss, on arrays of (b, w) points.

Numbers in, numbers out: nothing here knows about xarray, Dask or files.
Activations and readouts are looked up by name. A new activation is a scalar
function here, a code in `ACTIVATION_CODES` and its branch in `_carry_blocks`, an
entry in `ACTIVATIONS` (the array form, for theory), its twin in `reference.py`
and its name in the schema's enum; rules and stores do not change.

Speed. The recurrence is serial in t but independent across points, so the kernel
carries a block of points through all steps at once and lets LLVM vectorize the
loop over the block. Two obstacles, each measured on the project's AVX2 machine
(benchmarks/kernel.py):
- numba calls libm's scalar `exp`, which does not vectorize; `_exp_nonpositive`
  is a polynomial with range reduction that does (Taylor to degree 12: <= 2 ulp
  on [-708, 0], checked against numpy in tests/test_kernel.py);
- one vector chain per loop iteration leaves the CPU waiting on latency: four
  independent quarters of the block per iteration ran about 1.3 times faster
  (with FMA contraction; 385 against 507 million point-steps/s on one core).
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

import numba as nb
import numpy as np

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
_C = [1.0 / math.factorial(n) for n in range(13)]
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12 = _C


@nb.njit(inline="always", **JIT)
def _exp_nonpositive(z):
    """exp(z) for z <= 0; 0 below -708, where exp(z) < 3.3e-308 (NaN stays NaN)."""
    clamped = -708.0 if z < -708.0 else z
    shifted = clamped * _INV_LN2 + _SHIFTER
    k = shifted - _SHIFTER
    r = (clamped - k * _LN2_HI) - k * _LN2_LO

    # Estrin's scheme: a shallower dependency chain than Horner's.
    r2 = r * r
    r4 = r2 * r2
    low = (_C0 + _C1 * r) + (_C2 + _C3 * r) * r2
    mid = (_C4 + _C5 * r) + (_C6 + _C7 * r) * r2
    high = (_C8 + _C9 * r) + (_C10 + _C11 * r) * r2
    poly = (low + mid * r4) + (high + _C12 * r4) * (r4 * r4)

    exponent = (np.float64(shifted).view(np.int64) - _SHIFTER_BITS + 1023) << 52
    scaled = poly * np.int64(exponent).view(np.float64)
    return 0.0 if z < -708.0 else scaled


@nb.njit(inline="always", **JIT)
def _sigmoid(x):
    # exp of -|x| never overflows, and both tails keep full relative precision.
    e = _exp_nonpositive(-abs(x))
    r = 1.0 / (1.0 + e)
    return r if x >= 0 else e * r


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


@nb.njit(**JIT)
def _carry_blocks(activation, w, b, x0, steps, out):
    """out[k, i] = x_{steps[k]} at point i, for flat arrays `w`, `b` of points.

    `activation` indexes ACTIVATION_CODES; the branch sits outside the vector loop,
    and the signature holds no function, so numba's disk cache can key on it.
    """
    x = np.empty(BLOCK)
    wb = np.empty(BLOCK)
    bb = np.empty(BLOCK)

    for start in range(0, w.size, BLOCK):
        # A short last block is padded with copies of its last point, so that
        # every block runs the same vector loop with no scalar remainder.
        filled = min(BLOCK, w.size - start)
        for i in range(BLOCK):
            source = start + min(i, filled - 1)
            wb[i] = w[source]
            bb[i] = b[source]
            x[i] = x0

        wanted = 0
        for t in range(1, steps[-1] + 1):
            if activation == 0:
                _advance(_sigmoid, x, wb, bb)
            elif activation == 1:
                _advance(_tanh, x, wb, bb)
            elif activation == 2:
                _advance(_linear, x, wb, bb)
            else:
                raise ValueError("unknown activation code")
            if t == steps[wanted]:
                out[wanted, start : start + filled] = x[:filled]
                wanted += 1


@nb.njit(**JIT)
def _sigmoid_flat(x, out):
    for i in range(x.size):
        out[i] = _sigmoid(x[i])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid of an array: never overflows, never warns, a few ulp."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    _compile_once()
    _sigmoid_flat(x.ravel(), out.reshape(-1))
    return out


def identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "linear": 2}
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
    code = ACTIVATION_CODES[activation]
    steps = np.asarray(steps, dtype=np.int64)
    if steps.ndim != 1 or steps.size == 0 or steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be increasing positive integers, got {steps}")

    w, b = np.broadcast_arrays(np.asarray(w, np.float64), np.asarray(b, np.float64))
    out = np.empty((steps.size, w.size), dtype=np.float64)
    _compile_once()
    _carry_blocks(code, w.ravel(), b.ravel(), float(x0), steps, out)
    return out.reshape((steps.size, *w.shape))


def squared_error(states: np.ndarray, targets: np.ndarray, readout: str) -> np.ndarray:
    """Loss (readout(x_T) - target)^2 for every target, from stored final states.

    `states` has shape `(steps, ...)`; the result has shape `(steps, targets, ...)`,
    so all targets cost one readout and one subtraction each, no recurrence.
    """
    read = READOUTS[readout](states)
    targets = np.asarray(targets, dtype=np.float64)
    shape = (1, targets.size) + (1,) * (states.ndim - 1)
    return (read[:, None] - targets.reshape(shape)) ** 2


_compiled = False


def _compile_once() -> None:
    """Compile (or load from numba's on-disk cache) under an exclusive file lock.

    Several jobs starting at once would otherwise all compile and write the same
    cache entries together, numba's known cache race; with the lock the first
    compiles and the rest load its result.
    """
    global _compiled
    if _compiled:
        return
    lock = Path(os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir())
    lock.mkdir(parents=True, exist_ok=True)
    with open(lock / "rnn_landscape.numba.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        one = np.zeros(1)
        _carry_blocks(0, one, one, 0.0, np.ones(1, np.int64), np.empty((1, 1)))
        _sigmoid_flat(one, np.empty(1))
    _compiled = True
