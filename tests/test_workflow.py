"""Real `snakemake` runs on copies of the workflow in temporary folders."""

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from conftest import REPO, is_smooth, python_loss


def workspace(tmp_path, config: dict | None = None):
    """A copy of the workflow; with `config`, also that config as `mine.yaml`."""
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    if config is not None:
        (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def snakemake(folder, *args, timeout=600) -> subprocess.CompletedProcess:
    """Run snakemake in `folder`, with `mine.yaml` as the config if there is one."""
    mine = ["--configfile", "mine.yaml"] if (folder / "mine.yaml").exists() else []
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args, *mine],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def outputs(folder) -> dict[str, int]:
    """Modification times of every store's metadata and every figure file."""
    files = [
        *folder.glob("results/surfaces/*/*.zarr/.zmetadata"),
        *folder.glob("results/figures/*/*"),
    ]
    return {str(f.relative_to(folder)): f.stat().st_mtime_ns for f in files}


def test_tiny_run_makes_every_store_and_figure_and_reruns_only_what_changed(
    tmp_path, tiny_config
):
    folder = workspace(tmp_path, tiny_config)

    first = snakemake(folder)

    assert first.returncode == 0, first.stderr
    made = outputs(folder)
    # Stores and (png, pdf) per preset and figure of mine.yaml, and nothing of the
    # default config: --configfile replaces it instead of merging into it.
    assert len(made) == 2 * 3 + 2 * 3 * 2
    for step in (
        "init_store/paper/zoom",
        "compute_tile/paper/zoom/5",
        "finalize_store/paper/zoom",
    ):
        assert (folder / f"logs/{step}.log").exists()
    assert "tile 6/6" in (folder / "logs/compute_tile/paper/zoom/5.log").read_text()
    # A single-tile store is one job, given only the one thread its one chunk uses.
    sweep_log = (folder / "logs/build_store/paper/sweep.log").read_text()
    assert "tile 1/1" in sweep_log and "1 threads" in sweep_log
    assert not (folder / "logs/init_store/paper/sweep.log").exists()
    assert not list(folder.glob("results/surfaces/*/*.partial"))
    assert not list(folder.glob("results/surfaces/*/*.tiles"))
    assert (folder / "logs/render_figure/notebook/wide_panels.log").read_text()
    ds = xr.open_zarr(folder / "results/surfaces/notebook/wide.zarr")
    assert dict(ds.sizes) == {"steps": 2, "target": 2, "b": 23, "w": 21}

    again = snakemake(folder)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr
    assert outputs(folder) == made

    tiny_config["surfaces"]["sweep"]["steps"] = [1, 2, 10, 20, 50]
    (folder / "mine.yaml").write_text(yaml.safe_dump(tiny_config))
    changed = snakemake(folder)
    assert changed.returncode == 0, changed.stderr
    redone = {k for k, mtime in outputs(folder).items() if made[k] != mtime}
    assert redone == {
        f"results/{kind}/{preset}/{name}"
        for preset in ("paper", "notebook")
        for kind, name in [
            ("surfaces", "sweep.zarr/.zmetadata"),
            ("figures", "steps_sweep.png"),
            ("figures", "steps_sweep.pdf"),
        ]
    }


# The whole table of bad configurations is tests/test_config_errors.py; these
# show that the workflow stops on each kind of check before any job runs.
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (  # the schema: a misspelled key
            lambda c: c["surfaces"]["zoom"].update(stpes=[50]),
            "config key 'surfaces.zoom.stpes': unknown key",
        ),
        (  # the checks after it: a spacing that does not fit its range
            lambda c: c["surfaces"]["zoom"]["w"].update(spacing=0.07),
            "config key 'surfaces.zoom.w': spacing 0.07 does not fit",
        ),
        (  # the YAML file itself: a surface named twice
            lambda c: "surfaces:\n  zoom: {w: 1.0, b: 1.0, steps: [1]}\n",
            "key 'surfaces' appears twice",
        ),
    ],
)
def test_bad_config_fails_before_any_job_and_writes_nothing(
    tmp_path, tiny_config, edit, expected
):
    appended = edit(tiny_config)
    folder = workspace(tmp_path, tiny_config)
    if appended:
        with open(folder / "mine.yaml", "a") as mine:
            mine.write(appended)

    run = snakemake(folder)

    assert run.returncode != 0
    assert expected in run.stdout + run.stderr
    assert not (folder / "results").exists()
    assert not (folder / "logs").exists()


