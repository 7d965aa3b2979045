"""A small numpy multilayer perceptron whose dense layers may be products of matrices (Chapter 3).

The network maps inputs ``x`` (columns of ``X``, as everywhere in the book) through dense layers
with ReLU between them to class scores, trained with softmax cross-entropy. Dense layer ``l`` is
``z = W_l h + b_l`` with ``W_l`` either one matrix or a product of matrices
``W_l = F_{l,k} ... F_{l,1}`` (a linear network inserted in place of the layer, as in the right
panel of Figure 1 of the lecture notes). The factors are stored input factor first, like the
layers of a linear network in :mod:`linnet_lib.networks`, and the product is
:func:`~linnet_lib.networks.end_to_end` of them. The biases are never factorised.

Everything is plain numpy, small enough to train in seconds: forward and backward passes, a
minibatch SGD with momentum, and the bundled digits data of scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.ticker import MaxNLocator

from . import _validate as v
from .networks import balanced_init, end_to_end
from .optimizers import HeavyBall

# ---------------------------------------------------------------------------------------------
# The network


@dataclass
class MLP:
    """A ReLU network with dense layers stored as lists of factors.

    Attributes
    ----------
    factors : list of lists of 2-D arrays
        ``factors[l]`` is ``[F_1, ..., F_k]`` (input factor first); the dense matrix of layer l is
        ``F_k ... F_1``, of shape ``(d_{l+1}, d_l)``.
    biases : list of 1-D arrays
        ``biases[l]`` has length ``d_{l+1}``.
    """

    factors: list[list[np.ndarray]]
    biases: list[np.ndarray]

    def __post_init__(self):
        if isinstance(self.factors, np.ndarray) or not isinstance(self.factors, Sequence):
            raise ValueError("factors must be a list with one list of factor matrices per layer")
        if len(self.factors) == 0:
            raise ValueError("factors must have at least one layer")
        if isinstance(self.biases, np.ndarray) or not isinstance(self.biases, Sequence):
            raise ValueError("biases must be a list of vectors, one per layer")
        if len(self.biases) != len(self.factors):
            raise ValueError(
                f"biases must have one vector per layer: got {len(self.biases)} biases for "
                f"{len(self.factors)} layers"
            )
        self.factors = [v.weights(f"factors[{i}]", f) for i, f in enumerate(self.factors)]
        biases = []
        for i, (b, layer) in enumerate(zip(self.biases, self.factors, strict=True)):
            arr = np.asarray(b, dtype=float)
            if arr.shape != (layer[-1].shape[0],) or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"biases[{i}] must be a finite vector of length {layer[-1].shape[0]}, "
                    f"got shape {arr.shape}"
                )
            biases.append(arr.copy())
        self.biases = biases
        for i in range(1, len(self.factors)):
            if self.factors[i][0].shape[1] != self.factors[i - 1][-1].shape[0]:
                raise ValueError(
                    f"factors: layer {i} takes inputs of width {self.factors[i][0].shape[1]} "
                    f"but layer {i - 1} outputs width {self.factors[i - 1][-1].shape[0]}"
                )

    @property
    def widths(self) -> list[int]:
        """``[d_0, d_1, ..., d_L]``: the input width, then each layer's output width."""
        return [self.factors[0][0].shape[1]] + [layer[-1].shape[0] for layer in self.factors]

    def dense(self) -> list[np.ndarray]:
        """The dense matrix of each layer (the product of its factors)."""
        return [end_to_end(layer) for layer in self.factors]

    def parameter_count(self) -> int:
        """The number of trainable numbers (factor entries and biases)."""
        return sum(f.size for layer in self.factors for f in layer) + sum(
            b.size for b in self.biases
        )

    def copy(self) -> MLP:
        return MLP([[f.copy() for f in layer] for layer in self.factors], list(self.biases))


