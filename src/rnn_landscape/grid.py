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
    start: float
    stop: float
    num: int

    @property
    def values(self) -> np.ndarray:
        if self.num == 1:
            return np.array([self.start], dtype=np.float64)
        return np.linspace(self.start, self.stop, self.num, dtype=np.float64)

    @property
    def spacing(self) -> float:
        return 0.0 if self.num == 1 else (self.stop - self.start) / (self.num - 1)


def point_count(start: float, stop: float, spacing: float) -> int:
    """Number of points from start to stop, both included, `spacing` apart."""
    if spacing <= 0:
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

    start, stop = float(spec["start"]), float(spec["stop"])
    if not np.isfinite([start, stop]).all():
        raise AxisError(f"start and stop must be finite, got {start}..{stop}")
    if not start < stop:
        raise AxisError(f"start must be below stop, got {start}..{stop}")
    if ("spacing" in spec) == ("num" in spec):
        raise AxisError("give exactly one of `spacing` or `num`")

    if "num" in spec:
        num = int(spec["num"])
        if num < 2:
            raise AxisError(f"num must be at least 2 for a range, got {num}")
        return Axis(start, stop, num)
    return Axis(start, stop, point_count(start, stop, float(spec["spacing"])))
