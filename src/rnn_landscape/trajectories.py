"""Plain and clipped gradient descent on E_T: the runs of the paper's Figure 6.

Every run starts at a point (w, b) and steps against the exact gradient of
E_T = (readout(x_T) - target)^2, from the kernel's forward-mode jets. A clipped run
rescales its gradient g to `threshold * g / |g|` whenever |g| > threshold (the
paper's Algorithm 1). All runs advance in lockstep: one pass of the kernel per
iteration gives every run's gradient.

`trajectory_dataset` runs each start twice, plain and clipped, into one labeled
dataset; `write_trajectories` stores it as Zarr (format 2, consolidated, built at
`<path>.partial` and renamed), which `open_trajectories` or plain xarray reads.
"""

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__, quantities
from .config import Descent, Preset
from .store import ZARR_FORMAT, partial_path

log = logging.getLogger(__name__)

# A run farther out than this stops: it has left every region we draw by orders of
# magnitude. (Overflow closer in, say of a linear activation's x_T ~ w^T, stops a
# run through the finiteness check instead.)
PARAMETER_BOUND = 1e6


# Settings that tell Figure 6's story on the `paper` preset (x0 0.5, sigmoid
# activation and readout, target 0.7) over the `figure6_zoom` region, w in
# [4.5, 5.4], b in [-3, -1]; the learning rate and threshold are those of the
# paper's experiments. All three starts lie on the high plateau below the wall
# b = x0 - w sigmoid(x0), where |g| is 0.12 to 0.14.
# - From (4.94, -2.9) the plain run lands on the wall's face at iteration 20, where
#   |g| is 4854, and is thrown 485 units, over 200 times the region's diagonal of
#   2.2, to (261, 410). Its clipped twin steps 0.1 instead, into the valley beside
#   the wall; it ends at (4.926, -2.562) with loss 0.0088.
# - From (5.35, -2.9) the plain run is thrown 84 units the other way, to (-39, -74),
#   at iteration 13 (|g| 844); its clipped twin steps 0.1 back onto the plateau,
#   descends to the wall again and ends at (5.230, -2.745) with loss 0.018.
# - From (4.7, -2.9) the run steps over the wall's edge without touching its face:
#   never clipped, both twins agree, ending at (4.705, -2.405) with loss 0.0064.
# For w above about 4.48 the valley's floor lies at the foot of the wall, so a run
# that reaches it zig-zags across the wall's edge with every step, its loss
# alternating between about 0.01 and 0.35. 32 iterations are few enough to show
# the throws with little zig-zag, and a count at which every run still in the
# region ends on the valley's side. These are the defaults of config/config.yaml;
# tests/test_trajectories.py checks the story on them.
LONG_NAMES = {
    "w": "recurrent weight w",
    "b": "bias b",
    "grad_norm": "norm of the gradient of E_T before clipping",
    "clipped": "gradient norm above the threshold: the step from here was rescaled",
    "run": "run",
    "iteration": "descent iteration (0: the start)",
    "start": "index of the starting point",
    "start_w": "w at the start",
    "start_b": "b at the start",
    "clipped_run": "run clips its gradient to the threshold (false: plain descent)",
}


def descend(
    starts,
    *,
    x0: float,
    steps: int,
    target: float,
    activation: str,
    readout: str,
    learning_rate: float,
    iterations: int,
    threshold: float | None = None,
) -> dict[str, np.ndarray]:
    """Gradient descent on E_T from every start at once.

    `starts` is a sequence of (w, b) pairs. Returns arrays of shape
    `(runs, iterations + 1)`; column k is the k-th iterate, column 0 the start:
    - `w`, `b`: where the run is;
    - `loss`: E_T there;
    - `grad_norm`: the norm of the raw gradient there, before any clipping;
    - `clipped`: True where that norm exceeds `threshold`, so the step leaving
      this iterate was rescaled (for the last iterate: would be). Always False
      without a threshold.

    A run stops at the first iterate where w or b is not finite or beyond
    `PARAMETER_BOUND` in size, or where the loss or gradient is not finite: from
    there on its `w`, `b`, `loss` and `grad_norm` are NaN and `clipped` is False.
    """
    w, b = _start_columns(starts)
    history = _empty_history(w.size, iterations)
    running = np.ones(w.size, dtype=bool)

    for k in range(iterations + 1):
        loss, grad_w, grad_b, grad_norm = _loss_and_gradient(
            w, b, x0, steps, target, activation, readout
        )
        running &= _in_bounds(w, b, loss, grad_w, grad_b)
        clipped = running & _exceeds(grad_norm, threshold)
        _record(history, k, running, w=w, b=b, loss=loss, grad_norm=grad_norm)
        history["clipped"][:, k] = clipped

        if k < iterations:
            grad_w, grad_b = _rescaled(grad_w, grad_b, grad_norm, clipped, threshold)
            w = _step(w, grad_w, learning_rate, running)
            b = _step(b, grad_b, learning_rate, running)
    return history


