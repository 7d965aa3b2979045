"""Input validation shared by every public function of linnet_lib.

Each helper either returns a clean float64 array/number or raises ``ValueError`` whose message names
the offending argument and says what was expected. Nothing broadcasts silently.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np


def matrix(name: str, value, *, shape: tuple[int | None, int | None] | None = None) -> np.ndarray:
    """Return ``value`` as a finite 2-D float64 array, checking an optional expected shape."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real 2-D array, got {type(value).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (a matrix), got an array of shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    if shape is not None:
        for axis, expected in enumerate(shape):
            if expected is not None and arr.shape[axis] != expected:
                raise ValueError(f"{name} must have shape {_shape_text(shape)}, got {arr.shape}")
    return arr


def _shape_text(shape) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"


def weights(name: str, value) -> list[np.ndarray]:
    """Return a network ``[W_1, ..., W_n]`` as a list of matrices whose shapes chain."""
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
        raise ValueError(
            f"{name} must be a non-empty list of layer matrices [W_1, ..., W_n], "
            f"got {type(value).__name__}"
        )
    if len(value) == 0:
        raise ValueError(f"{name} must be a non-empty list of layer matrices, got an empty list")
    layers = [matrix(f"{name}[{j}]", w) for j, w in enumerate(value)]
    for j in range(1, len(layers)):
        if layers[j].shape[1] != layers[j - 1].shape[0]:
            raise ValueError(
                f"{name}: layer shapes do not chain: {name}[{j}] has shape {layers[j].shape} "
                f"but {name}[{j - 1}] has shape {layers[j - 1].shape} "
                f"(need {name}[{j}].shape[1] == {name}[{j - 1}].shape[0])"
            )
    return layers


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def matrix_shape(name: str, value) -> tuple[int, int]:
    """A pair ``(d_n, d_0)`` of positive integers (the shape of an end-to-end matrix)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be a pair (d_n, d_0), got {value!r}")
    return positive_int(f"{name}[0]", value[0]), positive_int(f"{name}[1]", value[1])


def rank_for(name: str, value, shape: tuple[int, int], *, minimum: int = 1) -> int:
    """An integer rank between ``minimum`` and ``min(shape)``."""
    r = positive_int(name, value, minimum=minimum)
    if r > min(shape):
        raise ValueError(f"{name} must be at most min(d_n, d_0) = {min(shape)}, got {r}")
    return r


def real(name: str, value, *, low: float | None = None, strict_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None:
        if strict_low and not x > low:
            raise ValueError(f"{name} must be > {low}, got {value!r}")
        if not strict_low and not x >= low:
            raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return x


def rng(value) -> np.random.Generator:
    if value is None:
        return np.random.default_rng()
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return np.random.default_rng(int(value))
    raise ValueError(
        f"rng must be a numpy.random.Generator, an integer seed or None, got {value!r}"
    )


def step_sizes(name: str, value, *, minimum_size: int = 1) -> np.ndarray:
    """A 1-D float array of at least ``minimum_size`` positive, finite step sizes."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of positive step sizes") from exc
    if arr.ndim != 1 or arr.size < minimum_size or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"{name} must be a 1-D sequence of at least {minimum_size} positive step sizes"
        )
    return arr
