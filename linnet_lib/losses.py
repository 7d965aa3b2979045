"""End-to-end losses: objects with ``value(W)`` and ``grad(W)`` on matrices of shape ``(d_n, d_0)``.

The same loss object serves the linear model (depth 1), the overparameterized objective
``phi(W_1..W_n) = l(W_n...W_1)`` and the end-to-end dynamics.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v

_NORMALIZATIONS = ("sum", "mean")


class Loss:
    """Base class. Subclasses set ``self.shape = (d_n, d_0)`` and implement ``_value``/``_grad``."""

    shape: tuple[int, int]

    def _check(self, W) -> np.ndarray:
        return v.matrix("W", W, shape=self.shape)

    def value(self, W) -> float:
        """The loss at end-to-end matrix ``W``."""
        return float(self._value(self._check(W)))

    def grad(self, W) -> np.ndarray:
        """The gradient of the loss at ``W``, a matrix of the same shape."""
        return self._grad(self._check(W))

    def _value(self, W):  # pragma: no cover - abstract
        raise NotImplementedError

    def _grad(self, W):  # pragma: no cover - abstract
        raise NotImplementedError


def _data(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of columns (samples): X has shape {X.shape}, "
            f"Y has shape {Y.shape}"
        )
    return X, Y


def _normalization(value: str) -> str:
    if value not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {value!r}")
    return value


class SquareLoss(Loss):
    """Linear regression: ``l(W) = 1/2 ||W X - Y||_F^2`` (``normalization='sum'``, default) or
    ``1/(2m) ||W X - Y||_F^2`` (``normalization='mean'``, the lecture notes' scaling), with
    samples as columns: ``X`` of shape ``(d_0, m)``, ``Y`` of shape ``(d_n, m)``.

    Its gradient is ``(W X - Y) X^T`` (divided by m for 'mean').
    """

    def __init__(self, X, Y, normalization: str = "sum"):
        self.X, self.Y = _data(X, Y)
        self.normalization = _normalization(normalization)
        self.shape = (self.Y.shape[0], self.X.shape[0])
        self._scale = 1.0 if normalization == "sum" else 1.0 / self.X.shape[1]

    @classmethod
    def to_target(cls, Y) -> SquareLoss:
        """``l(W) = 1/2 ||W - Y||_F^2``: regression with ``X = I``, so the minimiser is ``Y``."""
        Y = v.matrix("Y", Y)
        return cls(np.eye(Y.shape[1]), Y)

    def _value(self, W):
        R = W @ self.X - self.Y
        return 0.5 * self._scale * np.sum(R * R)

    def _grad(self, W):
        return self._scale * (W @ self.X - self.Y) @ self.X.T


class LpLoss(Loss):
    """l_p regression: ``l(W) = (1/p) sum_{i,k} |(W X - Y)_{ik}|^p`` (``'sum'``), or that sum
    divided by m (``'mean'``). ``p >= 2`` keeps the loss twice differentiable; ``p = 2`` gives
    :class:`SquareLoss`. Gradient: ``(sign(R) |R|^{p-1}) X^T`` with ``R = W X - Y``.
    """

    def __init__(self, X, Y, p: float, normalization: str = "sum"):
        self.X, self.Y = _data(X, Y)
        self.p = v.real("p", p, low=2.0)
        self.normalization = _normalization(normalization)
        self.shape = (self.Y.shape[0], self.X.shape[0])
        self._scale = 1.0 if normalization == "sum" else 1.0 / self.X.shape[1]

    def _value(self, W):
        R = W @ self.X - self.Y
        return self._scale * np.sum(np.abs(R) ** self.p) / self.p

    def _grad(self, W):
        R = W @ self.X - self.Y
        return self._scale * (np.sign(R) * np.abs(R) ** (self.p - 1)) @ self.X.T
