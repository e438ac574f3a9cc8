"""Labels and drawing helpers shared by the figure modules."""

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

READOUT_TEX = {"identity": "x_{{{T}}}", "sigmoid": r"\sigma(x_{{{T}}})"}
ACTIVATION_TEX = {"sigmoid": r"\sigma", "tanh": r"\tanh", "linear": ""}


def loss_tex(dataset: xr.Dataset, steps: int | str, target: float) -> str:
    """Mathtext of the loss, e.g. E_50 = (sigma(x_50) - 0.7)^2."""
    readout = READOUT_TEX[dataset.attrs["readout"]].format(T=steps)
    return rf"$E_{{{steps}}} = ({readout} - {target:g})^2$"


def model_note(dataset: xr.Dataset) -> str:
    return f"$x_0 = {dataset.attrs['x0']:g}$, preset '{dataset.attrs['preset']}'"


def loss_grid(dataset: xr.Dataset) -> tuple[xr.DataArray, int, float]:
    """The (b, w) loss slice a 3-D figure draws: the largest step count and the
    first target, with both values for the labels."""
    steps = int(dataset.steps[-1])
    target = float(dataset.target[0])
    return dataset.loss.sel(steps=steps, target=target).load(), steps, target


def draw_wireframe(ax, loss: xr.DataArray, stride: int, **style) -> None:
    # Strides are always passed: without them matplotlib picks its own sampling
    # (50 lines by default, every line under the `classic` style) and a thin wall
    # can fall between lines.
    w, b = np.meshgrid(loss.w.values, loss.b.values)
    ax.plot_wireframe(w, b, loss.values, rstride=stride, cstride=stride, **style)


def label_3d(ax, steps: int) -> None:
    # Five ticks per floor axis: matplotlib's default crowds the labels of the
    # short b axis at the Figure 6 view angle.
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("$w$", labelpad=8)
    ax.set_ylabel("$b$", labelpad=8)
    ax.set_zlabel(f"$E_{{{steps}}}$")


def save(figure: Figure, paths: list[Path]) -> None:
    # A constrained layout already keeps every label inside the figure; a tight
    # bounding box, which costs one more drawing per file, is only for figures
    # without one (the 3-D views).
    tight = "tight" if figure.get_layout_engine() is None else None
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150, bbox_inches=tight)
        # The layout is found on the first save; each later format reuses it
        # rather than measuring every label again (a quarter of a figure's time).
        figure.set_layout_engine("none")
