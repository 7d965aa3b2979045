"""Tests of linnet_lib.dynamics: the end-to-end velocity (Theorem 1) and its preconditioner
(Corollary 1), checked against the per-layer dynamics and an independent closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import NON_FINITE, low_rank_matrices

import linnet_lib as ll

BAD_DEPTHS = [0, -1, 2.5, True, "3", None]


depths = st.integers(1, 5)
seeds = st.integers(0, 2**32 - 1)


def closed_form_eigenvalues(W: np.ndarray, rank: int, depth: int) -> np.ndarray:
    """Corollary 1, computed here from the singular values of W: for every pair (r, r'),
    sum_j sigma_r^{2(n-j)/n} sigma_{r'}^{2(j-1)/n}, with sigma_r = 0 beyond the rank and 0^0 = 1."""
    d_out, d_in = W.shape
    sigma = np.zeros(max(d_out, d_in))
    sigma[:rank] = np.linalg.svd(W, compute_uv=False)[:rank]
    n = depth
    values = []
    for r in range(d_out):
        for r_prime in range(d_in):
            total = 0.0
            for j in range(1, n + 1):
                a, b = 2 * (n - j) / n, 2 * (j - 1) / n
                left = 1.0 if a == 0 else sigma[r] ** a
                right = 1.0 if b == 0 else sigma[r_prime] ** b
                total += left * right
            values.append(total)
    return np.array(values)


def equation_4_velocity(weights: list[np.ndarray], G: np.ndarray) -> np.ndarray:
    """sum_j W_{n:j+1} W_{n:j+1}^T G W_{j-1:1}^T W_{j-1:1}: the end-to-end velocity of the
    per-layer flow (equation (4) of the notes), valid for any network."""
    below, above = ll.partial_products(weights)
    return sum(above[j] @ above[j].T @ G @ below[j].T @ below[j] for j in range(len(weights)))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.linalg.norm(b), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b) / scale) if np.any(a != b) else 0.0


# ---------------------------------------------------------------------------------------------
# end_to_end_velocity


def test_velocity_of_depth_one_is_the_gradient_itself(rng):
    W, G = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    velocity = ll.end_to_end_velocity(W, G, 1)
    np.testing.assert_array_equal(velocity, G)
    assert velocity is not G


def test_velocity_of_depth_two_for_diagonal_W_is_explicit():
    W = np.diag([4.0, 9.0])
    G = np.array([[1.0, 2.0], [3.0, 5.0]])
    # [W W^T]^0 G [W^T W]^(1/2) + [W W^T]^(1/2) G [W^T W]^0 = G |W| + |W| G
    expected = G @ np.diag([4.0, 9.0]) + np.diag([4.0, 9.0]) @ G
    np.testing.assert_allclose(ll.end_to_end_velocity(W, G, 2), expected, rtol=1e-14)


def test_velocity_at_zero_matrix_vanishes_for_depth_at_least_two(rng):
    G = rng.standard_normal((3, 2))
    for depth in (2, 3, 4):
        np.testing.assert_array_equal(ll.end_to_end_velocity(np.zeros((3, 2)), G, depth), 0.0)


@given(low_rank_matrices(), depths, seeds)
def test_velocity_equals_per_layer_velocity_of_a_balanced_network(W_and_rank, depth, seed):
    # Theorem 1: for a balanced network, equation (4) collapses to equation (3).
    W, _ = W_and_rank
    gen = np.random.default_rng(seed)
    G = gen.standard_normal(W.shape)
    weights = ll.balanced_init(W, depth, rng=gen)
    expected = equation_4_velocity(weights, G)
    scale = (1 + np.linalg.norm(W)) ** 2 * np.linalg.norm(G)
    assert np.linalg.norm(ll.end_to_end_velocity(W, G, depth) - expected) <= 1e-10 * scale


