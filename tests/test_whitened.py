import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import rank_one_matrix

import linnet_lib as ll
from linnet_lib import whitened


def test_whiten_makes_x_xt_equal_m_identity_and_keeps_the_row_space():
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((4, 30)) * np.array([[1.0], [3.0], [0.1], [10.0]])
    X = whitened.whiten(X0)
    assert whitened.whitening_error(X) < 1e-12
    assert whitened.whitening_error(X0) > 1.0
    # same row space: X = M X0 for an invertible M
    M = X @ np.linalg.pinv(X0)
    assert np.allclose(M @ X0, X, atol=1e-12)


def test_whiten_refuses_rank_deficient_or_wide_data():
    with pytest.raises(ValueError, match="X"):
        whitened.whiten(np.ones((2, 10)))
    with pytest.raises(ValueError, match="X"):
        whitened.whiten(np.ones((5, 3)))


def test_target_gives_the_loss_identity_under_whitening():
    X, Y = whitened.random_problem(40, 4, 3, rng=1)
    Z = whitened.target(X, Y)
    P = np.linalg.pinv(X) @ X
    W = np.random.default_rng(2).standard_normal((3, 4))
    lhs = 0.5 * np.linalg.norm(Y @ P - W @ X) ** 2
    assert lhs == pytest.approx(40 / 2 * np.linalg.norm(Z - W) ** 2, rel=1e-12)
    with pytest.raises(ValueError, match="samples"):
        whitened.target(X, Y[:, :5])


def test_leading_triplet_and_its_gap():
    Z = np.diag([3.0, 1.0, 0.0])[:, :2]
    t = whitened.leading_triplet(Z)
    assert (t.s, t.s2, t.gamma) == (3.0, 1.0, pytest.approx(1 / 3))
    assert np.allclose(t.Z1, np.diag([3.0, 0.0, 0.0])[:, :2])
    with pytest.raises(ValueError, match="simple"):
        whitened.leading_triplet(np.eye(2))
    with pytest.raises(ValueError, match="non-zero"):
        whitened.leading_triplet(np.zeros((2, 2)))
    assert whitened.leading_triplet(np.array([[2.0, 0.0]])).gamma == 0.0


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_operator_is_the_lecture_notes_sum_reindexed(depth, rank):
    rng = np.random.default_rng(depth * 10 + rank)
    W = rng.standard_normal((3, rank)) @ rng.standard_normal((rank, 4))
    D = rng.standard_normal((3, 4))
    ours = whitened.operator(W, D, depth)
    assert ll.relative_difference(ours, ll.end_to_end_velocity(W, D, depth)) < 1e-12


def test_induced_velocity_matches_the_per_layer_flow_of_a_balanced_network():
    X, Y = whitened.random_problem(30, 3, 2, rng=3)
    Z = whitened.target(X, Y)
    W0 = np.random.default_rng(4).standard_normal((2, 3))
    layers = ll.balanced_init(W0, 3, rng=5)
    grads = ll.layer_gradients(layers, ll.SquareLoss(X, Y).grad(ll.end_to_end(layers)))
    # d/dt of the product under the per-layer flow, to first order
    h = 1e-7
    moved = ll.end_to_end([w - h * g for w, g in zip(layers, grads, strict=True)])
    finite = (moved - ll.end_to_end(layers)) / h
    assert ll.relative_difference(finite, whitened.induced_velocity(W0, Z, 3, 30)) < 1e-5


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="Delta"):
        whitened.operator(np.eye(2), np.eye(3), 2)
    with pytest.raises(ValueError, match="depth"):
        whitened.operator(np.eye(2), np.eye(2), 0)
    with pytest.raises(ValueError, match="m"):
        whitened.induced_velocity(np.eye(2), np.eye(2), 2, 0.0)
    with pytest.raises(ValueError, match="d_x"):
        whitened.random_problem(3, 4, 1)


# --- Lemma N.1 for rank one: the closed form of A_W ---------------------------------------------

SHAPE = (3, 4)


def rank_one(rng, s=None):
    return rank_one_matrix(rng, SHAPE, s)


@given(st.integers(2, 6), st.floats(0.1, 10.0), st.integers(0, 10**6))
def test_rank_one_operator_matches_the_sum_for_stacks_of_shapes(depth, s, seed):
    rng = np.random.default_rng(seed)
    W = rank_one(rng, s)
    D = rng.standard_normal(SHAPE)
    ours = whitened.rank_one_operator(W, D, depth)
    assert ll.relative_difference(ours, whitened.operator(W, D, depth)) < 1e-11


