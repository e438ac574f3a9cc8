"""Exact derivatives against closed forms and finite differences; summaries
against numpy's eigensolver."""

import math

import numpy as np
import pytest

from conftest import is_smooth, python_loss
from rnn_landscape import kernel, quantities


def test_linear_jets_match_the_closed_forms_of_the_paper():
    # With act(x) = x and b = 0, x_T = w^T x0 (the paper's section 2.1).
    w, x0, steps = np.array([0.5, 0.9, 1.1, 2.0]), 0.7, [1, 2, 7, 30]

    jets = kernel.final_jets(w, 0.0, x0, steps, "linear", order=2)

    for k, t in enumerate(steps):
        x, x_w, _, x_ww, _, _ = jets[k]
        np.testing.assert_allclose(x, w**t * x0, rtol=1e-14)
        np.testing.assert_allclose(x_w, t * x0 * w ** (t - 1), rtol=1e-13)
        np.testing.assert_allclose(x_ww, t * (t - 1) * x0 * w ** (t - 2), rtol=1e-13)


def test_linear_jets_in_b_match_the_geometric_sum():
    # x_T = w^T x0 + b (w^T - 1) / (w - 1): linear in b.
    w, b, x0, t = np.array([0.5, 0.9, 1.1]), 0.3, 0.7, 12

    (jet,) = kernel.final_jets(w, b, x0, [t], "linear", order=2)

    np.testing.assert_allclose(jet[2], (w**t - 1) / (w - 1), rtol=1e-13)
    np.testing.assert_allclose(
        jet[4], (t * w ** (t - 1) * (w - 1) - (w**t - 1)) / (w - 1) ** 2, rtol=1e-12
    )
    assert np.all(jet[5] == 0.0)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_one_step_jets_are_the_map_itself(activation):
    act = {"sigmoid": 1.0 / (1.0 + math.exp(-0.5)), "tanh": math.tanh(0.5)}[activation]
    w, b = np.array([-3.0, 0.5, 5.0]), np.array([1.0, -2.0, 0.25])

    (jet,) = kernel.final_jets(w, b, 0.5, [1], activation, order=2)

    np.testing.assert_allclose(jet[0], w * act + b, rtol=1e-15)
    np.testing.assert_allclose(jet[1], act, rtol=1e-15)
    assert np.all(jet[2] == 1.0) and np.all(jet[3:] == 0.0)


def test_jets_carry_the_same_state_as_the_plain_kernel():
    w, b = np.meshgrid(np.linspace(-8, 8, 41), np.linspace(-6, 6, 37))

    states = kernel.final_states(w, b, 0.5, [3, 50])
    first = kernel.final_jets(w, b, 0.5, [3, 50], order=1)
    second = kernel.final_jets(w, b, 0.5, [3, 50], order=2)

    # Same operations on x in every carrier: turning derivatives on never moves
    # the loss, not even by one rounding.
    assert np.array_equal(first[:, 0], states)
    assert np.array_equal(second[:, :3], first)


def _smooth_points(x0, steps, activation, count, seed):
    rng = np.random.default_rng(seed)
    points = []
    while len(points) < count:
        w, b = rng.uniform(-7, 7), rng.uniform(-5, 5)
        if is_smooth(w, b, x0, steps, activation, slope=50.0, h=1e-4):
            points.append((w, b))
    return np.array(points).T


