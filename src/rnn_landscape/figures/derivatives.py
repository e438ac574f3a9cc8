"""Maps of what the derivatives say: gradient norm, curvature and alignment.

Each is a top-down view of one (b, w) slice (the largest step count, the first
target) with the curves theory predicts drawn over it, so that one can see the
gradient explode, the curvature peak and the gradient turn along the leading
curvature direction exactly where the walls are (the paper's section 3.2).
"""

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize, SymLogNorm
from matplotlib.figure import Figure

from .common import model_note
from .walls import STYLES, draw_theory

# Thinner than on the walls map, the wall dashed: a ridge of exploding gradient
# lies on the predicted wall, one grid step wide, and a solid line would hide it.
THIN_STYLES = {
    "wall": {**STYLES["wall"], "linestyle": (0, (4, 3)), "linewidth": 0.9},
    "fold": {**STYLES["fold"], "linewidth": 0.7},
    "flip": {**STYLES["flip"], "linewidth": 0.9},
}


def _slice(dataset: xr.Dataset, name: str) -> tuple[xr.DataArray, int]:
    steps = int(dataset.steps[-1])
    target = float(dataset.target[0])
    return dataset[name].sel(steps=steps, target=target).load(), steps


def _map(dataset: xr.Dataset, name: str, norm, cmap: str, label: str, title: str):
    values, steps = _slice(dataset, name)
    figure = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = figure.subplots()
    # Rasterized: as vectors, a PDF of 10^5 cells takes seconds to write and view.
    mesh = ax.pcolormesh(
        values.w,
        values.b,
        values.values,
        norm=norm,
        cmap=cmap,
        shading="nearest",
        rasterized=True,
    )
    figure.colorbar(mesh, ax=ax, label=label.format(T=steps))
    draw_theory(ax, dataset, styles=THIN_STYLES)
    ax.set_xlabel("$w$")
    ax.set_ylabel("$b$")
    ax.set_title(f"{title.format(T=steps)}\n{model_note(dataset)}", fontsize=10)
    return figure


def _positive_range(values: np.ndarray) -> tuple[float, float]:
    """Limits of a log colour scale: from the first percentile of the finite
    positive values to the largest.

    The largest is kept: it is the point nearest the wall, where the gradient
    explodes, and the map is there to show it. The bottom ignores the few points
    (a zero gradient at the loss's minimum, say) that would stretch the scale over
    decades where nothing else lies; they are drawn in the lowest colour.
    """
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return 1e-12, 1.0
    bottom, top = np.percentile(positive, [1, 100])
    return float(min(bottom, top / 10)), float(top)


def gradient_norm(dataset: xr.Dataset) -> Figure:
    values, _ = _slice(dataset, "grad_norm")
    return _map(
        dataset,
        "grad_norm",
        LogNorm(*_positive_range(values.values)),
        "magma",
        r"$\|\nabla E_{{{T}}}\|$ (log scale)",
        r"Gradient norm $\|\nabla E_{{{T}}}\|$ over $(w, b)$",
    )


def curvature(dataset: xr.Dataset) -> Figure:
    values, _ = _slice(dataset, "curvature")
    # Signed: a symmetric log scale, linear up to the smallest size worth showing.
    threshold, top = _positive_range(np.abs(values.values))
    return _map(
        dataset,
        "curvature",
        SymLogNorm(linthresh=threshold, vmin=-top, vmax=top),
        "RdBu_r",
        r"$\lambda_{{\max}}(\nabla^2 E_{{{T}}})$ (symmetric log scale)",
        r"Curvature: largest eigenvalue of the Hessian of $E_{{{T}}}$",
    )


def alignment(dataset: xr.Dataset) -> Figure:
    return _map(
        dataset,
        "alignment",
        Normalize(0.0, 1.0),
        "viridis",
        r"$|\cos\angle(\nabla E_{{{T}}}, v_1)|$",
        r"Alignment of the gradient with the leading Hessian eigenvector $v_1$",
    )
