"""How the wall of Figure 6 sharpens with the number of steps, and what the
target does to it, from stored data only.

A steps sweep store holds the loss E_T and the final state x_T against b at one
w for many T (the default config's `steps_sweep`: w = 5, b in -3..0, T in
1..100). Theory puts the wall on the line b* = x0 - w act(x0), where x0 is the
unstable fixed point: points on either side of it separate like m^T, with
m = w act'(x0) > 1, so the loss's rise across the wall narrows like m^-T until
it is one grid step wide, and its height tends to E(x_high) - E(x_low), the
loss at the two stable fixed points at b*.

For every stored target and step count this prints
- `across`: the loss at the nearest grid point above b* minus that below it (a
  point on b* itself, up to rounding, is skipped: x0 is a fixed point there and
  x_T stays near it);
- `steepest`, `at b`: the loss difference between the neighbouring points
  within `--window` of b* (a point on b* left out) where it is steepest, and
  where that is;
- `share`: |steepest| over the loss's range within the window, which reaches 1
  when the whole rise happens within one grid step;
- `m^-T`: the width theory gives the rise, up to a constant;
- `limit`: E(x_high) - E(x_low), what `across` tends to, up to the plateaus'
  slope over the grid points' distance from b*.

The target does not move the wall: x_T does not depend on it. It scales the
jump: with r = readout(x_T) on the two sides, the jump is
(r_above - r_below) (r_above + r_below - 2 target), which changes sign and
vanishes at target = (r_above + r_below) / 2, where the steepest step leaves b*.
A store computes the loss for its configured targets only; the stored x_T gives
it for any target, so the second table shows that for a few.

    python examples/wall_sharpening.py                  # both presets, results/
    python examples/wall_sharpening.py --store results/surfaces/notebook/steps_sweep.zarr \\
        --targets 0 1 2 --figure sharpening.png
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from rnn_landscape import open_surface, predicted_walls
from rnn_landscape.kernel import READOUTS
from rnn_landscape.store import open_surface as open_store
from rnn_landscape.theory import fixed_points, slope

# A grid point within rounding of b* (relative) is on the wall: x0 is a fixed
# point there up to rounding, and x_T leaves it like |b - b*| m^T, still within
# 0.005 of x0 at T = 100 for m = 1.25 (the notebook's b = -2.5 is exactly on it).
ON_WALL = 1e-12


@dataclass(frozen=True)
class Wall:
    """The wall at one w of a sweep, as theory places it and the grid brackets it."""

    w: float
    b: float  # b* = x0 - w act(x0)
    multiplier: float  # m = w act'(x0)
    below: int  # index of the nearest grid point below b*
    above: int  # and above it
    on_grid: bool  # whether a grid point lies on b* (and was skipped)
    low: float  # the stable fixed points at b*: where x_T goes below the wall
    high: float  # and above it


def locate_wall(dataset: xr.Dataset, w: float) -> Wall:
    """Where the wall crosses the sweep at `w`; refused where it is not the line
    b* = x0 - w act(x0) with m > 1 (the fold stretch, or the 2-cycles of w < 0)."""
    x0, activation = float(dataset.attrs["x0"]), dataset.attrs["activation"]
    multiplier = float(w * slope(x0, activation))
    if not multiplier > 1.0:
        raise ValueError(
            f"at w = {w:g} the wall is not the line b = x0 - w act(x0) with"
            f" w act'(x0) > 1 (it is {multiplier:.4g}); pick a w beyond"
            f" {1 / float(slope(x0, activation)):.4g}"
        )
    wall_b = float(predicted_walls(dataset).sel(w=w))
    b = dataset.b.values
    on_wall = _on_wall(b, wall_b)
    below = np.flatnonzero((b < wall_b) & ~on_wall)
    above = np.flatnonzero((b > wall_b) & ~on_wall)
    if below.size == 0 or above.size == 0:
        raise ValueError(f"b* = {wall_b:.4f} is not inside the stored b range")

    points = fixed_points(w, wall_b, activation)
    stable = points.x[points.stable]
    return Wall(
        w=w,
        b=wall_b,
        multiplier=multiplier,
        below=int(below[-1]),
        above=int(above[0]),
        on_grid=bool(on_wall.any()),
        low=float(stable.min()),
        high=float(stable.max()),
    )


def _on_wall(b: np.ndarray, wall_b: float) -> np.ndarray:
    return np.abs(b - wall_b) <= ON_WALL * max(1.0, abs(wall_b))


def near_wall(dataset: xr.Dataset, wall: Wall, window: float) -> np.ndarray:
    """The grid points within `window` of b*, but not on it."""
    b = dataset.b.values
    return (np.abs(b - wall.b) <= window) & ~_on_wall(b, wall.b)


def loss_of(dataset: xr.Dataset, state, target: float):
    """E_T = (readout(x_T) - target)^2 from stored states, for any target."""
    readout = READOUTS[dataset.attrs["readout"]]
    return (readout(np.asarray(state, dtype=np.float64)) - target) ** 2


def sharpening(dataset: xr.Dataset, wall: Wall, window: float) -> pd.DataFrame:
    """The table over (target, T) described in the module's doc, from the stored loss."""
    loss = dataset.loss.sel(w=wall.w).transpose("steps", "target", "b").values
    near = near_wall(dataset, wall, window)
    rows = []
    for k, target in enumerate(dataset.target.values):
        limit = float(
            loss_of(dataset, wall.high, target) - loss_of(dataset, wall.low, target)
        )
        for s, steps in enumerate(dataset.steps.values):
            rows.append(
                {
                    "target": float(target),
                    "T": int(steps),
                    "across": loss[s, k, wall.above] - loss[s, k, wall.below],
                    **steepest(loss[s, k], dataset.b.values, near),
                    "m^-T": wall.multiplier ** -float(steps),
                    "limit": limit,
                }
            )
    return pd.DataFrame(rows)