def test_rank_one_operator_eigenvalues_and_stacks(rng):
    s, N = 2.0, 4
    u, w = np.eye(3)[0], np.eye(4)[0]
    W = s * np.outer(u, w)
    p = s ** (2 - 2 / N)
    assert np.allclose(whitened.rank_one_operator(W, np.outer(u, w), N), N * p * np.outer(u, w))
    side = np.outer(u, np.eye(4)[1])
    assert np.allclose(whitened.rank_one_operator(W, side, N), p * side)
    rest = np.outer(np.eye(3)[1], np.eye(4)[2])
    assert np.allclose(whitened.rank_one_operator(W, rest, N), 0.0)
    stack = np.array([rank_one(rng) for _ in range(5)])
    D = rng.standard_normal((5, *SHAPE))
    batched = whitened.rank_one_operator(stack, D, 3)
    for k in range(5):
        assert np.allclose(batched[k], whitened.rank_one_operator(stack[k], D[k], 3))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 3),
    cols=st.integers(1, 4),
    depth=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_rank_one_operator_matches_the_general_operator(rows, cols, depth, seed):
    rng = np.random.default_rng(seed)
    W = np.outer(rng.standard_normal(rows), rng.standard_normal(cols))
    Delta = rng.standard_normal((rows, cols))
    got = whitened.rank_one_operator(W, Delta, depth)
    want = whitened.operator(W, Delta, depth)
    assert ll.relative_difference(got, want) < 1e-11


def test_rank_one_operator_for_a_row_has_the_two_eigenvalues():
    w = np.array([[3.0, 4.0]])  # s = 5
    along, across = w / 5, np.array([[-4.0, 3.0]]) / 5
    for n in (1, 2, 4):
        s_power = 5.0 ** (2 - 2 / n)
        np.testing.assert_allclose(whitened.rank_one_operator(w, along, n), n * s_power * along)
        np.testing.assert_allclose(whitened.rank_one_operator(w, across, n), s_power * across)


def test_rank_one_operator_refuses_bad_input(rng):
    W = rank_one(rng)
    with pytest.raises(ValueError, match="rank one"):
        whitened.rank_one_operator(np.eye(2), np.eye(2), 2)
    with pytest.raises(ValueError, match="rank one"):
        whitened.rank_one_operator(np.array([W, np.eye(3, 4)]), np.array([W, W]), 2)
    with pytest.raises(ValueError, match="non-zero"):
        whitened.rank_one_operator(np.zeros((1, 3)), np.ones((1, 3)), 2)
    with pytest.raises(ValueError, match="non-zero"):
        whitened.rank_one_operator(np.zeros(SHAPE), W, 2)
    with pytest.raises(ValueError, match="Delta"):
        whitened.rank_one_operator(np.ones((1, 3)), np.ones((1, 2)), 2)
    with pytest.raises(ValueError, match="Delta"):
        whitened.rank_one_operator(W, np.ones((4, 3)), 2)
    with pytest.raises(ValueError, match="W"):
        whitened.rank_one_operator(np.ones(3), np.ones(3), 2)
    with pytest.raises(ValueError, match="finite"):
        whitened.rank_one_operator(np.full(SHAPE, np.nan), W, 2)
    with pytest.raises(ValueError, match="depth"):
        whitened.rank_one_operator(np.ones((1, 3)), np.ones((1, 3)), 0)
    # depth 1: A_W is the identity (the formula with N - 2 = -1 would not be)
    D = rng.standard_normal(SHAPE)
    np.testing.assert_array_equal(whitened.rank_one_operator(W, D, 1), D)


# --- targets with a prescribed spectrum ---------------------------------------------------------


@pytest.mark.parametrize("draw", ["square", "haar", "thin"])
@pytest.mark.parametrize("values", [[1.0], [2.0, 0.6], [1.5, 0.45, 0.1]])
def test_target_with_spectrum_has_the_singular_values(draw, values):
    Z = whitened.target_with_spectrum(values, SHAPE, 3, draw=draw)
    s = np.linalg.svd(Z, compute_uv=False)
    np.testing.assert_allclose(s[: len(values)], values, atol=1e-12)
    assert np.all(s[len(values) :] < 1e-12)
    again = whitened.target_with_spectrum(values, SHAPE, 3, draw=draw)
    np.testing.assert_array_equal(Z, again)


def test_target_with_spectrum_draws_as_documented():
    gen = np.random.default_rng(4)
    U = np.linalg.qr(gen.standard_normal((3, 3)))[0]
    V = np.linalg.qr(gen.standard_normal((4, 4)))[0]
    Z = whitened.target_with_spectrum([2.0, 1.0], SHAPE, 4)
    np.testing.assert_allclose(Z, 2.0 * np.outer(U[:, 0], V[:, 0]) + np.outer(U[:, 1], V[:, 1]))
    gen = np.random.default_rng(4)
    U, V = ll.random_orthogonal(3, gen), ll.random_orthogonal(4, gen)
    Z = whitened.target_with_spectrum([2.0, 1.0], SHAPE, 4, draw="haar")
    np.testing.assert_allclose(Z, 2.0 * np.outer(U[:, 0], V[:, 0]) + np.outer(U[:, 1], V[:, 1]))


