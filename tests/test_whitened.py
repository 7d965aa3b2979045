import numpy as np
import pytest

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
