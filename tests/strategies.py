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