def test_target_with_spectrum_refuses_bad_input():
    with pytest.raises(ValueError, match="singular_values"):
        whitened.target_with_spectrum([0.5, 2.0], SHAPE)
    with pytest.raises(ValueError, match="singular_values"):
        whitened.target_with_spectrum([1, 1, 1, 1], SHAPE)
    with pytest.raises(ValueError, match="singular_values"):
        whitened.target_with_spectrum([1.0, -0.5], SHAPE)
    with pytest.raises(ValueError, match="shape"):
        whitened.target_with_spectrum([1.0], (3,))
    with pytest.raises(ValueError, match="draw"):
        whitened.target_with_spectrum([1.0], SHAPE, draw="qr")


# --- the induced flow, integrated ---------------------------------------------------------------


def test_induced_flow_general_and_rank_one_agree_and_find_tau(rng):
    Z = whitened.target_with_spectrum([1.0, 0.3], SHAPE, 1)
    W0 = 4.0 * rank_one(rng, 1.0)
    t = np.linspace(0.0, 0.05, 6)
    general = whitened.induced_flow(Z, W0, 3, 30, t, s_level=2.0)
    closed = whitened.induced_flow(Z, W0, 3, 30, t, rank_one=True, s_level=2.0, dense_output=True)
    # the general operator raises round-off singular values to fractional powers: less accurate
    assert ll.relative_difference(general.W, closed.W) < 1e-6
    assert 0 < closed.tau < t[-1] and closed.tau == pytest.approx(general.tau, rel=1e-6)
    assert np.linalg.norm(closed.W_tau) == pytest.approx(2.0, rel=1e-9)
    assert general.solution is None
    np.testing.assert_allclose(closed.solution(t[3]).reshape(SHAPE), closed.W[3], atol=1e-10)
    assert closed.info["method"] == "DOP853" and closed.info["atol"] == 1e-13
    scaled = whitened.induced_flow(Z, W0, 3, 30, t, rank_one=True, atol_scaled=True)
    assert scaled.info["atol"] == pytest.approx(1e-13 * 4.0)
    assert np.isnan(scaled.tau) and scaled.W_tau is None
    below = whitened.induced_flow(Z, W0 / 8, 2, 30, t, rank_one=True, s_level=2.0)
    assert below.tau == 0.0 and below.W_tau is None
    never = whitened.induced_flow(Z, W0, 2, 30, t, rank_one=True, s_level=0.5)
    assert never.tau == np.inf
    # depth 1 on the rank-one path is dW/dt = -m (W - Z)
    one = whitened.induced_flow(Z, W0, 1, 30, t, rank_one=True, rtol=1e-12, atol=1e-14)
    want = Z + np.exp(-30 * t)[:, None, None] * (W0 - Z)
    assert np.max(np.abs(one.W - want)) < 1e-10
    # a run recorded at time 0 only
    only = whitened.induced_flow(Z, W0, 3, 30, [0.0])
    assert only.W.shape == (1, *SHAPE) and np.array_equal(only.W[0], W0)


def test_induced_flow_refuses_bad_input(rng):
    Z = whitened.target_with_spectrum([1.0, 0.3], SHAPE, 1)
    W0 = rank_one(rng)
    t = np.linspace(0.0, 0.1, 3)
    for bad in ([0.5, 0.1], [], [-1.0, 0.0], [0.0, np.inf], [[0.0, 1.0]]):
        with pytest.raises(ValueError, match="t_eval"):
            whitened.induced_flow(Z, W0, 2, 1.0, bad)
    with pytest.raises(ValueError, match="W0"):
        whitened.induced_flow(Z, np.ones((2, 2)), 2, 1.0, t)
    with pytest.raises(ValueError, match="m"):
        whitened.induced_flow(Z, W0, 2, 0.0, t)
    with pytest.raises(ValueError, match="depth"):
        whitened.induced_flow(Z, W0, 0, 1.0, t)
    with pytest.raises(ValueError, match="rtol"):
        whitened.induced_flow(Z, W0, 2, 1.0, t, rtol=0.0)
    with pytest.raises(ValueError, match="atol"):
        whitened.induced_flow(Z, W0, 2, 1.0, t, atol=-1.0)
    with pytest.raises(ValueError, match="s_level"):
        whitened.induced_flow(Z, W0, 2, 1.0, t, s_level=-1.0)
    with pytest.raises(ValueError, match="rank one"):
        whitened.induced_flow(Z, np.eye(3, 4), 2, 1.0, t, rank_one=True)
    with pytest.raises(ValueError, match="non-zero"):
        whitened.induced_flow(Z, np.zeros(SHAPE), 2, 1.0, t, rank_one=True)
