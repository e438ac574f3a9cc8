"""The linters CI enforces: `snakemake --lint`, `ruff format` and `ruff check`."""

import subprocess
import sys

import pytest

from conftest import REPO
from test_workflow import snakemake, workspace

PYTHON_SOURCES = ["src", "tests", "benchmarks", "examples"]


def test_snakemake_lint_finds_nothing(tmp_path):
    # A copy: even linting writes a log under .snakemake/.
    folder = workspace(tmp_path)

    lint = snakemake(folder, "--lint")

    # Snakemake 9.27 ignores `--lint json` (the CLI drops the format), so the text:
    # exit status 1 and one "Lints for ..." block per file or rule with a lint.
    output = lint.stdout + lint.stderr
    assert lint.returncode == 0, output
    assert "Lints for" not in output
    assert "your workflow is in a good condition" in output


@pytest.mark.parametrize(
    "command", [["format", "--check"], ["check"]], ids=["format", "check"]
)
def test_ruff_finds_nothing(command):
    # No cache: the repository is only read.
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *PYTHON_SOURCES],
        cwd=REPO,
        capture_output=True,
        text=True,
    )

    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
