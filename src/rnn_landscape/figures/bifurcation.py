"""The paper's Figure 3: fixed points against b at one w, with the stored x_T.

The branches come from theory (stable solid, unstable dashed), the points from
the stored steps sweep: where x_T switches branch is where x0 meets the unstable
fixed point, inside the shaded bistable range.
"""

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..theory import basin_boundary_b, bistable_range, fixed_point_branches, slope
from .common import ACTIVATION_TEX, model_note

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def bifurcation(dataset: xr.Dataset, *, steps: list[int] | None = None) -> Figure:
    """`dataset`: a surface with a single w. `steps`: the step counts whose x_T is
    drawn, one marker and colour each; by default the largest stored one."""
    if dataset.sizes["w"] != 1:
        raise ValueError(
            f"bifurcation draws a surface with a single w, got {dataset.sizes['w']} values;"
            " use the steps sweep surface"
        )
    w = float(dataset.w[0])
    x0, activation = dataset.attrs["x0"], dataset.attrs["activation"]
    b_limits = (float(dataset.b.min()), float(dataset.b.max()))
    steps = [int(dataset.steps[-1])] if steps is None else [int(t) for t in steps]
    act = ACTIVATION_TEX[activation]

    figure = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = figure.subplots()
    _shade_bistable(ax, w, b_limits, activation)
    _draw_branches(ax, w, b_limits, activation)
    _draw_states(ax, dataset, steps)
    _mark_x0(ax, w, x0, b_limits, activation)

    ax.set_xlim(*b_limits)
    ax.set_xlabel("$b$")
    ax.set_ylabel("$x$")
    ax.set_title(
        rf"Fixed points of $x = {w:g}\,{act}(x) + b$ and final states $x_T$"
        f"\n{model_note(dataset)}"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return figure


def _shade_bistable(ax, w, b_limits, activation) -> None:
    low, high = (float(end) for end in bistable_range(w, activation))
    if np.isnan(low) or high < b_limits[0] or low > b_limits[1]:
        return
    ax.axvspan(
        low,
        high,
        color="0.88",
        zorder=0,
        label=rf"bistable: ${low:.4f} < b < {high:.4f}$",
    )


def _draw_branches(ax, w, b_limits, activation) -> None:
    labels = {True: "stable fixed point", False: "unstable fixed point (basin boundary)"}
    for branch in fixed_point_branches(w, b_limits, activation):
        ax.plot(
            branch.b,
            branch.x,
            color="black",
            linestyle="-" if branch.stable else "--",
            linewidth=1.6 if branch.stable else 1.2,
            label=labels.pop(branch.stable, "_nolegend_"),
        )


def _draw_states(ax, dataset, steps) -> None:
    colors = _colors(len(steps))
    for index, t in enumerate(steps):
        state = dataset.state.sel(steps=t).isel(w=0).load()
        ax.plot(
            state.b,
            state,
            linestyle="none",
            marker=MARKERS[index % len(MARKERS)],
            markersize=3,
            markeredgewidth=0,
            color=colors[index],
            alpha=0.8,
            label=f"$x_{{{t}}}$ (stored)",
        )


def _colors(count: int) -> list:
    # One hue per step count, from early (light) to late (dark) along viridis.
    from matplotlib import colormaps

    return list(colormaps["viridis_r"](np.linspace(0.25, 0.95, count)))


def _mark_x0(ax, w, x0, b_limits, activation) -> None:
    ax.axhline(x0, color="tab:red", linestyle=":", linewidth=1, label=f"$x_0 = {x0:g}$")
    wall = float(basin_boundary_b(w, x0, activation))
    unstable = abs(w * float(slope(x0, activation))) > 1
    if unstable and b_limits[0] <= wall <= b_limits[1]:
        ax.plot(
            wall,
            x0,
            marker="o",
            markersize=7,
            markerfacecolor="none",
            color="tab:red",
            linestyle="none",
            label=f"$x_0$ on the basin boundary: $b = {wall:.4f}$",
        )
