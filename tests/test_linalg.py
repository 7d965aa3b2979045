"""Tests of linnet_lib.linalg: SVD with rank, exact PSD powers, vec/unvec, random rotations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import NON_FINITE, low_rank_matrices

import linnet_lib as ll


def rank_one_matrix() -> np.ndarray:
    u = np.array([[1.0], [-2.0], [0.5], [3.0]])
    v = np.array([[0.3], [1.0], [-0.7]])
    return u @ v.T  # 4 x 3, rank 1


def matrix_with_zero_column() -> np.ndarray:
    gen = np.random.default_rng(7)
    W = gen.standard_normal((4, 3))
    W[:, 1] = 0.0
    return W  # rank 2


SINGULAR_MATRICES = {
    "rank-one 4x3": rank_one_matrix,
    "zero 4x3": lambda: np.zeros((4, 3)),
    "zero column 4x3": matrix_with_zero_column,
    "rank-one 3x5": lambda: np.outer([1.0, -1.0, 2.0], [0.5, 1.0, 0.0, -2.0, 3.0]),
}


def orthonormal_complement(W: np.ndarray, side: str) -> np.ndarray:
    """Orthonormal basis of the complement of range(W) (left) or of range(W^T) (right)."""
    U, s, Vt = np.linalg.svd(W, full_matrices=True)
    rank = int(np.sum(s > 1e-12 * max(s.max(), 1e-300)))
    return U[:, rank:] if side == "left" else Vt[rank:].T


def gram(W: np.ndarray, side: str) -> np.ndarray:
    return W @ W.T if side == "left" else W.T @ W


# ---------------------------------------------------------------------------------------------
# svd_with_rank


def test_svd_with_rank_reconstructs_matrix_and_counts_rank(rng):
    W = rng.standard_normal((5, 2)) @ rng.standard_normal((2, 4))
    U, s, Vt, rank = ll.svd_with_rank(W)
    assert rank == 2
    assert U.shape == (5, 4) and s.shape == (4,) and Vt.shape == (4, 4)
    np.testing.assert_allclose((U * s) @ Vt, W, atol=1e-12 * np.abs(W).max())


def test_svd_with_rank_sets_roundoff_singular_values_to_exact_zero():
    _, s, _, rank = ll.svd_with_rank(rank_one_matrix())
    assert rank == 1
    assert s[0] > 0
    assert np.all(s[1:] == 0.0)


def test_svd_with_rank_singular_values_are_non_increasing(rng):
    _, s, _, _ = ll.svd_with_rank(rng.standard_normal((4, 6)))
    assert np.all(np.diff(s) <= 0)


def test_svd_with_rank_of_zero_matrix_has_rank_zero():
    _, s, _, rank = ll.svd_with_rank(np.zeros((3, 2)))
    assert rank == 0
    assert np.all(s == 0.0)


def test_svd_with_rank_larger_rtol_cuts_small_singular_values():
    W = np.diag([1.0, 1e-3, 1e-8])
    assert ll.svd_with_rank(W)[3] == 3
    assert ll.svd_with_rank(W, rtol=1e-5)[3] == 2
    assert ll.svd_with_rank(W, rtol=1e-2)[3] == 1


def test_svd_with_rank_full_matrices_gives_square_factors(rng):
    U, s, Vt, _ = ll.svd_with_rank(rng.standard_normal((4, 2)), full_matrices=True)
    assert U.shape == (4, 4) and s.shape == (2,) and Vt.shape == (2, 2)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_svd_with_rank_rejects_non_finite_entries(bad):
    W = np.ones((2, 2))
    W[0, 1] = bad
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.svd_with_rank(W)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 2)), np.zeros((0, 3)), "abc"])
def test_svd_with_rank_rejects_non_matrix(bad):
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.svd_with_rank(bad)


@pytest.mark.parametrize("bad", [-1e-3, np.nan, np.inf, "0.1", True])
def test_svd_with_rank_rejects_bad_rtol(bad):
    with pytest.raises(ValueError, match="rtol"):
        ll.svd_with_rank(np.eye(2), rtol=bad)


# ---------------------------------------------------------------------------------------------
# gram_power: exactness on singular matrices


@pytest.mark.parametrize("make_W", SINGULAR_MATRICES.values(), ids=SINGULAR_MATRICES.keys())
@pytest.mark.parametrize("side", ["left", "right"])
def test_gram_power_quarter_to_the_fourth_is_the_gram_matrix(make_W, side):
    W = make_W()
    root = ll.gram_power(W, 0.25, side=side)
    fourth = root @ root @ root @ root
    target = gram(W, side)
    scale = max(np.abs(target).max(), 1.0)
    assert np.abs(fourth - target).max() <= 1e-12 * scale


@pytest.mark.parametrize("make_W", SINGULAR_MATRICES.values(), ids=SINGULAR_MATRICES.keys())
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("beta", [0.25, 0.5, 1 / 3, 0.75])
def test_gram_power_is_exactly_zero_on_complement_of_range(make_W, side, beta):
    # A naive eigh-based power turns a round-off eigenvalue 1e-16 into 1e-4 at beta = 1/4.
    W = make_W()
    complement = orthonormal_complement(W, side)
    assert complement.shape[1] > 0
    power = ll.gram_power(W, beta, side=side)
    assert np.abs(power @ complement).max() < 1e-12
    assert np.abs(complement.T @ power).max() < 1e-12


@pytest.mark.parametrize("side", ["left", "right"])
def test_gram_power_of_zero_matrix_is_zero(side):
    power = ll.gram_power(np.zeros((4, 3)), 0.25, side=side)
    expected_size = 4 if side == "left" else 3
    assert power.shape == (expected_size, expected_size)
    assert np.all(power == 0.0)


@pytest.mark.parametrize("make_W", SINGULAR_MATRICES.values(), ids=SINGULAR_MATRICES.keys())
@pytest.mark.parametrize("side", ["left", "right"])
def test_gram_power_zero_is_identity_even_for_singular_matrices(make_W, side):
    W = make_W()
    size = W.shape[0] if side == "left" else W.shape[1]
    np.testing.assert_array_equal(ll.gram_power(W, 0, side=side), np.eye(size))


@pytest.mark.parametrize("side", ["left", "right"])
def test_gram_power_one_is_the_gram_matrix(rng, side):
    W = rng.standard_normal((3, 5))
    np.testing.assert_allclose(ll.gram_power(W, 1.0, side=side), gram(W, side), atol=1e-12)


def test_gram_power_half_of_square_invertible_matrix_is_its_psd_square_root(rng):
    W = rng.standard_normal((4, 4))
    root = ll.gram_power(W, 0.5)
    np.testing.assert_allclose(root, root.T, atol=1e-13)
    assert np.linalg.eigvalsh(root).min() > 0
    np.testing.assert_allclose(root @ root, W @ W.T, atol=1e-12)


def test_gram_power_default_side_is_left(rng):
    W = rng.standard_normal((2, 5))
    assert ll.gram_power(W, 0.3).shape == (2, 2)
    assert ll.gram_power(W, 0.3, side="right").shape == (5, 5)


@given(
    low_rank_matrices(),
    st.sampled_from([0.25, 0.5, 1 / 3, 2 / 5]),
    st.sampled_from(["left", "right"]),
)
def test_gram_power_adds_exponents(W_and_rank, beta, side):
    W, _ = W_and_rank
    a = ll.gram_power(W, beta, side=side)
    b = ll.gram_power(W, 1 - beta, side=side)
    target = gram(W, side)
    assert np.abs(a @ b - target).max() <= 1e-11 * max(np.abs(target).max(), 1e-300)


@given(low_rank_matrices(), st.sampled_from([0.25, 0.5, 1 / 3]), st.sampled_from(["left", "right"]))
def test_gram_power_vanishes_on_complement_of_range_for_random_low_rank(W_and_rank, beta, side):
    W, rank = W_and_rank
    complement = orthonormal_complement(W, side)
    power = ll.gram_power(W, beta, side=side)
    scale = max(np.abs(power).max(), 1.0)
    assert complement.shape[1] >= W.shape[0 if side == "left" else 1] - rank
    assert np.abs(power @ complement).max(initial=0.0) < 1e-12 * scale


@pytest.mark.parametrize("bad", NON_FINITE)
def test_gram_power_rejects_non_finite_entries(bad):
    W = np.ones((2, 3))
    W[1, 2] = bad
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.gram_power(W, 0.5)


def test_gram_power_rejects_non_matrix():
    with pytest.raises(ValueError, match=r"\bW\b"):
        ll.gram_power(np.ones(3), 0.5)


@pytest.mark.parametrize("bad", [-0.5, np.nan, np.inf, "half", None])
def test_gram_power_rejects_bad_beta(bad):
    with pytest.raises(ValueError, match="beta"):
        ll.gram_power(np.eye(2), bad)


@pytest.mark.parametrize("bad", ["up", "Left", None])
def test_gram_power_rejects_bad_side(bad):
    with pytest.raises(ValueError, match="side"):
        ll.gram_power(np.eye(2), 0.5, side=bad)


# ---------------------------------------------------------------------------------------------
# psd_power


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 2 / 3, 1.0, 1.5])
def test_psd_power_agrees_with_gram_power_for_full_rank_matrix(rng, beta):
    W = rng.standard_normal((3, 5))  # full row rank: W W^T invertible
    np.testing.assert_allclose(ll.psd_power(W @ W.T, beta), ll.gram_power(W, beta), atol=1e-12)


def test_psd_power_zero_is_identity():
    np.testing.assert_array_equal(ll.psd_power(np.zeros((3, 3)), 0), np.eye(3))


def test_psd_power_is_exactly_zero_on_kernel_of_singular_matrix():
    u = np.array([[1.0], [2.0], [-1.0]])
    A = u @ u.T
    kernel = orthonormal_complement(u, "left")
    assert np.abs(ll.psd_power(A, 0.25) @ kernel).max() < 1e-12


@given(low_rank_matrices(), st.sampled_from([0.25, 0.5, 1 / 3]))
def test_psd_power_vanishes_on_kernel_for_random_low_rank_gram_matrix(W_and_rank, beta):
    W, _ = W_and_rank
    A = W @ W.T
    kernel = orthonormal_complement(W, "left")
    power = ll.psd_power(A, beta)
    scale = max(np.abs(power).max(), 1.0)
    assert np.abs(power @ kernel).max(initial=0.0) < 1e-11 * scale


def test_psd_power_accepts_roundoff_negative_eigenvalues():
    W = rank_one_matrix()
    A = W @ W.T  # PSD of rank 1; eigh may return eigenvalues around -1e-15
    root = ll.psd_power(A, 0.5)
    np.testing.assert_allclose(root @ root, A, atol=1e-12 * np.abs(A).max())


def test_psd_power_rejects_non_square():
    with pytest.raises(ValueError, match="A must be square"):
        ll.psd_power(np.ones((2, 3)), 0.5)


def test_psd_power_rejects_non_symmetric():
    with pytest.raises(ValueError, match="A must be symmetric"):
        ll.psd_power(np.array([[2.0, 1.0], [0.0, 2.0]]), 0.5)


def test_psd_power_rejects_clearly_negative_eigenvalue():
    with pytest.raises(ValueError, match="A must be positive semi-definite"):
        ll.psd_power(np.diag([1.0, -1e-3]), 0.5)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_psd_power_rejects_non_finite_entries(bad):
    with pytest.raises(ValueError, match=r"\bA\b"):
        ll.psd_power(np.diag([1.0, bad]), 0.5)


@pytest.mark.parametrize("bad", [-1.0, np.nan, "x"])
def test_psd_power_rejects_bad_beta(bad):
    with pytest.raises(ValueError, match="beta"):
        ll.psd_power(np.eye(2), bad)


# ---------------------------------------------------------------------------------------------
# vec / unvec


def test_vec_is_column_major():
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(ll.vec(A), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0])


def test_unvec_is_column_major():
    np.testing.assert_array_equal(
        ll.unvec(np.array([1.0, 4.0, 2.0, 5.0, 3.0, 6.0]), (2, 3)), [[1, 2, 3], [4, 5, 6]]
    )


@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_unvec_inverts_vec(rows, cols, seed):
    A = np.random.default_rng(seed).standard_normal((rows, cols))
    np.testing.assert_array_equal(ll.unvec(ll.vec(A), (rows, cols)), A)


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_vec_of_product_matches_kronecker_identity_p1(rows, inner, cols, seed):
    # P.1: vec(AB) = (B^T kron I_{rows(A)}) vec(A) = (I_{cols(B)} kron A) vec(B)
    gen = np.random.default_rng(seed)
    A = gen.standard_normal((rows, inner))
    B = gen.standard_normal((inner, cols))
    lhs = ll.vec(A @ B)
    np.testing.assert_allclose(np.kron(B.T, np.eye(rows)) @ ll.vec(A), lhs, atol=1e-12)
    np.testing.assert_allclose(np.kron(np.eye(cols), A) @ ll.vec(B), lhs, atol=1e-12)


@pytest.mark.parametrize("bad", [np.ones(4), np.zeros((0, 2))])
def test_vec_rejects_non_matrix(bad):
    with pytest.raises(ValueError, match=r"\bA\b"):
        ll.vec(bad)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_vec_rejects_non_finite_entries(bad):
    with pytest.raises(ValueError, match=r"\bA\b"):
        ll.vec(np.array([[1.0, bad]]))


def test_unvec_rejects_matrix_input():
    with pytest.raises(ValueError, match=r"\bx\b"):
        ll.unvec(np.ones((2, 2)), (2, 2))


@pytest.mark.parametrize("bad_shape", [(2, 3), (4,), (1, 2, 2)])
def test_unvec_rejects_shape_of_wrong_size_or_length(bad_shape):
    with pytest.raises(ValueError, match="shape"):
        ll.unvec(np.arange(4.0), bad_shape)


@pytest.mark.parametrize(
    "bad_shape", [(-2, -2), (2.0, 2.0), None, "22"], ids=["negative", "floats", "None", "string"]
)
def test_unvec_rejects_shape_that_is_not_a_pair_of_positive_ints(bad_shape):
    with pytest.raises(ValueError, match="shape"):
        ll.unvec(np.arange(4.0), bad_shape)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_unvec_rejects_non_finite_entries(bad):
    with pytest.raises(ValueError, match=r"\bx\b"):
        ll.unvec(np.array([1.0, bad, 2.0, 3.0]), (2, 2))


# ---------------------------------------------------------------------------------------------
# random_orthogonal


@pytest.mark.parametrize("size", [1, 2, 5])
def test_random_orthogonal_is_orthogonal(rng, size):
    Q = ll.random_orthogonal(size, rng)
    assert Q.shape == (size, size)
    np.testing.assert_allclose(Q.T @ Q, np.eye(size), atol=1e-13)


def test_random_orthogonal_is_reproducible_from_an_integer_seed():
    np.testing.assert_array_equal(ll.random_orthogonal(4, 3), ll.random_orthogonal(4, 3))
    assert not np.allclose(ll.random_orthogonal(4, 3), ll.random_orthogonal(4, 4))


def test_random_orthogonal_draws_from_the_given_generator():
    Q1 = ll.random_orthogonal(3, np.random.default_rng(11))
    Q2 = ll.random_orthogonal(3, np.random.default_rng(11))
    np.testing.assert_array_equal(Q1, Q2)


def test_random_orthogonal_has_both_determinant_signs():
    dets = {round(np.linalg.det(ll.random_orthogonal(3, seed))) for seed in range(20)}
    assert dets == {-1, 1}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_random_orthogonal_rejects_bad_size(bad):
    with pytest.raises(ValueError, match="size"):
        ll.random_orthogonal(bad)


@pytest.mark.parametrize("bad", ["seed", 1.5, True, np.random.RandomState(0)])
def test_random_orthogonal_rejects_rng_of_wrong_type(bad):
    with pytest.raises(ValueError, match="rng"):
        ll.random_orthogonal(3, bad)
