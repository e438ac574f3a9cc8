"""Figure 6's story: plain descent thrown off the wall, clipped descent kept beside it.

The zoomed loss surface as a 3-D wireframe and from above, with every start's plain
run (solid) and clipped run (dashed) in one colour. Runs are cut where they leave
the drawn region: a thrown step lands hundreds of region widths away, and drawing
it would shrink the region to a dot. A cross marks each exit, with where the run
ends written beside it in the top-down view.
"""

from dataclasses import dataclass

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .common import draw_wireframe, label_3d, loss_tex, model_note

COLORS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
LINESTYLES = {False: "-", True: "--"}  # by `clipped_run`


@dataclass(frozen=True)
class Exit:
    """Where a run crosses the region's edge outwards, and where it ends."""

    w: float
    b: float
    height: float
    direction: tuple[float, float]  # of the step that leaves, in (w, b)
    end: tuple[float, float]  # the run's last finite iterate


def trajectories(
    surface: xr.Dataset,
    runs: xr.Dataset,
    *,
    elevation: float = 32,
    azimuth: float = 10,
    stride: int = 10,
    colors: list[str] | None = None,
) -> Figure:
    """`surface`: a store over the region (with the runs' step count and target);
    `runs`: a `trajectories.trajectory_dataset`. `colors` go to the starts in
    order, cycling; `stride` thins the wireframe as in `figure6_zoom`."""
    loss = _surface_loss(surface, runs)
    limits = (
        (float(loss.w.min()), float(loss.w.max())),
        (float(loss.b.min()), float(loss.b.max())),
    )
    colors = list(colors or COLORS)
    steps = runs.attrs["steps"]

    figure = Figure(figsize=(14, 6), layout="constrained")
    ax3d = figure.add_subplot(1, 2, 1, projection="3d")
    ax2d = figure.add_subplot(1, 2, 2)
    draw_wireframe(ax3d, loss, stride, color="0.55", linewidth=0.5)
    # Rasterized: as vectors, a PDF of 10^5 cells takes seconds to write and view.
    mesh = ax2d.pcolormesh(
        loss.w, loss.b, loss, shading="nearest", cmap="viridis", rasterized=True
    )
    figure.colorbar(mesh, ax=ax2d, label=f"$E_{{{steps}}}$")

    for run in range(runs.sizes["run"]):
        one = runs.isel(run=run).load()
        color = colors[int(one.start) % len(colors)]
        _draw_run(ax3d, ax2d, one, limits, color)

    _frame_3d(ax3d, limits, steps, elevation, azimuth)
    _frame_2d(ax2d, limits)
    figure.legend(handles=_legend_handles(runs), loc="outside lower center", ncols=4)
    figure.suptitle(_title(surface, runs))
    return figure


def _surface_loss(surface: xr.Dataset, runs: xr.Dataset) -> xr.DataArray:
    """The stored (b, w) loss at the runs' step count and target."""
    steps, target = runs.attrs["steps"], runs.attrs["target"]
    if steps not in surface.steps or target not in surface.target:
        raise ValueError(
            f"the surface holds steps {surface.steps.values.tolist()} and targets "
            f"{surface.target.values.tolist()}, but the runs descend E_{steps} with "
            f"target {target}; draw them over a surface computed for both"
        )
    return surface.loss.sel(steps=steps, target=target).load()


def _draw_run(ax3d, ax2d, run: xr.Dataset, limits, color: str) -> None:
    style = dict(color=color, linestyle=LINESTYLES[bool(run.clipped_run)], linewidth=1.4)
    kind = "clipped" if run.clipped_run else "plain"
    label = f"{kind} run from ({float(run.start_w):g}, {float(run.start_b):g})"
    path, exits = inside_path(run.w.values, run.b.values, run.loss.values, limits)

    ax3d.plot(path[:, 0], path[:, 1], path[:, 2], label=label, **style)
    ax2d.plot(path[:, 0], path[:, 1], label=label, **style)
    for exit_ in exits:
        _mark_exit_3d(ax3d, exit_, color)
        _mark_exit_2d(ax2d, exit_, limits, color)

    # Twins share a start: the plain run's marker is enough.
    if not run.clipped_run:
        start = (float(run.start_w), float(run.start_b))
        marker = dict(marker="o", color=color, markeredgecolor="black", linestyle="none")
        ax3d.plot(*start, float(run.loss[0]), **marker)
        ax2d.plot(*start, **marker)


