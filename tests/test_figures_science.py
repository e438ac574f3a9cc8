import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from rnn_landscape.figures.bifurcation import bifurcation
from rnn_landscape.figures.common import save
from rnn_landscape.figures.derivatives import alignment, curvature, gradient_norm
from rnn_landscape.figures.walls import draw_theory, walls
from rnn_landscape.kernel import READOUTS, final_states
from rnn_landscape.walls import find_walls

matplotlib.use("Agg")


def legend_labels(figure) -> list[str]:
    legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes)]
    return [text.get_text() for legend in legends if legend for text in legend.get_texts()]


def lines_by_style(ax, linestyle) -> list:
    return [line for line in ax.get_lines() if line.get_linestyle() == linestyle]


def test_bifurcation_draws_branches_bistable_range_and_stored_states(tiny_stores):
    ds = xr.open_zarr(tiny_stores["paper", "sweep"])  # w = 5, b from -3 to 0

    figure = bifurcation(ds)

    (ax,) = figure.axes
    # Stable, unstable, stable: the S of Figure 3.
    assert len(lines_by_style(ax, "-")) == 2
    assert len(lines_by_style(ax, "--")) == 1
    labels = legend_labels(figure)
    assert labels[:3] == [
        "bistable: $-2.6556 < b < -2.3444$",
        "stable fixed point",
        "unstable fixed point (basin boundary)",
    ]
    assert "$x_{50}$ (stored)" in labels and "$x_0 = 0.5$" in labels
    assert "$x_0$ on the basin boundary: $b = -2.6123$" in labels
    (states,) = [line for line in ax.get_lines() if line.get_label() == "$x_{50}$ (stored)"]
    assert np.array_equal(states.get_ydata(), ds.state.sel(steps=50, w=5.0).values)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$b$", "$x$")
    assert ax.get_xlim() == (-3.0, 0.0)


def test_bifurcation_gives_each_step_count_its_own_marker(tiny_stores):
    ds = xr.open_zarr(tiny_stores["notebook", "sweep"])

    figure = bifurcation(ds, steps=[1, 10, 50])

    (ax,) = figure.axes
    series = [line for line in ax.get_lines() if "(stored)" in line.get_label()]
    assert [line.get_label() for line in series] == [
        f"$x_{{{t}}}$ (stored)" for t in (1, 10, 50)
    ]
    assert len({line.get_marker() for line in series}) == 3


def test_bifurcation_refuses_a_surface_with_many_w(tiny_stores):
    ds = xr.open_zarr(tiny_stores["paper", "wide"])

    with pytest.raises(ValueError, match="single w, got 21 values"):
        bifurcation(ds)


def test_walls_map_draws_the_loss_the_theory_and_the_found_points(tiny_stores):
    ds = xr.open_zarr(tiny_stores["paper", "wide"])  # w in [-4, 6], b in [-5, 5]

    figure = walls(ds)

    ax = figure.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert isinstance(mesh.norm, LogNorm)
    stored = ds.loss.sel(steps=50, target=0.7).values
    assert np.array_equal(mesh.get_array().reshape(stored.shape), stored)
    assert "E_{50}" in figure.axes[1].get_ylabel()  # the colour bar
    assert "log scale" in figure.axes[1].get_ylabel()

    labels = legend_labels(figure)
    assert any(label.startswith("predicted wall") for label in labels)
    assert any(label.startswith("fold") for label in labels)
    assert "wall found on the grid (walls.find_walls)" in labels
    (points,) = [line for line in ax.get_lines() if "found" in line.get_label()]
    found = find_walls(ds.loss.sel(steps=50, target=0.7))
    assert np.array_equal(points.get_xdata(), found.w.values)
    assert (ax.get_xlim(), ax.get_ylim()) == ((-4.0, 6.0), (-5.0, 5.0))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$w$", "$b$")


def test_walls_map_can_leave_out_the_found_points(tiny_stores):
    figure = walls(xr.open_zarr(tiny_stores["notebook", "wide"]), show_found=False)

    assert not any("found" in label for label in legend_labels(figure))


def test_draw_theory_labels_each_kind_once():
    # A region reaching w = -10: the sigmoid's flip needs w < -4.
    w = b = np.linspace(-10.0, 10.0, 81)
    dataset = xr.Dataset(
        coords={"w": w, "b": b}, attrs={"x0": 0.5, "activation": "sigmoid"}
    )
    ax = Figure().subplots()

    lines = draw_theory(ax, dataset)

    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [label.split(":")[0] for label in labels] == [
        "predicted wall",
        "fold (saddle-node)",
        "flip (period doubling)",
    ]
    assert len(lines) > len(labels)  # two wall lines, the fold stretch, two flips
    assert {line.get_linestyle() for line in lines} == {"-", "--", ":"}


