"""The loss from above, with the walls theory predicts and those found on the grid.

`draw_theory` is shared with the other top-down maps: it draws the predicted wall
curves, the folds and the flips of the dataset's model, clipped to its (w, b)
region, each kind in its own style and named in a legend.
"""

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ..theory import predicted_curves
from ..walls import find_walls
from .common import ACTIVATION_TEX, loss_grid, loss_tex, model_note

# Walls bright and solid, the bifurcation curves thin and black: a wall is where
# the loss jumps, a fold or flip only where the attractors change.
STYLES = {
    "wall": dict(color="tab:red", linestyle="-", linewidth=1.6),
    "fold": dict(color="black", linestyle="--", linewidth=1.0),
    "flip": dict(color="black", linestyle=":", linewidth=1.2),
}
# On the walls map the predicted wall is a broad pale band and the walls found are
# small dark points on top: each point is seen to lie inside the band, and the band
# to run on where the grid finds nothing. (Points over a thin line hid it.)
WALL_BAND = {**STYLES["wall"], "linewidth": 7.0, "alpha": 0.45, "solid_capstyle": "butt"}
BAND_STYLES = {**STYLES, "wall": WALL_BAND}
FOUND_STYLE = dict(
    marker="o",
    markersize=1.3,
    linestyle="none",
    color="black",
    markeredgewidth=0,
    zorder=3,
)


def theory_labels(dataset: xr.Dataset) -> dict[str, str]:
    act = ACTIVATION_TEX[dataset.attrs["activation"]]
    return {
        "wall": (
            rf"predicted wall: $b = x_0 - w\,{act}(x_0)$ where $|w\,{act}'(x_0)| > 1$,"
            " and the fold up to it"
        ),
        "fold": rf"fold (saddle-node): $w\,{act}'(x^*) = 1$",
        "flip": rf"flip (period doubling): $w\,{act}'(x^*) = -1$",
    }


def draw_theory(
    ax, dataset: xr.Dataset, *, legend: bool = True, styles: dict = STYLES
) -> list:
    """Predicted walls, folds and flips over the dataset's (w, b) region, each
    kind drawn in its style of `styles`.

    Returns the drawn lines; each kind is labelled once, so a legend lists three
    entries at most. Axis limits are kept to the region.
    """
    w_limits = (float(dataset.w.min()), float(dataset.w.max()))
    b_limits = (float(dataset.b.min()), float(dataset.b.max()))
    x0, activation = dataset.attrs["x0"], dataset.attrs["activation"]
    curves = predicted_curves(x0, w_limits, b_limits, activation)
    labels = theory_labels(dataset)

    lines = []
    for curve in curves:
        # Only the first curve of a kind is labelled: one legend entry per kind.
        label = labels.pop(curve.kind, None)
        lines += ax.plot(
            curve.w, curve.b, label=label or "_nolegend_", **styles[curve.kind]
        )
    ax.set_xlim(*w_limits)
    ax.set_ylim(*b_limits)
    if legend and lines:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    return lines


def walls(dataset: xr.Dataset, *, show_found: bool = True, cmap: str = "viridis") -> Figure:
    """Top-down loss of the largest step count and first target, log colour scale,
    with the theory's curves over it and (`show_found`) the finder's wall points."""
    loss, steps, target = loss_grid(dataset)

    figure = Figure(figsize=(7.5, 7.0), layout="constrained")
    ax = figure.subplots()
    mesh = ax.pcolormesh(
        loss.w,
        loss.b,
        loss.values,
        norm=LogNorm(*_log_limits(loss.values)),
        cmap=cmap,
        shading="nearest",
        rasterized=True,  # a vector PDF of 641 601 cells would weigh tens of MB
    )
    figure.colorbar(mesh, ax=ax, label=f"{loss_tex(dataset, steps, target)} (log scale)")
    draw_theory(ax, dataset, legend=False, styles=BAND_STYLES)
    if show_found:
        found = find_walls(loss)
        ax.plot(
            found.w,
            found.b,
            label="wall found on the grid (walls.find_walls)",
            **FOUND_STYLE,
        )
    # Below the axes: over them it would hide part of a 40 x 40 region's curves.
    figure.legend(loc="outside lower center", ncols=2, fontsize=8, markerscale=3)

    ax.set_xlabel("$w$")
    ax.set_ylabel("$b$")
    ax.set_title(f"Walls of {loss_tex(dataset, steps, target)}\n{model_note(dataset)}")
    return figure


def _log_limits(values: np.ndarray) -> tuple[float, float]:
    """Colour limits: the finite positive losses, at most 8 decades below the top
    (an exact zero at the target would otherwise stretch the scale without end)."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return 1e-8, 1.0
    top = float(positive.max())
    return max(float(positive.min()), top * 1e-8), top
