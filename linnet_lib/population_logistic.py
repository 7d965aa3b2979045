"""The population logistic loss of Lin, Sun & Zhang (2021) on spherically symmetric data.

Binary classification with labels ``y = sgn(v^T x)`` (``sgn(0) = +1``) for a unit vector ``v`` and
inputs ``x`` uniform on the unit circle ``S^1`` (``data='circle'``, d = 2) or standard Gaussian
in ``R^d`` (``data='gaussian'``). A linear predictor (or the end-to-end row ``W = w^T`` of a deep
linear network, shape ``(1, d)``) is scored by the population loss of Lin, Sun & Zhang (2021),
Eq. (1),

    L(w) = E ln(1 + exp(-y w^T x)),

computed here by deterministic quadrature (no Monte Carlo) at round-off accuracy for ``||w||`` from
0 to 1e3 and beyond (see :class:`PopulationLogisticLoss`). Samples are columns,
as everywhere in the library: :meth:`PopulationLogisticLoss.sample` returns ``X`` of shape
``(d, n)`` and labels ``y`` of shape ``(1, n)``, and :class:`EmpiricalLogisticLoss` is the mean
logistic loss on such a sample (for the SGD runs of the paper's Figure 1).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from . import _validate as val
from .losses import Loss

#: The input distributions ``data`` can name.
DATA = ("circle", "gaussian")

# Gauss-Legendre nodes per piece of the graded rule. 12 already reach round-off on every test case;
# 16 leave a margin for the derivatives (whose integrands have double poles).
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
# The Gaussian radial integral is truncated at u = 12: phi(12) * 12 r < 1e-27 for r <= 1e3.
_GAUSSIAN_CUTOFF = 12.0
_RULES: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _graded_rule(length: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule on ``[0, length]`` graded geometrically towards 0.

    Pieces ``[0, length 2^-levels], ..., [length/4, length/2], [length/2, length]``: each piece
    ``[a, 2a]`` sees the integrand's complex singularities (all near 0) at a distance of at least
    its own length, so the rule converges geometrically on every piece (Bernstein ellipse parameter
    >= 3 + sqrt(8)).
    """
    breaks = np.concatenate([[0.0], length * 2.0 ** -np.arange(levels, -1, -1)])
    centre = 0.5 * (breaks[1:] + breaks[:-1])
    half = 0.5 * (breaks[1:] - breaks[:-1])
    nodes = (centre[:, None] + half[:, None] * _NODES).ravel()
    weights = (half[:, None] * _WEIGHTS).ravel()
    return nodes, weights