def steepest(loss: np.ndarray, b: np.ndarray, near: np.ndarray) -> dict:
    """The steepest step between neighbours among the points `near` the wall."""
    values, where = loss[near], b[near]
    differences = np.diff(values)
    # Per unit b: the two neighbours of a point left out on b* are two steps apart.
    i = int(np.argmax(np.abs(differences) / np.diff(where)))
    spread = float(values.max() - values.min())
    share = abs(differences[i]) / spread if spread > 0 else 0.0
    return {
        "steepest": float(differences[i]),
        "at b": 0.5 * (where[i] + where[i + 1]),
        "share": share,
    }


def target_dependence(
    dataset: xr.Dataset, wall: Wall, targets: list[float], window: float
) -> pd.DataFrame:
    """At the largest T, the loss on each side of the wall for any target, from
    the stored state; stored targets are marked, and their stored loss checked."""
    state = dataset.state.sel(w=wall.w).isel(steps=-1).values
    near = near_wall(dataset, wall, window)
    stored = dataset.target.values
    rows = []
    for target in targets:
        loss = loss_of(dataset, state, target)
        rows.append(
            {
                "target": target,
                "E below": loss[wall.below],
                "E above": loss[wall.above],
                "across": loss[wall.above] - loss[wall.below],
                **steepest(loss, dataset.b.values, near),
                "stored": bool(np.any(np.isclose(stored, target, rtol=1e-12, atol=0))),
            }
        )
    return pd.DataFrame(rows)


def vanishing_target(dataset: xr.Dataset, wall: Wall) -> float:
    """The target at which the jump across the wall is zero, at the largest T."""
    readout = READOUTS[dataset.attrs["readout"]]
    state = dataset.state.sel(w=wall.w).isel(steps=-1).values
    return float(0.5 * (readout(state[wall.above]) + readout(state[wall.below])))


def stored_loss_agrees(dataset: xr.Dataset, wall: Wall) -> float:
    """Largest |stored loss - loss from the stored state| at the largest T."""
    state = dataset.state.sel(w=wall.w).isel(steps=-1)
    loss = dataset.loss.sel(w=wall.w).isel(steps=-1)
    return max(
        float(np.max(np.abs(loss.sel(target=t).values - loss_of(dataset, state, t))))
        for t in dataset.target.values
    )


def default_targets(dataset: xr.Dataset, wall: Wall) -> list[float]:
    """The stored targets, the readouts below and above the wall (where one side
    is perfect) and the target midway, where the jump vanishes."""
    readout = READOUTS[dataset.attrs["readout"]]
    state = dataset.state.sel(w=wall.w).isel(steps=-1).values
    sides = [float(readout(state[wall.below])), float(readout(state[wall.above]))]
    found = [*map(float, dataset.target.values), *sides, vanishing_target(dataset, wall)]
    return sorted({round(target, 4) for target in found})


