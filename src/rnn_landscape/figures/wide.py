"""Nested wider regions around the zoom: the wall of Figure 6 is one of several."""

import xarray as xr
from matplotlib.figure import Figure

from .common import draw_wireframe, label_3d, loss_grid, loss_tex, model_note


def _alpha(index: int) -> float:
    # Inner surfaces opaque, outer ones fading, so the inner ones stay visible
    # through the outer wireframes.
    return 1.0 if index < 2 else 0.5 ** (index - 1)


def wide_panels(
    datasets: list[xr.Dataset], *, colors: list[str], stride: int = 10
) -> Figure:
    """Panel k draws surfaces 0..k+1 together, outermost first, each in its colour.

    `datasets` go from the innermost region outwards.
    """
    grids = [loss_grid(dataset)[0] for dataset in datasets]
    colors = [colors[index % len(colors)] for index in range(len(datasets))]
    names = [
        f"{dataset.attrs['surface']} ({color})"
        for dataset, color in zip(datasets, colors, strict=True)
    ]
    panels = len(datasets) - 1

    figure = Figure(figsize=(6 * panels, 5.5), layout="constrained")
    for panel in range(panels):
        ax = figure.add_subplot(1, panels, panel + 1, projection="3d")
        for index in range(panel + 1, -1, -1):
            draw_wireframe(
                ax,
                grids[index],
                stride,
                color=colors[index],
                alpha=_alpha(index),
                linewidth=0.6,
            )
        outer = grids[panel + 1]
        ax.set_xlim(float(outer.w[0]), float(outer.w[-1]))
        ax.set_ylim(float(outer.b[0]), float(outer.b[-1]))
        label_3d(ax, int(outer.steps))
        ax.set_title(", ".join(names[: panel + 2]), fontsize=10)

    # One formula for the figure if every surface shows the same T, else E_T.
    steps = {int(grid.steps) for grid in grids}
    shown = steps.pop() if len(steps) == 1 else "T"
    target = float(grids[0].target)
    figure.suptitle(f"{loss_tex(datasets[0], shown, target)}, {model_note(datasets[0])}")
    return figure