def _radial_rule(data: str, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``u_k`` of ``u = |wbar^T x|``, weights ``omega_k`` with
    ``E g(u) ~ sum omega_k g(u_k)``, and the perpendicular second moments ``m_k = E[t^2 | u_k]``
    (t any coordinate orthogonal to w).

    The smallest piece is at most ``2 / r`` wide, so it resolves the boundary layer of width
    ``1 / r`` of ``ln(1 + e^{-r u})`` at u = 0. Rules are cached by their number of levels.
    """
    if data == "circle":  # u = sin(tau), tau uniform on [0, pi/2]; t^2 = cos^2(tau)
        length, min_levels = 0.5 * math.pi, 1
    else:  # u = |N(0, 1)| on [0, 12]; t independent of u with E t^2 = 1
        length, min_levels = _GAUSSIAN_CUTOFF, 3
    levels = max(min_levels, math.ceil(math.log2(max(0.5 * length * r, 1.0))))
    key = (data, levels)
    if key not in _RULES:
        nodes, weights = _graded_rule(length, levels)
        if data == "circle":
            u, omega, perp2 = np.sin(nodes), weights * (2.0 / math.pi), np.cos(nodes) ** 2
        else:
            u = nodes
            omega = weights * (2.0 / math.sqrt(2.0 * math.pi)) * np.exp(-0.5 * nodes * nodes)
            perp2 = np.ones_like(nodes)
        _RULES[key] = (u, omega, perp2)
    return _RULES[key]


def _unit_vector(value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"v must be a real 1-D array (a unit vector), got {value!r}") from exc
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"v must be a 1-D array (a unit vector) with at least 2 entries, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("v must have finite entries (no NaN or inf)")
    return arr


class PopulationLogisticLoss(Loss):
    """Population logistic loss ``L(w) = E ln(1 + exp(-y w^T x))`` with ``y = sgn(v^T x)``,
    Lin, Sun & Zhang (2021), Eq. (1), as a :class:`~linnet_lib.losses.Loss` on rows ``W = w^T`` of
    shape ``(1, d)``: ``value(W)``, ``grad(W)`` (shape ``(1, d)``) and :meth:`hessian` (shape
    ``(d, d)``), so ``gradient_flow``, ``gradient_descent`` and ``balanced_init`` work unchanged
    for deep linear networks with scalar output.

    Parameters
    ----------
    v : array of shape (d,)
        The unit vector of the labels (norm 1 to within 1e-12; it is then renormalised, which does
        not change the labels ``sgn(v^T x)``).
    data : 'circle' or 'gaussian'
        ``x`` uniform on the unit circle S^1 (d = 2), or standard Gaussian N(0, I_d).
    dim : int
        d >= 2, required for 'gaussian' (and must equal ``len(v)``); None or 2 for 'circle'.

    Attributes
    ----------
    c0 : float
        ``E ||x_2||`` for the 2-D marginal of x (the paper's c0): 1 on the circle, sqrt(pi/2) for
        the Gaussian. Then ``E|x_1| = 2 c0 / pi``.
    covariance : (d, d) array
        ``Sigma = E x x^T``: ``I / 2`` on the circle, ``I_d`` for the Gaussian (Prop. 1: L is
        ``lambda_max(Sigma) / 4``-smooth).

    Computation
    -----------
    Write ``r = ||w||``, ``wbar = w / r`` and ``alpha`` for the angle between w and v. Since
    ``ln(1 + e^{-z}) - ln(1 + e^{z}) = -z``, every sample splits as
    ``ln(1 + e^{-y w^T x}) = ln(1 + e^{-|w^T x|}) + max(0, -y w^T x)``, and
    ``E max(0, -y w^T x) = (E|w^T x| - E[y x]^T w) / 2 = (c0 / pi) (r - v^T w)`` by spherical
    symmetry (``E[y x] = E|v^T x| v``). Hence, exactly::

        L(w)      = F(r) + (c0 / pi) (r - v^T w),           F(r) = E ln(1 + exp(-r |x_1|)),
        grad L(w) = F'(r) wbar + (c0 / pi) (wbar - v),      F'(r) = -E[|x_1| sigma(-r |x_1|)],
        Hess L(w) = F''(r) wbar wbar^T + h(r) (I - wbar wbar^T),

    with ``sigma`` the logistic function, ``F''(r) = E[x_1^2 sigma'(r x_1)]`` and
    ``h(r) = E[x_2^2 sigma'(r x_1)] = (F'(r) + c0 / pi) / r``. The kinks of the integrand (where
    ``v^T x = 0``) are thus integrated in closed form, the gradient visibly lies in span(w, v), and
    Lemma 2 of the paper, ``-v^T (I - wbar wbar^T) grad L = c0 sin^2(alpha) / pi``, is built in.
    The remaining one-dimensional integrals over ``u = |x_1|`` (on the circle ``u = sin(tau)`` with
    tau uniform on [0, pi/2]; for the Gaussian u is half-normal, cut off at 12) have a boundary
    layer of width ``1 / r`` at u = 0 (the complex poles of ``ln(1 + e^{-r u})`` sit at
    ``u = i pi (2k + 1) / r``). They are computed by a composite 16-point Gauss-Legendre rule on
    dyadic pieces graded towards u = 0, the smallest piece at most ``2 / r`` wide (about 10-14
    pieces at r = 1e3), with ``np.logaddexp`` and ``scipy.special.expit`` for stable evaluation.
    Rules are cached, so ``value`` and ``grad`` cost some 15-40 microseconds.

    ``r - v^T w = r sin^2(alpha) / (1 + cos(alpha))`` and ``wbar - v`` are evaluated without
    cancellation for w nearly parallel to v.

    Accuracy, as measured by ``tests/test_population_logistic.py`` over ``||w||`` in
    {1e-3, 1e-2, ..., 1e3} and angles 0 (w parallel to v), 1e-4, pi/6, pi/2, 2pi/3, pi - 1e-4 and
    pi (anti-parallel):

    * F, F', F'' and h agree with closed-form series at w = r v (Taylor series for r <= 1,
      Watson asymptotics for r >= 100) and with 1-D adaptive quad for all r to <= 6e-16
      relative: the quadrature itself is at round-off.
    * Against brute-force references on the raw integrand (adaptive ``scipy.integrate.quad`` over
      the angle of x for the circle, adaptive ``scipy.integrate.cubature`` in polar coordinates
      for the Gaussian, both split at the kinks): value <= 2e-14 relative (the references'
      tolerance), gradient <= 2e-12 relative in norm, except at w parallel to v with
      ``||w|| = 1e3``, where ``||grad L|| ~ 5e-7`` and the difference, 3e-11 relative (2e-17
      absolute), is the reference's own error: with w = (0, 1e3) and v = (0, 1) this code returns
      the exactly-zero symmetric component, the reference -2e-17.
    * :meth:`hessian` to <= 4e-16 relative in norm; but its small eigenvalue at large ``||w||`` is
      resolved only to ``eps ||H||``, hence :meth:`curvatures`.

    Near w parallel to v at large ``||w||`` the gradient is ill-conditioned (a one-ulp change of w
    moves it by ~1e-10 relative at ``||w|| = 1e3``), which bounds what any implementation can do.
    """

    def __init__(self, v, data: str = "circle", dim: int | None = None):
        if not isinstance(data, str) or data not in DATA:
            raise ValueError(f"data must be one of {DATA}, got {data!r}")
        vec = _unit_vector(v)
        if data == "circle":
            if dim is not None and (val.positive_int("dim", dim) != 2):
                raise ValueError(
                    f"dim must be 2 (or None) for data='circle' (x uniform on S^1), got {dim!r}"
                )
            if vec.size != 2:
                raise ValueError(
                    f"v must have 2 entries for data='circle' (x uniform on S^1), "
                    f"got shape {vec.shape}"
                )
        else:
            if dim is None:
                raise ValueError("dim is required for data='gaussian' (x ~ N(0, I_dim), dim >= 2)")
            dim = val.positive_int("dim", dim, minimum=2)
            if vec.size != dim:
                raise ValueError(f"v must have dim = {dim} entries, got shape {vec.shape}")
        norm = float(np.linalg.norm(vec))
        if not abs(norm - 1.0) <= 1e-12:
            raise ValueError(f"v must be a unit vector (norm 1 to within 1e-12), got norm {norm!r}")
        self.v = vec / norm
        self.data = data
        self.dim = int(vec.size)
        self.shape = (1, self.dim)
        self.c0 = 1.0 if data == "circle" else math.sqrt(0.5 * math.pi)
        self.covariance = np.eye(self.dim) * (0.5 if data == "circle" else 1.0)
        self._slope = self.c0 / math.pi  # = E|x_1| / 2 = -F'(0)

    def __repr__(self) -> str:
        return f"PopulationLogisticLoss(v={self.v.tolist()!r}, data={self.data!r}, dim={self.dim})"

    # -- geometry of w relative to v ---------------------------------------------------------

    def _frame(self, W):
        """``(r, wbar, cos(alpha), q)`` with ``q = v - cos(alpha) wbar = sin(alpha) e`` (e the unit
        vector of span(w, v) orthogonal to w). At w = 0, wbar = v."""
        w = W[0]
        r = math.hypot(*w)  # no intermediate overflow
        if not math.isfinite(r):
            raise ValueError("W is too large: its norm overflows")
        if r == 0.0:
            return 0.0, self.v, 1.0, np.zeros_like(self.v)
        wbar = w / r
        cos_a = float(np.clip(self.v @ wbar, -1.0, 1.0))
        return r, wbar, cos_a, self.v - cos_a * wbar

    @staticmethod
    def _one_minus_cos(cos_a: float, q: np.ndarray) -> float:
        if cos_a > 0:  # 1 - cos = sin^2 / (1 + cos), no cancellation near alpha = 0
            return float(q @ q) / (1.0 + cos_a)
        return 1.0 - cos_a

    def angle(self, W) -> float:
        """The angle theta in [0, pi] between w and v (0 at w = 0)."""
        r, _, cos_a, q = self._frame(self._check(W))
        return math.atan2(float(np.linalg.norm(q)), cos_a) if r > 0 else 0.0

    # -- the radial integrals ----------------------------------------------------------------

    def _F(self, r: float) -> float:
        u, omega, _ = _radial_rule(self.data, r)
        return float(omega @ np.logaddexp(0.0, -r * u))

    def _dF(self, r: float) -> float:
        u, omega, _ = _radial_rule(self.data, r)
        return -float((omega * u) @ expit(-r * u))

    def _curvatures(self, r: float) -> tuple[float, float]:
        u, omega, perp2 = _radial_rule(self.data, r)
        z = r * u
        s2 = omega * expit(z) * expit(-z)
        return float(s2 @ (u * u)), float(s2 @ perp2)

    # -- the Loss interface -------------------------------------------------------------------

    def _value(self, W):
        r, _, cos_a, q = self._frame(W)
        if r == 0.0:
            return math.log(2.0)
        return self._F(r) + self._slope * r * self._one_minus_cos(cos_a, q)

    def _grad(self, W):
        r, wbar, cos_a, q = self._frame(W)
        if r == 0.0:
            return (-self._slope * self.v)[None, :]
        # wbar - v = (1 - cos) wbar - q
        coef = self._dF(r) + self._slope * self._one_minus_cos(cos_a, q)
        return (coef * wbar - self._slope * q)[None, :]

    def hessian(self, W) -> np.ndarray:
        """The Hessian of L at ``W`` (shape ``(1, d)``), a ``(d, d)`` matrix in the coordinates
        ``w = W[0]``: ``F''(r) wbar wbar^T + h(r) (I - wbar wbar^T)``, independent of v (see the
        class docstring). Positive definite with eigenvalues in (0, lambda_max(Sigma) / 4]
        (Prop. 1 of Lin, Sun & Zhang (2021)); at w = 0 it is ``Sigma / 4``."""
        r, wbar, _, _ = self._frame(self._check(W))
        along, across = self._curvatures(r)
        P = np.outer(wbar, wbar)
        return along * P + across * (np.eye(self.dim) - P)

    def curvatures(self, W) -> tuple[float, float]:
        """The eigenvalues of :meth:`hessian`: ``(F''(r), h(r))``, the curvature along w
        (multiplicity 1) and across w (multiplicity d - 1), each to full relative accuracy.

        For large ``||w||`` the curvature along w (~ ``||w||^-3``) is far below the one across
        (~ ``(c0 / pi) / ||w||``) and is lost in the round-off of a dense Hessian; use this to
        see L fail to be strongly convex (Prop. 1)."""
        return self._curvatures(self._frame(self._check(W))[0])

    # -- Monte Carlo ----------------------------------------------------------------------------

    def sample(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` fresh samples: ``X`` of shape ``(d, n)`` (columns uniform on S^1 or N(0, I_d)) and
        labels ``y = sgn(v^T X)`` of shape ``(1, n)`` with entries +-1 (``sgn(0) = +1``).
        ``rng`` is a numpy Generator, an integer seed or None."""
        n = val.positive_int("n", n)
        gen = val.rng(rng)
        if self.data == "circle":
            phi = gen.uniform(0.0, 2.0 * math.pi, size=n)
            X = np.vstack([np.cos(phi), np.sin(phi)])
        else:
            X = gen.standard_normal((self.dim, n))
        y = np.where(self.v @ X >= 0.0, 1.0, -1.0)[None, :]
        return X, y

    def sample_loss(self, n: int, rng=None) -> EmpiricalLogisticLoss:
        """The empirical loss on ``n`` fresh samples (one SGD mini-batch): an
        :class:`EmpiricalLogisticLoss` whose ``grad`` is an unbiased estimate of ``grad``."""
        return EmpiricalLogisticLoss(*self.sample(n, rng))


class EmpiricalLogisticLoss(Loss):
    """Mean logistic loss on a sample: ``l(W) = (1/n) sum_i ln(1 + exp(-y_i W x_i))`` with samples
    as columns, ``X`` of shape ``(d, n)`` and labels ``y`` of shape ``(1, n)`` with entries +-1
    (as returned by :meth:`PopulationLogisticLoss.sample`). Its gradient is
    ``-(1/n) (y * sigma(-y W X)) X^T``, of shape ``(1, d)``. Evaluated stably (``np.logaddexp``,
    ``scipy.special.expit``) for any size of W."""

    def __init__(self, X, y):
        self.X = val.matrix("X", X)
        self.y = val.matrix("y", y, shape=(1, self.X.shape[1]))
        if not np.all(np.abs(self.y) == 1.0):
            raise ValueError("y must have entries +1 or -1 (the labels sgn(v^T x))")
        self.shape = (1, self.X.shape[0])

    def _margins(self, W) -> np.ndarray:
        return self.y * (W @ self.X)

    def _value(self, W):
        return float(np.mean(np.logaddexp(0.0, -self._margins(W))))

    def _grad(self, W):
        coef = self.y * expit(-self._margins(W))
        return -(coef @ self.X.T) / self.X.shape[1]