@pytest.mark.slow
def test_default_config_matches_an_independent_loop_at_random_points(tmp_path):
    folder = workspace(tmp_path)
    config = yaml.safe_load((folder / "config" / "config.yaml").read_text())

    run = snakemake(folder)

    assert run.returncode == 0, run.stderr
    rng = np.random.default_rng(2013)
    for preset, model in config["presets"].items():
        for figure in config["figures"]:
            for ext in ("png", "pdf"):
                assert (folder / f"results/figures/{preset}/{figure}.{ext}").stat().st_size
        for surface in config["surfaces"]:
            ds = xr.open_zarr(folder / f"results/surfaces/{preset}/{surface}.zarr")
            checked = 0
            for _ in range(40):
                point = {dim: rng.integers(ds.sizes[dim]) for dim in ds.loss.dims}
                stored = float(ds.loss[tuple(point.values())])
                w, b, steps, target = (
                    float(ds[dim][point[dim]]) for dim in ("w", "b", "steps", "target")
                )
                if not is_smooth(w, b, model["x0"], int(steps)):
                    continue
                expected = python_loss(
                    w, b, model["x0"], int(steps), target, model["readout"]
                )
                assert stored == pytest.approx(expected, rel=1e-9, abs=1e-12)
                checked += 1
            assert checked >= 30

        # Every wall exported lies within a grid step of a curve the theory predicts.
        walls = pd.read_csv(folder / f"results/walls/{preset}/wide_20.csv")
        assert len(walls) > 500 and walls.distance.max() <= 1.0
        runs = xr.open_zarr(folder / f"results/trajectories/{preset}.zarr")
        assert runs.sizes["run"] == 2 * len(config["trajectories"]["starts"])


def test_an_interrupted_run_resumes_with_the_missing_tiles_only(
    tmp_path, tiny_config, tiny_stores
):
    del tiny_config["figures"]
    folder = workspace(tmp_path, tiny_config)
    # A run that stopped after tile 1 of paper/zoom. A crash leaves temporary files
    # in place; --notemp does the same for this run, which ends normally.
    partial = snakemake(folder, "--notemp", "results/surfaces/paper/zoom.tiles/1.done")
    assert partial.returncode == 0, partial.stderr
    first_tile_log = folder / "logs/compute_tile/paper/zoom/1.log"
    written = first_tile_log.stat().st_mtime_ns

    resumed = snakemake(folder)

    assert resumed.returncode == 0, resumed.stderr
    assert first_tile_log.stat().st_mtime_ns == written  # not computed again
    assert (folder / "logs/compute_tile/paper/zoom/0.log").exists()
    ds = xr.open_zarr(folder / "results/surfaces/paper/zoom.zarr").load()
    expected = xr.open_zarr(tiny_stores["paper", "zoom"]).load()
    assert ds.attrs["complete"] is True
    assert np.array_equal(ds.loss.values, expected.loss.values)
    assert np.array_equal(ds.state.values, expected.state.values)


def test_an_edited_surface_is_recomputed_even_without_snakemakes_records(
    tmp_path, tiny_config
):
    tiny_config.update(figures={})
    del tiny_config["surfaces"]["zoom"], tiny_config["surfaces"]["wide"]
    folder = workspace(tmp_path, tiny_config)
    first = snakemake(folder)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(folder / ".snakemake")
    tiny_config["surfaces"]["sweep"]["steps"] = [3, 7]
    (folder / "mine.yaml").write_text(yaml.safe_dump(tiny_config))

    again = snakemake(folder)

    assert again.returncode == 0, again.stderr
    for preset in ("paper", "notebook"):
        store = xr.open_zarr(folder / f"results/surfaces/{preset}/sweep.zarr")
        assert store.steps.values.tolist() == [3, 7]
