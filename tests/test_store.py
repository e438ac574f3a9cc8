import json
import math

import numpy as np
import pytest
import xarray as xr

from conftest import python_loss
from rnn_landscape import __version__, kernel, quantities, store
from rnn_landscape.config import Block, Job
from rnn_landscape.engine import compute_surface, compute_tile


def test_store_follows_the_data_contract_read_with_plain_xarray(tiny, tiny_stores):
    job = tiny.job("notebook", "wide")
    path = tiny_stores["notebook", "wide"]

    ds = xr.open_zarr(path)

    assert ds.loss.dims == ("steps", "target", "b", "w")
    assert ds.state.dims == ("steps", "b", "w")
    assert dict(ds.sizes) == {"steps": 2, "target": 2, "b": 23, "w": 21}
    assert ds.steps.values.tolist() == [20, 50]
    assert ds.target.values.tolist() == [1.0, 0.0]
    assert np.array_equal(ds.b.values, np.linspace(-5, 5, 23))
    assert np.array_equal(ds.w.values, np.linspace(-4, 6, 21))
    for name in ("steps", "target", "b", "w", "loss", "state"):
        assert ds[name].attrs["long_name"]
    assert ds.loss.dtype == ds.state.dtype == np.float64

    attrs = ds.attrs
    assert (
        attrs["x0"] == 0.0 and attrs["preset"] == "notebook" and attrs["surface"] == "wide"
    )
    assert (attrs["activation"], attrs["readout"]) == ("sigmoid", "identity")
    assert attrs["loss"] == "squared_error"
    assert "w * sigmoid(x_(t-1)) + b" in attrs["model"]
    assert attrs["rnn_landscape_version"] == __version__
    assert attrs["config"] == job.store_json()  # the job, less its tiling
    assert json.loads(attrs["config"])["surface"]["steps"] == [20, 50]


def test_derivatives_are_stored_beside_the_loss_as_asked(tiny, tiny_stores):
    wide = xr.open_zarr(tiny_stores["paper", "wide"]).load()
    zoom = xr.open_zarr(tiny_stores["paper", "zoom"])
    sweep = xr.open_zarr(tiny_stores["paper", "sweep"])

    assert set(wide.data_vars) == set(quantities.VARIABLES["second"])
    assert set(zoom.data_vars) == set(quantities.VARIABLES["first"])
    assert set(sweep.data_vars) == {"state", "loss"}
    for name in quantities.VARIABLES["second"][1:]:
        assert wide[name].dims == ("steps", "target", "b", "w")
        assert wide[name].attrs["long_name"] and wide[name].dtype == np.float64
        assert wide[name].encoding["chunks"] == (1, 1, 8, 16)

    # The engine's Dask path gives what the functions give on the whole grid.
    surface = tiny.surfaces["wide"]
    direct = quantities.surface_quantities(
        0.5,
        surface.w.values[None, :],
        surface.b.values[:, None],
        [20, 50],
        [0.7],
        "sigmoid",
        "sigmoid",
        "second",
    )
    for name, values in direct.items():
        assert np.array_equal(wide[name].values, values, equal_nan=True), name


def test_store_is_chunked_per_slice_and_consolidated(tiny_stores):
    path = tiny_stores["paper", "wide"]

    ds = xr.open_zarr(path)

    assert (path / ".zmetadata").is_file()
    assert ds.loss.encoding["chunks"] == (1, 1, 8, 16)
    assert ds.state.encoding["chunks"] == (1, 8, 16)
    assert ds.loss.sel(steps=50, target=0.7).data.npartitions == 3 * 2


def test_stored_values_match_an_independent_loop_at_every_point(tiny_stores):
    ds = xr.open_zarr(tiny_stores["notebook", "sweep"]).load()

    for steps in (1, 2, 10, 50):
        for b in ds.b.values:
            for target in (1.0,):
                stored = float(ds.loss.sel(steps=steps, target=target, b=b, w=5.0))
                expected = python_loss(5.0, b, 0.0, steps, target, "identity")
                assert stored == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_stored_surface_equals_the_kernel_on_the_whole_grid_bit_for_bit(tiny, tiny_stores):
    surface = tiny.surfaces["wide"]
    ds = xr.open_zarr(tiny_stores["paper", "wide"]).load()

    w, b = surface.w.values[None, :], surface.b.values[:, None]
    states = kernel.final_states(w, b, 0.5, [20, 50])
    loss = quantities.squared_error(states, [0.7], "sigmoid")

    assert np.array_equal(ds.state.values, states)
    assert np.array_equal(ds.loss.values, loss)


