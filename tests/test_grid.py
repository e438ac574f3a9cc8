import numpy as np
import pytest

from rnn_landscape.grid import Axis, AxisError, make_axis


@pytest.mark.parametrize(
    ("start", "stop", "spacing", "count"),
    [
        (4.5, 5.4, 0.005, 181),  # Figure 6 zoom, w: arange would give 180 or 181
        (-3.0, -1.0, 0.005, 401),
        (-20.0, 20.0, 0.05, 801),
        (0.0, 0.3, 0.1, 4),  # 0.3 / 0.1 = 2.9999999999999996 in floats
        (0.0, 1.0, 0.1, 11),
        (-8.0, 8.0, 0.05, 321),
    ],
)
def test_spacing_gives_whole_count_with_both_ends(start, stop, spacing, count):
    axis = make_axis({"start": start, "stop": stop, "spacing": spacing})

    values = axis.values
    assert values.size == count
    assert values[0] == start and values[-1] == stop
    np.testing.assert_allclose(np.diff(values), spacing, rtol=1e-9)


def test_num_gives_exactly_num_points():
    axis = make_axis({"start": -1.0, "stop": 2.0, "num": 7})

    assert axis.values.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_number_is_a_single_point():
    axis = make_axis(5)

    assert axis.values.tolist() == [5.0]
    assert axis.values.dtype == np.float64


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"start": 0.0, "stop": 1.0, "spacing": 0.3}, "does not fit the range"),
        ({"start": 0.0, "stop": 1.0, "spacing": 2.0}, "does not fit the range"),
        ({"start": 1.0, "stop": 1.0, "spacing": 0.1}, "start must be below stop"),
        ({"start": 2.0, "stop": 1.0, "num": 3}, "start must be below stop"),
        ({"start": 0.0, "stop": 1.0, "num": 1}, "num must be at least 2"),
        ({"start": 0.0, "stop": 1.0}, "exactly one of"),
        ({"start": 0.0, "stop": float("inf"), "num": 3}, "finite"),
    ],
)
def test_bad_axes_are_refused_with_the_reason(spec, message):
    with pytest.raises(AxisError, match=message):
        make_axis(spec)


@pytest.mark.parametrize(
    ("start", "stop", "num"), [(0.0, 1.0, 1), (0.0, 1.0, 0), (1.0, 0.0, 5), (0.0, 0.0, 2)]
)
def test_axes_arriving_as_json_are_checked_too(start, stop, num):
    with pytest.raises(AxisError):
        Axis(start, stop, num)
