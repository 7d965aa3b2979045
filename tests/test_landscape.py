"""Unit tests of linnet_lib.landscape and of the section-5.1 helpers of linnet_lib.ch5."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import low_rank_matrices

import linnet_lib as ll
from linnet_lib import landscape


@pytest.fixture(scope="module")
def data():
    return ll.ch5.landscape_problem()


# --- widths, bottleneck, factorisation (equation 9, Appendix A) -----------------------------------


def test_bottleneck_includes_input_and_output_widths():
    assert landscape.bottleneck((5, 1, 4, 3)) == 1
    assert landscape.bottleneck([2, 4, 3]) == 2
    assert landscape.bottleneck(np.array([5, 4, 2])) == 2
    assert landscape.bottleneck((4, 2, 1, 3)) == 1
    assert landscape.bottleneck((2, 3, 3, 4)) == 2
    assert landscape.as_widths((3, 2)) == [3, 2]


@pytest.mark.parametrize("bad", [(5,), "53", b"53", 5, (5, 0, 3), (5, 2.5, 3), None])
def test_widths_are_validated(bad):
    with pytest.raises(ValueError, match="widths"):
        landscape.bottleneck(bad)


def test_widths_of_a_network():
    net = ll.gaussian_init([5, 2, 4, 3], 1.0, 0)
    assert landscape.widths_of(net) == [5, 2, 4, 3]
    with pytest.raises(ValueError, match="weights"):
        landscape.widths_of([np.ones((2, 3)), np.ones((2, 3))])


@given(low_rank_matrices(max_dim=5), st.integers(1, 3), st.integers(0, 3))
def test_factorize_reproduces_every_matrix_within_the_bottleneck(case, depth, extra):
    W, rank = case
    widths = [W.shape[1], *[max(rank, 1) + extra] * (depth - 1), W.shape[0]]
    if rank > min(widths):
        return
    net = landscape.factorize(W, widths)
    assert landscape.widths_of(net) == widths
    scale = max(np.linalg.norm(W), 1e-300)
    assert np.linalg.norm(ll.end_to_end(net) - W) <= 1e-12 * scale


def test_factorize_refuses_ranks_above_the_bottleneck_and_wrong_ends():
    W = np.random.default_rng(0).standard_normal((3, 5))
    with pytest.raises(ValueError, match="bottleneck"):
        landscape.factorize(W, [5, 2, 3])
    with pytest.raises(ValueError, match="widths"):
        landscape.factorize(W, [4, 3, 3])


# --- value, gradient, exact Hessian, stationarity ---------------------------------------------------


def test_loss_and_gradient_match_the_square_loss(data):
    X, Y = data
    net = ll.gaussian_init([5, 2, 4, 3], 0.7, 1)
    loss = ll.SquareLoss(X, Y)
    assert landscape.loss(net, X, Y) == pytest.approx(loss.value(ll.end_to_end(net)), rel=1e-14)
    assert np.allclose(
        landscape.gradient(net, X, Y), ll.ch2.phi_gradient(loss, net), rtol=1e-13, atol=1e-13
    )
    assert np.allclose(
        landscape._fast_gradient(net, X, Y), landscape.gradient(net, X, Y), rtol=1e-13, atol=1e-12
    )


@pytest.mark.parametrize("widths", [[5, 3], [5, 3, 3], [5, 1, 4, 3], [5, 2, 3, 2, 3]])
def test_exact_hessian_matches_central_differences(data, widths):
    X, Y = data
    net = ll.gaussian_init(widths, 0.7, 2)
    H = landscape.hessian(net, X, Y)
    assert np.allclose(H, H.T, atol=0)
    H_fd = ll.ch2.phi_hessian(ll.SquareLoss(X, Y), net)
    assert ll.relative_difference(H, H_fd) < 1e-8


def test_hessian_quadratic_form_is_the_lemma(data):
    X, Y = data
    gen = np.random.default_rng(3)
    net = ll.gaussian_init([5, 2, 4, 3], 0.7, gen)
    delta = ll.gaussian_init([5, 2, 4, 3], 1.0, gen)
    H = landscape.hessian(net, X, Y)
    d = ll.ch2.flatten(delta)
    W1, W2, W3 = net
    D1, D2, D3 = delta
    first = D3 @ W2 @ W1 + W3 @ D2 @ W1 + W3 @ W2 @ D1
    second = D3 @ D2 @ W1 + D3 @ W2 @ D1 + W3 @ D2 @ D1
    G = (ll.end_to_end(net) @ X - Y) @ X.T
    lemma = np.linalg.norm(first @ X) ** 2 + 2 * np.sum(G * second)
    assert d @ H @ d == pytest.approx(lemma, rel=1e-12)


def test_inputs_of_the_objective_are_validated(data):
    X, Y = data
    net = ll.gaussian_init([4, 2, 3], 1.0, 0)
    for fun in (landscape.loss, landscape.gradient, landscape.hessian):
        with pytest.raises(ValueError, match="weights"):
            fun(net, X, Y)
        with pytest.raises(ValueError, match="samples"):
            fun(ll.gaussian_init([5, 2, 3], 1.0, 0), X, Y[:, :4])
        with pytest.raises(ValueError, match="X"):
            fun(ll.gaussian_init([5, 2, 3], 1.0, 0), np.full((5, 20), np.nan), Y)


def test_stationarity_classifies_the_origin_by_depth(data):
    X, Y = data
    two = landscape.stationarity(ll.ch5.zero_network([5, 3, 3]), X, Y)
    three = landscape.stationarity(ll.ch5.zero_network([5, 3, 3, 3]), X, Y)
    s1 = np.linalg.svd(Y @ X.T, compute_uv=False)[0]
    assert two.kind == "strict saddle" and two.hessian_min == pytest.approx(-s1, rel=1e-12)
    assert three.kind == "second-order stationary" and three.hessian_min == 0.0
    moving = landscape.stationarity(ll.gaussian_init([5, 3, 3], 1.0, 0), X, Y)
    assert moving.kind == "not stationary" and moving.gradient_norm > 1
    with pytest.raises(ValueError, match="grad_tol"):
        landscape.stationarity(ll.ch5.zero_network([5, 3, 3]), X, Y, grad_tol=-1.0)
    with pytest.raises(ValueError, match="hess_tol"):
        landscape.stationarity(ll.ch5.zero_network([5, 3, 3]), X, Y, hess_tol=np.nan)


def test_flow_limit_reaches_the_rank_constrained_minimum(data):
    X, Y = data
    net = landscape.flow_limit(X, Y, ll.gaussian_init([5, 1, 3], 0.5, 4), 50.0)
    assert landscape.loss(net, X, Y) == pytest.approx(landscape.pca_minimum(X, Y, 1), rel=1e-10)
    assert landscape.stationarity(net, X, Y).kind == "second-order stationary"
    with pytest.raises(ValueError, match="t_end"):
        landscape.flow_limit(X, Y, net, 0.0)
    with pytest.raises(ValueError, match="rtol"):
        landscape.flow_limit(X, Y, net, 1.0, rtol=0.0)


# --- rank-constrained regression and PCA (equations 10-12) ---------------------------------------


def test_best_rank_is_the_truncated_svd():
    A = np.diag([3.0, 2.0, 1.0])
    assert np.allclose(landscape.best_rank(A, 2), np.diag([3.0, 2.0, 0.0]))
    assert np.allclose(landscape.best_rank(A, 0), 0)
    assert np.allclose(landscape.best_rank(A, 5), A)
    with pytest.raises(ValueError, match="r"):
        landscape.best_rank(A, -1)
    with pytest.raises(ValueError, match="M"):
        landscape.best_rank(np.ones(3), 1)


def test_rank_constrained_optimum_beats_random_rank_one_matrices(data):
    X, Y = data
    W_star = landscape.rank_constrained_optimum(X, Y, 1)
    assert np.linalg.matrix_rank(W_star) == 1
    loss = ll.SquareLoss(X, Y)
    gen = np.random.default_rng(5)
    for _ in range(200):
        W = W_star + 0.1 * np.outer(gen.standard_normal(3), gen.standard_normal(5))
        W = landscape.best_rank(W, 1)
        assert loss.value(W) >= loss.value(W_star) - 1e-12
    assert loss.value(W_star) == pytest.approx(landscape.pca_minimum(X, Y, 1), rel=1e-12)
    assert np.allclose(
        landscape.rank_constrained_optimum(X, Y, 3), landscape.least_squares_optimum(X, Y)
    )


def test_rank_constrained_optimum_needs_invertible_x_x_t():
    X = np.ones((2, 6))
    with pytest.raises(ValueError, match="full row rank"):
        landscape.rank_constrained_optimum(X, np.ones((1, 6)), 1)
    with pytest.raises(ValueError, match="samples"):
        landscape.least_squares_optimum(np.eye(3), np.ones((1, 4)))


def test_row_projection_and_pca_target(data):
    X, Y = data
    P = landscape.row_projection(X)
    assert np.allclose(P @ P, P) and np.allclose(P, P.T)
    assert np.allclose(X @ P, X)
    assert np.allclose(landscape.pca_target(X, Y), Y @ P)
    with pytest.raises(ValueError, match="X"):
        landscape.row_projection(np.ones(4))


def test_pca_minimum_for_every_rank(data):
    X, Y = data
    loss = ll.SquareLoss(X, Y)
    for r in range(4):
        if r == 0:
            expected = 0.5 * np.linalg.norm(Y) ** 2
        else:
            expected = loss.value(landscape.rank_constrained_optimum(X, Y, r))
        assert landscape.pca_minimum(X, Y, r) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="r"):
        landscape.pca_minimum(X, Y, -1)


def test_two_factor_split_and_lift():
    gen = np.random.default_rng(6)
    for widths in ([5, 1, 4, 3], [5, 4, 2, 3], [2, 4, 3], [5, 4, 2]):
        X = gen.standard_normal((widths[0], 10))
        Y = gen.standard_normal((widths[-1], 10))
        net = ll.gaussian_init(widths, 0.7, gen)
        j0, (Q, P) = landscape.two_factor_split(net)
        assert widths[j0] == min(widths)
        assert np.allclose(P @ Q, ll.end_to_end(net))
        lift = landscape.lift_matrix(net)
        g, H = landscape.gradient(net, X, Y), landscape.hessian(net, X, Y)
        g2 = landscape.gradient([Q, P], X, Y)
        H2 = landscape.hessian([Q, P], X, Y)
        assert ll.relative_difference(g2, lift.T @ g) < 1e-12
        assert ll.relative_difference(H2, lift.T @ H @ lift) < 1e-12
    with pytest.raises(ValueError, match="two layers"):
        landscape.lift_matrix([np.ones((3, 5))])


def test_lift_reproduces_the_perturbed_product(data):
    net = ll.gaussian_init([5, 1, 4, 3], 0.7, 7)
    _, (Q, P) = landscape.two_factor_split(net)
    gen = np.random.default_rng(8)
    dQ, dP = gen.standard_normal(Q.shape), gen.standard_normal(P.shape)
    step = landscape.lift_matrix(net) @ np.concatenate([dQ.ravel(), dP.ravel()])
    moved = ll.ch2.unflatten(ll.ch2.flatten(net) + step, [w.shape for w in net])
    assert np.allclose(ll.end_to_end(moved), (P + dP) @ (Q + dQ), rtol=1e-12, atol=1e-12)


def test_pca_points_are_stationary_and_validated(data):
    X, Y = data
    M = landscape.pca_target(X, Y)
    eye = np.eye(M.shape[1])
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    for idx in ([], [0], [2], [0, 2]):
        Qp, P = landscape.pca_point(M, idx, 2)
        assert P.shape == (3, 2) and Qp.shape == (2, 20)
        assert np.allclose(P @ Qp, (U[:, idx] * s[idx]) @ Vt[idx])
        assert np.linalg.norm(landscape.gradient([Qp, P], eye, M)) < 1e-12
    for bad in ([0, 0], [0, 1, 2], [3]):
        with pytest.raises(ValueError, match="indices"):
            landscape.pca_point(M, bad, 2)
    with pytest.raises(ValueError, match="r"):
        landscape.pca_point(M, [], 0)


def test_stationary_networks_are_fosps_with_the_right_product(data):
    X, Y = data
    M = landscape.pca_target(X, Y)
    for idx in ([0], [1], [0, 2], []):
        net = landscape.stationary_network(X, Y, idx, [5, 2, 4, 3], rng=9)
        assert ll.unbalancedness(net) < 1e-12
        assert np.linalg.norm(landscape.gradient(net, X, Y)) < 1e-11
        Qp, P = landscape.pca_point(M, idx, 2)
        assert np.allclose(ll.end_to_end(net) @ X, P @ Qp, atol=1e-12)
    with pytest.raises(ValueError, match="widths"):
        landscape.stationary_network(X, Y, [0], [4, 2, 3])
    with pytest.raises(ValueError, match="indices"):
        landscape.stationary_network(X, Y, [0, 1], [5, 1, 3])


def test_missing_triplet_step_changes_the_loss_as_equation_96(data):
    X, Y = data
    M = landscape.pca_target(X, Y)
    s = np.linalg.svd(M, compute_uv=False)
    eye = np.eye(M.shape[1])
    point = landscape.pca_point(M, [0], 2)
    for k, delta in ((1, 0.3), (2, 1e-2)):
        moved = landscape.missing_triplet_step(point, M, k, 1, delta)
        change = landscape.loss(moved, eye, M) - landscape.loss(point, eye, M)
        assert change == pytest.approx(-s[k] * delta + delta**2 / 2, rel=1e-10)
    with pytest.raises(ValueError, match="slot"):
        landscape.missing_triplet_step(point, M, 1, 0, 0.1)
    with pytest.raises(ValueError, match="k"):
        landscape.missing_triplet_step(point, M, 5, 1, 0.1)
    with pytest.raises(ValueError, match="delta"):
        landscape.missing_triplet_step(point, M, 1, 1, -0.1)


@given(st.integers(0, 3), st.integers(4, 7), st.integers(0, 2**31))
def test_eym_spectrum_matches_the_hessian(index, cols, seed):
    M = np.random.default_rng(seed).standard_normal((4, cols))
    s = np.linalg.svd(M, compute_uv=False)
    point = landscape.pca_point(M, [index], 1)
    H = landscape.hessian(point, np.eye(cols), M)
    predicted = landscape.eym_spectrum(s, index, 4, cols)
    assert np.allclose(np.linalg.eigvalsh(H), predicted, atol=1e-10 * s[0])
    assert (predicted[0] >= -1e-12) == (index == 0)


def test_eym_spectrum_validates():
    with pytest.raises(ValueError, match="singular_values"):
        landscape.eym_spectrum([1.0, 2.0], 0, 3, 4)
    with pytest.raises(ValueError, match="singular_values"):
        landscape.eym_spectrum([1.0, 2.0], 0, 2, 1)
    with pytest.raises(ValueError, match="index"):
        landscape.eym_spectrum([2.0, 1.0], 2, 2, 3)


# --- the section-5.1 helpers of ch5 -------------------------------------------------------------


def test_landscape_problem_is_not_whitened_and_validated():
    X, Y = ll.ch5.landscape_problem()
    assert X.shape == (5, 20) and Y.shape == (3, 20)
    assert ll.whitened.whitening_error(X) > 1
    X2, _ = ll.ch5.landscape_problem(rng=0)
    assert np.array_equal(X, X2)
    with pytest.raises(ValueError, match="d_x"):
        ll.ch5.landscape_problem(m=4, d_x=5)


def test_zero_network_and_flow_helpers(data):
    X, Y = data
    assert [w.shape for w in ll.ch5.zero_network([5, 2, 3])] == [(2, 5), (3, 2)]
    nets = ll.ch5.flow_limits(X, Y, [5, 1, 3], 2, rng=1)
    table = ll.ch5.limit_table(nets, X, Y)
    assert list(table["kind"]) == ["second-order stationary"] * 2
    assert list(table["rank"]) == [1, 1] and np.abs(table["gap"]).max() < 1e-10
    low = ll.ch5.balanced_rank_one_limits(X, Y, [5, 2, 4, 3], 1, rng=2)
    ranks, gaps = ll.ch5.rank_gaps(low, X, Y)
    assert list(ranks) == [1] and abs(gaps[0]) < 1e-10
    with pytest.raises(ValueError, match="count"):
        ll.ch5.flow_limits(X, Y, [5, 1, 3], 0)
    with pytest.raises(ValueError, match="limits"):
        ll.ch5.limit_table([], X, Y)
    with pytest.raises(ValueError, match="networks"):
        ll.ch5.rank_gaps(np.zeros((2, 2)), X, Y)
    with pytest.raises(ValueError, match="widths"):
        ll.ch5.zero_network([5])


def test_correspondence_of_a_stationary_network(data):
    X, Y = data
    net = landscape.stationary_network(X, Y, [1], [5, 1, 4, 3], rng=3)
    rep = ll.ch5.correspondence(net, X, Y)
    assert rep["identity"] < 1e-12 and max(rep["gradients"]) < 1e-11
    assert rep["kinds"] == ["strict saddle"] * 3
    assert rep["product_gap"] < 1e-12


def test_stationary_points_by_rank(data):
    X, Y = data
    points = ll.ch5.stationary_points_by_rank(X, Y, [5, 2, 4, 3], rng=0)
    assert [p["indices"] for p in points] == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    sosp = [p["indices"] for p in points if p["kind"] == "second-order stationary"]
    assert sosp == [(), (0,), (0, 1)]


def test_pca_spectra_text_and_plot(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, Y = data
    M = landscape.pca_target(X, Y)
    spectra = ll.ch5.pca_spectra(M, 1, [[0], [1]])
    assert spectra[(1,)][0] < 0 <= spectra[(0,)][0] + 1e-12
    assert ll.ch5.spectrum_text([-1e-17, 0.0, 2.004, 2.0]) == "0.00 x2, 2.00 x2"
    with pytest.raises(ValueError, match="eigenvalues"):
        ll.ch5.spectrum_text([])
    with pytest.raises(ValueError, match="decimals"):
        ll.ch5.spectrum_text([1.0], -1)
    fig, ax = plt.subplots()
    ll.ch5.plot_pca_spectra(ax, spectra, spectra)
    assert ax.get_ylabel() and ax.get_legend() is not None
    plt.close(fig)
    with pytest.raises(ValueError, match="spectra"):
        ll.ch5.plot_pca_spectra(ax, {})
