"""Tests of linnet_lib.networks: products, layer gradients, balancedness and initialisations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import NON_FINITE, low_rank_matrices

import linnet_lib as ll

BAD_DEPTHS = [0, -1, 2.5, True, "2", None]


@st.composite
def balanced_init_arguments(draw):
    """``(W, rank, depth, hidden_dims)`` with every hidden width at least max(rank, 1)."""
    W, rank = draw(low_rank_matrices())
    depth = draw(st.integers(1, 5))
    hidden_dims = draw(
        st.lists(st.integers(max(rank, 1), rank + 3), min_size=depth - 1, max_size=depth - 1)
    )
    return W, rank, depth, tuple(hidden_dims)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.linalg.norm(b), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b) / scale) if np.any(a != b) else 0.0


def three_layer_network(rng) -> list[np.ndarray]:
    return [rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]


# ---------------------------------------------------------------------------------------------
# end_to_end


def test_end_to_end_multiplies_later_layers_on_the_left(rng):
    W1, W2, W3 = three_layer_network(rng)
    np.testing.assert_allclose(ll.end_to_end([W1, W2, W3]), W3 @ W2 @ W1, rtol=1e-14)


def test_end_to_end_of_non_commuting_layers_depends_on_order():
    A = np.array([[0.0, 1.0], [0.0, 0.0]])
    B = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(ll.end_to_end([A, B]), B @ A)
    assert not np.array_equal(ll.end_to_end([A, B]), A @ B)


def test_end_to_end_of_single_layer_is_that_layer(rng):
    W = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(ll.end_to_end([W]), W)


def test_end_to_end_accepts_a_tuple_of_nested_lists():
    np.testing.assert_array_equal(ll.end_to_end(([[1.0, 2.0]], [[3.0], [4.0]])), [[3, 6], [4, 8]])


def test_end_to_end_rejects_empty_list():
    with pytest.raises(ValueError, match="weights"):
        ll.end_to_end([])


def test_end_to_end_rejects_an_array_instead_of_a_list(rng):
    with pytest.raises(ValueError, match="weights"):
        ll.end_to_end(rng.standard_normal((2, 3, 3)))


def test_end_to_end_rejects_layer_shapes_that_do_not_chain(rng):
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        ll.end_to_end([rng.standard_normal((3, 2)), rng.standard_normal((4, 2))])


@pytest.mark.parametrize("bad", NON_FINITE)
def test_end_to_end_rejects_non_finite_layer(bad):
    W2 = np.ones((2, 2))
    W2[1, 0] = bad
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        ll.end_to_end([np.ones((2, 2)), W2])


def test_end_to_end_rejects_a_layer_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        ll.end_to_end([np.ones(3)])


# ---------------------------------------------------------------------------------------------
# partial_products


def test_partial_products_are_the_products_below_and_above_each_layer(rng):
    W1, W2, W3 = three_layer_network(rng)
    below, above = ll.partial_products([W1, W2, W3])
    np.testing.assert_array_equal(below[0], np.eye(2))
    np.testing.assert_allclose(below[1], W1)
    np.testing.assert_allclose(below[2], W2 @ W1)
    np.testing.assert_allclose(above[0], W3 @ W2)
    np.testing.assert_allclose(above[1], W3)
    np.testing.assert_array_equal(above[2], np.eye(2))


def test_partial_products_sandwich_each_layer_into_the_end_to_end_matrix(rng):
    weights = three_layer_network(rng)
    below, above = ll.partial_products(weights)
    product = ll.end_to_end(weights)
    for j, W in enumerate(weights):
        np.testing.assert_allclose(above[j] @ W @ below[j], product, rtol=1e-13)


def test_partial_products_of_single_layer_are_identities(rng):
    below, above = ll.partial_products([rng.standard_normal((3, 2))])
    np.testing.assert_array_equal(below[0], np.eye(2))
    np.testing.assert_array_equal(above[0], np.eye(3))


def test_partial_products_rejects_layer_shapes_that_do_not_chain():
    with pytest.raises(ValueError, match="weights"):
        ll.partial_products([np.ones((3, 2)), np.ones((3, 2))])


def test_partial_products_rejects_empty_list():
    with pytest.raises(ValueError, match="weights"):
        ll.partial_products([])


# ---------------------------------------------------------------------------------------------
# layer_gradients


def _objective_of_layer(loss, weights, j):
    """phi as a function of layer j alone."""

    def phi(layer):
        ws = list(weights)
        ws[j] = layer
        return loss.value(ll.end_to_end(ws))

    return phi


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda X, Y: ll.SquareLoss(X, Y),
        lambda X, Y: ll.SquareLoss(X, Y, normalization="mean"),
        lambda X, Y: ll.LpLoss(X, Y, p=4),
    ],
    ids=["square-sum", "square-mean", "lp4"],
)
def test_layer_gradients_match_finite_differences_of_phi(rng, numerical_gradient, make_loss):
    weights = three_layer_network(rng)
    loss = make_loss(rng.standard_normal((2, 6)), rng.standard_normal((2, 6)))
    grads = ll.layer_gradients(weights, loss.grad(ll.end_to_end(weights)))
    for j, (W, g) in enumerate(zip(weights, grads, strict=True)):
        assert g.shape == W.shape
        expected = numerical_gradient(_objective_of_layer(loss, weights, j), W)
        assert relative_error(g, expected) < 1e-6


def test_layer_gradients_of_single_layer_is_the_loss_gradient(rng):
    G = rng.standard_normal((3, 2))
    (grad,) = ll.layer_gradients([rng.standard_normal((3, 2))], G)
    np.testing.assert_array_equal(grad, G)


def test_layer_gradients_rejects_G_of_wrong_shape(rng):
    with pytest.raises(ValueError, match=r"\bG\b"):
        ll.layer_gradients(three_layer_network(rng), np.ones((2, 3)))


@pytest.mark.parametrize("bad", NON_FINITE)
def test_layer_gradients_rejects_non_finite_G(rng, bad):
    G = np.ones((2, 2))
    G[0, 0] = bad
    with pytest.raises(ValueError, match=r"\bG\b"):
        ll.layer_gradients(three_layer_network(rng), G)


def test_layer_gradients_rejects_layer_shapes_that_do_not_chain():
    with pytest.raises(ValueError, match="weights"):
        ll.layer_gradients([np.ones((3, 2)), np.ones((3, 2))], np.ones((3, 2)))


# ---------------------------------------------------------------------------------------------
# unbalancedness and balance_gaps


def test_unbalancedness_is_max_frobenius_norm_of_balance_gaps():
    W1 = np.array([[2.0, 0.0], [0.0, 0.0]])  # W1 W1^T = diag(4, 0)
    W2 = np.array([[1.0, 0.0], [0.0, 1.0]])  # W2^T W2 = I        -> gap diag(-3, 1), norm sqrt(10)
    W3 = np.array([[0.0, 0.0], [0.0, 3.0]])  # W3^T W3 = diag(0, 9), W2 W2^T = I -> gap diag(-1, 8)
    assert ll.unbalancedness([W1, W2, W3]) == pytest.approx(np.sqrt(65.0), rel=1e-15)
    assert ll.unbalancedness([W1, W2]) == pytest.approx(np.sqrt(10.0), rel=1e-15)


def test_unbalancedness_of_single_layer_is_zero(rng):
    assert ll.unbalancedness([rng.standard_normal((3, 4))]) == 0.0


def test_unbalancedness_of_a_scaled_rotation_pair_is_zero():
    c, s = np.cos(0.3), np.sin(0.3)
    Q = 1.7 * np.array([[c, -s], [s, c]])
    assert ll.unbalancedness([Q, Q.T]) < 1e-14


def test_balance_gaps_are_the_matrices_of_lemma_1(rng):
    weights = three_layer_network(rng)
    gaps = ll.balance_gaps(weights)
    assert len(gaps) == 2
    for j, gap in enumerate(gaps):
        expected = weights[j + 1].T @ weights[j + 1] - weights[j] @ weights[j].T
        np.testing.assert_allclose(gap, expected, rtol=1e-14)
    assert max(np.linalg.norm(g) for g in gaps) == pytest.approx(ll.unbalancedness(weights))


def test_balance_gaps_of_single_layer_is_empty(rng):
    assert ll.balance_gaps([rng.standard_normal((3, 4))]) == []


@pytest.mark.parametrize("function", [ll.unbalancedness, ll.balance_gaps])
def test_balance_measures_reject_layer_shapes_that_do_not_chain(function):
    with pytest.raises(ValueError, match="weights"):
        function([np.ones((3, 2)), np.ones((3, 2))])


@pytest.mark.parametrize("function", [ll.unbalancedness, ll.balance_gaps])
@pytest.mark.parametrize("bad", NON_FINITE)
def test_balance_measures_reject_non_finite_layer(function, bad):
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        function([np.array([[bad]]), np.ones((1, 1))])


@pytest.mark.parametrize("function", [ll.unbalancedness, ll.balance_gaps])
def test_balance_measures_reject_empty_list(function):
    with pytest.raises(ValueError, match="weights"):
        function([])


# ---------------------------------------------------------------------------------------------
# balanced_init: properties


@given(balanced_init_arguments())
def test_balanced_init_product_is_the_target(args):
    W, _, depth, hidden_dims = args
    weights = ll.balanced_init(W, depth, hidden_dims)
    assert relative_error(ll.end_to_end(weights), W) <= 1e-10


@given(balanced_init_arguments())
def test_balanced_init_has_zero_unbalancedness(args):
    W, _, depth, hidden_dims = args
    weights = ll.balanced_init(W, depth, hidden_dims)
    assert ll.unbalancedness(weights) < 1e-10 * (1 + np.linalg.norm(W) ** 2)


@given(balanced_init_arguments())
def test_balanced_init_respects_hidden_widths(args):
    W, _, depth, hidden_dims = args
    weights = ll.balanced_init(W, depth, hidden_dims)
    widths = [W.shape[1], *hidden_dims, W.shape[0]]
    assert [w.shape for w in weights] == [(widths[j + 1], widths[j]) for j in range(depth)]


@given(balanced_init_arguments(), st.integers(0, 2**32 - 1))
def test_balanced_init_with_random_rotations_keeps_product_and_balance(args, seed):
    W, _, depth, hidden_dims = args
    weights = ll.balanced_init(W, depth, hidden_dims, rng=np.random.default_rng(seed))
    assert relative_error(ll.end_to_end(weights), W) <= 1e-10
    assert ll.unbalancedness(weights) < 1e-10 * (1 + np.linalg.norm(W) ** 2)


@pytest.mark.parametrize("shape", [(2, 5), (5, 2), (3, 3)])
def test_balanced_init_default_hidden_width_is_min_of_input_and_output(rng, shape):
    weights = ll.balanced_init(rng.standard_normal(shape), 4)
    assert [w.shape[0] for w in weights[:-1]] == [min(shape)] * 3


def test_balanced_init_depth_one_returns_a_copy_of_the_target(rng):
    W = rng.standard_normal((2, 3))
    (layer,) = ll.balanced_init(W, 1)
    np.testing.assert_array_equal(layer, W)
    assert layer is not W


def test_balanced_init_layers_share_the_nth_root_of_the_singular_values():
    W = np.diag([8.0, 1.0]) @ np.array([[0.6, 0.8], [-0.8, 0.6]])
    for layer in ll.balanced_init(W, 3):
        np.testing.assert_allclose(np.linalg.svd(layer, compute_uv=False), [2.0, 1.0], rtol=1e-14)


def test_balanced_init_of_zero_matrix_is_all_zero():
    weights = ll.balanced_init(np.zeros((3, 2)), 3, (1, 4))
    assert all(np.all(w == 0.0) for w in weights)


def test_balanced_init_is_reproducible_with_an_integer_seed(rng):
    W = rng.standard_normal((3, 3))
    first = ll.balanced_init(W, 3, rng=5)
    second = ll.balanced_init(W, 3, rng=5)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_balanced_init_rotations_make_hidden_layers_dense(rng):
    W = rng.standard_normal((3, 3))
    canonical = ll.balanced_init(W, 3)
    rotated = ll.balanced_init(W, 3, rng=rng)
    assert np.count_nonzero(canonical[1]) == 3  # diagonal
    assert np.count_nonzero(np.abs(rotated[1]) > 1e-12) == 9


# ---------------------------------------------------------------------------------------------
# balanced_init: errors


@pytest.mark.parametrize("bad", BAD_DEPTHS)
def test_balanced_init_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        ll.balanced_init(np.eye(2), bad)


def test_balanced_init_rejects_hidden_width_below_rank(rng):
    W = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 4))  # rank 2
    with pytest.raises(ValueError, match=r"hidden_dims\[1\]"):
        ll.balanced_init(W, 3, (2, 1))


@pytest.mark.parametrize("hidden_dims", [(), (2,), (2, 2, 2)])
def test_balanced_init_rejects_wrong_number_of_hidden_dims(hidden_dims):
    with pytest.raises(ValueError, match="hidden_dims"):
        ll.balanced_init(np.eye(2), 3, hidden_dims)


@pytest.mark.parametrize("hidden_dims", ["22", 2, {2: 2}.keys()])
def test_balanced_init_rejects_hidden_dims_that_is_not_a_sequence(hidden_dims):
    with pytest.raises(ValueError, match="hidden_dims"):
        ll.balanced_init(np.eye(2), 2, hidden_dims)


@pytest.mark.parametrize("bad_width", [0, -2, 2.5, True])
def test_balanced_init_rejects_bad_hidden_width(bad_width):
    with pytest.raises(ValueError, match=r"hidden_dims\[0\]"):
        ll.balanced_init(np.zeros((2, 2)), 2, (bad_width,))


@pytest.mark.parametrize("bad", NON_FINITE)
def test_balanced_init_rejects_non_finite_target(bad):
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.balanced_init(np.array([[1.0, bad]]), 2)


def test_balanced_init_rejects_non_matrix_target():
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.balanced_init(np.ones(3), 2)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("bad_rng", ["seed", 1.5, np.random.RandomState(0)])
def test_balanced_init_rejects_rng_of_wrong_type(depth, bad_rng):
    with pytest.raises(ValueError, match="rng"):
        ll.balanced_init(np.eye(2), depth, rng=bad_rng)


# ---------------------------------------------------------------------------------------------
# gaussian_init


def test_gaussian_init_layer_shapes_follow_dims(rng):
    weights = ll.gaussian_init([4, 5, 6, 3], 0.1, rng)
    assert [w.shape for w in weights] == [(5, 4), (6, 5), (3, 6)]


def test_gaussian_init_entries_have_the_requested_standard_deviation(rng):
    (W,) = ll.gaussian_init([200, 200], 0.3, rng)
    assert np.mean(W) == pytest.approx(0.0, abs=0.01)
    assert np.std(W) == pytest.approx(0.3, rel=0.02)


def test_gaussian_init_with_zero_std_is_zero(rng):
    assert all(np.all(w == 0.0) for w in ll.gaussian_init([2, 3, 2], 0.0, rng))


def test_gaussian_init_is_reproducible_with_an_integer_seed():
    for a, b in zip(
        ll.gaussian_init([2, 3, 2], 1.0, 9), ll.gaussian_init([2, 3, 2], 1.0, 9), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_gaussian_init_is_generically_unbalanced(rng):
    assert ll.unbalancedness(ll.gaussian_init([3, 3, 3], 1.0, rng)) > 0.1


@pytest.mark.parametrize("bad", [[3], [], "34", 3, None])
def test_gaussian_init_rejects_dims_that_are_not_a_list_of_two_or_more(bad):
    with pytest.raises(ValueError, match="dims"):
        ll.gaussian_init(bad, 1.0, 0)


@pytest.mark.parametrize("bad_width", [0, -1, 2.5, True])
def test_gaussian_init_rejects_bad_width(bad_width):
    with pytest.raises(ValueError, match=r"dims\[1\]"):
        ll.gaussian_init([2, bad_width, 2], 1.0, 0)


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, "1"])
def test_gaussian_init_rejects_bad_std(bad):
    with pytest.raises(ValueError, match="std"):
        ll.gaussian_init([2, 2], bad, 0)


@pytest.mark.parametrize("bad_rng", ["seed", 1.5, True, np.random.RandomState(0)])
def test_gaussian_init_rejects_rng_of_wrong_type(bad_rng):
    with pytest.raises(ValueError, match="rng"):
        ll.gaussian_init([2, 2], 1.0, bad_rng)
