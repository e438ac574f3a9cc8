"""The Python API (`rnn_landscape.api`): its doctests run against the default
config's `figure6_zoom` and `steps_sweep`, computed by the engine into a results
folder laid out as the workflow's; its numbers checked against plain loops and
the theory; and the package still cheap to import."""

import doctest
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import REPO, python_loss, python_state, validated
from rnn_landscape import api, store, theory
from rnn_landscape.config import parse_config
from rnn_landscape.engine import compute_surface

SURFACES = ("figure6_zoom", "steps_sweep")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/surfaces/<preset>/<surface>.zarr of the default config's zoom and
    sweep, exactly as `snakemake` computes them (under a second)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["surfaces"] = {name: config["surfaces"][name] for name in SURFACES}
    config["figures"] = {name: config["figures"][name] for name in SURFACES}
    parsed = parse_config(validated(config))
    root = tmp_path_factory.mktemp("project") / "results"
    for preset in parsed.presets:
        for surface in SURFACES:
            path = api.surface_path(preset, surface, root)
            compute_surface(parsed.job(preset, surface), path, threads=2)
    return root


def test_the_examples_in_the_docstrings_run(results, monkeypatch):
    monkeypatch.chdir(results.parent)  # the examples use the default "results"

    outcome = doctest.testmod(api, optionflags=doctest.ELLIPSIS, report=True)

    assert outcome.failed == 0  # doctest printed each failure above
    assert outcome.attempted >= 25


def test_the_numbers_the_doctests_show_are_those_of_a_plain_loop(results):
    # loss_slice: E_50 at w = 5, b = -1 for the paper's preset; slice_at: x_100
    # at w = 5, b = -3 for the notebook's; predicted_walls: the README's walls.
    assert f"{python_loss(5.0, -1.0, 0.5, 50, 0.7, 'sigmoid'):.4f}" == "0.0785"
    assert f"{python_state(5.0, -3.0, 0.0, 100):.4f}" == "-2.6788"
    paper = api.open_surface("paper", "steps_sweep", results)
    notebook = api.open_surface("notebook", "figure6_zoom", results)
    assert float(api.predicted_walls(paper).sel(w=5)) == pytest.approx(-2.6123, abs=5e-5)
    assert float(api.predicted_walls(notebook).sel(w=5)) == -2.5


def test_the_package_imports_the_api_only_when_asked():
    code = (
        "import sys, rnn_landscape\n"
        "heavy = {'xarray', 'zarr', 'numba', 'numpy', 'dask'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "from rnn_landscape import open_surface, find_walls\n"
        "import rnn_landscape.api as api\n"
        "assert open_surface is api.open_surface and find_walls is api.find_walls\n"
        "assert set(rnn_landscape.__all__) - {'__version__'} <= set(api.__all__)\n"
        "assert 'loss_slice' in dir(rnn_landscape)\n"
    )

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import rnn_landscape

        rnn_landscape.nothing  # noqa: B018 (the access is the test)


