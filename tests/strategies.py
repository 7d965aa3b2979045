"""Hypothesis strategies and bad-input lists shared by the unit tests."""

import numpy as np
from hypothesis import strategies as st

NON_FINITE = [np.nan, np.inf, -np.inf]


@st.composite
def low_rank_matrices(draw, max_dim: int = 5):
    """``(W, rank)``: a random W of shape (1..max_dim, 1..max_dim) with exactly the drawn rank."""
    d_out = draw(st.integers(1, max_dim))
    d_in = draw(st.integers(1, max_dim))
    rank = draw(st.integers(0, min(d_out, d_in)))
    scale = draw(st.sampled_from([1e-2, 1.0, 1e2]))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = scale * gen.standard_normal((d_out, rank)) @ gen.standard_normal((rank, d_in))
    return W, rank


def rank_one_matrix(rng, shape, s=None):
    """``s u v^T`` of the given shape with ``u, v`` uniform on their unit spheres and ``s`` uniform in
    ``[0.2, 3]`` unless given."""
    u = rng.standard_normal(shape[0])
    w = rng.standard_normal(shape[1])
    s = rng.uniform(0.2, 3.0) if s is None else s
    return s * np.outer(u / np.linalg.norm(u), w / np.linalg.norm(w))
