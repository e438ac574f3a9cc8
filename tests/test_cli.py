import json

import pytest

from rnn_landscape import cli
from rnn_landscape.cli import main


def test_render_draws_one_figure_from_a_store_in_every_format_asked(tiny_stores, tmp_path):
    outs = [tmp_path / "zoom.png", tmp_path / "zoom.svg"]
    args = ["render", "figure6_zoom", "--store", str(tiny_stores["paper", "zoom"])]
    args += ["--options", json.dumps({"stride": 4})]

    code = main(args + [arg for out in outs for arg in ("--out", str(out))])

    assert code == 0
    assert outs[0].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in outs[1].read_bytes()[:500]


def test_a_missing_store_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "render",
                "steps_sweep",
                "--store",
                str(tmp_path / "nope.zarr"),
                "--out",
                str(tmp_path / "x.png"),
            ]
        )

    assert stop.value.code == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_the_cli_offers_exactly_the_figures_there_are():
    from rnn_landscape.figures import RENDERERS

    assert sorted(cli.FIGURES) == sorted(RENDERERS)