def init_mlp(widths: Sequence[int], rng=None) -> MLP:
    """A ReLU network with one matrix per layer, He-normal weights and zero biases.

    Layer l has shape ``(widths[l+1], widths[l])`` and entries ``N(0, 2 / widths[l])``, the usual
    scaling for ReLU networks.
    """
    if isinstance(widths, np.ndarray):
        widths = widths.tolist()
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 2:
        raise ValueError(
            f"widths must be a sequence [d_0, ..., d_L] of at least 2 widths, got {widths!r}"
        )
    dims = [v.positive_int(f"widths[{i}]", d) for i, d in enumerate(widths)]
    gen = v.rng(rng)
    factors = [
        [np.sqrt(2.0 / dims[l]) * gen.standard_normal((dims[l + 1], dims[l]))]
        for l in range(len(dims) - 1)  # noqa: E741
    ]
    return MLP(factors, [np.zeros(d) for d in dims[1:]])


def factorize(net: MLP, hidden_widths: Sequence[int] | None = None, rng=None) -> MLP:
    """The same function with every dense layer replaced by a balanced product of two matrices.

    Layer ``W`` becomes ``[A, B]`` with ``B A = W`` and ``A A^T = B^T B``
    (:func:`~linnet_lib.networks.balanced_init` with depth 2), so the new network computes exactly
    what ``net`` computes; only its parameterisation, and hence its training, differs.

    Parameters
    ----------
    net : MLP
        A network whose layers are single matrices.
    hidden_widths : sequence of ints, optional
        The inner width of each product (at least the rank of the layer). Default
        ``min(d_in, d_out)`` of each layer.
    rng : Generator or int, optional
        Rotates each inner space at random (keeps the product and the balance), so the factors
        are dense matrices rather than the canonical sparse ones.
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an MLP, got {type(net).__name__}")
    if any(len(layer) != 1 for layer in net.factors):
        raise ValueError("net must have one matrix per layer (it is already factorised)")
    n_layers = len(net.factors)
    if hidden_widths is None:
        widths = [None] * n_layers
    else:
        if isinstance(hidden_widths, np.ndarray):
            hidden_widths = hidden_widths.tolist()
        if not isinstance(hidden_widths, Sequence) or len(hidden_widths) != n_layers:
            raise ValueError(f"hidden_widths must have one width per layer ({n_layers})")
        widths = [v.positive_int(f"hidden_widths[{i}]", k) for i, k in enumerate(hidden_widths)]
    gen = None if rng is None else v.rng(rng)
    factors = []
    for layer, k in zip(net.factors, widths, strict=True):
        W = layer[0]
        factors.append(balanced_init(W, 2, None if k is None else [k], rng=gen))
    return MLP(factors, [b.copy() for b in net.biases])


# ---------------------------------------------------------------------------------------------
# Forward and backward passes


def _inputs(net: MLP, X) -> np.ndarray:
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an MLP, got {type(net).__name__}")
    return v.matrix("X", X, shape=(net.widths[0], None))


def _labels(labels, count: int, classes: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.shape != (count,):
        raise ValueError(f"labels must be a vector of length {count} (one per column of X)")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise ValueError("labels must be integers (class indices)")
        arr = arr.astype(int)
    if arr.size and (arr.min() < 0 or arr.max() >= classes):
        raise ValueError(f"labels must be class indices in [0, {classes - 1}]")
    return arr.astype(int)


def _forward(dense: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray):
    """Logits and the inputs of every layer (after the ReLU of the layer below)."""
    inputs = [X]
    h = X
    for l, (W, b) in enumerate(zip(dense, biases, strict=True)):  # noqa: E741
        z = W @ h + b[:, None]
        if l < len(dense) - 1:
            h = np.maximum(z, 0.0)
            inputs.append(h)
        else:
            h = z
    return h, inputs


def forward(net: MLP, X) -> np.ndarray:
    """The class scores (logits), of shape ``(d_L, m)``, for the inputs ``X`` of shape
    ``(d_0, m)``."""
    X = _inputs(net, X)
    return _forward(net.dense(), net.biases, X)[0]


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    shifted = logits - logits.max(axis=0, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=0))
    m = logits.shape[1]
    value = float(np.mean(log_norm - shifted[labels, np.arange(m)]))
    probs = np.exp(shifted - log_norm)
    probs[labels, np.arange(m)] -= 1.0
    return value, probs / m


def cross_entropy(logits, labels) -> float:
    """Mean softmax cross-entropy ``mean_s [log sum_c exp(z_cs) - z_{y_s s}]`` of logits
    ``(classes, m)`` against integer labels ``(m,)``."""
    logits = v.matrix("logits", logits)
    labels = _labels(labels, logits.shape[1], logits.shape[0])
    return _softmax_cross_entropy(logits, labels)[0]


def loss(net: MLP, X, labels) -> float:
    """Mean cross-entropy of the network on ``(X, labels)``."""
    X = _inputs(net, X)
    labels = _labels(labels, X.shape[1], net.widths[-1])
    return _softmax_cross_entropy(_forward(net.dense(), net.biases, X)[0], labels)[0]


def accuracy(net: MLP, X, labels) -> float:
    """Fraction of the columns of ``X`` whose largest score is at the true label."""
    X = _inputs(net, X)
    labels = _labels(labels, X.shape[1], net.widths[-1])
    return float(np.mean(np.argmax(_forward(net.dense(), net.biases, X)[0], axis=0) == labels))


def _factor_gradients(layer: list[np.ndarray], G: np.ndarray) -> list[np.ndarray]:
    """Gradients of each factor when the product ``F_k ... F_1`` has gradient ``G``."""
    k = len(layer)
    if k == 1:
        return [G]
    below = [None] * k  # below[j] = F_{j-1} ... F_1 (None for the identity)
    for j in range(1, k):
        below[j] = layer[j - 1] if below[j - 1] is None else layer[j - 1] @ below[j - 1]
    grads = [None] * k
    upstream = G  # (F_k ... F_{j+1})^T G
    for j in range(k - 1, -1, -1):
        grads[j] = upstream if below[j] is None else upstream @ below[j].T
        upstream = layer[j].T @ upstream
    return grads


def _product(layer: list[np.ndarray]) -> np.ndarray:
    """``F_k ... F_1`` for validated factors (the arithmetic of
    :func:`~linnet_lib.networks.end_to_end`, without its input checks, for the training loop)."""
    product = layer[0]
    for F in layer[1:]:
        product = F @ product
    return product


def _gradients(net: MLP, X: np.ndarray, labels: np.ndarray):
    dense = [_product(layer) for layer in net.factors]
    logits, inputs = _forward(dense, net.biases, X)
    value, delta = _softmax_cross_entropy(logits, labels)
    factor_grads = [None] * len(dense)
    bias_grads = [None] * len(dense)
    for l in range(len(dense) - 1, -1, -1):  # noqa: E741
        factor_grads[l] = _factor_gradients(net.factors[l], delta @ inputs[l].T)
        bias_grads[l] = delta.sum(axis=1)
        if l > 0:
            delta = (dense[l].T @ delta) * (inputs[l] > 0)
    return value, factor_grads, bias_grads


def gradients(net: MLP, X, labels) -> tuple[float, list[list[np.ndarray]], list[np.ndarray]]:
    """The loss and its gradients with respect to every factor and bias, by backpropagation.

    Returns
    -------
    value : float
        Mean cross-entropy on ``(X, labels)``.
    factor_grads : list of lists of arrays
        Same structure and shapes as ``net.factors``.
    bias_grads : list of arrays
        Same shapes as ``net.biases``.
    """
    X = _inputs(net, X)
    labels = _labels(labels, X.shape[1], net.widths[-1])
    return _gradients(net, X, labels)


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class SGDRun:
    """The record of one training run.

    Attributes
    ----------
    loss : (epochs + 1,) array
        Mean cross-entropy on the whole training set before training and after each epoch
        (``nan`` after a divergence).
    net : MLP
        The network after the last epoch (after a divergence, with the non-finite parameters
        reached).
    lr, momentum : float
    batch_size : int
    diverged : bool
        True if the loss became non-finite.
    """

    loss: np.ndarray
    net: MLP
    lr: float
    momentum: float
    batch_size: int
    diverged: bool = False
    info: dict = field(default_factory=dict)


def train_sgd(
    net: MLP,
    X,
    labels,
    lr: float,
    epochs: int,
    *,
    batch_size: int = 64,
    momentum: float = 0.9,
    rng=None,
) -> SGDRun:
    """Minibatch SGD with heavy-ball momentum on the mean cross-entropy.

    Each epoch visits the columns of ``X`` once in a random order (from ``rng``), in minibatches
    of ``batch_size`` (the last one may be smaller). Every factor and bias ``p`` keeps a velocity
    ``V <- momentum V + grad``, ``p <- p - lr V`` (:class:`~linnet_lib.optimizers.HeavyBall`).
    The training loss on the whole of ``X`` is recorded before training and after each epoch.
    ``net`` itself is not modified.
    """
    X = _inputs(net, X)
    labels = _labels(labels, X.shape[1], net.widths[-1])
    lr = v.real("lr", lr, low=0.0, strict_low=True)
    epochs = v.positive_int("epochs", epochs, minimum=0)
    batch_size = v.positive_int("batch_size", batch_size)
    HeavyBall(lr, momentum)  # validates momentum
    gen = v.rng(rng)
    net = net.copy()
    params = [f for layer in net.factors for f in layer] + net.biases
    steppers = [HeavyBall(lr, momentum) for _ in params]
    m = X.shape[1]
    losses = [loss(net, X, labels)]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(epochs):
            order = gen.permutation(m)
            for start in range(0, m, batch_size):
                batch = order[start : start + batch_size]
                value, factor_grads, bias_grads = _gradients(net, X[:, batch], labels[batch])
                if not np.isfinite(value):  # the parameters overflowed at the previous step
                    diverged = True
                    break
                grads = [g for layer in factor_grads for g in layer] + bias_grads
                params = [s._step(p, g) for s, p, g in zip(steppers, params, grads, strict=True)]
                k = 0
                for layer in net.factors:
                    for j in range(len(layer)):
                        layer[j] = params[k]
                        k += 1
                net.biases = params[k:]
            value = np.nan if diverged else loss(net, X, labels)
            if not np.isfinite(value):
                diverged = True
            losses.append(value if not diverged else np.nan)
            if diverged:
                break
    curve = np.full(epochs + 1, np.nan)
    curve[: len(losses)] = losses
    return SGDRun(
        loss=curve,
        net=net,
        lr=lr,
        momentum=float(momentum),
        batch_size=batch_size,
        diverged=diverged,
        info={"parameters": net.parameter_count()},
    )


def factorisation_experiment(
    X,
    labels,
    widths: Sequence[int],
    lrs,
    seeds: int,
    epochs: int,
    *,
    batch_size: int = 64,
    momentum: float = 0.9,
    hidden_widths: Sequence[int] | None = None,
    original_lr_factor: float = 1.0,
    networks: Sequence[str] = ("original", "overparameterised"),
) -> dict[str, np.ndarray]:
    """Training curves of an MLP and of its factorised twin, over step sizes and seeds.

    For seed ``s`` (0, 1, ..., ``seeds`` - 1): the original network is :func:`init_mlp` with
    generator ``default_rng([s, 0])``; the overparameterised one is :func:`factorize` of it (the
    same initial function) with rotations from ``default_rng([s, 1])``; both are trained by
    :func:`train_sgd` (with ``momentum``) on the same sequence of minibatches
    (``default_rng([s, 2])``). The original is trained with step ``original_lr_factor * lr``, the
    overparameterised one with ``lr``. ``networks`` selects which of the two to train.

    Returns
    -------
    dict
        For each name of ``networks`` (``"original"``, ``"overparameterised"``), an array of shape
        ``(len(lrs), seeds, epochs + 1)`` of training losses (``nan`` after a divergence).
    """
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError("lrs must be a non-empty 1-D sequence of positive step sizes")
    seeds = v.positive_int("seeds", seeds)
    epochs = v.positive_int("epochs", epochs)
    factor = v.real("original_lr_factor", original_lr_factor, low=0.0, strict_low=True)
    names = ("original", "overparameterised")
    if isinstance(networks, str) or not networks or any(n not in names for n in networks):
        raise ValueError(f"networks must be a non-empty sequence of names from {names}")
    out = {name: np.zeros((lrs.size, seeds, epochs + 1)) for name in names if name in networks}
    for s in range(seeds):
        base = init_mlp(widths, np.random.default_rng([s, 0]))
        over = factorize(base, hidden_widths, rng=np.random.default_rng([s, 1]))
        for i, lr in enumerate(lrs):
            for name, net, step in (
                ("original", base, factor * lr),
                ("overparameterised", over, lr),
            ):
                if name not in out:
                    continue
                run = train_sgd(
                    net,
                    X,
                    labels,
                    step,
                    epochs,
                    batch_size=batch_size,
                    momentum=momentum,
                    rng=np.random.default_rng([s, 2]),
                )
                out[name][i, s] = run.loss
    return out


def factor_preconditioner_eigenvalues(W) -> np.ndarray:
    """Eigenvalues of the preconditioner ``P(W)`` of a layer ``W`` factorised into two balanced
    matrices (Corollary 1 of the notes with n = 2): ``sigma_r + sigma_r'`` over all pairs of
    indices, with ``sigma_r = 0`` beyond ``min(d_in, d_out)``. To first order in the step, one
    gradient step on the two factors moves ``W`` by ``-lr P(W) grad``, so these numbers say how
    much the factorisation amplifies the step in each direction. Shape ``(d_out, d_in)``.
    """
    W = v.matrix("W", W)
    d_out, d_in = W.shape
    s = np.linalg.svd(W, compute_uv=False)
    left, right = np.zeros(d_out), np.zeros(d_in)
    left[: s.size], right[: s.size] = s, s
    return left[:, None] + right[None, :]


# ---------------------------------------------------------------------------------------------
# Data and figures


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits, samples as columns.

    1797 images of 8 x 8 pixels with grey levels 0-16, scaled to [0, 1]; labels 0-9. The data ship
    inside scikit-learn; nothing is downloaded.

    Returns
    -------
    X : array of shape (64, 1797)
    labels : int array of shape (1797,)
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.asarray(data.data, dtype=float).T / 16.0, np.asarray(data.target, dtype=int)


def plot_training_curves(ax, curves: dict, *, colors: dict | None = None) -> None:
    """Training loss against the epoch: for each label, the median over seeds (line) and the
    range from the smallest to the largest seed (band). Diverged seeds (``nan``) make the median
    ``nan`` (the line stops) and are left out of the band.

    ``curves`` maps a label to an array of shape ``(seeds, epochs + 1)``; ``colors`` optionally
    maps labels to colours.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (seeds, epochs + 1) array")
    colors = {} if colors is None else dict(colors)
    for label, values in curves.items():
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"curves[{label!r}] must have shape (seeds, epochs + 1)")
        epochs = np.arange(arr.shape[1])
        finite = np.isfinite(arr)
        low = np.where(finite, arr, np.inf).min(axis=0)
        high = np.where(finite, arr, -np.inf).max(axis=0)
        low[~finite.any(axis=0)] = np.nan
        high[~finite.any(axis=0)] = np.nan
        line = ax.semilogy(epochs, np.median(arr, axis=0), label=label, color=colors.get(label))
        ax.fill_between(epochs, low, high, alpha=0.25, color=line[0].get_color())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.legend()
