"""A real Dask cluster on loopback: a `dask scheduler` and two `dask worker`
processes, started as a user would, with the workflow's compute jobs sent to it."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from test_workflow import snakemake, workspace


def start(command: list[str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *command], stdout=log, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """The scheduler's address, once two single-thread workers have joined it."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "w")  # noqa: SIM115 (closed at teardown)
    processes = [
        start(
            [
                *("scheduler", "--host", "127.0.0.1", "--port", "0"),
                *("--no-dashboard", "--scheduler-file", str(scheduler_file)),
            ],
            log,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, (folder / "cluster.log").read_text()
            time.sleep(0.1)
        for name in ("one", "two"):
            processes.append(
                start(
                    [
                        *("worker", "--scheduler-file", str(scheduler_file)),
                        *("--nthreads", "1", "--name", name, "--no-dashboard"),
                        *("--local-directory", str(folder / name)),
                    ],
                    log,
                )
            )
        with Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def seconds_per_worker(address: str) -> dict[str, float]:
    """Seconds each worker of the cluster has spent running chunk tasks, by name."""
    from distributed import Client

    def seconds(dask_worker):
        # Dask names a task group after its function, without leading underscores.
        elapsed = dask_worker.state.task_counter.cumulative_elapsed()
        return elapsed.get(("fill_chunk", "executing"), 0.0)

    with Client(address, timeout="30s") as client:
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        return {names[a]: s for a, s in client.run(seconds).items()}


def assert_same_bits(first: xr.Dataset, second: xr.Dataset) -> None:
    assert first.attrs == second.attrs
    assert set(first.variables) == set(second.variables)
    for name, variable in first.variables.items():
        assert variable.dims == second[name].dims, name
        mine, theirs = variable.values, second[name].values
        if mine.dtype.kind == "f":
            mine, theirs = mine.view(np.int64), theirs.view(np.int64)
        np.testing.assert_array_equal(mine, theirs, err_msg=name)


def test_compute_jobs_run_on_a_dask_cluster_and_give_the_local_bits(
    tmp_path, tiny_config, dask_cluster
):
    on_cluster = dict(tiny_config, figures={})
    on_cluster["compute"] = dict(tiny_config["compute"], dask_scheduler=dask_cluster)
    (tmp_path / "cluster").mkdir()
    (tmp_path / "local").mkdir()
    cluster_folder = workspace(tmp_path / "cluster", on_cluster)
    local_folder = workspace(tmp_path / "local", dict(tiny_config, figures={}))

    cluster_run = snakemake(cluster_folder)
    local_run = snakemake(local_folder)

    assert cluster_run.returncode == 0, cluster_run.stderr
    assert local_run.returncode == 0, local_run.stderr
    stores = sorted(
        p.relative_to(local_folder) for p in local_folder.glob("results/surfaces/*/*.zarr")
    )
    assert len(stores) == 6
    for store in stores:
        assert_same_bits(
            xr.open_zarr(cluster_folder / store).load(),
            xr.open_zarr(local_folder / store).load(),
        )
    # The tasks ran on the cluster's two workers, and the jobs said so in their logs.
    busy = seconds_per_worker(dask_cluster)
    assert set(busy) == {"one", "two"} and all(s > 0 for s in busy.values()), busy
    tile_log = (cluster_folder / "logs/compute_tile/paper/zoom/0.log").read_text()
    assert f"Dask scheduler at {dask_cluster} (2 workers" in tile_log
    assert "100% of 2 tasks" in tile_log
    assert (
        "local threads" in (local_folder / "logs/compute_tile/paper/zoom/0.log").read_text()
    )


def test_the_environment_names_the_cluster_when_the_config_does_not(
    tmp_path, tiny, dask_cluster
):
    job = tiny.job("paper", "sweep").to_json()
    command = [sys.executable, "-m", "rnn_landscape", "build", "--job", job]
    environment = dict(os.environ, RNN_LANDSCAPE_DASK_SCHEDULER=dask_cluster)

    run = subprocess.run(
        [*command, "--out", str(tmp_path / "sweep.zarr")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    assert f"Dask scheduler at {dask_cluster}" in run.stderr
    assert xr.open_zarr(tmp_path / "sweep.zarr").attrs["complete"] is True


def test_an_unreachable_scheduler_fails_the_job_and_names_it(tmp_path, tiny):
    job = tiny.job("paper", "sweep").to_json()
    # A port nothing listens on: the connection is refused at once.
    address = "tcp://127.0.0.1:9"
    environment = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")

    run = subprocess.run(
        [
            *(sys.executable, "-m", "rnn_landscape", "build", "--job", job),
            *("--out", str(tmp_path / "sweep.zarr"), "--scheduler", address),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 1
    assert f"cannot reach the Dask scheduler at {address}" in run.stderr
    assert not (tmp_path / "sweep.zarr").exists()