def test_velocity_differs_from_per_layer_velocity_of_an_unbalanced_network(rng):
    weights = ll.gaussian_init([3, 4, 3], 1.0, rng)
    W = ll.end_to_end(weights)
    G = rng.standard_normal(W.shape)
    assert relative_error(ll.end_to_end_velocity(W, G, 2), equation_4_velocity(weights, G)) > 1e-2


def test_velocity_is_linear_in_G(rng):
    W = rng.standard_normal((3, 4))
    G1, G2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    combined = ll.end_to_end_velocity(W, 2 * G1 - 3 * G2, 3)
    separate = 2 * ll.end_to_end_velocity(W, G1, 3) - 3 * ll.end_to_end_velocity(W, G2, 3)
    np.testing.assert_allclose(combined, separate, atol=1e-12)


def test_velocity_rejects_G_of_wrong_shape():
    with pytest.raises(ValueError, match=r"\bG\b"):
        ll.end_to_end_velocity(np.ones((2, 3)), np.ones((3, 2)), 2)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_velocity_rejects_non_finite_G(bad):
    with pytest.raises(ValueError, match=r"\bG\b"):
        ll.end_to_end_velocity(np.ones((1, 2)), np.array([[1.0, bad]]), 2)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_velocity_rejects_non_finite_W(bad):
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.end_to_end_velocity(np.array([[1.0, bad]]), np.ones((1, 2)), 2)


@pytest.mark.parametrize("bad", BAD_DEPTHS)
def test_velocity_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        ll.end_to_end_velocity(np.eye(2), np.eye(2), bad)


# ---------------------------------------------------------------------------------------------
# preconditioner


@given(low_rank_matrices(), depths)
def test_preconditioner_has_size_d0_dn(W_and_rank, depth):
    W, _ = W_and_rank
    assert ll.preconditioner(W, depth).shape == (W.size, W.size)


@given(low_rank_matrices(), depths)
def test_preconditioner_is_symmetric(W_and_rank, depth):
    W, _ = W_and_rank
    P = ll.preconditioner(W, depth)
    assert np.abs(P - P.T).max() <= 1e-12 * max(np.abs(P).max(), np.finfo(float).tiny)


@given(low_rank_matrices(), depths)
def test_preconditioner_is_positive_semidefinite(W_and_rank, depth):
    W, _ = W_and_rank
    eigenvalues = np.linalg.eigvalsh(ll.preconditioner(W, depth))
    assert eigenvalues.min() >= -1e-10 * max(eigenvalues.max(), 0.0)


@given(low_rank_matrices(), depths, seeds)
def test_preconditioner_times_vec_G_is_vec_of_velocity(W_and_rank, depth, seed):
    W, _ = W_and_rank
    G = np.random.default_rng(seed).standard_normal(W.shape)
    lhs = ll.preconditioner(W, depth) @ ll.vec(G)
    rhs = ll.vec(ll.end_to_end_velocity(W, G, depth))
    assert np.linalg.norm(lhs - rhs) <= 1e-12 * (1 + np.linalg.norm(W)) ** 2 * np.linalg.norm(G)


@given(low_rank_matrices())
def test_preconditioner_of_depth_one_is_identity(W_and_rank):
    W, _ = W_and_rank
    np.testing.assert_array_equal(ll.preconditioner(W, 1), np.eye(W.size))


@given(low_rank_matrices(), depths)
def test_preconditioner_eigenvalues_match_independent_closed_form(W_and_rank, depth):
    W, rank = W_and_rank
    measured = np.linalg.eigvalsh(ll.preconditioner(W, depth))  # sorted ascending
    expected = np.sort(closed_form_eigenvalues(W, rank, depth))
    assert np.abs(measured - expected).max() <= 1e-9 * max(expected.max(), np.finfo(float).tiny)


def test_preconditioner_at_zero_matrix_is_zero_for_depth_at_least_two():
    for depth in (2, 3, 5):
        np.testing.assert_array_equal(ll.preconditioner(np.zeros((2, 3)), depth), 0.0)


