import math
import os
import subprocess
import sys

import llvmlite.binding
import numba
import numpy as np
import pytest

from conftest import is_smooth, python_loss, python_state
from rnn_landscape import kernel, quantities, reference


def test_sigmoid_matches_math_on_both_tails_without_warnings():
    x = np.array([-1e6, -800.0, -700.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0, 1e6])
    expected = [
        0.0,
        0.0,  # exp(-800) is below the smallest subnormal
        math.exp(-700.0),  # 1 + exp(700) rounds to exp(700)
        math.exp(-40.0) / (1.0 + math.exp(-40.0)),
        1.0 / (1.0 + math.exp(1.0)),
        0.5,
        1.0 / (1.0 + math.exp(-1.0)),
        1.0 / (1.0 + math.exp(-40.0)),
        1.0,
        1.0,
    ]

    np.testing.assert_allclose(kernel.sigmoid(x), expected, rtol=4.5e-16, atol=0)  # 2 ulp
    assert np.isnan(kernel.sigmoid(np.array([np.nan]))).all()


def test_states_up_to_a_million_stay_finite_and_quiet():
    w = np.array([1e6, -1e6, 1e6, -1e6, 3.0])
    b = np.array([0.0, 1e6, -5e5, -2e5, 1e6])

    states = kernel.final_states(w, b, x0=0.5, steps=[1, 2, 100])

    assert np.abs(states).max() <= 1.5e6
    expected = [python_state(wi, bi, 0.5, 100) for wi, bi in zip(w, b, strict=True)]
    np.testing.assert_allclose(states[-1], expected, rtol=1e-15)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "linear"])
def test_one_step_is_w_act_x0_plus_b(activation):
    w, b, x0 = np.array([[4.7, -2.0]]), np.array([[-2.6], [0.3]]), 0.5
    act = {"sigmoid": 1.0 / (1.0 + math.exp(-0.5)), "tanh": math.tanh(0.5), "linear": 0.5}

    (state,) = kernel.final_states(w, b, x0, [1], activation)

    # A few ulp of the larger term, w * act(x0) ~ 3: the sum may cancel.
    np.testing.assert_allclose(state, w * act[activation] + b, rtol=1e-15, atol=2e-15)


def test_linear_recurrence_matches_its_closed_form():
    # x_T = w^T x0 + b (w^T - 1) / (w - 1) for act(x) = x.
    w = np.array([[0.5, 0.9, 1.1, -1.3]])
    b = np.array([[-0.7], [0.0], [2.0]])
    steps = np.array([1, 3, 10, 30])

    states = kernel.final_states(w, b, x0=0.8, steps=steps, activation="linear")

    wt = w[None] ** steps[:, None, None]
    expected = wt * 0.8 + b * (wt - 1) / (w - 1)
    np.testing.assert_allclose(states, expected, rtol=1e-12)


def test_one_pass_gives_the_same_bits_as_one_pass_per_step_count():
    w, b = np.linspace(-6, 6, 13)[None, :], np.linspace(-5, 5, 11)[:, None]
    steps = [1, 2, 7, 20, 50]

    together = kernel.final_states(w, b, 0.5, steps)

    for index, t in enumerate(steps):
        alone = kernel.final_states(w, b, 0.5, [t])[0]
        assert np.array_equal(together[index], alone)


@pytest.mark.parametrize("bad", [[], [0, 1], [5, 3], [2, 2]])
def test_steps_must_increase_from_one(bad):
    with pytest.raises(ValueError, match="increasing positive"):
        kernel.final_states(np.ones(2), np.ones(2), 0.0, bad)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("x0", [0.0, 0.5])
