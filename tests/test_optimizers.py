"""Tests of linnet_lib.optimizers (explicit optimisers on end-to-end matrices) and of the l_p
regression experiment of Chapter 3, Figure 1 left (in linnet_lib.ch3)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402
from linnet_lib import ch3 as f3  # noqa: E402

opt = ll.optimizers


def quadratic(scales=(1.0, 10.0)):
    """l(W) = 1/2 sum_k s_k (W_k - 1)^2 on a 1 x len(scales) matrix (regression with X diagonal)."""
    X = np.diag(np.sqrt(scales))
    return ll.SquareLoss(X, np.sqrt(np.asarray(scales))[None, :])


# ---------------------------------------------------------------------------------------------
# The optimisers


def test_gradient_descent_step():
    W, G = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    assert np.allclose(opt.GradientDescent(0.1).step(W, G), W - 0.1 * G)


def test_heavy_ball_matches_two_term_recursion(rng):
    lr, mu = 0.05, 0.8
    loss = quadratic((1.0, 4.0, 9.0))
    hb = opt.HeavyBall(lr, mu)
    W_prev = W = rng.standard_normal((1, 3))
    ref_prev, ref = W_prev.copy(), W.copy()
    for k in range(6):
        W = hb.step(W, loss.grad(W))
        new_ref = ref - lr * loss.grad(ref) + (mu * (ref - ref_prev) if k else 0.0)
        ref_prev, ref = ref, new_ref
        assert np.allclose(W, ref)


def test_nesterov_matches_look_ahead_form(rng):
    """The iterates are Nesterov's look-ahead points y_k = x_k + mu v_k of the classical form
    v <- mu v - lr grad(x + mu v), x <- x + v (with x_0 = y_0 and v_0 = 0)."""
    lr, mu = 0.05, 0.9
    loss = quadratic((1.0, 4.0, 9.0))
    nag = opt.Nesterov(lr, mu)
    y = x = rng.standard_normal((1, 3))
    velocity = np.zeros_like(x)
    for _ in range(8):
        y = nag.step(y, loss.grad(y))
        velocity = mu * velocity - lr * loss.grad(x + mu * velocity)
        x = x + velocity
        assert np.allclose(y, x + mu * velocity)


def test_adagrad_first_steps():
    ada = opt.AdaGrad(0.1, eps=1e-12)
    W, G = np.zeros((1, 2)), np.array([[3.0, -0.5]])
    W1 = ada.step(W, G)
    assert np.allclose(W1, [[-0.1, 0.1]])
    W2 = ada.step(W1, G)
    assert np.allclose(W2 - W1, -0.1 * G / np.sqrt(2 * G * G))


def test_adam_first_step_is_signed_and_bias_corrected():
    adam = opt.Adam(0.01, eps=1e-12)
    W, G = np.zeros((2, 2)), np.array([[2.0, -3.0], [0.5, -1e-3]])
    assert np.allclose(adam.step(W, G), -0.01 * np.sign(G))
    # a constant gradient keeps the bias-corrected ratio at 1
    W = np.zeros((2, 2))
    adam.reset()
    for _ in range(5):
        W = adam.step(W, G)
    assert np.allclose(W, -0.05 * np.sign(G))


@pytest.mark.parametrize("name", list(opt.OPTIMIZERS))
def test_reset_restores_the_first_step(name, rng):
    o = opt.make(name, 0.1)
    W, G = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    first = o.step(W, G)
    o.step(first, G)
    o.reset()
    assert np.allclose(o.step(W, G), first)
    assert name in repr(o) or type(o).__name__ in repr(o)


@pytest.mark.parametrize("name", list(opt.OPTIMIZERS))
def test_every_optimizer_minimises_a_quadratic(name):
    loss = quadratic()
    lr = {"gradient descent": 0.1, "heavy ball": 0.02, "Nesterov": 0.02}.get(name, 0.05)
    run = opt.minimize(loss, np.zeros((1, 2)), opt.make(name, lr), 3000, record_every=3000)
    assert run.loss[-1] < 1e-3 * run.loss[0]


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: opt.GradientDescent(0.0), "lr"),
        (lambda: opt.GradientDescent(-1.0), "lr"),
        (lambda: opt.GradientDescent(np.nan), "lr"),
        (lambda: opt.GradientDescent(True), "lr"),
        (lambda: opt.HeavyBall(0.1, momentum=1.0), "momentum"),
        (lambda: opt.HeavyBall(0.1, momentum=-0.1), "momentum"),
        (lambda: opt.Nesterov(0.1, momentum="0.9"), "momentum"),
        (lambda: opt.AdaGrad(0.1, eps=0.0), "eps"),
        (lambda: opt.Adam(0.1, beta1=1.0), "beta1"),
        (lambda: opt.Adam(0.1, beta2=1.5), "beta2"),
        (lambda: opt.Adam(0.1, eps=-1.0), "eps"),
        (lambda: opt.make("rmsprop", 0.1), "name"),
    ],
)
def test_constructors_validate(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_step_validates_arrays():
    o = opt.HeavyBall(0.1)
    with pytest.raises(ValueError, match="same shape"):
        o.step(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="G"):
        o.step(np.zeros(2), np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="W"):
        o.step(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="W"):
        o.step("abc", np.zeros(2))


def test_make_passes_settings():
    o = opt.make("heavy ball", 0.3, momentum=0.5)
    assert isinstance(o, opt.HeavyBall) and o.lr == 0.3 and o.momentum == 0.5


# ---------------------------------------------------------------------------------------------
# minimize, steps_to_loss, tune_step


def test_minimize_with_gradient_descent_matches_library_descent(rng):
    loss = ll.LpLoss(rng.standard_normal((3, 20)), rng.standard_normal((2, 20)), p=4)
    W0 = 0.1 * rng.standard_normal((2, 3))
    ours = opt.minimize(loss, W0, opt.GradientDescent(0.01), 50, record_every=10)
    library = ll.gradient_descent(loss, [W0], 0.01, 50, record_every=10)
    assert np.array_equal(ours.steps, library.steps)
    assert np.allclose(ours.end_to_end, library.end_to_end, rtol=1e-12, atol=1e-14)
    assert np.allclose(ours.loss, library.loss, rtol=1e-12)
    assert ours.depth == 1 and not ours.diverged
    assert np.allclose(ours.t, ours.steps * 0.01)


def test_minimize_stops_at_stop_loss_and_records_it():
    loss = quadratic()
    run = opt.minimize(
        loss, np.zeros((1, 2)), opt.HeavyBall(0.02), 5000, record_every=1000, stop_loss=1e-6
    )
    assert run.loss[-1] <= 1e-6 < run.loss[0]
    assert run.steps[-1] < 1000
    assert opt.steps_to_loss(run, 1e-6) == run.steps[-1]


def test_minimize_flags_divergence():
    loss = ll.LpLoss(np.eye(2), np.ones((1, 2)), p=4)
    run = opt.minimize(loss, np.full((1, 2), 5.0), opt.GradientDescent(10.0), 100)
    assert run.diverged and np.all(np.isfinite(run.loss))
    assert opt.steps_to_loss(run, 1e-3) == np.inf


def test_minimize_validates():
    loss = quadratic()
    W0 = np.zeros((1, 2))
    with pytest.raises(ValueError, match="loss"):
        opt.minimize(object(), W0, opt.GradientDescent(0.1), 5)
    with pytest.raises(ValueError, match="W0"):
        opt.minimize(loss, np.zeros((2, 2)), opt.GradientDescent(0.1), 5)
    with pytest.raises(ValueError, match="optimizer"):
        opt.minimize(loss, W0, "adam", 5)
    with pytest.raises(ValueError, match="steps"):
        opt.minimize(loss, W0, opt.GradientDescent(0.1), -1)
    with pytest.raises(ValueError, match="record_every"):
        opt.minimize(loss, W0, opt.GradientDescent(0.1), 5, record_every=0)
    with pytest.raises(ValueError, match="stop_loss"):
        opt.minimize(loss, W0, opt.GradientDescent(0.1), 5, stop_loss=np.inf)


def test_steps_to_loss_validates():
    with pytest.raises(ValueError, match="result"):
        opt.steps_to_loss({"loss": [1.0]}, 0.5)
    flow = ll.gradient_flow(quadratic(), [np.zeros((1, 2))], [0.0, 1.0])
    with pytest.raises(ValueError, match="result"):
        opt.steps_to_loss(flow, 0.5)
    run = opt.minimize(quadratic(), np.zeros((1, 2)), opt.GradientDescent(0.1), 3)
    with pytest.raises(ValueError, match="target"):
        opt.steps_to_loss(run, "low")


def test_tune_step_finds_the_best_and_caps_the_runs():
    calls = []

    def count(lr, cap):  # 100 / lr iterations below lr = 1, divergence above
        calls.append((lr, cap))
        needed = np.inf if lr > 1 else np.ceil(100 / lr)
        return needed if needed <= cap else np.inf

    grid = [0.25, 0.5, 1.0, 2.0, 4.0]
    best_lr, best, counts = opt.tune_step(count, grid, 1000)
    assert best_lr == 1.0 and best == 100
    assert np.array_equal(counts, [np.inf, np.inf, 100, np.inf, np.inf])
    assert calls[0] == (4.0, 1000) and all(cap == 100 for lr, cap in calls if lr < 1)


def test_tune_step_patience_stops_early_and_ties_keep_the_larger_step():
    calls = []

    def count(lr, cap):
        calls.append(lr)
        return 10.0

    best_lr, best, _ = opt.tune_step(count, [1.0, 2.0, 3.0, 4.0, 5.0], 100, patience=2)
    assert best_lr == 5.0 and best == 10.0
    assert calls == [5.0, 4.0, 3.0]


def test_tune_step_when_nothing_arrives():
    best_lr, best, counts = opt.tune_step(lambda lr, cap: np.inf, [0.1, 0.2], 10)
    assert np.isnan(best_lr) and best == np.inf and np.all(np.isinf(counts))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"count": 3}, "count"),
        ({"grid": []}, "grid"),
        ({"grid": [0.1, -0.2]}, "grid"),
        ({"grid": [[0.1]]}, "grid"),
        ({"grid": ["a"]}, "grid"),
        ({"max_steps": 0}, "max_steps"),
        ({"patience": 0}, "patience"),
    ],
)
def test_tune_step_validates(kwargs, match):
    args = {"count": lambda lr, cap: 1.0, "grid": [0.1], "max_steps": 10}
    args.update(kwargs)
    patience = args.pop("patience", None)
    with pytest.raises(ValueError, match=match):
        opt.tune_step(args["count"], args["grid"], args["max_steps"], patience=patience)


# ---------------------------------------------------------------------------------------------
# ch3 (section 3.3): data, Hessian, minimiser


def test_diabetes_data_is_standardised():
    X, Y = f3.diabetes_data()
    assert X.shape == (10, 442) and Y.shape == (1, 442)
    assert np.allclose(X.mean(axis=1), 0, atol=1e-12) and np.allclose(X.std(axis=1), 1)
    assert np.isclose(Y.mean(), 0, atol=1e-12) and np.isclose(Y.std(), 1)


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_lp_hessian_matches_finite_differences_of_the_gradient(rng, normalization):
    X, Y = rng.standard_normal((3, 15)), rng.standard_normal((2, 15))
    loss = ll.LpLoss(X, Y, p=4, normalization=normalization)
    W = rng.standard_normal((2, 3))
    H = f3.lp_hessian(loss, W)
    h = 1e-6
    numeric = np.zeros_like(H)
    for k in range(W.size):
        E = ll.unvec(np.eye(W.size)[k], W.shape)
        numeric[:, k] = ll.vec(loss.grad(W + h * E) - loss.grad(W - h * E)) / (2 * h)
    assert ll.relative_difference(H, numeric) < 1e-7
    assert np.allclose(H, H.T)


def test_lp_hessian_at_p_2_is_the_data_covariance(rng):
    X, Y = rng.standard_normal((3, 10)), rng.standard_normal((2, 10))
    loss = ll.LpLoss(X, Y, p=2, normalization="mean")
    H = f3.lp_hessian(loss, rng.standard_normal((2, 3)))
    assert np.allclose(H, np.kron(X @ X.T / 10, np.eye(2)))


def test_lp_hessian_validates():
    with pytest.raises(ValueError, match="loss"):
        f3.lp_hessian(ll.SquareLoss(np.eye(2), np.ones((1, 2))), np.zeros((1, 2)))
    loss = ll.LpLoss(np.eye(2), np.ones((1, 2)), p=4)
    with pytest.raises(ValueError, match="W"):
        f3.lp_hessian(loss, np.zeros((2, 2)))


def test_lp_minimizer_p2_is_least_squares(rng):
    X, Y = rng.standard_normal((4, 30)), rng.standard_normal((2, 30))
    W, value = f3.lp_minimizer(ll.LpLoss(X, Y, p=2, normalization="mean"))
    ls = np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T
    assert ll.relative_difference(W, ls) < 1e-12
    assert np.isclose(value, np.sum((ls @ X - Y) ** 2) / 60)


@pytest.mark.parametrize("p", [3.0, 4, 6])
def test_lp_minimizer_is_stationary_and_minimal(rng, p):
    X, Y = rng.standard_normal((3, 25)), rng.standard_normal((1, 25))
    loss = ll.LpLoss(X, Y, p=p, normalization="mean")
    W, value = f3.lp_minimizer(loss)
    assert np.linalg.norm(loss.grad(W)) < 1e-10
    for _ in range(20):
        assert loss.value(W + 0.01 * rng.standard_normal(W.shape)) > value


def test_lp_minimizer_validates():
    singular = ll.LpLoss(np.ones((2, 5)), np.ones((1, 5)), p=4)
    with pytest.raises(ValueError, match="singular"):
        f3.lp_minimizer(singular)
    loss = ll.LpLoss(np.eye(2), np.ones((1, 2)), p=4)
    with pytest.raises(ValueError, match="tol"):
        f3.lp_minimizer(loss, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        f3.lp_minimizer(loss, max_iter=0)
    with pytest.raises(ValueError, match="loss"):
        f3.lp_minimizer("l4")
    hard = ll.LpLoss(np.array([[1.0, 2.0]]), np.array([[30.0, -50.0]]), p=8)
    with pytest.raises(ValueError, match="max_iter"):
        f3.lp_minimizer(hard, max_iter=1)


def test_step_grid():
    grid = f3.step_grid(0.25, 1.0, per_octave=2)
    assert np.allclose(grid, [0.25, 0.25 * 2**0.5, 0.5, 0.5 * 2**0.5, 1.0])
    assert f3.step_grid(2**-6, 1.0).size == 25
    with pytest.raises(ValueError, match="low"):
        f3.step_grid(0.0, 1.0)
    with pytest.raises(ValueError, match="high"):
        f3.step_grid(1.0, 0.5)
    with pytest.raises(ValueError, match="per_octave"):
        f3.step_grid(0.1, 1.0, per_octave=0)


# ---------------------------------------------------------------------------------------------
# ch3 (section 3.3): iteration counts and tuning


def test_descent_and_optimizer_counts_agree_at_depth_one():
    loss = quadratic()
    W0 = np.zeros((1, 2))
    a = f3.descent_count(loss, [W0], 0.1, 500, 1e-6)
    b = f3.optimizer_count(loss, W0, opt.GradientDescent(0.1), 500, 1e-6)
    assert a == b and np.isfinite(a)
    assert f3.descent_count(loss, [W0], 0.1, int(a) - 1, 1e-6) == np.inf
    assert f3.descent_count(loss, [W0], 0.25, 500, 1e-6) == np.inf  # diverges: 0.25 > 2/10
    assert f3.optimizer_count(loss, W0, opt.GradientDescent(0.1), 0, 10.0) == 0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_descent_count_and_losses_repeat_library_descent_exactly(rng, depth):
    X, Y = rng.standard_normal((4, 30)), rng.standard_normal((1, 30))
    loss = ll.LpLoss(X, Y, p=4, normalization="mean")
    net = ll.balanced_init(0.05 * rng.standard_normal((1, 4)), depth, rng=rng)
    target = ll.ch3.lp_minimizer(loss)[1] + 1e-4
    for lr in (0.05, 0.2, 5.0):
        run = ll.gradient_descent(loss, net, lr, 600, record_every=600, stop_loss=target)
        assert f3.descent_count(loss, net, lr, 600, target) == opt.steps_to_loss(run, target)
        full = ll.gradient_descent(loss, net, lr, 300, record_every=7)
        steps, values, diverged = f3.descent_losses(loss, net, lr, 300, record_every=7)
        assert np.array_equal(steps, full.steps) and np.array_equal(values, full.loss)
        assert diverged == full.diverged
    with pytest.raises(ValueError, match="loss"):
        f3.descent_losses(object(), net, 0.1, 5)


def test_counts_validate():
    loss = quadratic()
    with pytest.raises(ValueError, match="cap"):
        f3.descent_count(loss, [np.zeros((1, 2))], 0.1, -1, 0.0)
    with pytest.raises(ValueError, match="target"):
        f3.optimizer_count(loss, np.zeros((1, 2)), opt.GradientDescent(0.1), 5, None)
    with pytest.raises(ValueError, match="weights"):
        f3.descent_count(loss, np.zeros((1, 2)), 0.1, 5, 0.0)


def test_tune_descent_and_tune_optimizer():
    loss = quadratic()
    grid = f3.step_grid(1 / 64, 0.5)
    lr, count, counts = f3.tune_descent(loss, [np.zeros((1, 2))], grid, 2000, 1e-8)
    assert lr == grid[grid < 0.2].max()  # the largest stable step wins on this quadratic
    assert count == counts.min()
    lr_hb, count_hb, _ = f3.tune_optimizer(
        loss, np.zeros((1, 2)), "heavy ball", grid, 2000, 1e-8, momentum=0.5
    )
    assert np.isfinite(count_hb) and lr_hb in grid
    with pytest.raises(ValueError, match="name"):
        f3.tune_optimizer(loss, np.zeros((1, 2)), "sgd", grid, 10, 0.0)
    with pytest.raises(ValueError, match="grid"):
        f3.tune_descent(loss, [np.zeros((1, 2))], [], 10, 0.0)


# ---------------------------------------------------------------------------------------------
# ch3 (section 3.3): figures


def test_plot_gap_curves_and_bars():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    steps = np.arange(5.0)
    f3.plot_gap_curves(
        ax1,
        {"depth 2": (steps, 10.0**-steps), "Adam": (steps, 0 * steps)},
        depths={"depth 2": 2},
        target=1e-3,
    )
    assert len(ax1.get_lines()) == 3
    assert ax1.get_lines()[0].get_color() == ll.depth_color(2)
    assert ax1.get_lines()[1].get_linestyle() == "--"
    f3.plot_iteration_bars(ax2, {"depth 1": 100.0, "AdaGrad": np.inf}, depths={"depth 1": 1})
    assert len(ax2.patches) == 2
    plt.close(fig)


def test_plots_validate():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="curves"):
        f3.plot_gap_curves(ax, {})
    with pytest.raises(ValueError, match="curves"):
        f3.plot_gap_curves(ax, {"a": (np.arange(3), np.ones(4))})
    with pytest.raises(ValueError, match="curves"):
        f3.plot_gap_curves(ax, {"a": 3})
    with pytest.raises(ValueError, match="floor"):
        f3.plot_gap_curves(ax, {"a": (np.arange(3), np.ones(3))}, floor=0)
    with pytest.raises(ValueError, match="counts"):
        f3.plot_iteration_bars(ax, [])
    with pytest.raises(ValueError, match="counts"):
        f3.plot_iteration_bars(ax, {"a": "many"})
    plt.close(fig)
