#!/usr/bin/env bash
# Run by Snakemake once, inside the new environment of rnn-landscape.yaml, from the
# folder Snakemake runs in: installs this package there from the repository,
# editable, so that jobs run the code of the checkout, as a `pip install -e .` does.
set -euo pipefail

if ! grep -qs '^name = "rnn-landscape"$' pyproject.toml; then
    echo "workflow/envs/rnn-landscape.post-deploy.sh: no pyproject.toml of rnn-landscape" \
        "in $PWD; run snakemake --use-conda from the repository root" >&2
    exit 1
fi
python -m pip install --no-input --disable-pip-version-check -e .