def test_preconditioner_of_rank_deficient_W_keeps_the_zero_power_identity():
    # With sigma = (1, 0) and depth 2 the pair (r, r') = (1, 2) has eigenvalue
    # sigma_1^1 sigma_2^0 + sigma_1^0 sigma_2^1 = 1 (0^0 = 1), not 0.
    W = np.diag([1.0, 0.0])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(ll.preconditioner(W, 2))), [0, 1, 1, 2])


@pytest.mark.parametrize("bad", BAD_DEPTHS)
def test_preconditioner_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        ll.preconditioner(np.eye(2), bad)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_preconditioner_rejects_non_finite_W(bad):
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.preconditioner(np.array([[bad, 1.0]]), 2)


def test_preconditioner_rejects_non_matrix_W():
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.preconditioner(np.ones(3), 2)


# ---------------------------------------------------------------------------------------------
# preconditioner_eigen


@given(low_rank_matrices(), depths)
def test_preconditioner_eigen_values_match_independent_closed_form_in_order(W_and_rank, depth):
    W, rank = W_and_rank
    eigenvalues, _ = ll.preconditioner_eigen(W, depth)
    # closed_form_eigenvalues enumerates r outer and r' inner; the library puts pair (r, r') at
    # index r' * d_n + r, the column-major order of vec.
    expected = closed_form_eigenvalues(W, rank, depth).reshape(W.shape).reshape(-1, order="F")
    assert np.abs(eigenvalues - expected).max() <= 1e-12 * max(expected.max(), np.finfo(float).tiny)


@given(low_rank_matrices(), depths)
def test_preconditioner_eigen_values_are_the_spectrum_of_P(W_and_rank, depth):
    W, _ = W_and_rank
    eigenvalues, _ = ll.preconditioner_eigen(W, depth)
    measured = np.linalg.eigvalsh(ll.preconditioner(W, depth))
    assert np.abs(np.sort(eigenvalues) - measured).max() <= 1e-9 * max(
        eigenvalues.max(), np.finfo(float).tiny
    )


@given(low_rank_matrices(), depths)
def test_preconditioner_eigen_vectors_are_eigenvectors_of_P(W_and_rank, depth):
    W, _ = W_and_rank
    eigenvalues, Q = ll.preconditioner_eigen(W, depth)
    P = ll.preconditioner(W, depth)
    assert np.abs(P @ Q - Q * eigenvalues).max() <= 1e-9 * max(
        eigenvalues.max(), np.finfo(float).tiny
    )


@given(low_rank_matrices(), depths)
def test_preconditioner_eigen_vectors_are_orthonormal(W_and_rank, depth):
    W, _ = W_and_rank
    _, Q = ll.preconditioner_eigen(W, depth)
    assert Q.shape == (W.size, W.size)
    np.testing.assert_allclose(Q.T @ Q, np.eye(W.size), atol=1e-12)


def test_preconditioner_eigen_vector_columns_are_vec_of_singular_vector_outer_products(rng):
    W = rng.standard_normal((3, 2))
    _, Q = ll.preconditioner_eigen(W, 3)
    U, _, Vt = np.linalg.svd(W, full_matrices=True)
    d_out = W.shape[0]
    for r in range(3):
        for r_prime in range(2):
            column = Q[:, r_prime * d_out + r]
            expected = ll.vec(np.outer(U[:, r], Vt[r_prime]))
            # singular vectors are defined up to sign
            assert min(np.abs(column - expected).max(), np.abs(column + expected).max()) < 1e-12


def test_preconditioner_eigen_of_depth_one_is_all_ones(rng):
    eigenvalues, _ = ll.preconditioner_eigen(rng.standard_normal((2, 4)), 1)
    np.testing.assert_array_equal(eigenvalues, np.ones(8))


@pytest.mark.parametrize("bad", BAD_DEPTHS)
def test_preconditioner_eigen_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        ll.preconditioner_eigen(np.eye(2), bad)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_preconditioner_eigen_rejects_non_finite_W(bad):
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.preconditioner_eigen(np.array([[bad, 1.0]]), 2)
