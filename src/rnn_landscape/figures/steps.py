"""How the wall forms: loss against b at fixed w, one panel per step count."""

import math

import xarray as xr
from matplotlib.figure import Figure

from ..theory import basin_boundary_b
from .common import ACTIVATION_TEX, loss_tex, model_note


def steps_sweep(dataset: xr.Dataset, *, columns: int = 4) -> Figure:
    w = float(dataset.w[0])
    target = float(dataset.target[0])
    loss = dataset.loss.sel(w=w, target=target).load()
    activation = dataset.attrs["activation"]
    wall = float(basin_boundary_b(w, dataset.attrs["x0"], activation))

    rows = math.ceil(dataset.sizes["steps"] / columns)
    figure = Figure(figsize=(4 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)

    for ax, steps in zip(axes.flat, dataset.steps.values, strict=False):
        ax.plot(loss.b, loss.sel(steps=steps), color="tab:blue", linewidth=1.2)
        ax.axvline(wall, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"$T = {steps}$")
        ax.grid(True, alpha=0.4)
    for ax in axes.flat[dataset.sizes["steps"] :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("$b$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$E_T$")

    figure.suptitle(
        f"{loss_tex(dataset, 'T', target)} at $w = {w:g}$, {model_note(dataset)}; "
        rf"dotted: $b = x_0 - w\,{ACTIVATION_TEX[activation]}(x_0) = {wall:.4f}$"
    )
    return figure