@pytest.fixture(scope="module")
def distributed_client():
    """A real Dask scheduler and two worker processes on loopback."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("chunk", "tile", "threads", "scheduler"),
    [
        (Block(23, 21), Block(23, 21), 1, "threads"),
        (Block(3, 5), Block(6, 10), 3, "threads"),
        (Block(4, 4), Block(8, 4), 2, "processes"),
        (Block(5, 7), Block(10, 14), 2, "synchronous"),
        (Block(8, 8), Block(8, 16), 2, "distributed"),
    ],
)
def test_tiles_chunks_threads_and_schedulers_do_not_change_a_bit(
    request, tiny, tiny_stores, tmp_path, chunk, tile, threads, scheduler
):
    job = Job(tiny.presets["notebook"], tiny.surfaces["wide"], chunk, tile)
    if scheduler == "distributed":
        scheduler = request.getfixturevalue("distributed_client")
    path = tmp_path / "wide.zarr"

    compute_surface(job, path, threads=threads, scheduler=scheduler)

    again = xr.open_zarr(path).load()
    first = xr.open_zarr(tiny_stores["notebook", "wide"]).load()
    assert set(again.data_vars) == set(quantities.VARIABLES["second"])
    for name in again.data_vars:
        assert np.array_equal(again[name].values, first[name].values, equal_nan=True)
    assert len(job.tiles) > 1 or tile == Block(23, 21)


def test_a_crashed_write_left_behind_is_replaced(tiny, tmp_path):
    path = tmp_path / "zoom.zarr"
    stale = tmp_path / "zoom.zarr.partial"
    (stale / "junk").mkdir(parents=True)

    compute_surface(tiny.job("paper", "zoom"), path, threads=2)

    assert not stale.exists()
    assert xr.open_zarr(path).sizes["b"] == 41


@pytest.mark.parametrize(
    ("preset", "x0", "readout", "target", "wall", "jump"),
    [
        ("paper", 0.5, "sigmoid", 0.7, -2.6123, 0.3),
        ("notebook", 0.0, "identity", 1.0, -2.5, 6.0),
    ],
)
def test_loss_jumps_across_the_basin_boundary_line(
    tmp_path, preset, x0, readout, target, wall, jump
):
    # b = x0 - w * sigmoid(x0), evaluated here with math, not with package code.
    line = x0 - 5.0 / (1.0 + math.exp(-x0))
    assert round(line, 4) == wall
    job = Job.from_json(
        json.dumps(
            {
                "preset": {
                    "name": preset,
                    "x0": x0,
                    "activation": "sigmoid",
                    "readout": readout,
                    "targets": [target],
                },
                "surface": {
                    "name": "cut",
                    "steps": [50],
                    "w": {"start": 5.0, "stop": 5.0, "num": 1},
                    "b": {"start": -3.0, "stop": -2.0, "num": 1001},
                },
                "chunk": {"b": 128, "w": 1},
                "tile": {"b": 256, "w": 1},
            }
        )
    )

    compute_surface(job, tmp_path / "cut.zarr", threads=2)

    loss = xr.open_zarr(tmp_path / "cut.zarr").loss.squeeze().load()
    steps = np.abs(np.diff(loss.values))
    i = int(np.argmax(steps))
    assert loss.b.values[i] <= line <= loss.b.values[i + 1]
    assert steps[i] > jump
    assert np.delete(steps, i).max() < 0.1 * steps[i]


def test_a_template_reads_as_missing_where_no_tile_has_written(tiny, tmp_path):
    job = tiny.job("paper", "wide")  # 23 x 21 points, tiles of 16 x 16
    template = tmp_path / "wide.zarr.partial"
    store.create_template(job, template)

    empty = xr.open_zarr(template, consolidated=False)
    assert empty.attrs["complete"] is False
    assert bool(empty.loss.isnull().all()) and bool(empty.state.isnull().all())

    compute_tile(job, template, 1, threads=1)  # b[0:16], w[16:21]

    ds = xr.open_zarr(template, consolidated=False).load()
    written = ds.loss.isel(b=slice(0, 16), w=slice(16, 21))
    assert bool(written.notnull().all())
    assert int(ds.loss.notnull().sum()) == written.size


def test_a_template_of_another_job_is_refused_not_mixed(tiny, tmp_path):
    job = tiny.job("paper", "wide")
    template = tmp_path / "wide.zarr.partial"
    store.create_template(job, template)
    edited = tiny.job("notebook", "wide")  # same grid, another model

    with pytest.raises(store.TemplateMismatch, match="another configuration"):
        compute_tile(edited, template, 0, threads=1)
    with pytest.raises(store.TemplateMismatch):
        store.finalize(edited, template, tmp_path / "wide.zarr")

    assert not (tmp_path / "wide.zarr").exists()