def _start_columns(starts) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 2:
        raise ValueError(
            f"starts must be a sequence of (w, b) pairs, got an array of shape "
            f"{starts.shape}; pass e.g. [(4.6, -3.0), (4.8, -2.9)]"
        )
    return starts[:, 0].copy(), starts[:, 1].copy()


def _empty_history(runs: int, iterations: int) -> dict[str, np.ndarray]:
    shape = (runs, iterations + 1)
    history = {name: np.full(shape, np.nan) for name in ("w", "b", "loss", "grad_norm")}
    history["clipped"] = np.zeros(shape, dtype=bool)
    return history


def _loss_and_gradient(w, b, x0, steps, target, activation, readout):
    """E_T, its gradient and the gradient's norm at points (w, b), each of the
    points' shape."""
    # Parameters out of bounds are replaced by 0 before the kernel sees them: the
    # run is stopped anyway, and this keeps overflow out of the jets.
    safe = _parameters_in_bounds(w, b)
    w, b = np.where(safe, w, 0.0), np.where(safe, b, 0.0)
    values = quantities.surface_quantities(
        x0, w, b, [steps], [target], activation, readout, "first"
    )
    # Far out a jet can overflow to inf (x_w of a linear activation grows like
    # T w^(T-1)); the loss or gradient is then inf or NaN, which stops the run
    # through `_in_bounds`.
    return tuple(values[name][0, 0] for name in ("loss", "grad_w", "grad_b", "grad_norm"))


def _parameters_in_bounds(w, b) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN compares False, which is the answer
        return (np.abs(w) <= PARAMETER_BOUND) & (np.abs(b) <= PARAMETER_BOUND)


def _in_bounds(w, b, loss, grad_w, grad_b) -> np.ndarray:
    finite = np.isfinite(loss) & np.isfinite(grad_w) & np.isfinite(grad_b)
    return _parameters_in_bounds(w, b) & finite


