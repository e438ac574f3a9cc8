import math

import matplotlib
import matplotlib.style
import numpy as np
import pytest
import xarray as xr
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from rnn_landscape.figures import figure6_zoom, steps_sweep, wide_panels
from rnn_landscape.figures.common import save

matplotlib.use("Agg")


def wire_lines(ax) -> list[np.ndarray]:
    (wire,) = [c for c in ax.collections if isinstance(c, Line3DCollection)]
    return wire._segments3d


@pytest.mark.parametrize("style", ["default", "classic"])
def test_zoom_draws_every_stride_th_line_at_full_resolution(tiny_stores, style):
    ds = xr.open_zarr(tiny_stores["paper", "zoom"])  # 41 b x 19 w points

    with matplotlib.style.context(style):
        figure = figure6_zoom(ds, elevation=32, azimuth=10, stride=2)

    (ax,) = figure.axes
    lines = wire_lines(ax)
    # b rows 0, 2, ..., 40 and w columns 0, 2, ..., 18, every point along each.
    assert len(lines) == math.ceil(41 / 2) + math.ceil(19 / 2)
    assert sorted({len(line) for line in lines}) == [19, 41]
    assert (ax.elev, ax.azim) == (32, 10)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$w$", "$b$")
    assert "0.7" in ax.get_title()


def test_zoom_draws_the_stored_loss(tiny_stores):
    ds = xr.open_zarr(tiny_stores["notebook", "zoom"])

    figure = figure6_zoom(ds, stride=1)

    heights = np.concatenate([line[:, 2] for line in wire_lines(figure.axes[0])])
    stored = ds.loss.sel(steps=50, target=1.0).values
    assert heights.max() == stored.max() and heights.min() == stored.min()


def test_wide_panels_nest_each_region_in_its_colour(tiny_stores):
    inner, outer = (xr.open_zarr(tiny_stores["paper", s]) for s in ("zoom", "wide"))

    figure = wide_panels([inner, outer], colors=["blue", "red"], stride=2)

    (ax,) = figure.axes
    colours = [tuple(c.get_color()[0][:3]) for c in ax.collections]
    assert colours == [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]  # outer drawn first
    assert ax.get_xlim() == (-4.0, 6.0)


def test_steps_sweep_has_one_panel_per_step_count_with_shared_axes(tiny_stores):
    ds = xr.open_zarr(tiny_stores["paper", "sweep"])

    figure = steps_sweep(ds, columns=2)

    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["$T = 1$", "$T = 2$", "$T = 10$", "$T = 50$"]
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[3])
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[3])
    (curve,) = axes[3].get_lines()[:1]
    stored = ds.loss.sel(steps=50, target=0.7, w=5.0).values
    assert np.array_equal(curve.get_ydata(), stored)


def test_figures_save_as_png_and_pdf(tiny_stores, tmp_path):
    figure = steps_sweep(xr.open_zarr(tiny_stores["notebook", "sweep"]))
    paths = [tmp_path / "sweep.png", tmp_path / "sweep.pdf"]

    save(figure, paths)

    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
