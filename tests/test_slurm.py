"""The workflow on a real single-node Slurm cluster (tests/slurm/cluster.sh, from
Debian's slurm-wlm and munge) through the Slurm profile, against a local run.

Skipped where Slurm's programs are missing or we are not root, unless
RNN_LANDSCAPE_REQUIRE_SLURM=1 (as in CI), which turns that into a failure.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from conftest import REPO
from test_workflow import snakemake, workspace

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
# Rules whose jobs go to Slurm; init_store and finalize_store are localrules.
REMOTE_RULES = {"build_store", "compute_tile", "descend", "render_figure"}


def why_no_slurm() -> str | None:
    """What keeps this machine from starting the test cluster, or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [name for name in PROGRAMS if shutil.which(name, path=search) is None]
    if missing:
        return (
            f"Slurm's {', '.join(missing)} not found; on Debian:"
            " apt-get install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm missing: pip install -e '.[test]'"
    return None


def cluster(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER), command], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running cluster, stopped afterwards unless it was running before."""
    problem = why_no_slurm()
    if problem and os.environ.get("RNN_LANDSCAPE_REQUIRE_SLURM") == "1":
        pytest.fail(f"RNN_LANDSCAPE_REQUIRE_SLURM=1, but {problem}")
    if problem:
        pytest.skip(problem)
    running_before = cluster("status").returncode == 0

    started = cluster("start")
    assert started.returncode == 0, started.stderr
    yield
    if not running_before:
        stopped = cluster("stop")
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture
def slurm_config(tiny_config) -> dict:
    """Two tiles of `zoom` and one store each of `wide` and `sweep`, for both
    presets: ten compute jobs of one thread, so two run side by side on the
    two-core node; one figure."""
    config = dict(tiny_config)
    config["compute"] = {
        "threads": 1,
        "chunk": {"b": 8, "w": 8},
        "tile": {"b": 24, "w": 24},
    }
    config["figures"] = {"steps_sweep": tiny_config["figures"]["steps_sweep"]}
    return config


def slurm_jobs(folder: Path) -> list[dict]:
    """Every job Slurm still knows (MinJobAge) that ran in `folder`, as fields."""
    shown = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"],
        capture_output=True,
        text=True,
        check=True,
    )
    jobs = [
        dict(field.split("=", 1) for field in line.split() if "=" in field)
        for line in shown.stdout.splitlines()
    ]
    return [job for job in jobs if job.get("WorkDir") == str(folder)]


def rule_of(job: dict) -> str:
    # The plugin's comment: rule_<rule>_wildcards_<values>.
    return job["Comment"].removeprefix("rule_").split("_wildcards")[0]


def in_slurm_together(first: dict, second: dict) -> bool:
    """Both jobs submitted before either ended: Snakemake sent them side by side.

    Whether Slurm then runs them at the same moment depends on its free CPUs; jobs
    of a second, timed to the second, showed no overlap of run times in one CI run
    while the local reference run was busy on the same two cores.
    """
    submitted = max(datetime.fromisoformat(job["SubmitTime"]) for job in (first, second))
    ended = min(datetime.fromisoformat(job["EndTime"]) for job in (first, second))
    return submitted <= ended


def assert_same_store(path: Path, expected_path: Path) -> None:
    """Same metadata (attributes, chunks, encoding) and the same bytes in every
    variable and coordinate: NaN where the other has NaN, with the same bits."""
    metadata = json.loads((path / ".zmetadata").read_text())
    assert metadata == json.loads((expected_path / ".zmetadata").read_text())
    ds = xr.open_zarr(path).load()
    expected = xr.open_zarr(expected_path).load()
    assert ds.identical(expected)
    for name, variable in expected.variables.items():
        assert ds[name].dtype == variable.dtype, name
        assert ds[name].values.tobytes() == variable.values.tobytes(), name


def test_slurm_run_submits_every_job_and_matches_a_local_run_bit_for_bit(
    slurm_cluster, tmp_path, slurm_config
):
    (tmp_path / "slurm").mkdir()
    (tmp_path / "local").mkdir()
    on_slurm = workspace(tmp_path / "slurm", slurm_config)
    local = workspace(tmp_path / "local", slurm_config)
    environment = {
        **os.environ,
        # Read by the profile: a partition other than the default, and an account
        # (accepted as it is: the test cluster keeps no accounts).
        "SBATCH_PARTITION": "batch",
        "SBATCH_ACCOUNT": "rnnlandscape",
    }

    # timeout -k: a Snakemake waiting on a lost job ignores SIGTERM. The local
    # run goes on meanwhile: the Slurm run mostly waits on its status checks.
    slurm_run = subprocess.Popen(
        [
            *("timeout", "-k", "10", "240"),
            *(sys.executable, "-m", "snakemake"),
            *("--profile", "profiles/slurm", "--configfile", "mine.yaml"),
            # The first status check after 2 s, not 10: a test of short jobs.
            *("--slurm-init-seconds-before-status-checks", "2"),
        ],
        cwd=on_slurm,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reference = snakemake(local)
    _, stderr = slurm_run.communicate(timeout=300)
    assert reference.returncode == 0, reference.stderr
    assert slurm_run.returncode == 0, stderr[-5000:]

    # The account came from the profile, not from the plugin's guess.
    assert "No SLURM account given" not in stderr
    jobs = slurm_jobs(on_slurm)
    # Per preset: a descent, two tiles of zoom, wide and sweep whole, a figure.
    assert Counter(map(rule_of, jobs)) == {
        "descend": 2,
        "compute_tile": 4,
        "build_store": 4,
        "render_figure": 2,
    }
    assert all(job["JobState"] == "COMPLETED" for job in jobs), jobs
    assert {job["Partition"] for job in jobs} == {"batch"}
    assert {job["Account"] for job in jobs} == {"rnnlandscape"}
    tiles = [job for job in jobs if rule_of(job) == "compute_tile"]
    assert any(in_slurm_together(a, b) for a in tiles for b in tiles if a is not b)
    # The compute jobs' peak resident memory, as Snakemake's benchmarks measure
    # it, stays under the least memory any of them asked for.
    benchmarks = on_slurm.glob("logs/*/**/*.benchmark.tsv")
    peak_mb = max(pd.read_csv(path, sep="\t").max_rss.max() for path in benchmarks)
    compute = [job for job in jobs if rule_of(job) in ("build_store", "compute_tile")]
    asked_mb = min(int(job["MinMemoryNode"].removesuffix("M")) for job in compute)
    assert peak_mb < asked_mb

    stores = sorted(path.relative_to(local) for path in local.glob("results/*/**/*.zarr"))
    assert len(stores) == 2 * 3 + 2  # surfaces and trajectories, both presets
    for store in stores:
        assert_same_store(on_slurm / store, local / store)
