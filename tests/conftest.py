"""Shared settings and fixtures of the linnet_lib unit tests.

Hypothesis runs a fixed, derandomized set of examples (profile "ci") so that the suite is
deterministic and fast; it keeps no example database on disk.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None)
settings.load_profile("ci")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, fresh for every test."""
    return np.random.default_rng(20240601)


def _central_difference_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite-difference gradient of a scalar function ``f`` of a matrix ``x``."""
    grad = np.zeros_like(x, dtype=float)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x, dtype=float)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.fixture(scope="session")
def numerical_gradient():
    """``numerical_gradient(f, x)``: central finite differences of ``f`` at matrix ``x``."""
    return _central_difference_gradient
