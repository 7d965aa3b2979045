"""Tests of linnet_lib.tensor: CP factorisation, tensor completion loss and its gradients, training,
and the readings of a run (component norms, crossings, staircase margin)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import linnet_lib as ll  # noqa: E402
from linnet_lib import tensor as tn  # noqa: E402


def outer(*vectors):
    out = np.array(1.0)
    for x in vectors:
        out = np.multiply.outer(out, x)
    return out


def explicit_cp(factors):
    R = factors[0].shape[1]
    return sum(outer(*[A[:, r] for A in factors]) for r in range(R))


def fd_factor_grads(loss, factors, h=1e-6):
    grads = []
    for n, A in enumerate(factors):
        G = np.zeros_like(A)
        for idx in np.ndindex(A.shape):
            plus = [B.copy() for B in factors]
            minus = [B.copy() for B in factors]
            plus[n][idx] += h
            minus[n][idx] -= h
            G[idx] = (loss.factor_value(plus) - loss.factor_value(minus)) / (2 * h)
        grads.append(G)
    return grads


@st.composite
def completion_problems(draw):
    """A random loss with N in {2, 3, 4}, dimensions 1..4, R in 1..4, and factors of scale 0.3..2."""
    N = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(N))
    R = draw(st.integers(1, 4))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = int(np.prod(shape))
    m = draw(st.integers(1, size))
    target = gen.standard_normal(shape)
    loss = tn.TensorCompletionLoss.observe(target, m, rng=gen)
    scale = draw(st.sampled_from([0.3, 1.0, 2.0]))
    factors = [scale * gen.standard_normal((d, R)) for d in shape]
    return loss, factors


# ---- the model ----------------------------------------------------------------------------------


def test_cp_tensor_matches_outer_products_and_the_matrix_case(rng):
    factors = [rng.standard_normal((d, 4)) for d in (3, 2, 5)]
    assert np.allclose(tn.cp_tensor(factors), explicit_cp(factors))
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
    assert np.allclose(tn.cp_tensor([A, B]), A @ B.T)
    four = [rng.standard_normal((2, 3)) for _ in range(4)]
    assert np.allclose(tn.cp_tensor(four), explicit_cp(four))


def test_component_norms_are_norms_of_the_rank_one_terms(rng):
    factors = [rng.standard_normal((d, 5)) for d in (3, 4, 2)]
    expected = [np.linalg.norm(outer(*[A[:, r] for A in factors])) for r in range(5)]
    assert np.allclose(tn.component_norms(factors), expected)


def test_balanced_keeps_the_tensor_and_equalises_factor_norms(rng):
    factors = [rng.standard_normal((d, 4)) * s for d, s in ((3, 0.1), (4, 3.0), (5, 1.0))]
    factors[1][:, 2] = 0.0  # a zero component
    out = tn.balanced(factors)
    assert np.allclose(tn.cp_tensor(out), tn.cp_tensor(factors))
    assert np.allclose(tn.component_norms(out), tn.component_norms(factors))
    norms = np.array([np.linalg.norm(A, axis=0) for A in out])
    assert np.allclose(norms, norms[0])
    assert np.all(norms[:, 2] == 0)


def test_random_factors_are_seeded_with_the_given_scale():
    a = tn.random_factors((30, 40, 50), 20, 0.01, rng=3)
    b = tn.random_factors((30, 40, 50), 20, 0.01, rng=3)
    assert [A.shape for A in a] == [(30, 20), (40, 20), (50, 20)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.std(np.concatenate([A.ravel() for A in a])) == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize("weights", [None, (1.0, 0.5, 0.25)])
def test_low_rank_tensor_is_normalised_seeded_and_of_the_rank(weights):
    T = tn.low_rank_tensor((5, 6, 7), 3, rng=0, weights=weights)
    assert T.shape == (5, 6, 7)
    assert np.linalg.norm(T) == pytest.approx(np.sqrt(5 * 6 * 7))
    assert np.array_equal(T, tn.low_rank_tensor((5, 6, 7), 3, rng=0, weights=weights))
    # each unfolding of a generic rank-3 CP tensor has matrix rank 3
    for mode in range(3):
        unfolding = np.moveaxis(T, mode, 0).reshape(T.shape[mode], -1)
        assert np.linalg.matrix_rank(unfolding) == 3
    assert np.linalg.norm(tn.low_rank_tensor((4, 4, 4), 2, rng=1, frobenius=2.0)) == pytest.approx(
        2
    )


def test_weights_are_the_component_norms_before_rescaling():
    w = np.array([3.0, 1.0])
    T = tn.low_rank_tensor((6, 6, 6), 2, rng=5, weights=w, frobenius=1.0)
    # rebuild the unit components from the same stream and fit their two coefficients
    gen = np.random.default_rng(5)
    mats = [gen.standard_normal((6, 2)) for _ in range(3)]
    mats = [A / np.linalg.norm(A, axis=0) for A in mats]
    comps = np.array([outer(*[A[:, r] for A in mats]).ravel() for r in range(2)]).T
    coef = np.linalg.lstsq(comps, T.ravel(), rcond=None)[0]
    assert coef[0] / coef[1] == pytest.approx(3.0)


def test_network_output_on_one_hot_inputs_reads_entries(rng):
    shape, R = (3, 4, 2), 5
    factors = [rng.standard_normal((d, R)) for d in shape]
    W = tn.cp_tensor(factors)
    idx = np.array(list(np.ndindex(shape)))
    inputs = [np.eye(d)[idx[:, n]] for n, d in enumerate(shape)]
    assert np.allclose(tn.network_output(factors, inputs), W[tuple(idx.T)])
    xs = [rng.standard_normal((7, d)) for d in shape]
    expected = [np.sum(W * outer(*[x[k] for x in xs])) for k in range(7)]
    assert np.allclose(tn.network_output(factors, xs), expected)


# ---- the loss -----------------------------------------------------------------------------------


def test_loss_value_and_dense_gradient(rng, numerical_gradient):
    target = rng.standard_normal((3, 4, 2))
    loss = tn.TensorCompletionLoss.observe(target, 10, rng=rng)
    W = rng.standard_normal((3, 4, 2))
    idx = loss.indices
    expected = sum((W[tuple(i)] - y) ** 2 for i, y in zip(idx, loss.values, strict=True)) / 20
    assert loss.value(W) == pytest.approx(expected)
    assert loss.value(target) == 0.0
    assert loss.mask().sum() == 10
    assert np.all(loss.values == target[loss.mask()][np.argsort(np.argsort(loss._flat))])
    # finite differences on the tensor, through a matrix reshape for the shared helper
    G = numerical_gradient(lambda M: loss.value(M.reshape(3, 4, 2)), W.reshape(3, 8))
    assert ll.relative_difference(loss.grad(W), G.reshape(3, 4, 2)) < 1e-7


@pytest.mark.parametrize("shape", [(3, 4), (3, 2, 4), (2, 3, 2, 2)])
def test_factor_gradients_match_finite_differences(rng, shape):
    target = tn.low_rank_tensor(shape, 2, rng=rng)
    loss = tn.TensorCompletionLoss.observe(target, int(np.prod(shape)) // 2, rng=rng)
    factors = [rng.standard_normal((d, 3)) for d in shape]
    W = tn.cp_tensor(factors)
    assert loss.factor_value(factors) == pytest.approx(loss.value(W))
    grads = loss.factor_grads(factors)
    fd = fd_factor_grads(loss, factors)
    for G, F in zip(grads, fd, strict=True):
        assert ll.relative_difference(G, F) < 1e-7
    # chain rule: contraction of the dense gradient with the other factors
    dense = loss.grad(W)
    modes = "abcd"[: len(shape)]
    for n in range(len(shape)):
        others = [f"{m}z" for k, m in enumerate(modes) if k != n]
        spec = modes + "," + ",".join(others) + f"->{modes[n]}z"
        mats = [A for k, A in enumerate(factors) if k != n]
        assert np.allclose(grads[n], np.einsum(spec, dense, *mats))


@given(completion_problems())
def test_factor_gradients_property(problem):
    loss, factors = problem
    for G, F in zip(loss.factor_grads(factors), fd_factor_grads(loss, factors), strict=True):
        assert np.allclose(G, F, rtol=1e-5, atol=1e-7)


def test_component_push_is_the_projected_negative_gradient(rng):
    target = tn.low_rank_tensor((3, 4, 5), 2, rng=rng)
    loss = tn.TensorCompletionLoss.observe(target, 30, rng=rng)
    factors = [rng.standard_normal((d, 4)) for d in (3, 4, 5)]
    factors[0][:, 3] = 0.0
    G = loss.grad(tn.cp_tensor(factors))
    push = loss.component_push(factors)
    for r in range(3):
        comp = outer(*[A[:, r] for A in factors])
        assert push[r] == pytest.approx(-np.sum(G * comp) / np.linalg.norm(comp))
    assert np.isnan(push[3])


def test_relative_error(rng):
    T = rng.standard_normal((3, 3, 3))
    W = T + 0.1 * rng.standard_normal((3, 3, 3))
    assert tn.relative_error(W, T) == pytest.approx(np.linalg.norm(W - T) / np.linalg.norm(T))
    mask = np.zeros((3, 3, 3), dtype=bool)
    mask[0] = True
    assert tn.relative_error(W, T, mask) == pytest.approx(
        np.linalg.norm((W - T)[0]) / np.linalg.norm(T[0])
    )


# ---- training -----------------------------------------------------------------------------------


def test_gradient_descent_records_and_decreases_the_loss():
    target = tn.low_rank_tensor((4, 4, 4), 1, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 40, rng=1)
    init = tn.random_factors((4, 4, 4), 3, 0.5, rng=2)
    copy = [A.copy() for A in init]
    run = tn.gradient_descent(loss, init, 0.05, 101, record_every=25, target=target)
    assert list(run.steps) == [0, 25, 50, 75, 100, 101]
    assert run.component_norms.shape == (6, 3)
    assert np.allclose(run.component_norms[0], tn.component_norms(init))
    assert run.loss[0] == pytest.approx(loss.factor_value(init))
    assert run.loss[-1] == pytest.approx(loss.factor_value(run.factors))
    assert np.all(np.diff(run.loss) < 0)
    assert run.error.shape == run.unobserved_error.shape == (6,)
    assert run.error[-1] == pytest.approx(tn.relative_error(tn.cp_tensor(run.factors), target))
    assert all(np.array_equal(a, b) for a, b in zip(init, copy, strict=True))
    assert not run.diverged
    no_target = tn.gradient_descent(loss, init, 0.05, 3)
    assert no_target.error is None and no_target.unobserved_error is None


def test_gradient_descent_one_step_is_the_update(rng):
    target = rng.standard_normal((3, 2, 3))
    loss = tn.TensorCompletionLoss.observe(target, 9, rng=rng)
    init = [rng.standard_normal((d, 2)) for d in (3, 2, 3)]
    run = tn.gradient_descent(loss, init, 0.1, 1)
    expected = [A - 0.1 * G for A, G in zip(init, loss.factor_grads(init), strict=True)]
    assert all(np.allclose(a, b) for a, b in zip(run.factors, expected, strict=True))


def test_gradient_descent_flags_divergence():
    target = tn.low_rank_tensor((3, 3, 3), 1, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 20, rng=1)
    init = tn.random_factors((3, 3, 3), 2, 3.0, rng=2)
    with np.errstate(over="ignore", invalid="ignore"):
        run = tn.gradient_descent(loss, init, 50.0, 200)
    assert run.diverged
    assert np.all(np.isfinite(run.loss))


def test_gradient_flow_conserves_factor_norm_differences_and_matches_small_steps():
    target = tn.low_rank_tensor((4, 3, 5), 2, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 30, rng=1)
    init = tn.random_factors((4, 3, 5), 3, 0.5, rng=2)
    traj = tn.gradient_flow(loss, init, [0.0, 1.0, 2.0])
    assert [X.shape for X in traj] == [(3, 4, 3), (3, 3, 3), (3, 5, 3)]
    sq = np.array([np.sum(X**2, axis=1) for X in traj])  # (N, T, R)
    assert not np.allclose(sq[0, -1], sq[0, 0], atol=1e-3)  # the norms do move
    assert np.allclose(sq[0] - sq[1], sq[0, :1] - sq[1, :1], atol=1e-8)
    assert np.allclose(sq[1] - sq[2], sq[1, :1] - sq[2, :1], atol=1e-8)
    run = tn.gradient_descent(loss, init, 1e-4, 20000, record_every=20000)
    for X, A in zip(traj, run.factors, strict=True):
        assert ll.relative_difference(X[-1], A) < 1e-3


def test_component_rate_formula_holds_along_a_balanced_flow():
    target = tn.low_rank_tensor((4, 4, 4), 2, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 40, rng=1)
    init = tn.balanced(tn.random_factors((4, 4, 4), 3, 0.5, rng=2))
    h = 1e-3
    traj = tn.gradient_flow(loss, init, [0.0, 0.5 - h, 0.5, 0.5 + h])
    states = [[X[k] for X in traj] for k in range(1, 4)]
    rho = [tn.component_norms(f) for f in states]
    rate = tn.component_rate(rho[1], loss.component_push(states[1]), 3)
    assert ll.relative_difference((rho[2] - rho[0]) / (2 * h), rate) < 1e-5
    assert np.allclose(tn.component_rate([2.0], [0.5], 2), [2.0])  # N = 2: 2 rho push
    same = tn.component_rate_from_factors(states[1], loss.component_push(states[1]))
    assert ll.relative_difference(same, rate) < 1e-12


def test_component_rate_from_factors_holds_from_an_unbalanced_start():
    target = tn.low_rank_tensor((4, 4, 4), 2, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 40, rng=1)
    bal = tn.balanced(tn.random_factors((4, 4, 4), 3, 0.5, rng=2))
    init = [bal[0] * 2.0, bal[1] * 0.5, bal[2]]  # same tensor, factor norms 4 : 1/4 : 1 squared
    h = 1e-3
    traj = tn.gradient_flow(loss, init, [0.0, 0.5 - h, 0.5, 0.5 + h])
    states = [[X[k] for X in traj] for k in range(1, 4)]
    rho = [tn.component_norms(f) for f in states]
    push = loss.component_push(states[1])
    general = tn.component_rate_from_factors(states[1], push)
    assert ll.relative_difference((rho[2] - rho[0]) / (2 * h), general) < 1e-5
    # the balanced formula understates the speed (arithmetic >= geometric mean)
    assert np.all(tn.component_rate(rho[1], push, 3) / general < 0.99)
    zero = [A.copy() for A in states[1]]
    zero[0][:, 0] = 0.0
    assert np.isnan(tn.component_rate_from_factors(zero, push)[0])


# ---- readings of a run --------------------------------------------------------------------------


def test_count_above():
    assert tn.count_above([3.0, 0.2, 1.0], 0.5) == 2
    assert list(tn.count_above([[0.1, 0.1], [1.0, 0.1], [1.0, 2.0]], 0.5)) == [0, 1, 2]


def test_crossing_steps_and_staircase_margin():
    steps = np.linspace(0.0, 100.0, 4001)
    # a staircase: component 0 rises around step 20, component 1 around 60; a third stays small
    rise = lambda s, c: 1.0 / (1.0 + np.exp(-(s - c)))  # noqa: E731
    stair = np.stack([2 * rise(steps, 20), rise(steps, 60), 0.01 + 0 * steps], axis=1)
    t50 = tn.crossing_steps(steps, stair, 2)
    assert np.allclose(t50, [20, 60], atol=0.1)
    margin = tn.staircase_margin(steps, stair, 2)
    # t_10(second) - t_90(first) = (60 - ln 9) - (20 + ln 9)
    assert margin == pytest.approx(40 - 2 * np.log(9), abs=0.01)
    together = np.stack([2 * rise(steps, 20), rise(steps, 22)], axis=1)
    assert tn.staircase_margin(steps, together, 2) < 0
    # rises are measured from the initial norm: components that start at half their final norm and
    # rise one after the other form a staircase (fractions of the final norm would put both at step 0)
    offset = np.stack([2 + 2 * rise(steps, 20), 1 + rise(steps, 60)], axis=1)
    assert np.all(tn.crossing_steps(steps, offset, 2, 0.1) == 0.0)
    assert tn.crossing_steps(steps, offset, 2, 0.5, from_start=True) == pytest.approx(
        [20, 60], abs=0.1
    )
    assert tn.staircase_margin(steps, offset, 2) == pytest.approx(40 - 2 * np.log(9), abs=0.01)
    # a component that shrinks has no rise
    shrink = np.stack([2 * rise(steps, 20), 1 - 0.5 * rise(steps, 60)], axis=1)
    assert np.isnan(tn.crossing_steps(steps, shrink, 2, 0.5, from_start=True)[1])
    assert np.isnan(tn.staircase_margin(steps, shrink, 2))


def test_completion_experiment_is_seeded_and_scale_only_rescales():
    a = tn.completion_experiment((4, 4, 4), (1.0, 0.5), 30, scale=0.1, steps=5, seed=3)
    b = tn.completion_experiment((4, 4, 4), (1.0, 0.5), 30, scale=0.2, steps=5, seed=3)
    c = tn.completion_experiment((4, 4, 4), (1.0, 0.5), 40, scale=0.1, steps=5, seed=3)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[1], c[1])
    assert np.allclose(b[0].component_norms[0], 8 * a[0].component_norms[0])
    assert np.allclose(c[0].component_norms[0], a[0].component_norms[0])
    assert a[2].count == 30 and c[2].count == 40


def test_plots_draw():
    run, _, _ = tn.completion_experiment((4, 4, 4), (1.0, 0.5), 30, steps=20, record_every=5)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    tn.plot_component_norms(ax1, run, threshold=0.1, title="t")
    twin = tn.plot_count_and_error(ax2, run, 0.1, label="small")
    assert len(ax1.lines) == 11 and len(twin.lines) == 1
    plt.close(fig)


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factors, name",
    [
        (np.ones((3, 2)), "factors"),
        ([np.ones((3, 2))], "factors"),
        ([np.ones((3, 2)), np.ones((3, 3))], "factors"),
        ([np.ones((3, 2)), np.ones(3)], r"factors\[1\]"),
        ([np.ones((3, 2)), np.full((3, 2), np.nan)], r"factors\[1\]"),
    ],
)
def test_bad_factors(factors, name):
    with pytest.raises(ValueError, match=name):
        tn.cp_tensor(factors)
    with pytest.raises(ValueError, match=name):
        tn.component_norms(factors)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tn.random_factors((3,), 2, 0.1), "shape"),
        (lambda: tn.random_factors((3, 0, 2), 2, 0.1), r"shape\[1\]"),
        (lambda: tn.random_factors("abc", 2, 0.1), "shape"),
        (lambda: tn.random_factors((3, 3), 0, 0.1), "components"),
        (lambda: tn.random_factors((3, 3), 2, -0.1), "scale"),
        (lambda: tn.low_rank_tensor((3, 3, 3), 4), "rank"),
        (lambda: tn.low_rank_tensor((3, 3, 3), 0), "rank"),
        (lambda: tn.low_rank_tensor((3, 3, 3), 2, weights=(1.0, -1.0)), "weights"),
        (lambda: tn.low_rank_tensor((3, 3, 3), 2, weights=(1.0,)), "weights"),
        (lambda: tn.low_rank_tensor((3, 3, 3), 2, frobenius=0.0), "frobenius"),
        (lambda: tn.network_output([np.ones((2, 1))] * 2, [np.ones((1, 2))]), "inputs"),
        (lambda: tn.network_output([np.ones((2, 1))] * 2, [np.ones((1, 3))] * 2), r"inputs\[0\]"),
        (lambda: tn.component_rate([1.0], [1.0, 2.0], 3), "norms and push"),
        (lambda: tn.component_rate([1.0], [1.0], 0), "order"),
        (lambda: tn.component_rate_from_factors([np.ones((2, 2))] * 3, [1.0]), "push"),
        (lambda: tn.count_above([[[1.0]]], 0.5), "norms"),
        (lambda: tn.count_above([1.0], -1.0), "threshold"),
        (lambda: tn.crossing_steps([0, 1], np.ones((2, 2)), 3), "top"),
        (lambda: tn.crossing_steps([0, 1, 2], np.ones((2, 2)), 1), "steps"),
        (lambda: tn.crossing_steps([0, 1], np.ones((2, 2)), 1, fraction=1.5), "fraction"),
        (lambda: tn.staircase_margin([0, 1], np.ones((2, 2)), 1), "top"),
        (lambda: tn.completion_experiment((3, 3, 3), (), 5), "weights"),
        (lambda: tn.completion_experiment((3, 3, 3), (1.0,), 5, seed=-1), "seed"),
        (lambda: tn.completion_experiment((3, 3, 3), (1.0,), 28), "count"),
        (lambda: tn.plot_component_norms(None, "run"), "run"),
        (lambda: tn.relative_error(np.ones((2, 2)), np.ones((2, 3))), "W"),
        (lambda: tn.relative_error(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2))), "mask"),
        (lambda: tn.relative_error(np.ones((2, 2)), np.zeros((2, 2))), "target"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _loss():
    return tn.TensorCompletionLoss((2, 3, 2), [[0, 0, 0], [1, 2, 1]], [1.0, 2.0])


@pytest.mark.parametrize(
    "args, name",
    [
        (((2,), [[0]], [1.0]), "shape"),
        (((2, 3), [[0, 0, 0]], [1.0]), "indices"),
        (((2, 3), np.zeros((0, 2), dtype=int), []), "indices"),
        (((2, 3), [[0.0, 1.0]], [1.0]), "indices"),
        (((2, 3), [[2, 0]], [1.0]), "indices"),
        (((2, 3), [[-1, 0]], [1.0]), "indices"),
        (((2, 3), [[1, 0], [1, 0]], [1.0, 2.0]), "distinct"),
        (((2, 3), [[1, 0]], [1.0, 2.0]), "values"),
        (((2, 3), [[1, 0]], [np.inf]), "values"),
    ],
)
def test_bad_loss_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        tn.TensorCompletionLoss(*args)


def test_bad_loss_calls():
    loss = _loss()
    with pytest.raises(ValueError, match="W"):
        loss.value(np.ones((2, 3)))
    with pytest.raises(ValueError, match="W"):
        loss.grad(np.full((2, 3, 2), np.nan))
    with pytest.raises(ValueError, match="factors"):
        loss.factor_grads([np.ones((2, 1)), np.ones((3, 1)), np.ones((3, 1))])
    with pytest.raises(ValueError, match="count"):
        tn.TensorCompletionLoss.observe(np.ones((2, 2)), 5)
    with pytest.raises(ValueError, match="target"):
        tn.TensorCompletionLoss.observe(np.ones(4), 2)
    init = [np.ones((2, 1)), np.ones((3, 1)), np.ones((2, 1))]
    with pytest.raises(ValueError, match="loss"):
        tn.gradient_descent("loss", init, 0.1, 1)
    with pytest.raises(ValueError, match="lr"):
        tn.gradient_descent(loss, init, 0.0, 1)
    with pytest.raises(ValueError, match="steps"):
        tn.gradient_descent(loss, init, 0.1, 0)
    with pytest.raises(ValueError, match="record_every"):
        tn.gradient_descent(loss, init, 0.1, 1, record_every=0)
    with pytest.raises(ValueError, match="target"):
        tn.gradient_descent(loss, init, 0.1, 1, target=np.ones((2, 2)))
    with pytest.raises(ValueError, match="t_eval"):
        tn.gradient_flow(loss, init, [1.0, 0.0])
    with pytest.raises(ValueError, match="loss"):
        tn.gradient_flow(None, init, [0.0, 1.0])


# ---- several problems at once -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3, 5), (3, 4), (3, 2, 2, 3)])
def test_gradient_descent_batch_gives_each_problem_its_own_iterates(shape):
    problems = []
    for seed in range(3):
        target = tn.low_rank_tensor(shape, 1, rng=seed)
        loss = tn.TensorCompletionLoss.observe(target, 12, rng=seed + 10)
        init = tn.random_factors(shape, 3, 0.3 + 0.1 * seed, rng=seed + 20)
        problems.append((target, loss, init))
    runs = tn.gradient_descent_batch(
        [p[1] for p in problems],
        [p[2] for p in problems],
        0.05,
        37,
        record_every=10,
        targets=[p[0] for p in problems],
    )
    for (target, loss, init), run in zip(problems, runs, strict=True):
        alone = tn.gradient_descent(loss, init, 0.05, 37, record_every=10, target=target)
        assert np.array_equal(alone.steps, run.steps)
        assert np.allclose(alone.component_norms, run.component_norms, rtol=1e-13, atol=0)
        assert np.allclose(alone.loss, run.loss, rtol=1e-12, atol=0)
        assert np.allclose(alone.unobserved_error, run.unobserved_error, rtol=1e-12, equal_nan=True)
        for A, B in zip(alone.factors, run.factors, strict=True):
            assert np.allclose(A, B, rtol=1e-13, atol=1e-15)


def test_gradient_descent_batch_stops_a_diverging_problem_only():
    target = tn.low_rank_tensor((3, 3, 3), 1, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 20, rng=1)
    calm = tn.random_factors((3, 3, 3), 2, 0.1, rng=2)
    wild = tn.random_factors((3, 3, 3), 2, 3.0, rng=2)
    with np.errstate(over="ignore", invalid="ignore"):
        runs = tn.gradient_descent_batch([loss, loss], [calm, wild], 2.0, 200, record_every=50)
    assert not runs[0].diverged and runs[1].diverged
    assert list(runs[0].steps) == [0, 50, 100, 150, 200]
    assert np.all(np.isfinite(runs[1].loss))


def test_gradient_descent_batch_errors():
    target = tn.low_rank_tensor((3, 3, 3), 1, rng=0)
    loss = tn.TensorCompletionLoss.observe(target, 20, rng=1)
    other = tn.TensorCompletionLoss.observe(target, 21, rng=1)
    init = tn.random_factors((3, 3, 3), 2, 0.1, rng=2)
    with pytest.raises(ValueError, match="losses"):
        tn.gradient_descent_batch(loss, [init], 0.1, 2)
    with pytest.raises(ValueError, match="losses\\[1\\]"):
        tn.gradient_descent_batch([loss, other], [init, init], 0.1, 2)
    with pytest.raises(ValueError, match="factors"):
        tn.gradient_descent_batch([loss], [init, init], 0.1, 2)
    with pytest.raises(ValueError, match="components"):
        tn.gradient_descent_batch(
            [loss, loss], [init, tn.random_factors((3, 3, 3), 3, 0.1, rng=2)], 0.1, 2
        )
    with pytest.raises(ValueError, match="targets"):
        tn.gradient_descent_batch([loss], [init], 0.1, 2, targets=[target, target])


def test_completion_experiments_match_completion_experiment():
    settings = [(0.1, 3), (0.3, 4)]
    both = tn.completion_experiments((4, 4, 4), (1.0, 0.5), 30, settings, steps=25, record_every=5)
    for (scale, seed), (run, target, loss) in zip(settings, both, strict=True):
        alone, target_alone, loss_alone = tn.completion_experiment(
            (4, 4, 4), (1.0, 0.5), 30, scale=scale, steps=25, record_every=5, seed=seed
        )
        assert np.array_equal(target, target_alone)
        assert np.array_equal(loss.indices, loss_alone.indices)
        assert np.allclose(run.component_norms, alone.component_norms, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="settings"):
        tn.completion_experiments((4, 4, 4), (1.0,), 30, [])
    with pytest.raises(ValueError, match="settings\\[0\\]"):
        tn.completion_experiments((4, 4, 4), (1.0,), 30, [(0.1,)])
    with pytest.raises(ValueError, match="scale"):
        tn.completion_experiments((4, 4, 4), (1.0,), 30, [(0.0, 1)])


def test_level_steps():
    steps = np.array([0, 10, 20, 30])
    norms = np.array([[0.0, 5.0], [1.0, 5.0], [3.0, 6.0], [4.0, 7.0]])
    assert tn.level_steps(steps, norms, [0, 1], [2.0, 5.5]) == pytest.approx([15.0, 15.0])
    assert tn.level_steps(steps, norms, [1], [1.0]) == pytest.approx([0.0])
    assert np.isnan(tn.level_steps(steps, norms, [0], [10.0])[0])
    with pytest.raises(ValueError, match="components"):
        tn.level_steps(steps, norms, [2], [1.0])
    with pytest.raises(ValueError, match="levels"):
        tn.level_steps(steps, norms, [0, 1], [1.0])
    with pytest.raises(ValueError, match="steps"):
        tn.level_steps(steps[:2], norms, [0], [1.0])