def test_science_figures_save_as_png_and_pdf(tiny_stores, tmp_path):
    figures = {
        "bifurcation": bifurcation(xr.open_zarr(tiny_stores["paper", "sweep"])),
        "walls": walls(xr.open_zarr(tiny_stores["paper", "wide"])),
    }

    for name, figure in figures.items():
        paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
        save(figure, paths)
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[1].read_bytes()[:5] == b"%PDF-"


def test_walls_map_of_a_wide_surface_names_every_kind_of_curve():
    # Built here with the kernel, 201 x 201 over [-20, 20]^2 at T = 50: wide
    # enough for the flip curves (w < -4) that the tiny stores do not reach.
    w = b = np.linspace(-20.0, 20.0, 201)
    state = final_states(w[None], b[:, None], 0.5, [50], "sigmoid")
    loss = (READOUTS["sigmoid"](state) - 0.7) ** 2
    dataset = xr.Dataset(
        {
            "loss": (("steps", "target", "b", "w"), loss[:, None]),
            "state": (("steps", "b", "w"), state),
        },
        coords={"steps": [50], "target": [0.7], "b": b, "w": w},
        attrs={"x0": 0.5, "activation": "sigmoid", "readout": "sigmoid", "preset": "paper"},
    )

    figure = walls(dataset)

    kinds = [label.split(":")[0].split(" (")[0] for label in legend_labels(figure)]
    assert kinds == ["predicted wall", "fold", "flip", "wall found on the grid"]


def derivative_maps(dataset):
    """Each derivative map, by the name of the variable it draws."""
    return {
        "grad_norm": gradient_norm(dataset),
        "curvature": curvature(dataset),
        "alignment": alignment(dataset),
    }


def test_derivative_maps_draw_the_stored_slice_with_theory_and_a_colour_bar(tiny_stores):
    ds = xr.open_zarr(tiny_stores["paper", "wide"])  # derivatives: second

    for name, figure in derivative_maps(ds).items():
        ax, bar = figure.axes
        (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
        stored = ds[name].sel(steps=50, target=0.7).values
        assert np.array_equal(
            mesh.get_array().reshape(stored.shape), stored, equal_nan=True
        )
        assert any(label.startswith("predicted wall") for label in legend_labels(figure))
        assert bar.get_ylabel(), name
    assert isinstance(mesh.norm, Normalize) and (mesh.norm.vmin, mesh.norm.vmax) == (0, 1)


def test_one_exploding_point_does_not_blank_the_gradient_and_curvature_maps(tiny_stores):
    # Where x_0 sits exactly on the wall line the state never leaves the unstable
    # fixed point and the derivatives grow as (w act'(x*))^T: 1e15 against ~10
    # elsewhere (the notebook preset on wide_8). The map must still show the rest.
    ds = xr.open_zarr(tiny_stores["notebook", "wide"]).load()
    rng = np.random.default_rng(0)
    shape = ds.grad_norm.shape
    ds["grad_norm"].values = rng.uniform(5.0, 40.0, shape)
    ds["curvature"].values = rng.uniform(-20.0, 20.0, shape)
    ds["grad_norm"].values[-1, 0, 11, 10] = 2.5e15
    ds["curvature"].values[-1, 0, 11, 10] = 3.2e30

    for name in ("grad_norm", "curvature"):
        figure = derivative_maps(ds)[name]

        (mesh,) = [c for c in figure.axes[0].collections if isinstance(c, QuadMesh)]
        values = np.abs(ds[name].isel(steps=-1, target=0))
        threshold = getattr(mesh.norm, "linthresh", None) or mesh.norm.vmin
        # Below the scale's bottom (or in a symmetric log scale's linear part):
        # at most a few percent of the points, and the outlier keeps the top.
        assert float((values < threshold).mean()) <= 0.05, name
        assert mesh.norm.vmax == float(values.max()), name


def test_walls_map_keeps_the_predicted_wall_visible_beside_the_found_points(tiny_stores):
    figure = walls(xr.open_zarr(tiny_stores["paper", "wide"]))

    ax = figure.axes[0]
    (found,) = [line for line in ax.get_lines() if "found" in line.get_label()]
    predicted = [line for line in ax.get_lines() if line.get_color() == "tab:red"]
    # Points drawn over a line of their own width hid it: the band is wider than
    # a point, and under it.
    assert predicted and all(
        line.get_linewidth() > 2 * found.get_markersize() for line in predicted
    )
    assert all(line.get_zorder() < found.get_zorder() for line in predicted)
