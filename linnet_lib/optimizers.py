"""Explicit optimisers on an end-to-end matrix, to set beside the implicit effect of depth
(Chapter 3).

Each optimiser is a small class that holds its step size, its hyper-parameters and its state
(momentum buffer, accumulated squared gradients...). ``step(W, G)`` takes the current iterate
``W`` and the gradient ``G`` of the loss there, and returns the next iterate; ``reset()`` clears the
state. :func:`minimize` runs an optimiser on a loss object of the book (``value(W)``, ``grad(W)``)
and returns the same :class:`~linnet_lib.training.TrainingResult` as
:func:`~linnet_lib.training.gradient_descent`, so that a linear model trained by Adam and a deep
network trained by gradient descent can be compared with the same code. :func:`tune_step` picks
the step size from a grid by the number of iterations a method needs to reach a target loss.

All updates act entry-wise on arrays of any shape, so the same classes can update the layers of
the small network of :mod:`linnet_lib.mlp`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import _validate as v
from .training import TrainingResult, descent_loop, descent_result, descent_settings


def _array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from exc
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite entries (no NaN or inf)")
    return arr


def _fraction(name: str, value) -> float:
    x = v.real(name, value, low=0.0)
    if not x < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return x


class Optimizer:
    """Base class: a step size ``lr > 0`` and an update ``step(W, G) -> W_next``.

    Subclasses implement ``_step`` (on validated arrays of equal shape) and ``reset``.
    """

    name = "optimizer"

    def __init__(self, lr: float):
        self.lr = v.real("lr", lr, low=0.0, strict_low=True)
        self.reset()

    def reset(self) -> None:
        """Forget the state accumulated by earlier steps."""

    def step(self, W, G) -> np.ndarray:
        """The next iterate from the current iterate ``W`` and the gradient ``G`` at ``W``."""
        W = _array("W", W)
        G = _array("G", G)
        if W.shape != G.shape:
            raise ValueError(f"W and G must have the same shape, got {W.shape} and {G.shape}")
        return self._step(W, G)

    def _step(self, W: np.ndarray, G: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:g})"


class GradientDescent(Optimizer):
    """Plain gradient descent, ``W <- W - lr * G``."""

    name = "gradient descent"

    def _step(self, W, G):
        return W - self.lr * G


class HeavyBall(Optimizer):
    """Polyak's heavy-ball momentum, written with a velocity buffer ``V`` (initially zero):

    ``V <- momentum * V + G``, then ``W <- W - lr * V``.

    Equivalently ``W_{k+1} = W_k - lr G_k + momentum (W_k - W_{k-1})``. This is also the form of
    "SGD with momentum" in common deep-learning libraries.
    """

    name = "heavy ball"

    def __init__(self, lr: float, momentum: float = 0.9):
        self.momentum = _fraction("momentum", momentum)
        super().__init__(lr)

    def reset(self) -> None:
        self.velocity = None

    def _step(self, W, G):
        if self.velocity is None or self.velocity.shape != G.shape:
            self.velocity = np.zeros_like(G)
        self.velocity = self.momentum * self.velocity + G
        return W - self.lr * self.velocity

    def __repr__(self) -> str:
        return f"HeavyBall(lr={self.lr:g}, momentum={self.momentum:g})"


class Nesterov(HeavyBall):
    """Nesterov's accelerated gradient in its momentum form (gradient at the current iterate):

    ``V <- momentum * V + G``, then ``W <- W - lr * (G + momentum * V)``.

    The iterate here is Nesterov's look-ahead point; the update is the usual rewriting of
    ``V <- momentum V - lr grad l(W + momentum V)``, ``W <- W + V``.
    """

    name = "Nesterov"

    def _step(self, W, G):
        if self.velocity is None or self.velocity.shape != G.shape:
            self.velocity = np.zeros_like(G)
        self.velocity = self.momentum * self.velocity + G
        return W - self.lr * (G + self.momentum * self.velocity)

    def __repr__(self) -> str:
        return f"Nesterov(lr={self.lr:g}, momentum={self.momentum:g})"


class AdaGrad(Optimizer):
    """AdaGrad (diagonal): ``S <- S + G * G`` (entry-wise), ``W <- W - lr * G / (sqrt(S) + eps)``,
    with ``S`` initially zero (Duchi, Hazan & Singer, 2011)."""

    name = "AdaGrad"

    def __init__(self, lr: float, eps: float = 1e-10):
        self.eps = v.real("eps", eps, low=0.0, strict_low=True)
        super().__init__(lr)

    def reset(self) -> None:
        self.squares = None

    def _step(self, W, G):
        if self.squares is None or self.squares.shape != G.shape:
            self.squares = np.zeros_like(G)
        self.squares = self.squares + G * G
        return W - self.lr * G / (np.sqrt(self.squares) + self.eps)

    def __repr__(self) -> str:
        return f"AdaGrad(lr={self.lr:g}, eps={self.eps:g})"


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, 2015). At step k = 1, 2, ...:

    ``M <- beta1 M + (1 - beta1) G``, ``S <- beta2 S + (1 - beta2) G * G``, then
    ``W <- W - lr * M_hat / (sqrt(S_hat) + eps)`` with ``M_hat = M / (1 - beta1^k)`` and
    ``S_hat = S / (1 - beta2^k)``.
    """

    name = "Adam"

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = v.real("eps", eps, low=0.0, strict_low=True)
        super().__init__(lr)

    def reset(self) -> None:
        self.first = None
        self.second = None
        self.count = 0

    def _step(self, W, G):
        if self.first is None or self.first.shape != G.shape:
            self.first, self.second, self.count = np.zeros_like(G), np.zeros_like(G), 0
        self.count += 1
        self.first = self.beta1 * self.first + (1 - self.beta1) * G
        self.second = self.beta2 * self.second + (1 - self.beta2) * G * G
        first_hat = self.first / (1 - self.beta1**self.count)
        second_hat = self.second / (1 - self.beta2**self.count)
        return W - self.lr * first_hat / (np.sqrt(second_hat) + self.eps)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr:g}, beta1={self.beta1:g}, beta2={self.beta2:g}, eps={self.eps:g})"