@pytest.mark.parametrize(
    ("activation", "readout", "x0", "target"),
    [
        ("sigmoid", "sigmoid", 0.5, 0.7),
        ("sigmoid", "identity", 0.0, 1.0),
        ("tanh", "identity", 0.3, -0.2),
    ],
)
def test_loss_derivatives_match_central_differences_of_an_independent_loop(
    activation, readout, x0, target
):
    steps = 20
    w, b = _smooth_points(x0, steps, activation, count=12, seed=7)

    values = quantities.surface_quantities(
        x0, w, b, [steps], [target], activation, readout, "second"
    )
    got = {name: values[name][0, 0] for name in quantities.VARIABLES["second"][2:8]}

    def loss(dw, db):
        return np.array(
            [
                python_loss(wi + dw, bi + db, x0, steps, target, readout, activation)
                for wi, bi in zip(w, b, strict=True)
            ]
        )

    h = 1e-5
    grad_w = (loss(h, 0) - loss(-h, 0)) / (2 * h)
    grad_b = (loss(0, h) - loss(0, -h)) / (2 * h)
    np.testing.assert_allclose(got["grad_w"], grad_w, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got["grad_b"], grad_b, rtol=1e-6, atol=1e-8)

    h = 1e-4  # truncation ~h^2, rounding ~1e-16 / h^2: both near 1e-8
    centre = loss(0, 0)
    hess_ww = (loss(h, 0) - 2 * centre + loss(-h, 0)) / h**2
    hess_bb = (loss(0, h) - 2 * centre + loss(0, -h)) / h**2
    hess_wb = (loss(h, h) - loss(h, -h) - loss(-h, h) + loss(-h, -h)) / (4 * h**2)
    for name, expected in [
        ("hess_ww", hess_ww),
        ("hess_wb", hess_wb),
        ("hess_bb", hess_bb),
    ]:
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-5)


def test_curvature_and_alignment_agree_with_numpy_eigh():
    rng = np.random.default_rng(11)
    hess_ww, hess_wb, hess_bb, grad_w, grad_b = rng.normal(size=(5, 500)) * 10.0

    curvature, alignment = quantities.hessian_summary(
        grad_w, grad_b, hess_ww, hess_wb, hess_bb
    )

    matrices = np.stack([[hess_ww, hess_wb], [hess_wb, hess_bb]]).transpose(2, 0, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(matrices)  # ascending
    np.testing.assert_allclose(curvature, eigenvalues[:, 1], rtol=1e-12, atol=1e-12)
    leading = np.argmax(np.abs(eigenvalues), axis=1)
    vector = eigenvectors[np.arange(500), :, leading]
    gradient = np.stack([grad_w, grad_b], axis=1)
    expected = np.abs(np.sum(gradient * vector, axis=1)) / np.linalg.norm(gradient, axis=1)
    np.testing.assert_allclose(alignment, expected, rtol=1e-10, atol=1e-12)


def test_alignment_is_missing_where_the_gradient_vanishes():
    _, alignment = quantities.hessian_summary(0.0, 0.0, 1.0, 0.5, 2.0)
    assert np.isnan(alignment)


def test_every_direction_is_aligned_with_a_multiple_of_the_identity():
    curvature, alignment = quantities.hessian_summary(0.3, -2.0, -4.0, 0.0, -4.0)
    assert curvature == -4.0 and alignment == 1.0


def test_summaries_stay_finite_for_huge_and_tiny_derivatives():
    # Squares of 1e200 overflow and of 1e-200 vanish; the summaries must not.
    for scale in (1e200, 1e-200):
        grad_w, grad_b = 3.0 * scale, 4.0 * scale
        curvature, alignment = quantities.hessian_summary(
            grad_w, grad_b, 2.0 * scale, 0.0, scale
        )
        assert curvature == pytest.approx(2.0 * scale, rel=1e-15)
        assert alignment == pytest.approx(0.6, rel=1e-15)  # leading vector (1, 0)

    # One linear step: E = (w x0 + b - y)^2, so grad = 2 e (x0, 1) with e near b.
    values = quantities.surface_quantities(
        0.5, np.array([0.0]), np.array([1e200]), [1], [0.7], "linear", "identity", "first"
    )
    grad_norm = values["grad_norm"][0, 0, 0]
    assert grad_norm == pytest.approx(math.sqrt(1.25) * 2e200, rel=1e-15)


def test_surface_quantities_hold_exactly_the_variables_asked_for():
    w, b = np.linspace(4, 6, 5)[None, :], np.linspace(-3, -1, 4)[:, None]
    for derivatives, names in quantities.VARIABLES.items():
        values = quantities.surface_quantities(
            0.5, w, b, [10, 50], [0.7, 0.2], "sigmoid", "sigmoid", derivatives
        )
        assert tuple(values) == names
        assert values["state"].shape == (2, 4, 5)
        assert all(values[n].shape == (2, 2, 4, 5) for n in names if n != "state")
