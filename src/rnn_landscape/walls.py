"""Walls found in a stored loss slice, and how they compare with theory.

A wall is where the loss jumps between neighbouring grid points. What counts as
a jump must not depend on the loss's units or on how steep the smooth parts are,
so each difference between neighbours is judged against the differences around
it along the same grid line:

    |d_i| > ratio * median(|d_j| : 0 < |j - i| <= window)   (far above the slope)
    |d_i| >= |d_j| for those j                               (one point per wall)
    |d_i| > floor * (max - min of the slice)                 (not rounding noise)

The median of the neighbours is what a smooth surface predicts for d_i: on a
smooth surface neighbouring differences change little from one to the next (on
an exponential flank their median is even larger than the middle one), while a
jump spread over a few grid steps still leaves most neighbours small. The floor
keeps differences of 1e-17 on flat plateaus from counting as infinitely steep.

Each wall point is the midpoint of its pair of neighbours, so a wall the grid
resolves lies within half a grid step of the point along the searched axis.
"""

import numpy as np
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from .theory import Curve, predicted_curves

RATIO = 10.0
WINDOW = 3
FLOOR = 1e-3

CRITERION = (
    "|d_i| > {ratio:g} * median of the {window} differences on each side along the"
    " same axis, |d_i| a maximum among them, and |d_i| > {floor:g} * (max - min)"
    " of the slice; d_i = loss difference between neighbouring grid points"
)


def find_walls(
    loss: xr.DataArray, *, ratio: float = RATIO, window: int = WINDOW, floor: float = FLOOR
) -> xr.Dataset:
    """Points (w, b) where the loss of one (b, w) slice jumps between neighbours.

    Returns a Dataset along `point` with `w`, `b` (midpoint of the jumping pair),
    `jump` (the loss after minus before, along the axis) and `axis` ("b" or "w",
    the direction of the pair), and attributes naming the criterion, its
    parameters, the grid spacings and any scalar coordinate of the slice (steps,
    target). Points along b come first (by w, then b), then those along w
    (by b, then w).
    """
    loss = loss.transpose("b", "w")
    values = loss.values.astype(np.float64)
    spread = (
        float(np.nanmax(values) - np.nanmin(values)) if np.isfinite(values).any() else 0
    )
    w, b = loss.w.values, loss.b.values

    threshold = floor * spread
    parts = [_jumps_along(values, axis, w, b, ratio, window, threshold) for axis in (0, 1)]
    found = {
        name: np.concatenate([part[index] for part in parts])
        for index, name in enumerate(("w", "b", "jump"))
    }
    found["axis"] = np.repeat(np.array(["b", "w"]), [part[0].size for part in parts])
    return _as_dataset(found, loss, ratio, window, floor)


def _jumps_along(values, axis, w, b, ratio, window, threshold):
    """(w, b, jump) of the jumping pairs along axis 0 (b) or 1 (w) of a (b, w) grid."""
    # Each row of `differences` is one grid line along `axis`; columns are its pairs.
    differences = np.moveaxis(np.diff(values, axis=axis), axis, -1)
    lines, pairs = np.nonzero(_is_jump(differences, ratio, window, threshold))
    jump = differences[lines, pairs]
    if axis == 0:
        return w[lines], 0.5 * (b[pairs] + b[pairs + 1]), jump
    return 0.5 * (w[pairs] + w[pairs + 1]), b[lines], jump


def _is_jump(differences, ratio, window, threshold) -> np.ndarray:
    """The criterion along the last axis of `differences`; NaN is never a jump."""
    size = np.abs(differences)
    if size.shape[-1] < 2:  # no neighbour to compare with
        return np.zeros(size.shape, dtype=bool)
    padding = [(0, 0)] * (size.ndim - 1) + [(window, window)]
    padded = np.pad(size, padding, constant_values=np.nan)
    around = sliding_window_view(padded, 2 * window + 1, axis=-1)
    neighbours = np.delete(around, window, axis=-1)  # every one but d_i itself

    with np.errstate(invalid="ignore"):
        tallest = np.fmax.reduce(neighbours, axis=-1)  # NaN only if all are
        return (
            (size > ratio * _quiet_nanmedian(neighbours))
            & ~(size < tallest)
            & (size > threshold)
        )


