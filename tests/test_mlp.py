"""Tests of linnet_lib.mlp: a small ReLU network whose dense layers may be products of matrices."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402

mlp = ll.mlp


def small_problem(rng, widths=(5, 6, 4, 3), m=12):
    net = mlp.init_mlp(list(widths), rng)
    net.biases = [0.1 * rng.standard_normal(b.shape) for b in net.biases]
    X = rng.standard_normal((widths[0], m))
    labels = rng.integers(0, widths[-1], m)
    return net, X, labels


def flat_parameters(net):
    return [f for layer in net.factors for f in layer] + net.biases


# ---------------------------------------------------------------------------------------------
# The network object and its initialisations


def test_init_mlp_shapes_and_scale(rng):
    net = mlp.init_mlp([400, 300, 10], rng)
    assert net.widths == [400, 300, 10]
    assert [layer[0].shape for layer in net.factors] == [(300, 400), (10, 300)]
    assert np.isclose(net.factors[0][0].std(), np.sqrt(2 / 400), rtol=0.02)
    assert all(np.all(b == 0) for b in net.biases)
    assert net.parameter_count() == 300 * 400 + 10 * 300 + 310


def test_init_mlp_is_reproducible():
    a = mlp.init_mlp([3, 4, 2], 7)
    b = mlp.init_mlp(np.array([3, 4, 2]), np.random.default_rng(7))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a.factors, b.factors, strict=True))


@pytest.mark.parametrize("widths", [[3], "abc", [3, 0], [3, 2.5], 5])
def test_init_mlp_validates(widths):
    with pytest.raises(ValueError, match="widths"):
        mlp.init_mlp(widths, 0)


def test_mlp_validates_structure():
    A, B = np.ones((4, 3)), np.ones((2, 4))
    with pytest.raises(ValueError, match="biases"):
        mlp.MLP([[A], [B]], [np.zeros(4)])
    with pytest.raises(ValueError, match="biases"):
        mlp.MLP([[A]], [np.zeros(3)])
    with pytest.raises(ValueError, match="factors"):
        mlp.MLP([[A], [np.ones((2, 5))]], [np.zeros(4), np.zeros(2)])
    with pytest.raises(ValueError, match="factors"):
        mlp.MLP([], [])
    with pytest.raises(ValueError, match="factors"):
        mlp.MLP(np.ones((2, 2)), [])
    with pytest.raises(ValueError, match="biases"):
        mlp.MLP([[A]], np.zeros(4))
    with pytest.raises(ValueError, match="factors"):
        mlp.MLP([[A, np.ones((2, 5))]], [np.zeros(2)])


def test_copy_dense_and_widths(rng):
    net, _, _ = small_problem(rng)
    twin = net.copy()
    twin.factors[0][0][0, 0] += 1.0
    twin.biases[0][0] += 1.0
    assert net.factors[0][0][0, 0] != twin.factors[0][0][0, 0]
    assert net.biases[0][0] != twin.biases[0][0]
    fac = mlp.factorize(net, rng=rng)
    assert fac.widths == net.widths == [5, 6, 4, 3]
    assert all(np.allclose(a, b) for a, b in zip(fac.dense(), net.dense(), strict=True))


def test_factorize_keeps_the_function_and_is_balanced(rng):
    net, X, _ = small_problem(rng)
    fac = mlp.factorize(net, rng=rng)
    assert [len(layer) for layer in fac.factors] == [2, 2, 2]
    assert [layer[0].shape[0] for layer in fac.factors] == [5, 4, 3]  # min(d_in, d_out)
    assert ll.relative_difference(mlp.forward(fac, X), mlp.forward(net, X)) < 1e-13
    assert max(ll.unbalancedness(layer) for layer in fac.factors) < 1e-12
    wide = mlp.factorize(net, hidden_widths=[8, 8, 8])
    assert [layer[0].shape[0] for layer in wide.factors] == [8, 8, 8]
    assert ll.relative_difference(mlp.forward(wide, X), mlp.forward(net, X)) < 1e-13


def test_factorize_validates(rng):
    net, _, _ = small_problem(rng)
    with pytest.raises(ValueError, match="net"):
        mlp.factorize("net")
    with pytest.raises(ValueError, match="already factorised"):
        mlp.factorize(mlp.factorize(net))
    with pytest.raises(ValueError, match="hidden_widths"):
        mlp.factorize(net, hidden_widths=[4, 4])
    with pytest.raises(ValueError, match="hidden_widths"):
        mlp.factorize(net, hidden_widths=[4, 0, 4])
    with pytest.raises(ValueError, match="rank"):
        mlp.factorize(net, hidden_widths=[2, 2, 2])


# ---------------------------------------------------------------------------------------------
# Forward pass and the loss


def test_forward_by_hand(rng):
    net, X, _ = small_problem(rng, widths=(3, 4, 2), m=5)
    (W1,), (W2,) = net.factors
    b1, b2 = net.biases
    expected = W2 @ np.maximum(W1 @ X + b1[:, None], 0) + b2[:, None]
    assert np.allclose(mlp.forward(net, X), expected)


def test_cross_entropy_values():
    assert np.isclose(mlp.cross_entropy(np.zeros((10, 4)), [0, 3, 9, 2]), np.log(10))
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0]])  # stable for large scores
    assert np.isclose(mlp.cross_entropy(logits, [0, 1]), 0.0)
    assert np.isclose(mlp.cross_entropy(logits, np.array([1.0, 0.0])), 1000.0)


def test_loss_and_accuracy(rng):
    net, X, labels = small_problem(rng)
    assert np.isclose(mlp.loss(net, X, labels), mlp.cross_entropy(mlp.forward(net, X), labels))
    predicted = np.argmax(mlp.forward(net, X), axis=0)
    assert mlp.accuracy(net, X, predicted) == 1.0
    assert mlp.accuracy(net, X, (predicted + 1) % 3) == 0.0


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros(11, dtype=int), "length"),
        (np.full(12, 3), r"\[0, 2\]"),
        (np.full(12, -1), r"\[0, 2\]"),
        (np.full(12, 0.5), "integers"),
        (np.array(["a"] * 12), "integers"),
    ],
)
def test_labels_validate(rng, labels, match):
    net, X, _ = small_problem(rng)
    with pytest.raises(ValueError, match=match):
        mlp.loss(net, X, labels)


def test_inputs_validate(rng):
    net, X, labels = small_problem(rng)
    with pytest.raises(ValueError, match="X"):
        mlp.forward(net, X[:4])
    with pytest.raises(ValueError, match="net"):
        mlp.forward([np.eye(5)], X)
    with pytest.raises(ValueError, match="X"):
        mlp.accuracy(net, np.full((5, 12), np.nan), labels)
    with pytest.raises(ValueError, match="logits"):
        mlp.cross_entropy(np.zeros(3), [0])


# ---------------------------------------------------------------------------------------------
# Backpropagation against central differences


@pytest.mark.parametrize("kind", ["original", "two factors", "three factors"])
def test_gradients_match_central_differences(rng, kind):
    net, X, labels = small_problem(rng)
    if kind == "two factors":
        net = mlp.factorize(net, hidden_widths=[7, 7, 7], rng=rng)
    elif kind == "three factors":
        net = mlp.MLP(
            [ll.balanced_init(layer[0], 3, [5, 6], rng=rng) for layer in net.factors],
            net.biases,
        )
    value, factor_grads, bias_grads = mlp.gradients(net, X, labels)
    assert np.isclose(value, mlp.loss(net, X, labels))
    analytic = [g for layer in factor_grads for g in layer] + bias_grads
    params = flat_parameters(net)
    h = 1e-6
    worst = 0.0
    for p, g in zip(params, analytic, strict=True):
        assert g.shape == p.shape
        numeric = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            saved = p[index]
            p[index] = saved + h
            up = mlp.loss(net, X, labels)
            p[index] = saved - h
            down = mlp.loss(net, X, labels)
            p[index] = saved
            numeric[index] = (up - down) / (2 * h)
        worst = max(worst, np.abs(numeric - g).max() / max(np.abs(g).max(), 1e-12))
    assert worst < 1e-6


# ---------------------------------------------------------------------------------------------
# Training


def test_one_full_batch_epoch_is_one_heavy_ball_step(rng):
    net, X, labels = small_problem(rng)
    run = mlp.train_sgd(net, X, labels, 0.1, 1, batch_size=X.shape[1], momentum=0.9, rng=0)
    _, factor_grads, bias_grads = mlp.gradients(net, X, labels)
    grads = [g for layer in factor_grads for g in layer] + bias_grads
    expected = [p - 0.1 * g for p, g in zip(flat_parameters(net), grads, strict=True)]
    assert all(np.allclose(a, b) for a, b in zip(flat_parameters(run.net), expected, strict=True))
    assert np.isclose(run.loss[1], mlp.loss(run.net, X, labels))


def test_two_full_batch_epochs_follow_the_heavy_ball_recursion(rng):
    net, X, labels = small_problem(rng)
    lr, mu = 0.1, 0.9
    run = mlp.train_sgd(net, X, labels, lr, 2, batch_size=X.shape[1], momentum=mu, rng=0)
    first = mlp.train_sgd(net, X, labels, lr, 1, batch_size=X.shape[1], momentum=mu, rng=0).net
    _, factor_grads, bias_grads = mlp.gradients(net, X, labels)
    g0 = [g for layer in factor_grads for g in layer] + bias_grads
    _, factor_grads, bias_grads = mlp.gradients(first, X, labels)
    g1 = [g for layer in factor_grads for g in layer] + bias_grads
    expected = [
        p - lr * a - lr * (mu * a + b) for p, a, b in zip(flat_parameters(net), g0, g1, strict=True)
    ]
    assert all(np.allclose(a, b) for a, b in zip(flat_parameters(run.net), expected, strict=True))
    no_momentum = mlp.train_sgd(net, X, labels, lr, 2, batch_size=X.shape[1], momentum=0.0, rng=0)
    assert not np.allclose(no_momentum.loss[-1], run.loss[-1])


def test_train_sgd_decreases_the_loss_and_is_reproducible(rng):
    net, X, labels = small_problem(rng, m=40)
    a = mlp.train_sgd(net, X, labels, 0.05, 15, batch_size=8, rng=3)
    b = mlp.train_sgd(net, X, labels, 0.05, 15, batch_size=8, rng=np.random.default_rng(3))
    assert np.array_equal(a.loss, b.loss)
    assert a.loss.shape == (16,) and a.loss[-1] < 0.5 * a.loss[0]
    assert not a.diverged and a.info["parameters"] == net.parameter_count()
    assert np.isclose(a.loss[0], mlp.loss(net, X, labels))  # net itself is unchanged


def test_train_sgd_flags_divergence(rng):
    net, X, labels = small_problem(rng, m=40)
    net = mlp.factorize(net, rng=rng)
    run = mlp.train_sgd(net, X, labels, 1e3, 30, batch_size=8, rng=0)
    assert run.diverged
    assert np.isfinite(run.loss[0]) and np.isnan(run.loss[-1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0}, "lr"),
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"momentum": 1.0}, "momentum"),
        ({"rng": "seed"}, "rng"),
    ],
)
def test_train_sgd_validates(rng, kwargs, match):
    net, X, labels = small_problem(rng)
    args = {"lr": 0.1, "epochs": 1}
    args.update(kwargs)
    lr, epochs = args.pop("lr"), args.pop("epochs")
    with pytest.raises(ValueError, match=match):
        mlp.train_sgd(net, X, labels, lr, epochs, **args)


# ---------------------------------------------------------------------------------------------
# Data and figure


def test_digits_data():
    X, labels = mlp.digits_data()
    assert X.shape == (64, 1797) and labels.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_plot_training_curves():
    fig, ax = plt.subplots()
    curves = {"original": np.array([[2.0, 1.0, 0.5], [2.0, 0.8, 0.4]]), "other": np.ones((2, 3))}
    mlp.plot_training_curves(ax, curves, colors={"original": "k"})
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2
    assert ax.get_lines()[0].get_color() == "k"
    with pytest.raises(ValueError, match="curves"):
        mlp.plot_training_curves(ax, {})
    with pytest.raises(ValueError, match="curves"):
        mlp.plot_training_curves(ax, {"a": np.ones(3)})
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The comparison experiment and the step preconditioner of a factorised layer


def test_factor_preconditioner_eigenvalues_match_corollary_1(rng):
    for shape in [(3, 5), (4, 2), (3, 3)]:
        W = rng.standard_normal(shape)
        ours = np.sort(ll.mlp.factor_preconditioner_eigenvalues(W).ravel())
        library = np.sort(ll.preconditioner_eigen(W, 2)[0])
        assert np.allclose(ours, library)
    with pytest.raises(ValueError, match="W"):
        ll.mlp.factor_preconditioner_eigenvalues(np.ones(3))


def test_one_step_on_balanced_factors_is_preconditioned_to_first_order(rng):
    W = rng.standard_normal((3, 4))
    A, B = ll.balanced_init(W, 2, rng=rng)
    G = rng.standard_normal((3, 4))
    errors = []
    for eta in (1e-3, 5e-4):
        moved = (B - eta * G @ A.T) @ (A - eta * B.T @ G)
        errors.append(np.linalg.norm((moved - W) / eta + ll.end_to_end_velocity(W, G, 2)))
    assert errors[1] < 0.6 * errors[0] and errors[1] < 1e-2


def test_factorisation_experiment_shapes_and_shared_start(rng):
    X = rng.standard_normal((5, 30))
    labels = rng.integers(0, 3, 30)
    out = mlp.factorisation_experiment(X, labels, [5, 4, 3], [0.01, 0.02], 2, 3, batch_size=10)
    assert set(out) == {"original", "overparameterised"}
    assert out["original"].shape == out["overparameterised"].shape == (2, 2, 4)
    assert np.allclose(out["original"][:, :, 0], out["overparameterised"][:, :, 0])
    scaled = mlp.factorisation_experiment(
        X, labels, [5, 4, 3], [0.01], 2, 3, batch_size=10, original_lr_factor=2.0
    )
    assert np.allclose(scaled["original"][0], out["original"][1])  # 2 x 0.01 = 0.02
    assert np.allclose(scaled["overparameterised"][0], out["overparameterised"][0])


def test_factorisation_experiment_selects_networks_and_momentum(rng):
    X = rng.standard_normal((5, 30))
    labels = rng.integers(0, 3, 30)
    both = mlp.factorisation_experiment(X, labels, [5, 4, 3], [0.05], 2, 3, batch_size=10)
    only = mlp.factorisation_experiment(
        X, labels, [5, 4, 3], [0.05], 2, 3, batch_size=10, networks=("original",)
    )
    assert set(only) == {"original"} and np.array_equal(only["original"], both["original"])
    plain = mlp.factorisation_experiment(
        X, labels, [5, 4, 3], [0.05], 2, 3, batch_size=10, momentum=0.0
    )
    assert not np.allclose(plain["original"][0, :, -1], both["original"][0, :, -1])
    with pytest.raises(ValueError, match="networks"):
        mlp.factorisation_experiment(X, labels, [5, 4, 3], [0.05], 1, 1, networks=("deep",))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lrs": []}, "lrs"),
        ({"lrs": [0.1, 0.0]}, "lrs"),
        ({"seeds": 0}, "seeds"),
        ({"epochs": 0}, "epochs"),
        ({"original_lr_factor": -1.0}, "original_lr_factor"),
    ],
)
def test_factorisation_experiment_validates(rng, kwargs, match):
    X = rng.standard_normal((5, 10))
    labels = rng.integers(0, 3, 10)
    args = {"lrs": [0.1], "seeds": 1, "epochs": 1}
    args.update(kwargs)
    lrs, seeds, epochs = args.pop("lrs"), args.pop("seeds"), args.pop("epochs")
    with pytest.raises(ValueError, match=match):
        mlp.factorisation_experiment(X, labels, [5, 4, 3], lrs, seeds, epochs, **args)
