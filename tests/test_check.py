"""`rnn-landscape check` and the refusals of damaged stores, on real stores written
by the engine, copied and then damaged as a disk, a script or a person would: chunk
files deleted, metadata edited, values changed through zarr."""

import json
import shutil

import numpy as np
import pytest
import xarray as xr
import zarr

from conftest import python_loss
from rnn_landscape import store
from rnn_landscape.cli import main
from rnn_landscape.config import Block, Descent, Job, Preset, Surface
from rnn_landscape.engine import compute_surface, compute_tile
from rnn_landscape.grid import Axis
from rnn_landscape.integrity import NotAStore, check_store, sample_points
from rnn_landscape.trajectories import descend_preset

# Types that JSON gives back; exact types, since NumPy's float64 is a float too.
JSON_TYPES = (str, int, float, bool, type(None))


def json_native(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_native(v) for k, v in value.items())
    if isinstance(value, list):
        return all(json_native(item) for item in value)
    return type(value) in JSON_TYPES


@pytest.fixture
def wide(tiny_stores, tmp_path):
    """A copy of the paper preset's `wide` store (23 b x 21 w, steps 20 and 50,
    one target, second derivatives; chunks of 8 b x 16 w: 3 x 2 blocks)."""
    return shutil.copytree(tiny_stores["paper", "wide"], tmp_path / "wide.zarr")


def chunk_files(path, name) -> set[str]:
    return {file.name for file in (path / name).iterdir() if not file.name.startswith(".")}


def problems(report, area) -> list[str]:
    return [problem.message for problem in report.problems if problem.area == area]


def set_attribute(path, name, value) -> None:
    """Edit a dataset attribute as zarr's API does, consolidated again after."""
    group = zarr.open_group(path, mode="r+", zarr_format=2, use_consolidated=False)
    group.attrs[name] = value
    zarr.consolidate_metadata(path, zarr_format=2)


@pytest.mark.parametrize("preset", ["paper", "notebook"])
@pytest.mark.parametrize("surface", ["zoom", "wide", "sweep"])
def test_every_store_the_engine_writes_passes_every_check(tiny_stores, preset, surface):
    report = check_store(tiny_stores[preset, surface])

    assert report.ok, report.text()
    assert report.skipped == []
    assert report.checked  # and says what it checked


def test_stores_keep_their_attributes_in_json_types_through_plain_xarray(
    tiny, tiny_config, tiny_stores
):
    for (preset, surface), path in tiny_stores.items():
        ds = xr.open_zarr(path)
        written = {**store.surface_attrs(tiny.job(preset, surface)), "complete": True}

        assert ds.attrs == written
        for name, value in ds.attrs.items():
            assert json_native(value) and type(value) is type(written[name]), name
        for name, variable in ds.variables.items():
            assert variable.attrs["long_name"], name
            assert all(json_native(value) for value in variable.attrs.values()), name
        assert ds.attrs["x0"] == tiny_config["presets"][preset]["x0"]
        assert (ds.attrs["preset"], ds.attrs["surface"]) == (preset, surface)
        assert ds.attrs["readout"] == tiny_config["presets"][preset]["readout"]


def test_numpy_numbers_in_a_preset_come_back_as_the_plain_numbers_written(tmp_path):
    preset = Preset("np", np.float64(0.25), "sigmoid", "sigmoid", (np.float64(0.7),))
    surface = Surface("few", w=Axis(1.0, 2.0, 3), b=Axis(0.0, 1.0, 2), steps=(3,))
    job = Job(preset, surface, chunk=Block(2, 3), tile=Block(2, 3))

    compute_surface(job, tmp_path / "few.zarr", threads=1)

    written = store.surface_attrs(job)
    assert type(written["x0"]) is float
    back = xr.open_zarr(tmp_path / "few.zarr").attrs
    assert type(back["x0"]) is float and back["x0"] == 0.25
    assert json.loads(back["config"])["preset"]["x0"] == 0.25


