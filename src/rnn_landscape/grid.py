"""Axes of a sweep: from `start, stop` and a spacing or a point count to coordinates.

How many points an axis has
---------------------------
- `{start, stop, num}`: exactly `num` points, both ends included.
- `{start, stop, spacing}`: `(stop - start) / spacing + 1` points, both ends
  included. The quotient must be a whole number up to float rounding (a relative
  1e-9); otherwise the spacing does not fit the range and it is an error, never a
  silently shortened or lengthened axis.
- a bare number: a single point.

Coordinates are `numpy.linspace(start, stop, n)`: the ends are exact and the count
is decided once, by integer arithmetic. `numpy.arange` with a float step is the
trap this avoids: `arange(4.5, 5.4, 0.005)` drops the end point, and whether a
point near `stop` survives depends on how the step rounds.
"""

import math
from dataclasses import dataclass

import numpy as np

# How far (relative) the quotient range / spacing may sit from a whole number and
# still count as one: float rounding of decimal spacings is ~1e-16 relative, a
# spacing that truly does not fit is off by far more than 1e-9.
FIT_TOLERANCE = 1e-9


class AxisError(ValueError):
    """An axis specification that names no well-defined set of points."""


@dataclass(frozen=True)
class Axis:
    """`num` points from `start` to `stop`, both included; one point if `num` is 1."""

    start: float
    stop: float
    num: int

    def __post_init__(self):
        # Checked here too, not only in make_axis: jobs also arrive as JSON.
        if self.num < 1 or (self.num == 1 and self.start != self.stop):
            raise AxisError(
                f"num must be at least 2 for a range, got {self.num} for "
                f"{self.start}..{self.stop}"
            )
        if self.num == 1:
            _check_finite(self.start, self.stop)
        else:
            _check_range(self.start, self.stop)
            # linspace computes stop - start: beyond float64 it gives NaN points.
            if not math.isfinite(float(self.stop) - float(self.start)):
                raise AxisError(
                    f"the range {self.start}..{self.stop} is wider than float64 holds;"
                    " keep |start| and |stop| below 8e307"
                )

    @property
    def values(self) -> np.ndarray:
        if self.num == 1:
            return np.array([self.start], dtype=np.float64)
        return np.linspace(self.start, self.stop, self.num, dtype=np.float64)


def _check_finite(*values: float) -> None:
    if not np.isfinite(values).all():
        raise AxisError(f"start and stop must be finite, got {values}")


def _check_range(start: float, stop: float) -> None:
    _check_finite(start, stop)
    if start == stop:
        raise AxisError(
            f"start must be below stop, got {start}..{stop}; give a single value"
            f" as a bare number ({start}) instead of a range"
        )
    if not start < stop:
        raise AxisError(f"start must be below stop, got {start}..{stop}")


def point_count(start: float, stop: float, spacing: float) -> int:
    """Number of points from start to stop, both included, `spacing` apart."""
    _check_range(start, stop)
    if not spacing > 0:
        raise AxisError(f"spacing must be positive, got {spacing}")
    quotient = (stop - start) / spacing
    intervals = round(quotient)
    if intervals < 1 or abs(quotient - intervals) > FIT_TOLERANCE * max(1, intervals):
        raise AxisError(
            f"spacing {spacing} does not fit the range {start}..{stop}: "
            f"(stop - start) / spacing = {quotient!r} must be a whole number >= 1; "
            "choose a spacing that divides the range, or give `num` instead"
        )
    return intervals + 1


def make_axis(spec) -> Axis:
    """Axis from a config value: a number, or a mapping with start, stop and
    exactly one of spacing or num."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Axis(float(spec), float(spec), 1)
    if ("spacing" in spec) == ("num" in spec):
        raise AxisError("give exactly one of `spacing` or `num`")

    start, stop = float(spec["start"]), float(spec["stop"])
    if "num" in spec:
        _check_range(start, stop)
        return Axis(start, stop, int(spec["num"]))
    return Axis(start, stop, point_count(start, stop, float(spec["spacing"])))


def tile_slices(num_b: int, num_w: int, tile) -> list[tuple[slice, slice]]:
    """Index ranges of the tiles covering a num_b x num_w grid, row by row; tiles
    at the far edges are smaller."""
    return [
        (slice(b, min(b + tile.b, num_b)), slice(w, min(w + tile.w, num_w)))
        for b in range(0, num_b, tile.b)
        for w in range(0, num_w, tile.w)
    ]
