"""The paper's Figure 6 region as a 3-D wireframe: the valley and its wall."""

import xarray as xr
from matplotlib.figure import Figure

from .common import draw_wireframe, label_3d, loss_grid, loss_tex, model_note


def figure6_zoom(
    dataset: xr.Dataset, *, elevation: float = 32, azimuth: float = 10, stride: int = 10
) -> Figure:
    loss, steps, target = loss_grid(dataset)

    figure = Figure(figsize=(8, 6))
    ax = figure.add_subplot(projection="3d")
    draw_wireframe(ax, loss, stride, color="tab:blue", linewidth=0.8)
    label_3d(ax, steps)
    ax.set_xlim(float(loss.w[0]), float(loss.w[-1]))
    ax.set_ylim(float(loss.b[0]), float(loss.b[-1]))
    ax.view_init(elev=elevation, azim=azimuth)
    ax.set_title(f"{loss_tex(dataset, steps, target)}, {model_note(dataset)}")
    return figure