def report(dataset: xr.Dataset, wall: Wall, window: float, targets: list[float]) -> str:
    """The text the script prints for one store."""
    attrs = dataset.attrs
    lines = [
        f"{attrs['preset']}/{attrs['surface']}: {attrs['loss_formula']},"
        f" x0 = {attrs['x0']:g}, w = {wall.w:g}",
        f"wall predicted at b* = {wall.b:.4f}; m = w act'(x0) = {wall.multiplier:.4f};"
        f" stable fixed points there {wall.low:.4f} and {wall.high:.4f}",
    ]
    if wall.on_grid:
        lines.append(
            f"a grid point lies on b*: x0 stays fixed there; 'across' compares b ="
            f" {dataset.b.values[wall.below]:g} and {dataset.b.values[wall.above]:g}"
        )
    table = sharpening(dataset, wall, window)
    lines += ["", table.to_string(index=False, float_format=lambda v: f"{v:.4g}"), ""]
    at_t = int(dataset.steps[-1])
    lines += [
        f"at T = {at_t}, any target from the stored x_T (stored loss agrees to"
        f" {stored_loss_agrees(dataset, wall):.1g}); the jump vanishes at target"
        f" {vanishing_target(dataset, wall):.4f}:",
        target_dependence(dataset, wall, targets, window).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        ),
    ]
    return "\n".join(lines)


def draw(analyses: list[tuple[xr.Dataset, Wall]], window: float, path: Path) -> None:
    """Loss against b near the wall for a few T, and the jump against T."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 3.6 * len(analyses)), layout="constrained")
    axes = figure.subplots(len(analyses), 2, squeeze=False)
    for (dataset, wall), (profile, growth) in zip(analyses, axes, strict=True):
        near = dataset.sel(b=slice(wall.b - window, wall.b + window), w=wall.w)
        loss = near.loss.isel(target=0)
        for steps in _some(dataset.steps.values):
            profile.plot(near.b, loss.sel(steps=steps), label=f"T = {steps}")
        profile.axvline(wall.b, color="grey", linestyle=":")
        profile.xaxis.set_major_locator(MaxNLocator(5))
        profile.set(
            xlabel="b", ylabel="$E_T$", title=f"{dataset.attrs['preset']}, w = {wall.w:g}"
        )
        profile.legend(fontsize="small")

        table = sharpening(dataset, wall, window)
        first = table[table.target == table.target.iloc[0]]
        growth.semilogx(first["T"], first["across"].abs(), "o-", label="|across|")
        growth.semilogx(first["T"], first["steepest"].abs(), "s--", label="|steepest|")
        growth.axhline(abs(first["limit"].iloc[0]), color="grey", linestyle=":")
        growth.set(xlabel="T", ylabel="loss jump", title="dotted: |E(x_high) - E(x_low)|")
        growth.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def _some(steps: np.ndarray, count: int = 5) -> np.ndarray:
    return steps[np.unique(np.linspace(0, steps.size - 1, count).round().astype(int))]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="How the wall sharpens with T and scales with the target,"
        " from stored steps sweeps."
    )
    parser.add_argument(
        "--store",
        type=Path,
        action="append",
        help="a sweep store to analyse; repeat for several (default: the"
        " steps_sweep surface of each --preset under --results)",
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--preset", nargs="+", default=["paper", "notebook"])
    parser.add_argument("--w", type=float, help="the w to analyse (default: the only one)")
    parser.add_argument(
        "--window", type=float, default=0.1, help="half-width in b around b* (default: 0.1)"
    )
    parser.add_argument(
        "--targets",
        type=float,
        nargs="+",
        help="targets for the second table (default: the stored ones, the readout"
        " on each side of the wall, and the target where the jump vanishes)",
    )
    parser.add_argument("--figure", type=Path, help="also draw the figure into this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.store:
        datasets = [open_store(path) for path in args.store]
    else:
        datasets = [open_surface(name, "steps_sweep", args.results) for name in args.preset]

    analyses, texts = [], []
    for dataset in datasets:
        if args.w is None and dataset.sizes["w"] != 1:
            raise SystemExit(
                f"the store has {dataset.sizes['w']} values of w: pick one with --w"
            )
        wall = locate_wall(dataset, float(dataset.w[0]) if args.w is None else args.w)
        targets = args.targets or default_targets(dataset, wall)
        texts.append(report(dataset, wall, args.window, targets))
        analyses.append((dataset, wall))
    print("\n\n".join(texts))  # the script's output: what it is run for
    if args.figure:
        draw(analyses, args.window, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