#: Every optimiser class of this module, by the name figures and tables use.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gradient descent": GradientDescent,
    "heavy ball": HeavyBall,
    "Nesterov": Nesterov,
    "AdaGrad": AdaGrad,
    "Adam": Adam,
}


def make(name: str, lr: float, **hyper) -> Optimizer:
    """The optimiser called ``name`` (a key of :data:`OPTIMIZERS`) with step ``lr``.

    Extra keywords (``momentum``, ``beta1``, ``eps``...) go to its constructor.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"name must be one of {list(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](lr, **hyper)


def minimize(
    loss,
    W0,
    optimizer: Optimizer,
    steps: int,
    *,
    record_every: int = 1,
    stop_loss: float | None = None,
) -> TrainingResult:
    """Run ``optimizer`` on the end-to-end loss from ``W0`` for ``steps`` iterations.

    The optimiser is reset first. Records step 0, every ``record_every``-th step and the last
    step, like :func:`~linnet_lib.training.gradient_descent`; stops (and sets ``diverged``) when
    the loss becomes non-finite, and stops at the first step whose loss is at most ``stop_loss``.

    Parameters
    ----------
    loss : loss object
        Has ``value(W)`` and ``grad(W)`` (for example :class:`~linnet_lib.losses.LpLoss`).
    W0 : array of shape loss.shape
        Starting end-to-end matrix.
    optimizer : Optimizer
        For example ``HeavyBall(0.1)`` or ``make("Adam", 0.01)``.
    steps : int
        Maximum number of iterations (>= 0).
    record_every : int
        Record every this many steps.
    stop_loss : float, optional
        Stop at the first step whose loss is at most this value.

    Returns
    -------
    TrainingResult
        Depth 1; ``t`` is the step index times ``optimizer.lr``; ``info`` holds the optimiser.
    """
    if not (hasattr(loss, "value") and hasattr(loss, "grad")):
        raise ValueError(f"loss must have value(W) and grad(W) methods, got {type(loss).__name__}")
    W = v.matrix("W0", W0, shape=getattr(loss, "shape", None)).copy()
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be an Optimizer, got {type(optimizer).__name__}")
    _, steps, record_every, stop_loss = descent_settings(
        optimizer.lr, steps, record_every, stop_loss
    )
    optimizer.reset()
    if not np.isfinite(loss.value(W)):
        raise ValueError("W0: the loss is not finite there")
    # The loss's own _value/_grad (when it has them, as every loss of the book does) skip the input
    # checks of value/grad, which would repeat at every step; W keeps its checked shape.
    value_of = getattr(loss, "_value", loss.value)
    grad_of = getattr(loss, "_grad", loss.grad)

    def advance(W):
        W = optimizer._step(W, grad_of(W))
        return W, (float(value_of(W)) if np.all(np.isfinite(W)) else np.nan)

    record_steps, mats, diverged = descent_loop(
        W, advance, steps, record_every=record_every, stop_loss=stop_loss, snapshot=np.copy
    )
    return descent_result(
        loss,
        mats,
        record_steps,
        optimizer.lr,
        1,
        diverged=diverged,
        info={"optimizer": repr(optimizer), "lr": optimizer.lr},
    )


def steps_to_loss(result: TrainingResult, target: float) -> float:
    """The first recorded step whose loss is at most ``target``; ``inf`` if there is none.

    With ``stop_loss=target`` in :func:`minimize` or :func:`~linnet_lib.training.gradient_descent`
    the answer is exact whatever ``record_every`` is (the stopping step is recorded).
    """
    if not isinstance(result, TrainingResult) or result.steps is None:
        raise ValueError("result must be a TrainingResult of a discrete run (with steps)")
    target = v.real("target", target)
    hit = np.nonzero(result.loss <= target)[0]
    return float(result.steps[hit[0]]) if hit.size else float("inf")


def tune_step(
    count: Callable[[float, int], float],
    grid: Sequence[float],
    max_steps: int,
    *,
    patience: int | None = None,
) -> tuple[float, float, np.ndarray]:
    """The step size of ``grid`` that needs the fewest iterations, and that number.

    ``count(lr, cap)`` must return the number of iterations a method with step ``lr`` needs to
    reach its target, or ``inf`` if it does not within ``cap`` iterations (or diverges). The grid
    is searched from the largest step down (diverging steps end quickly), and each run is capped
    at the best count found so far, since a longer run cannot win. With ``patience``, the search
    stops after that many consecutive steps that do not improve on the best; this assumes that
    the count, as a function of the step, has a single minimum over the grid.

    Returns
    -------
    best_lr : float
        The winning step (the larger one on ties); ``nan`` if no step reaches the target.
    best_count : float
        Its iteration count (``inf`` if none reaches the target).
    counts : array
        The count of every grid step in the grid's order; ``inf`` for steps that diverged, did not
        beat the running best within their cap, or were skipped by ``patience``.
    """
    if not callable(count):
        raise ValueError(f"count must be a function count(lr, cap), got {type(count).__name__}")
    lrs = v.step_sizes("grid", grid)
    max_steps = v.positive_int("max_steps", max_steps)
    if patience is not None:
        patience = v.positive_int("patience", patience)
    counts = np.full(lrs.size, np.inf)
    best_lr, best = float("nan"), float("inf")
    misses, started = 0, False
    for i in np.argsort(-lrs, kind="stable"):
        cap = int(min(max_steps, best))
        found = float(count(float(lrs[i]), cap))
        counts[i] = found if found <= cap else np.inf
        if counts[i] < best:
            best_lr, best, misses, started = float(lrs[i]), counts[i], 0, True
        elif started:
            misses += 1
            if patience is not None and misses >= patience:
                break
    return best_lr, best, counts