def inside_path(w, b, height, limits) -> tuple[np.ndarray, list[Exit]]:
    """The part of a run inside the region `limits` ((w_min, w_max), (b_min, b_max)).

    Returns points (w, b, height) of the run cut at the region's edges, with NaN
    rows between separate pieces (matplotlib breaks lines there), and every exit.
    Heights along a cut segment are interpolated linearly, as the straight 3-D
    segment between two iterates is. The run ends at its first non-finite iterate.
    """
    points = np.column_stack([w, b, height])
    finite = np.isfinite(points).all(axis=1)
    stop = points.shape[0] if finite.all() else int(np.argmin(finite))
    points = points[:stop]
    end = tuple(points[-1, :2]) if stop else (np.nan, np.nan)

    pieces, exits = [], []
    if stop == 1 and _inside(points[0], limits):
        pieces.append([points[0]])
    for start, finish in zip(points[:-1], points[1:], strict=True):
        cut = _clip_segment(start[:2], finish[:2], limits)
        if cut is None:
            continue
        enter, leave = (start + t * (finish - start) for t in cut)
        if pieces and cut[0] == 0.0 and np.array_equal(pieces[-1][-1], start):
            pieces[-1].append(leave)
        else:
            pieces.append([enter, leave])
        if cut[1] < 1.0:
            direction = tuple(finish[:2] - start[:2])
            exits.append(Exit(*leave, direction=direction, end=end))
    return _joined(pieces), exits


def _inside(point, limits) -> bool:
    return all(lo <= x <= hi for x, (lo, hi) in zip(point[:2], limits, strict=True))


def _clip_segment(start, finish, limits) -> tuple[float, float] | None:
    """Liang-Barsky: the parameters t0 <= t1 in [0, 1] between which the segment
    start + t (finish - start) lies in the box, or None if it misses the box."""
    t0, t1 = 0.0, 1.0
    for p, q, (lo, hi) in zip(start, finish, limits, strict=True):
        delta = q - p
        if delta == 0.0:
            if not lo <= p <= hi:
                return None
            continue
        t_lo, t_hi = (lo - p) / delta, (hi - p) / delta
        t0 = max(t0, min(t_lo, t_hi))
        t1 = min(t1, max(t_lo, t_hi))
    return (t0, t1) if t0 <= t1 else None


def _joined(pieces: list[list[np.ndarray]]) -> np.ndarray:
    rows = []
    for piece in pieces:
        if rows:
            rows.append(np.full(3, np.nan))
        rows.extend(piece)
    return np.array(rows).reshape(-1, 3)


def _mark_exit_3d(ax, exit_: Exit, color: str) -> None:
    ax.plot(exit_.w, exit_.b, exit_.height, marker="X", color=color, linestyle="none")


def _mark_exit_2d(ax, exit_: Exit, limits, color: str) -> None:
    """A cross on the edge, and where the run ends written a little inside."""
    ax.plot(exit_.w, exit_.b, marker="X", color=color, linestyle="none", clip_on=False)
    # Back along the leaving step by a tenth of the panel, measured on screen
    # (in axes fractions) so that the label sits inside whatever the aspect.
    spans = np.array([hi - lo for lo, hi in limits])
    on_screen = np.array(exit_.direction) / spans
    back = 0.1 * on_screen / np.hypot(*on_screen) * spans
    w_end, b_end = exit_.end
    ax.annotate(
        f"to ({w_end:.3g}, {b_end:.3g})",
        xy=(exit_.w - back[0], exit_.b - back[1]),
        color=color,
        fontsize=8,
        ha="center",
        va="center",
        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.8, linewidth=0),
    )


def _frame_3d(ax, limits, steps: int, elevation: float, azimuth: float) -> None:
    label_3d(ax, steps)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.view_init(elev=elevation, azim=azimuth)


def _frame_2d(ax, limits) -> None:
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_xlabel("$w$")
    ax.set_ylabel("$b$")
    ax.set_title("from above")


def _legend_handles(runs: xr.Dataset) -> list[Line2D]:
    threshold = runs.attrs["threshold"]
    return [
        Line2D([], [], color="black", linestyle="-", label="plain gradient descent"),
        Line2D(
            [],
            [],
            color="black",
            linestyle="--",
            label=f"clipped: $|g| \\leq {threshold:g}$",
        ),
        Line2D(
            [],
            [],
            color="grey",
            marker="o",
            markeredgecolor="black",
            linestyle="none",
            label="start",
        ),
        Line2D(
            [],
            [],
            color="black",
            marker="X",
            linestyle="none",
            label="leaves the region (to: where the run ends)",
        ),
    ]


def _title(surface: xr.Dataset, runs: xr.Dataset) -> str:
    loss = loss_tex(surface, runs.attrs["steps"], runs.attrs["target"])
    settings = (
        f"learning rate {runs.attrs['learning_rate']:g}, "
        f"{runs.attrs['iterations']} iterations"
    )
    return f"{loss}, {model_note(surface)}; {settings}"