def _exceeds(grad_norm, threshold) -> np.ndarray:
    if threshold is None:
        return np.zeros(grad_norm.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return grad_norm > threshold


def _rescaled(grad_w, grad_b, grad_norm, clipped, threshold):
    """Algorithm 1: g -> threshold * g / |g| where clipped; elsewhere g untouched,
    so that a run that is never clipped repeats the plain run bit for bit."""
    if not clipped.any():
        return grad_w, grad_b
    # Runs not clipped may hold NaN or inf (stopped runs); what they would give is
    # discarded by `np.where`, and so are its warnings.
    with np.errstate(all="ignore"):
        scale = threshold / grad_norm
        return (
            np.where(clipped, grad_w * scale, grad_w),
            np.where(clipped, grad_b * scale, grad_b),
        )


def _step(parameter, gradient, learning_rate, running) -> np.ndarray:
    """One descent step for running runs; stopped runs stay where they stopped."""
    # A step so large that it overflows gives inf, which stops the run at the next
    # iterate: the warning would say nothing more.
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(running, parameter - learning_rate * gradient, parameter)


def _record(history, k, running, **values) -> None:
    for name, value in values.items():
        history[name][:, k] = np.where(running, value, np.nan)


def trajectory_dataset(
    preset: Preset, descent: Descent, target: float | None = None
) -> xr.Dataset:
    """Plain and clipped runs from every start of `descent`, as a labeled dataset.

    Dimensions `run` and `iteration`. Runs 0..n-1 are plain, n..2n-1 their clipped
    twins in the same order; per-run coordinates `start` (index of the starting
    point, shared by the twins), `start_w`, `start_b` and `clipped_run`. Variables
    `w`, `b`, `loss`, `grad_norm` (float, NaN once a run has stopped) and `clipped`
    (bool), as `descend` returns them. `target` defaults to the preset's first.
    """
    target = preset.targets[0] if target is None else float(target)
    settings = {
        "x0": preset.x0,
        "steps": descent.steps,
        "target": target,
        "activation": preset.activation,
        "readout": preset.readout,
        "learning_rate": descent.learning_rate,
        "iterations": descent.iterations,
    }
    plain = descend(descent.starts, **settings)
    clipped = descend(descent.starts, **settings, threshold=descent.threshold)
    runs = {name: np.concatenate([plain[name], clipped[name]]) for name in plain}
    return _label_runs(runs, preset, descent, target)


def _label_runs(runs: dict, preset: Preset, descent: Descent, target: float) -> xr.Dataset:
    starts = np.asarray(descent.starts, dtype=np.float64)
    twins = np.tile(np.arange(len(starts)), 2)
    per_run = {
        "start": twins,
        "start_w": starts[twins, 0],
        "start_b": starts[twins, 1],
        "clipped_run": np.repeat([False, True], len(starts)),
    }
    coords = {
        "run": ("run", np.arange(twins.size), {"long_name": LONG_NAMES["run"]}),
        "iteration": (
            "iteration",
            np.arange(descent.iterations + 1),
            {"long_name": LONG_NAMES["iteration"]},
        ),
        **{
            name: ("run", values, {"long_name": LONG_NAMES[name]})
            for name, values in per_run.items()
        },
    }
    long_names = {**LONG_NAMES, "loss": f"loss E_T = ({preset.readout}(x_T) - target)^2"}
    variables = {
        name: (("run", "iteration"), values, {"long_name": long_names[name]})
        for name, values in runs.items()
    }
    return xr.Dataset(
        variables, coords=coords, attrs=trajectory_attrs(preset, descent, target)
    )


def trajectory_attrs(preset: Preset, descent: Descent, target: float) -> dict:
    """Dataset attributes, all JSON-native so they survive the Zarr round trip."""
    return {
        "title": f"Plain and clipped gradient descent on preset '{preset.name}'",
        "model": (
            f"x_t = w * {preset.activation}(x_(t-1)) + b for t = 1..T, "
            f"starting from x_0 = {preset.x0}"
        ),
        "loss": "squared_error",
        "loss_formula": f"E_T = ({preset.readout}(x_T) - target)^2",
        "update": "theta <- theta - learning_rate * g, g the exact gradient of E_T",
        "clipping": "g <- threshold * g / |g| where |g| > threshold (clipped runs)",
        "preset": preset.name,
        "x0": preset.x0,
        "activation": preset.activation,
        "readout": preset.readout,
        "target": target,
        "steps": descent.steps,
        "learning_rate": descent.learning_rate,
        "iterations": descent.iterations,
        "threshold": descent.threshold,
        "parameter_bound": PARAMETER_BOUND,
        "descent": json.dumps(asdict(descent), sort_keys=True),
        "rnn_landscape_version": __version__,
        "references": (
            "Pascanu, Mikolov & Bengio, ICML 2013, arXiv:1211.5063, Figure 6 and "
            "Algorithm 1"
        ),
    }


def descend_preset(preset: Preset, descent: Descent, path: Path) -> None:
    """The runs of `descent` on `preset`, computed and stored at `path`."""
    dataset = trajectory_dataset(preset, descent)
    for line in run_summary(dataset):
        log.info("%s", line)
    write_trajectories(dataset, path)


def run_summary(dataset: xr.Dataset) -> list[str]:
    """One line per run: where it starts and ends, and its longest step."""
    steps = np.hypot(dataset.w.diff("iteration"), dataset.b.diff("iteration"))
    lines = []
    for run in dataset.run.values:
        one = dataset.sel(run=run)
        kind = "clipped" if one.clipped_run else "plain"
        lines.append(
            f"{kind} run from ({float(one.start_w):g}, {float(one.start_b):g}): "
            f"ends at ({float(one.w[-1]):.4g}, {float(one.b[-1]):.4g}) with loss "
            f"{float(one.loss[-1]):.3g}; longest step "
            f"{float(steps.sel(run=run).max()):.3g}, clipped {int(one.clipped.sum())} times"
        )
    return lines


def write_trajectories(dataset: xr.Dataset, path: Path) -> None:
    """Store `dataset` at `path` as Zarr: built beside it, then moved in one rename,
    so that a reader never sees half a store."""
    path = Path(path)
    partial = partial_path(path)
    shutil.rmtree(partial, ignore_errors=True)
    dataset.to_zarr(partial, mode="w", consolidated=True, zarr_format=ZARR_FORMAT)

    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)


def open_trajectories(path: Path) -> xr.Dataset:
    """Open a trajectory store, as any user would with plain xarray."""
    return xr.open_zarr(path, consolidated=True)