def test_samples_reach_every_chunk_block_before_any_gets_two(tiny):
    job = tiny.job("paper", "wide")  # b blocks 0:8, 8:16, 16:23; w blocks 0:16, 16:21

    b, w = sample_points(job, samples=6, seed=3)

    assert sorted(zip(b // 8, w // 16, strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1),
    ]  # fmt: skip
    again = sample_points(job, samples=6, seed=3)
    other = sample_points(job, samples=6, seed=4)
    assert np.array_equal(b, again[0]) and np.array_equal(w, again[1])
    assert not (np.array_equal(b, other[0]) and np.array_equal(w, other[1]))
    b, w = sample_points(job, samples=40, seed=0)
    assert len(set(zip(b, w, strict=True))) == 40
    b, w = sample_points(job, samples=483, seed=0)  # the whole grid: every point
    assert sorted(zip(b, w, strict=True)) == [(i, j) for i in range(23) for j in range(21)]


def test_a_deleted_chunk_is_named_and_the_store_refused(wide, tmp_path, caplog, capsys):
    # steps index 1 (T = 50), target 0, b rows 16:23, w columns 16:21
    (wide / "loss" / "1.0.2.1").unlink()

    report = check_store(wide)

    assert not report.ok
    missing = problems(report, "completeness")
    assert len(missing) == 1 and "loss/1.0.2.1" in missing[0]
    assert "steps=50" in missing[0] and "reads as NaN" in missing[0]
    assert [p.area for p in report.problems] == ["completeness"]  # values not blamed
    with pytest.raises(store.IncompleteStore, match=r"loss/1\.0\.2\.1"):
        store.open_surface(wide)

    assert main(["check", str(wide)]) == 1
    out = capsys.readouterr().out
    assert "1 problem" in out and "loss/1.0.2.1" in out and "snakemake" in out

    figure = tmp_path / "zoom.png"
    code = main(["render", "figure6_zoom", "--store", str(wide), "--out", str(figure)])
    assert code == 1 and not figure.exists()
    refusal = caplog.text
    assert str(wide) in refusal and "loss/1.0.2.1" in refusal
    assert "run snakemake again" in refusal and "Traceback" not in refusal


def test_a_store_marked_incomplete_is_reported_and_refused(wide, tmp_path, caplog):
    set_attribute(wide, "complete", False)

    report = check_store(wide)

    assert problems(report, "completeness") == [
        "attribute 'complete' is false, not true: never finalized, or marked"
        " incomplete since"
    ]
    assert len(report.problems) == 1
    figure = tmp_path / "zoom.png"
    code = main(["render", "figure6_zoom", "--store", str(wide), "--out", str(figure)])
    assert code == 1 and not figure.exists()
    assert "'complete' is false" in caplog.text and str(wide) in caplog.text
    assert main(["walls", str(wide), "--out", str(tmp_path / "walls.csv")]) == 1


def test_a_store_without_consolidated_metadata_is_refused(wide):
    (wide / ".zmetadata").unlink()

    report = check_store(wide)

    assert problems(report, "metadata") == [
        "no consolidated metadata (.zmetadata): finalize writes it, and open_zarr reads it"
    ]
    with pytest.raises(store.IncompleteStore, match="no consolidated metadata"):
        store.open_surface(wide)


def test_an_attribute_edited_in_one_copy_of_the_metadata_only_is_found(wide):
    attrs_file = wide / ".zattrs"
    attrs = json.loads(attrs_file.read_text())
    attrs["x0"] = 0.25
    attrs_file.write_text(json.dumps(attrs))

    report = check_store(wide)

    assert problems(report, "metadata") == [
        ".zattrs differs from its copy in .zmetadata in x0: one of them was edited after"
        " finalize"
    ]


def test_attributes_are_checked_for_type_and_against_the_job(wide):
    consolidated = json.loads((wide / ".zmetadata").read_text())
    attrs = consolidated["metadata"][".zattrs"]
    attrs.update(x0="0.5", preset="other", loss="absolute_error")
    del attrs["model"]
    (wide / ".zmetadata").write_text(json.dumps(consolidated))

    report = check_store(wide)

    assert problems(report, "attributes") == [
        "'x0' is '0.5', expected a number",
        "'model' is missing",
        "'preset' is 'other', but the job in 'config' says 'paper'",
        "'loss' is 'absolute_error', expected 'squared_error', the only loss this"
        " package computes",
    ]
    assert len(problems(report, "metadata")) == 1  # .zattrs no longer matches


def test_a_changed_value_is_caught_where_every_point_is_recomputed(tiny, wide, capsys):
    array = zarr.open_group(wide, mode="r+", zarr_format=2)["grad_w"]
    original = float(array[1, 0, 3, 4])  # T = 50, b = -5 + 3 * 10/22, w = -4 + 4 * 0.5
    array[1, 0, 3, 4] = original * (1 + 1e-12)
    changed = float(array[1, 0, 3, 4])
    surface = tiny.surfaces["wide"]
    b, w = surface.b.values[3], surface.w.values[4]
    # The store's loss there, against an independent loop: the store was right.
    loss = float(xr.open_zarr(wide).loss[1, 0, 3, 4])
    assert loss == pytest.approx(python_loss(w, b, 0.5, 50, 0.7, "sigmoid"), rel=1e-12)

    report = check_store(wide, samples=23 * 21)

    assert [p.area for p in report.problems] == ["values"]
    message = report.problems[0].message
    assert message.startswith("grad_w/1.0.0.0: 1 of the ")
    assert f"stored {changed!r}, computed {original!r}" in message
    assert "steps=50, target=0.7" in message
    assert main(["check", str(wide), "--samples", "483", "--rtol", "1e-11"]) == 0
    assert "within a relative 1e-11" in capsys.readouterr().out


def test_one_ulp_in_every_chunk_is_caught_with_the_default_sample(wide):
    array = zarr.open_group(wide, mode="r+", zarr_format=2)["hess_ww"]
    array[...] = np.nextafter(array[...], np.inf)

    report = check_store(wide)

    named = {message.split(":")[0] for message in problems(report, "values")}
    assert named == {f"hess_ww/{chunk}" for chunk in chunk_files(wide, "hess_ww")}
    assert len(named) == 2 * 3 * 2
    assert len(report.problems) == len(named)
    # One ulp is at most 2^-52 = 2.2e-16 of a value: last bits, which 1e-15 allows.
    assert "--rtol 1e-15 would accept them" in report.notes[0]
    assert check_store(wide, rtol=1e-15).ok


def test_every_problem_is_listed_not_only_the_first(wide, capsys):
    (wide / "state" / "0.0.1").unlink()
    (wide / "grad_b" / "1.0.1.0").unlink()
    group = zarr.open_group(wide, mode="r+", zarr_format=2, use_consolidated=False)
    del group["alignment"]
    group["w"][0] = -4.5
    group.attrs["complete"] = False
    zarr.consolidate_metadata(wide, zarr_format=2)

    report = check_store(wide)

    assert problems(report, "variables") == [
        "alignment missing: derivatives 'second' asks for state, loss, grad_w, grad_b,"
        " grad_norm, hess_ww, hess_wb, hess_bb, curvature, alignment"
    ]
    assert problems(report, "coordinates") == [
        "'w' differs from the job in 'config' at 1 of 21 values, first at index 0:"
        " -4.5, the job's -4.0"
    ]
    incomplete = problems(report, "completeness")
    assert len(incomplete) == 3 and "'complete' is false" in incomplete[0]
    assert "grad_b/1.0.1.0" in incomplete[1] and "state/0.0.1" in incomplete[2]
    assert report.skipped == ["values computed again: the store's 'w' is not the job's"]

    assert main(["check", str(wide), "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False and len(printed["problems"]) == 5
    assert {"area", "message"} == set(printed["problems"][0])


def test_a_path_that_is_no_store_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "folder").mkdir()

    with pytest.raises(NotAStore):
        check_store(tmp_path / "folder")
    assert main(["check", str(tmp_path / "folder")]) == 2
    assert "not a Zarr format 2 store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["check", str(tmp_path / "nope.zarr")])
    assert stop.value.code == 2
    with pytest.raises(SystemExit) as stop:
        main(["check", str(tmp_path / "folder"), "--samples", "-1"])
    assert stop.value.code == 2


def test_a_good_store_checks_ok_from_the_command_line(tiny_stores, capsys):
    code = main(["check", str(tiny_stores["notebook", "sweep"])])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].endswith("sweep.zarr: OK")
    assert "all 7 grid points computed again" in out and "bit for bit" in out


def test_finalize_refuses_a_template_with_a_tile_never_written(tiny, tmp_path):
    job = tiny.job("paper", "wide")  # tiles of 16 x 16 points, 2 x 1 chunks each
    template = tmp_path / "wide.zarr.partial"
    store.create_template(job, template)
    compute_tile(job, template, 1, threads=1)  # b[0:16] x w[16:21]: 2 of 6 blocks

    # 4 blocks x 2 step counts x 10 variables, the first in name order
    with pytest.raises(store.IncompleteStore, match=r"80 chunk.*alignment/0\.0\.0\.0"):
        store.finalize(job, template, tmp_path / "wide.zarr")

    assert not (tmp_path / "wide.zarr").exists()
    attrs = zarr.open_group(template, mode="r", zarr_format=2).attrs
    assert attrs["complete"] is False


def test_a_chunk_of_nan_only_is_written_so_it_is_not_taken_for_a_missing_one(
    tiny, tmp_path
):
    job = tiny.job("paper", "sweep")  # one chunk per step count
    template = tmp_path / "sweep.zarr.partial"
    store.create_template(job, template)
    nan = {
        "state": np.full((4, 7, 1), np.nan),
        "loss": np.full((4, 1, 7, 1), np.nan),
    }

    store.write_chunk(template, nan, slice(0, 7), slice(0, 1))

    assert chunk_files(template, "loss") == {"0.0.0.0", "1.0.0.0", "2.0.0.0", "3.0.0.0"}
    assert chunk_files(template, "state") == {"0.0.0", "1.0.0", "2.0.0", "3.0.0"}


def test_trajectories_still_render_beside_a_complete_surface(tiny, tiny_stores, tmp_path):
    runs = tmp_path / "paper.zarr"
    descent = Descent(
        starts=((5.0, -2.0),), steps=50, learning_rate=0.1, iterations=5, threshold=1.0
    )
    descend_preset(tiny.presets["paper"], descent, runs)
    figure = tmp_path / "trajectories.png"

    code = main(
        ["render", "trajectories", "--store", str(tiny_stores["paper", "zoom"])]
        + ["--store", str(runs), "--options", '{"stride": 4}', "--out", str(figure)]
    )

    assert code == 0 and figure.read_bytes()[:4] == b"\x89PNG"


def test_a_store_of_descent_runs_is_named_as_such_not_reported_broken(tmp_path, capsys):
    # A new-user trial ran check on results/trajectories/paper.zarr and was told
    # to delete a healthy store.
    from rnn_landscape.trajectories import descend_preset

    preset = Preset(
        "paper", x0=0.5, activation="sigmoid", readout="sigmoid", targets=(0.7,)
    )
    descent = Descent(
        starts=((4.94, -2.9),), steps=50, learning_rate=0.1, iterations=2, threshold=1.0
    )
    descend_preset(preset, descent, tmp_path / "paper.zarr")

    code = main(["check", str(tmp_path / "paper.zarr")])

    assert code == 2
    assert "holds gradient descent runs" in capsys.readouterr().err
