import json
import shlex
import shutil
import subprocess

import pytest

import rnn_landscape
from rnn_landscape import cli, store
from rnn_landscape.cli import main
from rnn_landscape.engine import compute_tile
from rnn_landscape.variables import VARIABLES


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


# `list` and `show`, on a results folder laid out as the workflow writes it: the
# tiny config's stores copied in, and a store being built beside one of them.


@pytest.fixture
def results(tiny, tiny_stores, tmp_path):
    """results/surfaces/<preset>/<surface>.zarr for the tiny config, and
    paper/wide.zarr.partial with its first tile written: b[0:16] x w[0:16], 2 of
    the 3 x 2 chunk blocks, at 2 step counts, for 10 variables: 40 of 120 chunks."""
    root = tmp_path / "results"
    for (preset, surface), path in tiny_stores.items():
        shutil.copytree(path, root / "surfaces" / preset / f"{surface}.zarr")
    job = tiny.job("paper", "wide")
    partial = root / "surfaces" / "paper" / "wide.zarr.partial"
    store.create_template(job, partial)
    compute_tile(job, partial, 0, threads=1)
    return root


def test_list_shows_every_store_with_its_grid_steps_targets_and_status(results, capsys):
    code = main(["list", str(results)])

    assert code == 0  # a store being built is no problem
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{results / 'surfaces'}: 7 stores"
    rows = [line.split() for line in lines[2:9]]
    assert [row[:2] for row in rows] == [
        ["notebook", "sweep"], ["notebook", "wide"], ["notebook", "zoom"],
        ["paper", "sweep"], ["paper", "wide"], ["paper", "wide"], ["paper", "zoom"],
    ]  # fmt: skip
    by_name = {" ".join(row[:2]): " ".join(row[2:]) for row in rows[:5] + rows[6:]}
    # b x w, steps, targets, size on disk, status, as the tiny config has them
    assert by_name["notebook sweep"].startswith("7 x 1 1..50 (4) 1, 0 ")
    assert by_name["paper wide"].startswith("23 x 21 20, 50 0.7 ")
    assert by_name["paper zoom"].startswith("41 x 19 50 0.7 ")
    assert all(status.endswith(" complete") for status in by_name.values())
    assert " ".join(rows[5]).endswith("partial: 40/120 chunks")
    assert "being built, or were left by an interrupted run" in lines[9]


def test_list_as_json_gives_the_numbers_and_the_space_du_counts(results, capsys):
    code = main(["list", "--json", str(results)])

    listed = json.loads(capsys.readouterr().out)
    assert code == 0 and listed["results"] == str(results)
    stores = {(s["preset"], s["surface"], s["status"]): s for s in listed["stores"]}
    sweep = stores["notebook", "sweep", "complete"]
    assert sweep["sizes"] == {"steps": 4, "target": 2, "b": 7, "w": 1}
    assert sweep["steps"] == [1, 2, 10, 50] and sweep["targets"] == [1.0, 0.0]
    assert sweep["variables"] == ["state", "loss"] and sweep["problems"] == []
    partial = stores["paper", "wide", "partial"]
    assert (partial["chunks_written"], partial["chunks"]) == (40, 120)
    assert partial["path"] == (results / "surfaces/paper/wide.zarr.partial").as_posix()
    for summary in listed["stores"]:
        du = subprocess.run(["du", "-sB1", summary["path"]], capture_output=True, text=True)
        assert summary["bytes_on_disk"] == int(du.stdout.split()[0]), summary["path"]


def test_list_names_an_incomplete_store_and_exits_one(results, capsys):
    (results / "surfaces" / "paper" / "zoom.zarr" / "loss" / "0.0.0.0").unlink()

    code = main(["list", str(results)])

    out = capsys.readouterr().out
    assert code == 1
    row = next(line for line in out.splitlines() if line.split()[:2] == ["paper", "zoom"])
    assert row.rstrip().endswith("incomplete")
    assert "paper/zoom: 1 chunk file missing (loss/0.0.0.0)" in out
    assert "rnn-landscape check STORE" in out


def test_list_of_an_empty_folder_says_so_and_of_no_folder_is_a_usage_error(
    tmp_path, capsys
):
    assert main(["list", str(tmp_path)]) == 0
    assert "no stores yet" in capsys.readouterr().out

    assert main(["list", str(tmp_path / "nowhere")]) == 2
    assert "no results folder at" in capsys.readouterr().err