def test_open_surface_says_what_there_is_and_refuses_an_incomplete_store(results, tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        api.open_surface("paper", "wide_20", results)
    assert "paper/figure6_zoom, paper/steps_sweep" in str(missing.value)
    assert "Run snakemake" in str(missing.value)

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    sweep = api.surface_path("paper", "steps_sweep", copy)
    (sweep / "loss" / "3.0.0.0").unlink()
    with pytest.raises(store.IncompleteStore, match=r"loss/3\.0\.0\.0"):
        api.open_surface("paper", "steps_sweep", copy)

    sweep.rename(store.partial_path(sweep))
    with pytest.raises(FileNotFoundError, match="steps_sweep.zarr.partial is being built"):
        api.open_surface("paper", "steps_sweep", copy)


def test_slices_default_to_the_largest_step_count_and_the_first_target(results):
    ds = api.open_surface("paper", "steps_sweep", results)

    loss = api.loss_slice(ds)
    state = api.slice_at(ds, "state", steps=20, target=123.0)  # no target: ignored

    assert loss.dims == ("b", "w") and (int(loss.steps), float(loss.target)) == (100, 0.7)
    expected = python_loss(5.0, float(ds.b[40]), 0.5, 100, 0.7, "sigmoid")
    assert float(loss[40, 0]) == pytest.approx(expected, rel=1e-12)
    assert state.dims == ("b", "w") and int(state.steps) == 20
    assert float(state[0, 0]) == pytest.approx(python_state(5.0, -3.0, 0.5, 20), rel=1e-12)
    typed = 0.1 * 7  # 0.7000000000000001: matched to the stored 0.7
    assert float(api.loss_slice(ds, target=typed).target) == 0.7


def test_slices_refuse_values_not_stored_naming_those_that_are(results):
    ds = api.open_surface("paper", "steps_sweep", results)

    with pytest.raises(
        ValueError, match="target=0.5 is not stored in surface 'steps_sweep'"
    ):
        api.loss_slice(ds, target=0.5)
    with pytest.raises(ValueError, match=r"holds steps 1, 2, 3, 4, 5, 6, 10, 20, 35"):
        api.loss_slice(ds, steps=7)
    with pytest.raises(
        KeyError, match="no variable 'grad_w' in the store; it holds loss, state"
    ):
        api.slice_at(ds, "grad_w")


def test_walls_found_on_the_zoom_lie_on_the_theory_and_agree_from_a_dataarray(results):
    ds = api.open_surface("notebook", "figure6_zoom", results)

    from_dataset = api.find_walls(ds, steps=50, target=1.0)
    from_array = api.find_walls(ds.loss, steps=50, target=1.0)

    xr.testing.assert_identical(from_dataset.drop_vars("distance"), from_array)
    assert from_dataset.sizes["point"] > 100
    assert float(from_dataset.distance.max()) < 1.0  # grid steps
    along_b = from_dataset.where(from_dataset.axis == "b", drop=True)
    assert np.allclose(along_b.b, -along_b.w / 2, atol=0.005)  # b = 0 - w sigmoid(0)


def test_on_a_sweep_the_wall_is_found_within_a_grid_step_once_it_is_sharp(results):
    ds = api.open_surface("paper", "steps_sweep", results)
    wall = -2.6123

    found = {int(t): api.find_walls(ds, steps=int(t)) for t in ds.steps}

    assert all(found[t].sizes["point"] == 0 for t in (1, 2, 5, 10))  # still smooth
    for steps in (50, 100):
        (b,) = found[steps].b.values
        assert abs(b - wall) < 0.005
        assert float(found[steps].distance[0]) == pytest.approx(
            abs(b - wall) / 0.005, abs=0.02
        )


@pytest.mark.parametrize(
    ("x0", "activation"),
    [(0.5, "sigmoid"), (-0.8, "sigmoid"), (0.3, "tanh"), (0.0, "tanh")],
)
def test_predicted_wall_b_agrees_with_every_sample_of_the_theory_curves(x0, activation):
    curves = theory.wall_curves(x0, (-20.0, 20.0), (-60.0, 60.0), activation)

    w = np.concatenate([curve.w for curve in curves])
    b = np.concatenate([curve.b for curve in curves])

    assert w.size > 2000
    assert np.allclose(api.wall_b(w, x0, activation), b, rtol=1e-12, atol=1e-12)
    edge = 1 / float(theory.slope(0.0, activation))  # below the cusp: no wall at all
    inside = np.linspace(-edge * 0.99, edge * 0.99, 11)
    assert np.all(np.isnan(api.wall_b(inside, x0, activation)))


def test_list_and_describe_read_the_stores_without_opening_them_with_xarray(results):
    summaries = api.list_surfaces(results)
    info = api.describe_store(api.surface_path("notebook", "steps_sweep", results))

    assert [(s.preset, s.surface, s.status) for s in summaries] == [
        (preset, surface, "complete")
        for preset in ("notebook", "paper")
        for surface in SURFACES
    ]
    zoom = summaries[0]
    assert zoom.sizes == {"steps": 1, "target": 1, "b": 401, "w": 181}
    assert len(zoom.variables) == 10 and zoom.chunks == zoom.chunks_written == 10
    assert info["dimensions"]["b"]["spacing"] == 0.005
    assert info["dimensions"]["steps"]["values"][-3:] == [50, 75, 100]
    assert info["attributes"]["config"]["surface"]["name"] == "steps_sweep"
    assert math.isclose(info["dimensions"]["w"]["first"], 5.0)
