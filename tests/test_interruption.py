"""Real interruptions of real `snakemake` runs: SIGKILL of the whole run or of
one job, and a second run started while the first holds the folder."""

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import validated
from rnn_landscape.config import parse_config
from rnn_landscape.engine import compute_surface
from test_workflow import snakemake, workspace

STORE = "results/surfaces/paper/slow.zarr"
TILES = "results/surfaces/paper/slow.tiles"


def slow_config() -> dict:
    """One surface of 16 tiles, each a job of about a second: long enough to be
    caught in the middle, small enough to compute again in the test."""
    return {
        "presets": {"paper": {"x0": 0.5, "readout": "sigmoid", "targets": [0.7]}},
        "surfaces": {
            "slow": {
                "w": {"start": 4.5, "stop": 5.4, "num": 1024},
                "b": {"start": -3.0, "stop": -1.0, "num": 1024},
                "steps": [100, 3000],
            }
        },
        "compute": {
            "threads": 1,
            "chunk": {"b": 128, "w": 128},
            "tile": {"b": 256, "w": 256},
        },
        "figures": {},
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> xr.Dataset:
    """The store as an uninterrupted computation writes it."""
    config = parse_config(validated(slow_config()))
    path = tmp_path_factory.mktemp("uninterrupted") / "slow.zarr"
    compute_surface(config.job("paper", "slow"), path, threads=2)
    return xr.open_zarr(path).load()


@contextmanager
def background_snakemake(folder: Path, *args):
    """A run in the background, in a process group of its own (it and its jobs),
    killed whole on the way out if still running, so that a failed test leaves
    no process behind."""
    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield run
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.communicate()


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def running_tile_jobs(folder: Path) -> list[int]:
    """Process ids of `rnn_landscape tile` jobs working in `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # not a process, or one that just ended
        # `rnn-landscape tile ...`, as the rules run it, or `python -m rnn_landscape`.
        named = any(part.endswith((b"rnn-landscape", b"rnn_landscape")) for part in command)
        ours = named and b"tile" in command and Path(cwd) == folder
        if ours and state != "Z":
            found.append(int(entry.name))
    return found


def finished_tiles(folder: Path) -> dict[str, int]:
    """Tiles whose job Snakemake saw finish, with the time their log was written.

    A job that wrote its mark but was killed before Snakemake recorded it is
    still marked incomplete, and is rightly computed again.
    """
    logs = folder / "logs/compute_tile/paper/slow"
    incomplete = folder / ".snakemake/incomplete"
    return {
        mark.stem: (logs / f"{mark.stem}.log").stat().st_mtime_ns
        for mark in (folder / TILES).glob("*.done")
        if not (incomplete / snakemake_id(mark.relative_to(folder))).exists()
    }


def snakemake_id(path: Path) -> str:
    # How Snakemake names its record of an output (snakemake/persistence.py).
    return base64.urlsafe_b64encode(str(path).encode()).decode()


def assert_same_bits(store: Path, expected: xr.Dataset) -> None:
    found = xr.open_zarr(store).load()
    assert found.attrs == expected.attrs | {"complete": True}
    for name, variable in expected.data_vars.items():
        assert np.array_equal(
            found[name].values.view(np.int64), variable.values.view(np.int64)
        ), name


def kill_in_the_middle(folder: Path, *args) -> dict[str, int]:
    """Start a run, SIGKILL it and all its jobs once some tiles are done and
    others are being written; return the tiles done by then."""
    with background_snakemake(folder, *args) as run:
        wait_for(lambda: finished_tiles(folder) and running_tile_jobs(folder))
        os.killpg(run.pid, signal.SIGKILL)
    wait_for(lambda: not running_tile_jobs(folder))
    return finished_tiles(folder)


def test_a_killed_run_resumes_with_what_was_lost_and_the_same_bits(tmp_path, uninterrupted):
    folder = workspace(tmp_path, slow_config())
    done = kill_in_the_middle(folder, "--configfile", "mine.yaml")
    assert 0 < len(done) < 16
    assert not (folder / STORE).exists()  # never a half-written store at the final path

    unlocked = snakemake(folder, "--unlock")
    resumed = snakemake(folder)

    assert unlocked.returncode == 0, unlocked.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert_same_bits(folder / STORE, uninterrupted)
    # The tiles done before the kill were not computed again.
    logs = folder / "logs/compute_tile/paper/slow"
    for tile, written in done.items():
        assert (logs / f"{tile}.log").stat().st_mtime_ns == written, tile


def test_a_killed_run_resumes_even_without_snakemakes_records(tmp_path, uninterrupted):
    folder = workspace(tmp_path, slow_config())
    kill_in_the_middle(folder, "--configfile", "mine.yaml")
    shutil.rmtree(folder / ".snakemake")  # its locks and its incomplete marks

    resumed = snakemake(folder)

    assert resumed.returncode == 0, resumed.stderr
    assert_same_bits(folder / STORE, uninterrupted)


def test_a_job_killed_mid_write_is_retried_and_its_chunks_rewritten(
    tmp_path, uninterrupted
):
    folder = workspace(tmp_path, slow_config())
    with background_snakemake(folder, "--configfile", "mine.yaml", "--retries", "1") as run:
        wait_for(lambda: running_tile_jobs(folder))
        # As the kernel's out-of-memory killer would: one job, not Snakemake.
        os.kill(running_tile_jobs(folder)[0], signal.SIGKILL)

        output, _ = run.communicate(timeout=600)

    assert run.returncode == 0, output
    assert "Trying to restart job" in output
    assert_same_bits(folder / STORE, uninterrupted)


def test_a_second_run_in_the_same_folder_stops_at_the_lock(tmp_path, uninterrupted):
    folder = workspace(tmp_path, slow_config())
    with background_snakemake(folder, "--configfile", "mine.yaml") as first:
        wait_for(lambda: running_tile_jobs(folder))

        second = snakemake(folder)
        output, _ = first.communicate(timeout=600)

    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    assert first.returncode == 0, output
    assert_same_bits(folder / STORE, uninterrupted)
