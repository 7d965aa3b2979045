"""Tests of linnet_lib.svd_dynamics: tracked SVD, Theorem 3, closed forms of Lemma 2 and Exercise 5."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402
from linnet_lib import svd_dynamics as sd  # noqa: E402


def rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def test_track_svd_follows_a_crossing_and_a_sign_change():
    # W(t) = R(t) diag(2 - t, t - 1) R(t)^T: the two values cross at t = 1.5, the second
    # passes through zero at t = 1, the first through zero at t = 2.
    t = np.linspace(0.0, 3.0, 300)  # avoids the exactly degenerate times
    mats = np.array([rotation(0.3 * s) @ np.diag([2 - s, s - 1]) @ rotation(0.3 * s).T for s in t])
    U, S, V = sd.track_svd(mats)
    assert np.allclose(np.einsum("tir,tr,tjr->tij", U, S, V), mats, atol=1e-12)
    s0 = np.sign(S[0])
    assert np.allclose(S * s0, np.c_[2 - t, t - 1] * np.sign([2.0, -1.0]), atol=1e-9)
    assert np.allclose(np.abs(np.sum(U[1:] * U[:-1], axis=1)), 1.0, atol=1e-3)
    assert np.all(np.sum(U[1:] * U[:-1], axis=1) > 0)


def test_projections_and_theorem3_rate():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((1, 3, 2))
    G = rng.standard_normal((1, 3, 2))
    U, S, V = sd.track_svd(W)
    P = sd.projections(G, U, V)
    assert P[0, 1] == pytest.approx(-U[0, :, 1] @ G[0] @ V[0, :, 1])
    rate = sd.theorem3_rate(S, P, 3)
    assert np.allclose(rate, 3 * np.abs(S) ** (4 / 3) * P)
    assert np.allclose(sd.theorem3_rate(S, P, 1), P)


def test_theorem3_on_a_small_flow():
    rng = np.random.default_rng(1)
    loss = ll.SquareLoss.to_target(rng.standard_normal((3, 3)))
    h = 1e-4
    times = sd.stencil_times([0.1, 0.3], h)
    run = ll.gradient_flow(loss, 0.3 * rng.standard_normal((3, 3)), times, depth=2)
    U, S, V = sd.track_svd(run.end_to_end)
    grads = np.array([loss.grad(W) for W in run.end_to_end])
    sigma, dsigma = sd.central_derivative(S, h)
    rate = sd.theorem3_rate(sigma, sd.projections(grads, U, V)[1::3], 2)
    assert ll.relative_difference(dsigma, rate) < 1e-5


def test_stencil_and_central_derivative():
    times = sd.stencil_times([1.0, 2.0], 0.1)
    assert np.allclose(times, [0.9, 1.0, 1.1, 1.9, 2.0, 2.1])
    centre, deriv = sd.central_derivative(times**2, 0.1)
    assert np.allclose(centre, [1.0, 4.0])
    assert np.allclose(deriv, [2.0, 4.0])


def test_closed_forms_solve_the_scalar_equation():
    t = np.linspace(0, 1, 5)
    c = np.array([1.0, -0.5])
    assert np.allclose(sd.exercise5_solution(t, 0.1, c), 0.1 * np.exp(2 * np.outer(t, c)))
    # n = 2 agrees with Exercise 5 for a positive start and mirrors for a negative one
    G = 2 * np.outer(t, c)
    assert np.allclose(sd.lemma2_solution(np.array([0.1, 0.1]), G, 2), 0.1 * np.exp(G))
    assert np.allclose(sd.lemma2_solution(np.array([-0.1, 0.0]), G, 2)[:, 1], 0.0)
    # n = 3: check the differential equation by finite differences
    n, h = 3, 1e-6
    s0 = np.array([0.2, -0.3])
    sol = sd.lemma2_solution(s0, n * np.outer([0.5 - h, 0.5, 0.5 + h], c), n)
    deriv = (sol[2] - sol[0]) / (2 * h)
    assert np.allclose(deriv, sd.theorem3_rate(sol[1], c, n), rtol=1e-6)


def test_linear_loss_and_reach_times():
    loss = sd.LinearLoss(np.diag([1.0, 2.0]))
    assert loss.value(np.eye(2)) == pytest.approx(-3.0)
    assert np.allclose(loss.grad(np.eye(2)), -np.diag([1.0, 2.0]))
    t = np.linspace(0, 1, 11)
    sv = np.c_[t, t**2]
    assert np.allclose(sd.reach_times(t, sv, 0.5), [0.5, np.sqrt(0.5)], atol=0.02)


def test_incremental_learning_and_plot():
    rng = np.random.default_rng(3)
    loss = ll.SquareLoss.to_target(np.diag([1.0, 0.5]))
    t = np.linspace(0, 1, 5)
    sv = sd.incremental_learning(loss, 1e-2 * rng.standard_normal((2, 2)), (1, 2), t)
    assert set(sv) == {1, 2} and sv[1].shape == (5, 2)
    fig, axes = plt.subplots(1, 2)
    sd.plot_incremental(axes, t, sv, top=2, targets=[1.0, 0.5])
    assert axes[0].get_ylabel() and axes[1].get_xlabel()
    with pytest.raises(ValueError, match="axes"):
        sd.plot_incremental(axes[:1], t, sv)
    plt.close(fig)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: sd.LinearLoss(np.ones(3)), "C"),
        (lambda: sd.track_svd(np.ones((2, 2))), "mats"),
        (lambda: sd.track_svd(np.full((1, 2, 2), np.nan)), "mats"),
        (lambda: sd.projections(np.ones((2, 2, 2)), np.ones((3, 2, 2)), np.ones((2, 2, 2))), "U"),
        (lambda: sd.projections(np.ones((2, 2, 2)), np.ones((2, 2, 2)), np.ones((2, 3, 2))), "V"),
        (lambda: sd.theorem3_rate([1.0], [1.0], 0), "depth"),
        (lambda: sd.theorem3_rate([1.0], [1.0, 2.0], 2), "sigma and projection"),
        (lambda: sd.stencil_times([1.0], -1.0), "h"),
        (lambda: sd.stencil_times([1.0, 1.1], 0.1), "centers"),
        (lambda: sd.central_derivative(np.ones(4), 0.1), "values"),
        (lambda: sd.exercise5_solution([0.0], 0.0, [1.0]), "eps"),
        (lambda: sd.exercise5_solution([0.0], 0.1, []), "c"),
        (lambda: sd.lemma2_solution([1.0], [[0.0]], 1), "depth"),
        (lambda: sd.lemma2_solution([1.0], [0.0], 3), "integral_g"),
        (lambda: sd.lemma2_solution([1.0], [[10.0]], 3), "integral_g"),
        (lambda: sd.reach_times([0.0, 1.0], np.ones((3, 1))), "t"),
        (lambda: sd.reach_times([0.0], np.ones((1, 1)), 0.0), "fraction"),
        (lambda: sd.incremental_learning(None, np.eye(2), (), [0.0, 1.0]), "depths"),
        (lambda: sd.plot_incremental([], [0.0], {}), "svals"),
    ],
)
def test_value_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_theorem3_gap_small_for_balanced_layers_and_end_to_end_flow():
    T = ll.sensing.low_rank_target((4, 4), 1, rng=0)
    loss = ll.sensing.gaussian_sensing(T, 12, rng=1, scale=1.0)
    W0 = 0.1 * np.random.default_rng(2).standard_normal((4, 4))
    centers = np.array([0.1, 0.3])
    gap_layers, _ = sd.theorem3_gap(loss, ll.balanced_init(W0, 2), 2, centers, 3e-5)
    gap_e2e, _ = sd.theorem3_gap(loss, W0, 2, centers, 3e-5)
    wrong, _ = sd.theorem3_gap(loss, W0, 2, centers, 3e-5, formula_depth=3)
    assert gap_layers < 1e-6 and gap_e2e < 1e-6 and wrong > 1e-2


def test_theorem3_gap_validates():
    loss = ll.SquareLoss.to_target(np.eye(2))
    with pytest.raises(ValueError, match="init"):
        sd.theorem3_gap(loss, [np.eye(2)], 2, [0.1], 1e-4)
    with pytest.raises(ValueError, match="h"):
        sd.theorem3_gap(loss, np.eye(2), 2, [0.1], 0.0)


def test_sign_changes_locates_each_crossing():
    t = np.linspace(0.0, 2.0, 201)
    found = sd.sign_changes(t, np.cos(3 * t))
    assert found == pytest.approx([np.pi / 6, np.pi / 2], abs=1e-4)
    assert sd.sign_changes(t, t + 1.0).size == 0
    # two quick changes between the same two samples are invisible, as documented
    assert sd.sign_changes([0.0, 1.0], [1.0, 1.0]).size == 0
    assert sd.sign_changes([0.0, 1.0, 2.0], [1.0, 0.0, -1.0]) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="t must"):
        sd.sign_changes([1.0, 0.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="values"):
        sd.sign_changes([0.0, 1.0], [1.0, np.nan])


def test_depth_one_flow_changes_the_determinant_sign_and_depth_two_does_not():
    # the book's Lemma 2 control: same problem and start, dense records
    target = ll.sensing.low_rank_target((4, 4), 1, rng=0)
    loss = ll.sensing.gaussian_sensing(target, 8, rng=1, scale=1.0)
    W0 = 0.05 * np.random.default_rng(2).standard_normal((4, 4))
    t = np.linspace(0.0, 3.0, 601)
    counts = {}
    for n in (1, 2):
        run = ll.gradient_flow(loss, ll.balanced_init(W0, n), t, rtol=1e-10, atol=1e-14)
        counts[n] = sd.sign_changes(t, np.linalg.det(run.end_to_end)).size
    assert counts[2] == 0


def test_incremental_learning_solver_options_and_log_axis():
    rng = np.random.default_rng(0)
    loss = ll.SquareLoss.to_target(np.diag([1.0, 0.3]))
    t = np.linspace(0.0, 20.0, 41)
    W0 = 1e-2 * rng.standard_normal((2, 2))
    a = sd.incremental_learning(loss, W0, (2,), t)
    b = sd.incremental_learning(loss, W0, (2,), t, method="LSODA", rtol=1e-10, atol=1e-14)
    assert np.abs(a[2] - b[2]).max() < 1e-6
    fig, axes = plt.subplots(1, 1)
    sd.plot_incremental([axes], t, b, top=2, log_time=True)
    assert axes.get_xscale() == "symlog"
    plt.close(fig)
