"""Tests of linnet_lib.training: gradient flow (per-layer and end-to-end), gradient descent and
their common result type."""

from __future__ import annotations

import numpy as np
import pytest

import linnet_lib as ll

NON_FINITE = [np.nan, np.inf, -np.inf]
T_EVAL = np.linspace(0.0, 3.0, 13)


class CubicBlowUp(ll.Loss):
    """A loss whose gradient flow dW/dt = 10 W W^T W reaches infinity at t = 1/(20 sigma_0^2)."""

    def __init__(self, shape):
        self.shape = shape

    def _value(self, W):
        return -2.5 * np.sum((W @ W.T) ** 2)

    def _grad(self, W):
        return -10.0 * W @ W.T @ W


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference between two trajectories of matrices (first axis is time)."""
    return max(ll.relative_difference(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture
def regression(rng):
    """A 3 x 4 regression problem (mean square loss) and a full-rank starting point."""
    X = rng.standard_normal((4, 10))
    Y = rng.standard_normal((3, 10))
    return ll.SquareLoss(X, Y, normalization="mean"), 0.5 * rng.standard_normal((3, 4))


# ---------------------------------------------------------------------------------------------
# gradient_flow: Theorem 1 (per-layer flow from a balanced start == end-to-end dynamics)

WIDTHS = {
    "depth 2": (4, 6, 3),
    "depth 3": (4, 5, 6, 3),
    "depth 4": (4, 5, 6, 7, 3),
    "depth 3 narrow": (4, 3, 3, 3),
}


@pytest.mark.parametrize("widths", WIDTHS.values(), ids=WIDTHS.keys())
def test_flow_per_layer_from_balanced_init_matches_end_to_end_dynamics(regression, rng, widths):
    loss, W0 = regression
    depth = len(widths) - 1
    layers = ll.balanced_init(W0, depth, widths[1:-1], rng=rng)
    per_layer = ll.gradient_flow(loss, layers, T_EVAL)
    end_to_end = ll.gradient_flow(loss, W0, T_EVAL, depth=depth)
    assert per_layer.loss[-1] < 0.5 * per_layer.loss[0]  # the trajectory goes somewhere
    assert max_relative_difference(per_layer.end_to_end, end_to_end.end_to_end) <= 1e-7


def test_flow_per_layer_matches_end_to_end_for_lp_loss(rng):
    loss = ll.LpLoss(
        rng.standard_normal((3, 8)), rng.standard_normal((2, 8)), p=4, normalization="mean"
    )
    W0 = 0.5 * rng.standard_normal((2, 3))
    layers = ll.balanced_init(W0, 3, (4, 5), rng=rng)
    per_layer = ll.gradient_flow(loss, layers, T_EVAL)
    end_to_end = ll.gradient_flow(loss, W0, T_EVAL, depth=3)
    assert max_relative_difference(per_layer.end_to_end, end_to_end.end_to_end) <= 1e-7


def test_flow_per_layer_from_unbalanced_init_differs_from_end_to_end_dynamics(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 6, 3], 0.5, rng)
    per_layer = ll.gradient_flow(loss, layers, T_EVAL)
    end_to_end = ll.gradient_flow(loss, ll.end_to_end(layers), T_EVAL, depth=3)
    assert max_relative_difference(per_layer.end_to_end, end_to_end.end_to_end) > 1e-2


# ---------------------------------------------------------------------------------------------
# gradient_flow: Lemma 1 and Proposition 2 (conservation of the balance gaps)


def test_flow_conserves_every_balance_gap_matrix(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 6, 3], 0.5, rng)
    result = ll.gradient_flow(loss, layers, T_EVAL)
    initial_gaps = ll.balance_gaps(layers)
    for k in range(len(result.t)):
        for gap, initial in zip(ll.balance_gaps(result.layers_at(k)), initial_gaps, strict=True):
            assert ll.relative_difference(gap, initial) <= 1e-8


def test_flow_conserves_unbalancedness(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 6, 3], 0.5, rng)
    result = ll.gradient_flow(loss, layers, T_EVAL)
    initial = ll.unbalancedness(layers)
    assert initial > 0.1
    for k in range(len(result.t)):
        assert abs(ll.unbalancedness(result.layers_at(k)) - initial) <= 1e-8 * initial


def test_flow_from_balanced_init_stays_balanced(regression, rng):
    loss, W0 = regression
    result = ll.gradient_flow(loss, ll.balanced_init(W0, 3, (5, 6), rng=rng), T_EVAL)
    scale = max(np.linalg.norm(W) for W in result.end_to_end)
    for k in range(len(result.t)):
        assert ll.unbalancedness(result.layers_at(k)) <= 1e-8 * (1 + scale**2)


# ---------------------------------------------------------------------------------------------
# gradient_flow: closed forms, result contents and shapes


@pytest.mark.parametrize("route", ["matrix with depth=1", "single-layer list"])
def test_flow_of_depth_one_to_target_has_exponential_closed_form(rng, route):
    Y = rng.standard_normal((3, 2))
    W0 = rng.standard_normal((3, 2))
    init, kwargs = (W0, {"depth": 1}) if route == "matrix with depth=1" else ([W0], {})
    result = ll.gradient_flow(ll.SquareLoss.to_target(Y), init, T_EVAL, **kwargs)
    expected = Y + (W0 - Y) * np.exp(-T_EVAL)[:, None, None]
    assert max_relative_difference(result.end_to_end, expected) <= 1e-8


def test_flow_per_layer_result_shapes(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 6, 3], 0.5, rng)
    result = ll.gradient_flow(loss, layers, T_EVAL)
    T = len(T_EVAL)
    assert result.t.shape == (T,)
    assert result.end_to_end.shape == (T, 3, 4)
    assert result.loss.shape == (T,)
    assert result.singular_values.shape == (T, 3)
    assert [w.shape for w in result.weights] == [(T, 5, 4), (T, 6, 5), (T, 3, 6)]
    assert result.depth == 3
    assert result.steps is None
    assert result.diverged is False


def test_flow_end_to_end_result_shapes(regression):
    loss, W0 = regression
    result = ll.gradient_flow(loss, W0, T_EVAL, depth=2)
    T = len(T_EVAL)
    assert result.t.shape == (T,)
    assert result.end_to_end.shape == (T, 3, 4)
    assert result.loss.shape == (T,)
    assert result.singular_values.shape == (T, 3)
    assert result.weights is None
    assert result.depth == 2


def test_flow_records_exactly_the_requested_times_starting_at_the_init(regression):
    loss, W0 = regression
    t_eval = [0.0, 0.1, 0.7, 2.0]
    result = ll.gradient_flow(loss, W0, t_eval, depth=2)
    np.testing.assert_allclose(result.t, t_eval, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(result.end_to_end[0], W0)


def test_flow_may_start_recording_after_time_zero(regression):
    loss, W0 = regression
    late = ll.gradient_flow(loss, W0, [1.0, 2.0], depth=2)
    full = ll.gradient_flow(loss, W0, [0.0, 1.0, 2.0], depth=2)
    assert max_relative_difference(late.end_to_end, full.end_to_end[1:]) <= 1e-8


def test_flow_records_loss_and_singular_values_of_the_end_to_end_matrix(regression, rng):
    loss, W0 = regression
    result = ll.gradient_flow(loss, ll.balanced_init(W0, 2, rng=rng), T_EVAL)
    for W, value, sigma in zip(result.end_to_end, result.loss, result.singular_values, strict=True):
        assert value == pytest.approx(loss.value(W), rel=1e-14)
        np.testing.assert_allclose(sigma, np.linalg.svd(W, compute_uv=False), rtol=1e-12)
        assert np.all(np.diff(sigma) <= 0)


def test_flow_per_layer_weights_multiply_to_the_recorded_end_to_end_matrix(regression, rng):
    loss, _ = regression
    result = ll.gradient_flow(loss, ll.gaussian_init([4, 5, 3], 0.5, rng), T_EVAL)
    for k in range(len(result.t)):
        np.testing.assert_allclose(
            ll.end_to_end(result.layers_at(k)), result.end_to_end[k], rtol=1e-13
        )


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_flow_never_increases_a_square_loss(regression, depth):
    loss, W0 = regression
    result = ll.gradient_flow(loss, W0, T_EVAL, depth=depth)
    assert np.all(np.diff(result.loss) <= 1e-12 * result.loss[0])


def test_flow_does_not_modify_the_init(regression, rng):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2, rng=rng)
    copies = [w.copy() for w in layers]
    ll.gradient_flow(loss, layers, T_EVAL)
    ll.gradient_flow(loss, W0.copy(), T_EVAL, depth=2)
    for w, c in zip(layers, copies, strict=True):
        np.testing.assert_array_equal(w, c)


def test_flow_with_another_solver_gives_the_same_trajectory(regression):
    loss, W0 = regression
    reference = ll.gradient_flow(loss, W0, T_EVAL, depth=2)
    other = ll.gradient_flow(loss, W0, T_EVAL, depth=2, method="RK45")
    assert other.info["method"] == "RK45"
    assert max_relative_difference(other.end_to_end, reference.end_to_end) <= 1e-7


# ---------------------------------------------------------------------------------------------
# gradient_flow: solver failure


def test_integration_error_is_a_runtime_error():
    assert issubclass(ll.IntegrationError, RuntimeError)


@pytest.mark.parametrize(
    "init, kwargs",
    [(np.eye(2), {"depth": 1}), (np.eye(2), {"depth": 2}), ([np.eye(2), np.eye(2)], {})],
    ids=["end-to-end depth 1", "end-to-end depth 2", "per-layer depth 2"],
)
def test_flow_raises_integration_error_when_the_trajectory_blows_up(init, kwargs):
    with pytest.raises(ll.IntegrationError):
        ll.gradient_flow(CubicBlowUp((2, 2)), init, [0.0, 1.0], **kwargs)


# ---------------------------------------------------------------------------------------------
# gradient_flow: errors


@pytest.mark.parametrize(
    "bad_t",
    [
        [],
        [[0.0, 1.0]],
        [0.0, 2.0, 1.0],
        [0.0, 1.0, 1.0],
        [-1.0, 1.0],
        [0.0],
        [0.0, np.nan],
        [0.0, np.inf],
    ],
    ids=["empty", "2-D", "decreasing", "repeated", "negative start", "ends at 0", "nan", "inf"],
)
def test_flow_rejects_bad_t_eval(regression, bad_t):
    loss, W0 = regression
    with pytest.raises(ValueError, match="t_eval"):
        ll.gradient_flow(loss, W0, bad_t, depth=2)


def test_flow_rejects_matrix_init_without_depth(regression):
    loss, W0 = regression
    with pytest.raises(ValueError, match="depth"):
        ll.gradient_flow(loss, W0, T_EVAL)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "2"])
def test_flow_rejects_bad_depth_for_matrix_init(regression, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match="depth"):
        ll.gradient_flow(loss, W0, T_EVAL, depth=bad)


@pytest.mark.parametrize("bad", [3, 0, 2.5, True])
def test_flow_rejects_depth_that_disagrees_with_the_layers(regression, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match="depth"):
        ll.gradient_flow(loss, ll.balanced_init(W0, 2), T_EVAL, depth=bad)


def test_flow_accepts_depth_equal_to_the_number_of_layers(regression):
    loss, W0 = regression
    result = ll.gradient_flow(loss, ll.balanced_init(W0, 2), [0.5], depth=2)
    assert result.depth == 2


def test_flow_rejects_loss_of_wrong_shape_for_matrix_init(regression):
    loss, _ = regression
    with pytest.raises(ValueError, match="loss"):
        ll.gradient_flow(loss, np.ones((4, 3)), T_EVAL, depth=2)


def test_flow_rejects_loss_of_wrong_shape_for_layer_init(regression, rng):
    loss, _ = regression
    with pytest.raises(ValueError, match="loss"):
        ll.gradient_flow(loss, ll.gaussian_init([4, 2, 2], 1.0, rng), T_EVAL)


def test_flow_rejects_loss_without_value_and_grad(regression):
    _, W0 = regression
    with pytest.raises(ValueError, match="loss"):
        ll.gradient_flow(object(), W0, T_EVAL, depth=2)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_flow_rejects_non_finite_matrix_init(regression, bad):
    loss, W0 = regression
    W0 = W0.copy()
    W0[2, 1] = bad
    with pytest.raises(ValueError, match="init"):
        ll.gradient_flow(loss, W0, T_EVAL, depth=2)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_flow_rejects_non_finite_layer_init(regression, bad):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2)
    layers[1][0, 0] = bad
    with pytest.raises(ValueError, match=r"init\[1\]"):
        ll.gradient_flow(loss, layers, T_EVAL)


def test_flow_rejects_layers_that_do_not_chain(regression):
    loss, _ = regression
    with pytest.raises(ValueError, match="init"):
        ll.gradient_flow(loss, [np.ones((2, 4)), np.ones((3, 3))], T_EVAL)


def test_flow_rejects_empty_layer_list(regression):
    loss, _ = regression
    with pytest.raises(ValueError, match="init"):
        ll.gradient_flow(loss, [], T_EVAL)


def test_flow_rejects_unknown_method(regression):
    loss, W0 = regression
    with pytest.raises(ValueError, match="method"):
        ll.gradient_flow(loss, W0, T_EVAL, depth=2, method="euler")


@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("bad", [0.0, -1e-8, np.nan, "1e-8"])
def test_flow_rejects_non_positive_tolerances(regression, name, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match=name):
        ll.gradient_flow(loss, W0, T_EVAL, depth=2, **{name: bad})


# ---------------------------------------------------------------------------------------------
# gradient_descent


def test_descent_single_step_is_layer_minus_lr_times_gradient(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 3], 0.5, rng)
    lr = 0.05
    G = loss.grad(layers[1] @ layers[0])
    expected = [
        layers[0] - lr * layers[1].T @ G,
        layers[1] - lr * G @ layers[0].T,
    ]
    result = ll.gradient_descent(loss, layers, lr, 1)
    for j in range(2):
        np.testing.assert_allclose(result.weights[j][1], expected[j], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(result.end_to_end[1], expected[1] @ expected[0], rtol=1e-13)


def test_descent_error_to_the_flow_halves_when_the_step_halves(rng):
    Y = rng.standard_normal((3, 2))
    loss = ll.SquareLoss.to_target(Y)
    layers = ll.balanced_init(0.3 * rng.standard_normal((3, 2)), 3, (4, 4), rng=rng)
    T = 1.0
    flow_end = ll.gradient_flow(loss, layers, [T]).end_to_end[-1]
    errors = []
    for lr in (0.02, 0.01, 0.005):
        descent = ll.gradient_descent(loss, layers, lr, round(T / lr))
        errors.append(ll.relative_difference(descent.end_to_end[-1], flow_end))
    assert errors[-1] < 1e-2
    ratios = [coarse / fine for coarse, fine in zip(errors[:-1], errors[1:], strict=True)]
    assert all(1.8 < ratio < 2.2 for ratio in ratios)  # first-order method: error ~ lr


def test_descent_with_huge_step_sets_diverged_and_keeps_only_finite_records(rng):
    loss = ll.SquareLoss.to_target(rng.standard_normal((3, 3)))
    result = ll.gradient_descent(loss, ll.balanced_init(0.5 * np.eye(3), 3), lr=100.0, steps=50)
    assert result.diverged is True
    assert result.steps[-1] < 50
    assert np.all(np.isfinite(result.loss))
    assert np.all(np.isfinite(result.end_to_end))
    assert np.all(np.isfinite(result.singular_values))
    assert all(np.all(np.isfinite(w)) for w in result.weights)


def test_descent_with_small_step_does_not_diverge(regression, rng):
    loss, W0 = regression
    result = ll.gradient_descent(loss, ll.balanced_init(W0, 2, rng=rng), 0.01, 20)
    assert result.diverged is False
    assert result.loss[-1] < result.loss[0]


def test_descent_records_every_kth_step_and_always_the_last(regression, rng):
    loss, W0 = regression
    result = ll.gradient_descent(loss, ll.balanced_init(W0, 2, rng=rng), 0.01, 10, record_every=3)
    np.testing.assert_array_equal(result.steps, [0, 3, 6, 9, 10])
    assert result.end_to_end.shape[0] == result.loss.shape[0] == 5


def test_descent_record_every_does_not_change_the_trajectory(regression, rng):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2, rng=rng)
    every = ll.gradient_descent(loss, layers, 0.01, 10)
    sparse = ll.gradient_descent(loss, layers, 0.01, 10, record_every=5)
    np.testing.assert_array_equal(sparse.end_to_end, every.end_to_end[[0, 5, 10]])


def test_descent_with_zero_steps_records_only_the_init(regression, rng):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2, rng=rng)
    result = ll.gradient_descent(loss, layers, 0.1, 0)
    np.testing.assert_array_equal(result.steps, [0])
    np.testing.assert_array_equal(result.t, [0.0])
    np.testing.assert_allclose(result.end_to_end[0], ll.end_to_end(layers), rtol=1e-15)
    assert result.diverged is False


def test_descent_time_axis_is_step_times_lr(regression, rng):
    loss, W0 = regression
    result = ll.gradient_descent(loss, ll.balanced_init(W0, 2, rng=rng), 0.03, 7, record_every=2)
    np.testing.assert_array_equal(result.t, result.steps * 0.03)
    assert result.t[-1] == pytest.approx(7 * 0.03)


def test_descent_result_shapes(regression, rng):
    loss, _ = regression
    result = ll.gradient_descent(loss, ll.gaussian_init([4, 5, 6, 3], 0.5, rng), 0.01, 4)
    assert result.t.shape == result.loss.shape == result.steps.shape == (5,)
    assert result.end_to_end.shape == (5, 3, 4)
    assert result.singular_values.shape == (5, 3)
    assert [w.shape for w in result.weights] == [(5, 5, 4), (5, 6, 5), (5, 3, 6)]
    assert result.depth == 3


def test_descent_does_not_modify_the_given_weights(regression, rng):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2, rng=rng)
    copies = [w.copy() for w in layers]
    ll.gradient_descent(loss, layers, 0.05, 3)
    for w, c in zip(layers, copies, strict=True):
        np.testing.assert_array_equal(w, c)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, np.nan, np.inf, "0.1", True])
def test_descent_rejects_bad_lr(regression, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match="lr"):
        ll.gradient_descent(loss, ll.balanced_init(W0, 2), bad, 5)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "5", None])
def test_descent_rejects_bad_steps(regression, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match="steps"):
        ll.gradient_descent(loss, ll.balanced_init(W0, 2), 0.1, bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_descent_rejects_bad_record_every(regression, bad):
    loss, W0 = regression
    with pytest.raises(ValueError, match="record_every"):
        ll.gradient_descent(loss, ll.balanced_init(W0, 2), 0.1, 5, record_every=bad)


def test_descent_rejects_empty_weights(regression):
    loss, _ = regression
    with pytest.raises(ValueError, match="weights"):
        ll.gradient_descent(loss, [], 0.1, 5)


def test_descent_rejects_layers_that_do_not_chain(regression):
    loss, _ = regression
    with pytest.raises(ValueError, match="weights"):
        ll.gradient_descent(loss, [np.ones((2, 4)), np.ones((3, 3))], 0.1, 5)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_descent_rejects_non_finite_weights(regression, bad):
    loss, W0 = regression
    layers = ll.balanced_init(W0, 2)
    layers[0][0, 0] = bad
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        ll.gradient_descent(loss, layers, 0.1, 5)


def test_descent_rejects_loss_of_wrong_shape(regression, rng):
    loss, _ = regression
    with pytest.raises(ValueError, match="loss"):
        ll.gradient_descent(loss, ll.gaussian_init([3, 2, 4], 1.0, rng), 0.1, 5)


def test_descent_rejects_loss_without_value_and_grad(regression):
    _, W0 = regression
    with pytest.raises(ValueError, match="loss"):
        ll.gradient_descent("square", ll.balanced_init(W0, 2), 0.1, 5)


# ---------------------------------------------------------------------------------------------
# TrainingResult


def test_training_result_layers_at_returns_the_layers_of_a_record(regression, rng):
    loss, _ = regression
    layers = ll.gaussian_init([4, 5, 3], 0.5, rng)
    result = ll.gradient_descent(loss, layers, 0.01, 3)
    first = result.layers_at(0)
    assert isinstance(first, list) and len(first) == 2
    for w, initial in zip(first, layers, strict=True):
        np.testing.assert_array_equal(w, initial)
    np.testing.assert_array_equal(result.layers_at(-1)[1], result.weights[1][-1])


def test_training_result_layers_at_rejects_end_to_end_runs(regression):
    loss, W0 = regression
    result = ll.gradient_flow(loss, W0, [0.5], depth=2)
    with pytest.raises(ValueError, match="per-layer"):
        result.layers_at(0)


def test_training_result_can_be_built_directly():
    result = ll.TrainingResult(
        t=np.zeros(1),
        end_to_end=np.zeros((1, 2, 2)),
        loss=np.zeros(1),
        singular_values=np.zeros((1, 2)),
        depth=1,
    )
    assert result.weights is None and result.steps is None
    assert result.diverged is False and result.info == {}


def test_gradient_descent_stop_loss_stops_at_first_step_below():
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))
    full = ll.gradient_descent(loss, [np.array([[0.0]])], 0.1, 200)
    first = int(np.argmax(full.loss <= 1e-3))
    stopped = ll.gradient_descent(
        loss, [np.array([[0.0]])], 0.1, 200, record_every=50, stop_loss=1e-3
    )
    assert stopped.steps[-1] == first
    assert stopped.loss[-1] <= 1e-3 < stopped.loss[-2]


def test_gradient_descent_stop_loss_validated():
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))
    with pytest.raises(ValueError, match="stop_loss"):
        ll.gradient_descent(loss, [np.array([[0.0]])], 0.1, 5, stop_loss=np.nan)