def test_many_steps_agree_with_a_plain_python_loop(activation, x0):
    rng = np.random.default_rng(7)
    w, b = rng.uniform(-8, 8, 300), rng.uniform(-8, 8, 300)
    smooth = [is_smooth(wi, bi, x0, 50, activation) for wi, bi in zip(w, b, strict=True)]
    assert sum(smooth) > 250  # the comparison below keeps most points

    (states,) = kernel.final_states(w[smooth], b[smooth], x0, [50], activation)

    expected = [
        python_state(wi, bi, x0, 50, activation) for wi, bi in zip(w, b, strict=True)
    ]
    np.testing.assert_allclose(states, np.array(expected)[smooth], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("readout", ["identity", "sigmoid"])
def test_squared_error_covers_every_target_from_the_same_states(readout):
    w = np.array([4.6, 5.0, 5.3])
    b = np.array([-2.9, -2.0, -1.2])
    targets = [0.7, 1.0, -0.5]
    states = kernel.final_states(w, b, 0.5, [10, 50])

    loss = quantities.squared_error(states, targets, readout)

    assert loss.shape == (2, 3, 3)
    for i, steps in enumerate([10, 50]):
        for j, target in enumerate(targets):
            expected = [
                python_loss(*p, 0.5, steps, target, readout) for p in zip(w, b, strict=True)
            ]
            np.testing.assert_allclose(loss[i, j], expected, rtol=1e-11)


def test_notebook_reference_agrees_with_the_kernel_on_the_zoom_grid():
    w, b = np.meshgrid(np.linspace(4.5, 5.4, 91), np.linspace(-3, -1, 201))
    wall = 0.5 - w / (1 + math.exp(-0.5))
    away = np.abs(b - wall) > 0.02

    (states,) = kernel.final_states(w, b, 0.5, [50])
    expected = reference.state(w, b, 0.5, 50)

    assert away.mean() > 0.9
    np.testing.assert_allclose(states[away], expected[away], rtol=1e-12)


def test_sigmoid_is_within_two_and_a_half_ulp_on_its_whole_range():
    tiny = np.geomspace(1e-300, 1, 1001)
    x = np.concatenate([np.linspace(-708, 708, 1_000_001), tiny, -tiny])

    got = kernel.sigmoid(x)

    # x86's 80-bit long double carries 11 more bits than float64: a true value.
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.longdouble)))
    ulps = np.abs((got - exact) / np.spacing(exact.astype(np.float64)))
    assert ulps.astype(np.float64).max() <= 2.5
    assert ulps.astype(np.float64).mean() <= 0.5


def test_a_point_gets_the_same_bits_wherever_it_sits_in_a_block():
    rng = np.random.default_rng(3)
    w, b = rng.uniform(-8, 8, 1500), rng.uniform(-8, 8, 1500)

    together = kernel.final_states(w, b, 0.5, [3, 50])

    for i in (0, 1, 511, 512, 1023, 1499):
        alone = kernel.final_states(w[i : i + 1], b[i : i + 1], 0.5, [3, 50])
        assert np.array_equal(alone[:, 0], together[:, i])
    shuffled = rng.permutation(1500)
    again = kernel.final_states(w[shuffled], b[shuffled], 0.5, [3, 50])
    assert np.array_equal(again, together[:, shuffled])


def test_processes_starting_at_once_compile_once_and_share_the_cache(tmp_path):
    # A fresh cache directory, so that the first of these processes must compile.
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    code = (
        "import numpy as np\n"
        "from rnn_landscape import kernel\n"
        "x = kernel.final_states(np.array([5.0]), np.array([-2.0]), 0.5, [50])\n"
        "hits = sum(kernel._carry_sigmoid.stats.cache_hits.values())\n"
        "others = len(kernel._carry_tanh.signatures + kernel._carry_linear.signatures)\n"
        "print(repr(float(x[0, 0])), hits, others)\n"
    )

    def start():
        return subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
        )

    runs = [start() for _ in range(4)]
    results = [run.communicate(timeout=300)[0].split() for run in runs]
    later = start().communicate(timeout=300)[0].split()

    assert all(run.returncode == 0 for run in runs)
    assert len({state for state, _, _ in results}) == 1
    assert sum(int(hits) for _, hits, _ in results) >= 3  # all but the first loaded it
    assert later == [results[0][0], "1", "0"]  # only the activation it used
    assert list((tmp_path / "numba").rglob("*.nbi"))


def test_the_bits_do_not_depend_on_the_vector_width(tmp_path):
    # The kernel prefers 512-bit vectors where the CPU has them; a process given
    # explicit CPU features keeps LLVM's default 256-bit preference.
    features = llvmlite.binding.get_host_cpu_features()
    if features.get("avx512f"):
        assert numba.config.CPU_FEATURES.endswith(",-prefer-256-bit")
    env = {
        **os.environ,
        "NUMBA_CPU_FEATURES": features.flatten(),
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
    }
    code = (
        "import numpy as np, sys\n"
        "from rnn_landscape import kernel\n"
        "rng = np.random.default_rng(5)\n"
        "w, b = rng.uniform(-8, 8, 3000), rng.uniform(-8, 8, 3000)\n"
        "states = kernel.final_states(w, b, 0.5, [1, 50])\n"
        "jets = kernel.final_jets(w, b, 0.5, [1, 50], order=2)\n"
        "np.savez(sys.argv[1], states=states, jets=jets)\n"
    )
    saved = tmp_path / "narrow.npz"
    subprocess.run([sys.executable, "-c", code, saved], env=env, check=True, timeout=300)

    rng = np.random.default_rng(5)
    w, b = rng.uniform(-8, 8, 3000), rng.uniform(-8, 8, 3000)
    narrow = np.load(saved)
    assert np.array_equal(kernel.final_states(w, b, 0.5, [1, 50]), narrow["states"])
    jets = kernel.final_jets(w, b, 0.5, [1, 50], order=2)
    assert np.array_equal(jets, narrow["jets"], equal_nan=True)