def test_show_summarises_dimensions_variables_attributes_and_chunking(tiny_stores, capsys):
    path = tiny_stores["notebook", "sweep"]

    code = main(["show", str(path)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"{path.as_posix()}: complete, ")
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert "steps 4 values 1, 2, 10, 50" in rows
    assert "target 2 values 1, 0" in rows
    assert "b 7 values -3 .. 0, spacing 0.5" in rows
    assert "w 1 value 5" in rows
    assert "variables (float64; chunks of 1 steps x 1 target x 8 b x 16 w)" in rows
    assert "state (steps, b, w) final state x_T" in rows
    assert "loss (steps, target, b, w) loss (identity(x_T) - target)^2" in rows
    assert "preset notebook" in rows and "surface sweep" in rows
    assert "loss squared_error" in rows
    assert f"rnn_landscape_version {rnn_landscape.__version__}" in rows
    assert any(row.startswith("model x_t = w * sigmoid(x_(t-1)) + b") for row in rows)


def test_show_as_json_matches_the_job_the_store_records(tiny, tiny_stores, capsys):
    path = tiny_stores["paper", "wide"]
    job = tiny.job("paper", "wide")

    assert main(["show", "--json", str(path)]) == 0

    info = json.loads(capsys.readouterr().out)
    assert info["status"] == "complete" and info["chunks_written"] == info["chunks"] == 120
    b = info["dimensions"]["b"]
    assert (b["size"], b["first"], b["last"]) == (23, -5.0, 5.0)
    assert b["spacing"] == pytest.approx(10 / 22, rel=1e-11)  # num: 23, to 12 digits
    assert info["dimensions"]["w"] == {
        "size": 21,
        "first": -4.0,
        "last": 6.0,
        "spacing": 0.5,
    }
    assert info["dimensions"]["steps"]["values"] == [20, 50]
    assert list(info["variables"]) == list(VARIABLES["second"])
    loss = info["variables"]["loss"]
    assert loss["dims"] == ["steps", "target", "b", "w"] and loss["chunks"] == [1, 1, 8, 16]
    assert info["attributes"]["config"] == json.loads(job.store_json())
    assert info["attributes"]["complete"] is True


def test_show_of_a_store_being_built_or_damaged_exits_one(results, capsys):
    partial = results / "surfaces" / "paper" / "wide.zarr.partial"

    assert main(["show", str(partial)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{partial.as_posix()}: partial, 40 of 120 chunk files written")

    zoom = results / "surfaces" / "paper" / "zoom.zarr"
    (zoom / "state" / "0.0.0").unlink()
    assert main(["show", str(zoom)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{zoom.as_posix()}: incomplete, ")
    assert "not complete: 1 chunk file missing (state/0.0.0)" in out


def test_show_of_a_folder_that_is_no_store_is_a_usage_error(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    assert "is not a Zarr format 2 store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["show", str(tmp_path / "nope.zarr")])
    assert stop.value.code == 2


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["check"], ["render"]])
def test_help_of_every_command_people_use_gives_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])

    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert cli.EXIT_CODES in text
    for code in ("0", "1", "2"):
        assert f"\n  {code}  " in text
    assert "exit codes" in cli.__doc__.lower()


def test_render_writes_one_figure_on_demand_to_any_path(tiny_stores, tmp_path, capsys):
    out = tmp_path / "my" / "figures" / "sweep.pdf"  # folders that do not exist yet
    store_path = str(tiny_stores["notebook", "sweep"])

    code = main(["render", "steps_sweep", "--store", store_path, "--out", str(out)])

    assert code == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "--out" in capsys.readouterr().out


def test_the_render_examples_in_the_help_are_valid_commands():
    commands = [
        shlex.split(example.replace("\\\n", " "))
        for example in cli.RENDER_EXAMPLES.split("\n  rnn-landscape ")[1:]
    ]

    assert len(commands) == 3
    for command in commands:
        args = cli.build_parser().parse_args(command)
        assert args.command == "render" and args.out and args.store
        json.loads(args.options)


def test_the_installed_command_lists_a_results_folder(results):
    done = subprocess.run(
        ["rnn-landscape", "list", str(results)], capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{results / 'surfaces'}: 7 stores")
