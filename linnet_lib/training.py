"""Gradient flow (by ``scipy.integrate.solve_ivp``) and gradient descent, with one result type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from . import _validate as v
from .dynamics import end_to_end_velocity
from .networks import end_to_end, layer_gradients


class IntegrationError(RuntimeError):
    """Raised when the ODE solver does not reach the requested final time."""


@dataclass
class TrainingResult:
    """A trajectory recorded at times ``t``.

    Attributes
    ----------
    t : (T,) array
        Times (for gradient descent: step index times the step size, so flows and descent share an
        axis).
    end_to_end : (T, d_n, d_0) array
        End-to-end matrices.
    loss : (T,) array
        Loss values.
    singular_values : (T, min(d_n, d_0)) array
        Singular values of the end-to-end matrix, non-increasing.
    weights : tuple of (T, d_j, d_{j-1}) arrays, or None
        Layer matrices at each recorded time (per-layer runs only); ``weights[j][k]`` is layer j+1
        at time ``t[k]``.
    steps : (T,) int array or None
        Step indices (gradient descent only).
    diverged : bool
        Gradient descent only: True if the loss became non-finite; recording stopped just before.
    depth : int
    """

    t: np.ndarray
    end_to_end: np.ndarray
    loss: np.ndarray
    singular_values: np.ndarray
    depth: int
    weights: tuple[np.ndarray, ...] | None = None
    steps: np.ndarray | None = None
    diverged: bool = False
    info: dict = field(default_factory=dict)

    def layers_at(self, k: int) -> list[np.ndarray]:
        """The list of layer matrices at record ``k`` (per-layer runs only)."""
        if self.weights is None:
            raise ValueError("this result has no per-layer weights (it is an end-to-end run)")
        return [w[k] for w in self.weights]


def _check_loss(loss, shape: tuple[int, int]) -> None:
    if not (hasattr(loss, "value") and hasattr(loss, "grad")):
        raise ValueError(f"loss must have value(W) and grad(W) methods, got {type(loss).__name__}")
    loss_shape = getattr(loss, "shape", None)
    if loss_shape is not None and tuple(loss_shape) != tuple(shape):
        raise ValueError(
            f"loss expects end-to-end matrices of shape {tuple(loss_shape)}, "
            f"but init gives shape {tuple(shape)}"
        )


def _check_times(t_eval) -> np.ndarray:
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"t_eval must be a non-empty 1-D array of times, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("t_eval must have finite entries")
    if t[0] < 0 or np.any(np.diff(t) <= 0) or t[-1] <= 0:
        raise ValueError("t_eval must be strictly increasing, start at >= 0 and end at > 0")
    return t


def _summaries(loss, mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    losses = np.array([loss.value(W) for W in mats])
    svals = np.linalg.svd(mats, compute_uv=False)
    return losses, svals


def descent_result(
    loss, mats, record_steps, lr: float, depth: int, *, diverged: bool, weights=None, info=None
) -> TrainingResult:
    """The :class:`TrainingResult` of a fixed-step descent from its recorded end-to-end matrices.

    Shared by :func:`gradient_descent` and the specialised descent loops of the chapter modules and
    ``optimizers``, so that every descent reports times ``step * lr``, losses and singular values alike.
    """
    mats = np.asarray(mats)
    losses, svals = _summaries(loss, mats)
    steps_arr = np.array(record_steps)
    return TrainingResult(
        t=steps_arr * lr,
        end_to_end=mats,
        loss=losses,
        singular_values=svals,
        depth=depth,
        weights=weights,
        steps=steps_arr,
        diverged=diverged,
        info=info if info is not None else {"lr": lr},
    )


def gradient_flow(
    loss,
    init,
    t_eval,
    *,
    depth: int | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-14,
    method: str = "DOP853",
) -> TrainingResult:
    """Integrate gradient flow with ``scipy.integrate.solve_ivp`` from time 0 to ``t_eval[-1]``.

    Two routes:

    * ``init`` a list of layers ``[W_1, ..., W_n]`` (``depth`` None or n): the per-layer flow (2),
      ``dW_j/dt = -d phi / d W_j``.
    * ``init`` a matrix with ``depth=n``: the end-to-end dynamics of Theorem 1,
      ``dW/dt = -sum_j [W W^T]^{(j-1)/n} grad l(W) [W^T W]^{(n-j)/n}`` (depth 1 is plain gradient
      flow on ``l``).

    The defaults (DOP853, rtol 1e-12, atol 1e-14) make the two routes agree to a few 1e-9 relative
    on the book's problems (rtol 1e-10 left ~1e-7 over long horizons: the global error of an
    adaptive solver accumulates well above its local tolerance). Raises :class:`IntegrationError` if the solver fails (for example when
    the trajectory blows up).
    """
    t = _check_times(t_eval)
    rtol = v.real("rtol", rtol, low=0.0, strict_low=True)
    atol = v.real("atol", atol, low=0.0, strict_low=True)
    if isinstance(init, np.ndarray) and init.ndim == 2:
        if depth is None:
            raise ValueError("depth must be given when init is an end-to-end matrix")
        n = v.positive_int("depth", depth)
        W0 = v.matrix("init", init)
        _check_loss(loss, W0.shape)
        shape = W0.shape

        def rhs(_, y):
            W = y.reshape(shape)
            return -end_to_end_velocity(W, loss.grad(W), n).ravel()

        y0 = W0.ravel()
        per_layer = False
    else:
        layers = v.weights("init", init)
        n = len(layers)
        if depth is not None and v.positive_int("depth", depth) != n:
            raise ValueError(f"depth = {depth} does not match the {n} layers given in init")
        shapes = [w.shape for w in layers]
        sizes = [w.size for w in layers]
        splits = np.cumsum(sizes)[:-1]
        _check_loss(loss, (shapes[-1][0], shapes[0][1]))

        def unpack(y):
            return [p.reshape(s) for p, s in zip(np.split(y, splits), shapes, strict=True)]

        def rhs(_, y):
            ws = unpack(y)
            grads = layer_gradients(ws, loss.grad(end_to_end(ws)))
            return -np.concatenate([g.ravel() for g in grads])

        y0 = np.concatenate([w.ravel() for w in layers])
        per_layer = True

    with np.errstate(over="raise", invalid="raise"):
        try:
            sol = solve_ivp(rhs, (0.0, t[-1]), y0, t_eval=t, method=method, rtol=rtol, atol=atol)
        except FloatingPointError as exc:
            raise IntegrationError(
                f"gradient flow overflowed (the trajectory blew up): {exc}"
            ) from exc
        except ValueError as exc:
            if "finite" in str(exc):
                raise IntegrationError(f"gradient flow left the finite numbers: {exc}") from exc
            raise
    if sol.status != 0 or sol.y.shape[1] != t.size:
        raise IntegrationError(f"solve_ivp failed before t = {t[-1]:g}: {sol.message}")
    Y = sol.y.T
    if per_layer:
        per_time = [unpack(y) for y in Y]
        weights = tuple(np.array([ws[j] for ws in per_time]) for j in range(n))
        mats = np.array([end_to_end(ws) for ws in per_time])
    else:
        weights = None
        mats = Y.reshape((t.size, *shape))
    losses, svals = _summaries(loss, mats)
    return TrainingResult(
        t=sol.t,
        end_to_end=mats,
        loss=losses,
        singular_values=svals,
        depth=n,
        weights=weights,
        info={"nfev": sol.nfev, "method": method, "rtol": rtol, "atol": atol},
    )


def _copies(layers):
    return [w.copy() for w in layers]


def descent_settings(lr, steps, record_every, stop_loss):
    """Validate the common arguments of a fixed-step descent: ``lr > 0``, ``steps >= 0``,
    ``record_every >= 1`` and ``stop_loss`` a real number or None. Returns them in that order."""
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    steps = v.positive_int("steps", steps, minimum=0)
    record_every = v.positive_int("record_every", record_every)
    if stop_loss is not None:
        stop_loss = v.real("stop_loss", stop_loss)
    return lr, steps, record_every, stop_loss


def descent_loop(
    state, advance, steps: int, *, record_every: int, stop_loss: float | None, snapshot
) -> tuple[list[int], list, bool]:
    """The record, stop and divergence rules shared by every fixed-step descent of the book.

    ``advance(state)`` makes one step and returns ``(new_state, loss_value)``; ``snapshot(state)``
    returns what to keep of a recorded state (a copy). Records step 0, every ``record_every``-th
    step and the last; stops (and records) at the first step whose loss is at most ``stop_loss``
    (if given); stops without recording, with ``diverged`` True, at the first non-finite loss.
    Arguments are assumed validated by the caller. Returns ``(record_steps, records, diverged)``.
    """
    record_steps, records = [0], [snapshot(state)]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            state, value = advance(state)
            if not np.isfinite(value):
                diverged = True
                break
            stop = stop_loss is not None and value <= stop_loss
            if stop or k % record_every == 0 or k == steps:
                record_steps.append(k)
                records.append(snapshot(state))
            if stop:
                break
    return record_steps, records, diverged


def gradient_descent(
    loss,
    weights: Sequence[np.ndarray],
    lr: float,
    steps: int,
    *,
    record_every: int = 1,
    stop_loss: float | None = None,
    step_loss=None,
) -> TrainingResult:
    """Plain gradient descent on ``phi(W_1..W_n) = l(W_n...W_1)`` with a fixed step size ``lr``.

    Every layer takes ``W_j <- W_j - lr * d phi / d W_j`` simultaneously. Records step 0, every
    ``record_every``-th step and the last step. If the loss becomes non-finite, descent stops,
    ``diverged`` is set and only the finite records are kept. With ``stop_loss``, descent stops
    (and records) at the first step whose loss is at most ``stop_loss``.

    ``step_loss`` (optional) makes it stochastic: a callable with ``step_loss(k)`` the loss whose
    gradient drives step ``k + 1`` (k = 0, ..., steps - 1), for instance the empirical loss of a
    fresh mini-batch. ``loss`` still gives the recorded values and the stop and divergence rules.
    """
    layers = [w.copy() for w in v.weights("weights", weights)]
    lr, steps, record_every, stop_loss = descent_settings(lr, steps, record_every, stop_loss)
    n = len(layers)
    shape = (layers[-1].shape[0], layers[0].shape[1])
    _check_loss(loss, shape)
    if step_loss is not None and not callable(step_loss):
        raise ValueError(f"step_loss must be a callable k -> loss, got {type(step_loss).__name__}")
    counter = [0]

    def driving_loss():
        if step_loss is None:
            return loss
        batch = step_loss(counter[0])
        counter[0] += 1
        _check_loss(batch, shape)
        return batch

    def advance(layers):
        grads = layer_gradients(layers, driving_loss().grad(end_to_end(layers)))
        layers = [w - lr * g for w, g in zip(layers, grads, strict=True)]
        try:  # validation inside raises ValueError on non-finite layers or products
            value = loss.value(end_to_end(layers))
        except ValueError:
            value = np.nan
        return layers, value

    record_steps, records, diverged = descent_loop(
        layers, advance, steps, record_every=record_every, stop_loss=stop_loss, snapshot=_copies
    )
    weights_rec = tuple(np.array([r[j] for r in records]) for j in range(n))
    mats = np.array([end_to_end(r) for r in records])
    return descent_result(loss, mats, record_steps, lr, n, diverged=diverged, weights=weights_rec)