def _quiet_nanmedian(values) -> np.ndarray:
    """Median over the last axis ignoring NaN; NaN, without a warning, where all
    are NaN (np.nanmedian warns there, and warnings are errors in our tests)."""
    ordered = np.sort(values, axis=-1)  # NaN sort last
    count = np.count_nonzero(~np.isnan(values), axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], -1)
    high = np.take_along_axis(ordered, (count // 2)[..., None], -1)
    median = 0.5 * (low[..., 0] + high[..., 0])
    return np.where(count > 0, median, np.nan)


def _as_dataset(found, loss, ratio, window, floor) -> xr.Dataset:
    scalars = {name: coord.item() for name, coord in loss.coords.items() if coord.ndim == 0}
    attrs = {
        "criterion": CRITERION.format(ratio=ratio, window=window, floor=floor),
        "ratio": ratio,
        "window": window,
        "floor": floor,
        "w_spacing": _spacing(loss.w.values),
        "b_spacing": _spacing(loss.b.values),
        **{name: _plain(value) for name, value in scalars.items()},
    }
    long_names = {
        "w": "recurrent weight w at the wall",
        "b": "bias b at the wall",
        "jump": "loss difference across the pair, in the order of the axis",
        "axis": "grid axis along which the pair lies",
    }
    return xr.Dataset(
        {name: ("point", found[name], {"long_name": long_names[name]}) for name in found},
        attrs=attrs,
    )


def _spacing(values: np.ndarray) -> float:
    # Grids are linspace, so the spacing is uniform up to rounding.
    return float((values[-1] - values[0]) / (values.size - 1)) if values.size > 1 else 0.0


def _plain(value):
    # JSON-native attributes survive Zarr and netCDF round trips.
    return value.item() if isinstance(value, np.generic) else value


def distance_to_curves(
    w, b, curves: list[Curve], *, w_spacing: float, b_spacing: float
) -> np.ndarray:
    """Distance in grid steps from each point (w, b) to the nearest of the sampled
    curves, measured in the plane scaled so that one grid step is 1 on both axes.
    Inf where there are no curves."""
    points = np.stack([np.asarray(w) / w_spacing, np.asarray(b) / b_spacing], axis=-1)
    nearest = np.full(points.shape[0], np.inf)
    for curve in curves:
        polyline = np.stack([curve.w / w_spacing, curve.b / b_spacing], axis=-1)
        # In batches of points: all points x all segments would take gigabytes.
        for start in range(0, len(points), 256):
            part = slice(start, start + 256)
            distance = _distance_to_polyline(points[part], polyline)
            nearest[part] = np.minimum(nearest[part], distance)
    return nearest


def _distance_to_polyline(points, polyline) -> np.ndarray:
    if len(polyline) == 1:
        return np.hypot(*(points - polyline[0]).T)
    start, stop = polyline[:-1], polyline[1:]
    along = stop - start
    length2 = np.maximum(np.sum(along**2, axis=-1), np.finfo(np.float64).tiny)
    relative = points[:, None, :] - start[None]
    # Position of the foot of the perpendicular on each segment, clamped to it.
    t = np.clip(np.sum(relative * along[None], axis=-1) / length2, 0.0, 1.0)
    offset = relative - t[..., None] * along[None]
    return np.sqrt(np.min(np.sum(offset**2, axis=-1), axis=-1))


def compare_walls(found: xr.Dataset, curves: list[Curve], *, tolerance: float = 1.0):
    """How found walls and predicted curves agree, in grid steps of the slice.

    Returns a Dataset with
    - `distance (point)`: from each found point to the nearest predicted curve;
    - along `sample`, every sample of the predicted curves: `w`, `b`, `x` and
      `multiplier` (of the curve, see `theory.Curve`), `curve` (its index in
      `curves`) and `matched`: whether a found point lies within `tolerance`
      grid steps.
    Curves are expected clipped to the slice (`theory.wall_curves` does that).
    """
    spacing = {"w_spacing": found.attrs["w_spacing"], "b_spacing": found.attrs["b_spacing"]}
    distance = distance_to_curves(found.w.values, found.b.values, curves, **spacing)

    samples = _samples(curves)
    nearest = _nearest_point(samples["w"], samples["b"], found, **spacing)
    return xr.Dataset(
        {
            "distance": ("point", distance, {"long_name": "grid steps to nearest curve"}),
            **{name: ("sample", values) for name, values in samples.items()},
            "matched": ("sample", nearest <= tolerance),
        },
        attrs={"tolerance": tolerance, **spacing},
    )


def _samples(curves: list[Curve]) -> dict[str, np.ndarray]:
    parts = {
        "w": [curve.w for curve in curves],
        "b": [curve.b for curve in curves],
        "x": [curve.x for curve in curves],
        "multiplier": [curve.multiplier for curve in curves],
        "curve": [np.full(curve.w.shape, index) for index, curve in enumerate(curves)],
    }
    return {name: np.concatenate(arrays or [np.empty(0)]) for name, arrays in parts.items()}


def _nearest_point(w, b, found, *, w_spacing, b_spacing, batch=1024) -> np.ndarray:
    """Distance in grid steps from each (w, b) to the nearest found point."""
    found_w, found_b = found.w.values / w_spacing, found.b.values / b_spacing
    nearest = np.full(np.shape(w), np.inf)
    if found_w.size == 0:
        return nearest
    # In batches: samples x found points at once would take gigabytes on a big grid.
    for start in range(0, nearest.size, batch):
        part = slice(start, start + batch)
        dw = w[part, None] / w_spacing - found_w[None]
        db = b[part, None] / b_spacing - found_b[None]
        nearest[part] = np.sqrt(np.min(dw**2 + db**2, axis=-1))
    return nearest


def surface_walls(dataset: xr.Dataset) -> xr.Dataset:
    """`find_walls` on a store's loss at its largest step count and first target,
    with `distance`: grid steps from each point to the nearest predicted curve."""
    loss = dataset.loss.sel(steps=int(dataset.steps[-1]), target=float(dataset.target[0]))
    found = find_walls(loss)
    limits = [(float(dataset[axis].min()), float(dataset[axis].max())) for axis in "wb"]
    curves = predicted_curves(dataset.attrs["x0"], *limits, dataset.attrs["activation"])
    found["distance"] = compare_walls(found, curves).distance
    return found
