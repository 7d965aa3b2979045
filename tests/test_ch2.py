"""Tests of linnet_lib.ch2, the experiments of Chapter 2 (sections 2.1-2.3)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402

ch2 = ll.ch2


def test_flatten_unflatten_roundtrip():
    net = ll.gaussian_init([2, 3, 4], 1.0, 0)
    theta = ch2.flatten(net)
    assert theta.size == 6 + 12
    back = ch2.unflatten(theta, [w.shape for w in net])
    assert all(np.array_equal(a, b) for a, b in zip(net, back, strict=True))


def test_unflatten_rejects_wrong_length():
    with pytest.raises(ValueError, match="theta"):
        ch2.unflatten(np.zeros(5), [(2, 2)])


def test_phi_gradient_matches_layer_gradients():
    loss = ll.SquareLoss.to_target(np.eye(2))
    net = ll.gaussian_init([2, 2, 2], 1.0, 1)
    grads = ll.layer_gradients(net, loss.grad(ll.end_to_end(net)))
    assert np.allclose(ch2.phi_gradient(loss, net), np.concatenate([g.ravel() for g in grads]))


def test_phi_hessian_depth_one_is_identity_for_target_loss():
    loss = ll.SquareLoss.to_target(np.ones((2, 2)))
    H = ch2.phi_hessian(loss, [np.zeros((2, 2))])
    assert np.allclose(H, np.eye(4), atol=1e-8)


def test_phi_hessian_depth_two_spectrum_at_origin():
    Y = np.diag([2.0, 1.0])
    loss = ll.SquareLoss.to_target(Y)
    eig = np.linalg.eigvalsh(ch2.phi_hessian(loss, [np.zeros((1, 2)), np.zeros((2, 1))]))
    assert np.allclose(eig, [-2, -1, 1, 2], atol=1e-8)


def test_phi_hessian_validates_step():
    loss = ll.SquareLoss.to_target(np.eye(2))
    with pytest.raises(ValueError, match="step"):
        ch2.phi_hessian(loss, [np.eye(2)], step=0.0)


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (2, 2)])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_proof_curve_product_and_norm(shape, depth):
    W = np.random.default_rng(2).standard_normal(shape)
    net = ch2.proof_curve(W, depth)
    assert ll.relative_difference(ll.end_to_end(net), W) < 1e-12
    k = min(shape)
    expected = np.sqrt(1 + (depth - 1) * k) * np.linalg.norm(W) ** (1 / depth)
    assert np.linalg.norm(ch2.flatten(net)) == pytest.approx(expected)


def test_proof_curve_validates():
    with pytest.raises(ValueError, match="depth"):
        ch2.proof_curve(np.eye(2), 1)
    with pytest.raises(ValueError, match="non-zero"):
        ch2.proof_curve(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="hidden_dims"):
        ch2.proof_curve(np.eye(2), 3, hidden_dims=[1, 2])


def test_escape_times_depth_one_is_ln2_over_2():
    times = ch2.escape_times(np.eye(2), [0.1, 0.01], (1,))
    assert np.allclose(times[1], np.log(2) / 2, rtol=1e-4)


def test_escape_times_grow_with_depth_and_smaller_scale():
    times = ch2.escape_times(np.diag([1.0, 0.5]), [1e-1, 1e-3], (2, 3))
    assert times[2][1] > times[2][0]
    assert times[3][1] > times[2][1]


def test_escape_times_validates():
    with pytest.raises(ValueError, match="scales"):
        ch2.escape_times(np.eye(2), [0.0], (2,))
    with pytest.raises(ValueError, match="fraction"):
        ch2.escape_times(np.eye(2), [0.1], (2,), fraction=0.0)


def test_phi_along_ray_is_order_n():
    loss = ll.SquareLoss.to_target(np.eye(2))
    direction = [np.eye(2)] * 3
    values = ch2.phi_along_ray(loss, direction, [1e-2, 2e-2])
    assert values[1] / values[0] == pytest.approx(8, rel=1e-3)


def test_whitened_regression_moments():
    target = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    X, Y = ch2.whitened_regression(target, 30, rng=0)
    Lxx, _, Lyx = ch2.covariances(X, Y)
    assert np.allclose(Lxx, np.eye(3))
    assert np.allclose(Lyx, target)


def test_whitened_regression_validates():
    with pytest.raises(ValueError, match="samples"):
        ch2.whitened_regression(np.eye(3), 3)
    with pytest.raises(ValueError, match="target"):
        ch2.whitened_regression(np.ones(3), 10)


def test_covariances_validate_columns():
    with pytest.raises(ValueError, match="columns"):
        ch2.covariances(np.ones((2, 3)), np.ones((1, 4)))


def test_distance_to_deficient_formula():
    assert ch2.distance_to_deficient(np.diag([3.0, 2.0, 1.0]), 0.5) == pytest.approx(0.5)
    assert ch2.distance_to_deficient(np.diag([3.0, 2.0, 1.0]), 2.0) == 0.0
    with pytest.raises(ValueError, match="delta"):
        ch2.distance_to_deficient(np.eye(2), 0.0)


def test_margin_whitened_sign():
    target = np.diag([2.0, 1.0])
    assert ch2.margin_whitened(target, target) == pytest.approx(1.0)
    assert ch2.margin_whitened(-target, target) < 0
    with pytest.raises(ValueError, match="target"):
        ch2.margin_whitened(np.eye(2), np.eye(3))


def test_theorem2_bound_values_and_validation():
    bound = ch2.theorem2_bound(2.0, 1.0, 1.0, 3, [0.0, 1.0])
    assert bound[0] == 2.0
    assert bound[1] == pytest.approx(2.0 * np.exp(-2.0))
    with pytest.raises(ValueError, match="alpha"):
        ch2.theorem2_bound(1.0, 0.0, 1.0, 2, [0.0])
    with pytest.raises(ValueError, match="depth"):
        ch2.theorem2_bound(1.0, 1.0, 1.0, 0, [0.0])


def test_start_at_distance_and_balanced_network_near():
    target = np.diag([2.0, 1.0])
    W = ch2.start_at_distance(target, 0.3, rng=0)
    assert np.linalg.norm(W - target) == pytest.approx(0.3)
    net = ch2.balanced_network_near(target, 0.3, 3, rng=1)
    assert np.linalg.norm(ll.end_to_end(net) - target) == pytest.approx(0.3)
    assert ll.unbalancedness(net) < 1e-12
    with pytest.raises(ValueError, match="distance"):
        ch2.start_at_distance(target, -1.0)


def test_fitted_rate_recovers_exponential():
    t = np.linspace(0, 5, 20)
    assert ch2.fitted_rate(t, 3 * np.exp(-1.7 * t)) == pytest.approx(1.7)
    with pytest.raises(ValueError, match="gap"):
        ch2.fitted_rate([0.0, 1.0], [0.0, 0.0])


def test_descent_vs_flow_distance_shrinks_with_step():
    loss = ll.SquareLoss.to_target(np.diag([1.0, 0.5]))
    net = ll.balanced_init(np.diag([0.3, 0.2]), 2)
    d1 = ch2.descent_vs_flow(loss, net, 0.1, 2.0)[2]
    d2 = ch2.descent_vs_flow(loss, net, 0.05, 2.0)[2]
    assert 1.5 < d1 / d2 < 2.6


def test_descent_vs_flow_reports_divergence():
    loss = ll.SquareLoss.to_target(np.diag([1.0, 0.5]))
    net = ll.balanced_init(np.diag([0.3, 0.2]), 2)
    descent, flow, distance = ch2.descent_vs_flow(loss, net, 5.0, 50.0)
    assert descent.diverged and flow is None and distance == float("inf")


def test_remark2_constants():
    target = np.eye(2) * 2.0
    n, delta = 3, 0.5
    norm = np.linalg.norm(target)
    assert ch2.remark2_step_size(target, delta, n) == pytest.approx(
        delta ** (10 / 3) / (6144 * 27 * norm ** (14 / 3))
    )
    assert ch2.remark2_unbalancedness(target, delta, n) == pytest.approx(
        delta**2 / (256 * 27 * norm ** (4 / 3))
    )
    with pytest.raises(ValueError, match="delta"):
        ch2.remark2_step_size(target, -1.0, 2)


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3, 3), (1, 2)])
@pytest.mark.parametrize("depth", [2, 3])
def test_asymptotic_rate_is_twice_smallest_preconditioner_eigenvalue(shape, depth):
    target = np.random.default_rng(3).standard_normal(shape)
    eigenvalues, _ = ll.preconditioner_eigen(target, depth)
    assert ch2.asymptotic_rate(target, depth) == pytest.approx(2 * eigenvalues.min())


def test_asymptotic_rate_validates():
    with pytest.raises(ValueError, match="depth"):
        ch2.asymptotic_rate(np.eye(2), 0)
    with pytest.raises(ValueError, match="target"):
        ch2.asymptotic_rate(np.ones(3), 2)


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (1, 2)])
def test_tight_start_is_along_the_slowest_direction(shape):
    target = np.random.default_rng(4).standard_normal(shape)
    W = ch2.tight_start(target, 0.01)
    assert np.linalg.norm(W - target) == pytest.approx(0.01)
    # the gap is an eigenvector of P(target) for its smallest eigenvalue
    G = (W - target) / 0.01
    velocity = ll.end_to_end_velocity(target, G, 3)
    assert np.allclose(velocity, ch2.asymptotic_rate(target, 3) / 2 * G)


def test_tight_start_validates():
    with pytest.raises(ValueError, match="square"):
        ch2.tight_start(np.eye(2), 0.1)
    with pytest.raises(ValueError, match="distance"):
        ch2.tight_start(np.ones((1, 2)), -0.1)


def test_unbalanced_copy_hits_the_level_and_keeps_the_product():
    net = ll.balanced_init(np.array([[1.0, 0.5, -0.2], [0.3, 0.8, 0.1]]), 3, rng=0)
    copy = ch2.unbalanced_copy(net, 1e-3, rng=1)
    assert ll.unbalancedness(copy) == pytest.approx(1e-3, rel=1e-9)
    assert ll.relative_difference(ll.end_to_end(copy), ll.end_to_end(net)) < 1e-12


def test_unbalanced_copy_validates():
    net = ll.balanced_init(np.eye(2), 2)
    with pytest.raises(ValueError, match="unbalancedness"):
        ch2.unbalanced_copy(net, 0.0)
    with pytest.raises(ValueError, match="two layers"):
        ch2.unbalanced_copy([np.eye(2)], 0.1)
    with pytest.raises(ValueError, match="out of reach"):
        ch2.unbalanced_copy(net, 1e6, rng=0)


def test_descent_to_target_matches_gradient_descent():
    target = np.array([[1.0, -0.5, 0.2], [0.3, 0.4, 0.9]])
    net = ll.gaussian_init([3, 4, 4, 2], 0.5, 2)
    loss = ll.SquareLoss.to_target(target)
    generic = ll.gradient_descent(loss, net, 0.05, 40, record_every=7)
    fast = ch2.descent_to_target(target, net, 0.05, 40, record_every=7)
    assert np.array_equal(generic.steps, fast.steps)
    assert np.allclose(generic.end_to_end, fast.end_to_end, rtol=1e-13, atol=1e-14)
    assert np.allclose(generic.loss, fast.loss, rtol=1e-12)
    assert np.allclose(generic.t, fast.t)


def test_descent_to_target_reports_divergence_and_validates():
    target = np.ones((1, 1))
    run = ch2.descent_to_target(target, [np.full((1, 1), 2.0)] * 2, 5.0, 100)
    assert run.diverged and np.all(np.isfinite(run.loss))
    with pytest.raises(ValueError, match="shape of target"):
        ch2.descent_to_target(np.ones((2, 2)), [np.eye(3)], 0.1, 1)
    with pytest.raises(ValueError, match="lr"):
        ch2.descent_to_target(target, [np.eye(1)], 0.0, 1)


def test_plot_functions_draw():
    fig, ax = plt.subplots()
    ch2.plot_escape_times(ax, [0.1, 0.01], {2: np.array([1.0, 2.0])})
    t = np.linspace(0, 1, 5)
    ch2.plot_gap_vs_bound(ax, t, {2: np.exp(-t)}, {2: np.exp(-0.5 * t)})
    loss = ll.SquareLoss.to_target(np.eye(2))
    net = ll.balanced_init(0.5 * np.eye(2), 2)
    descent, flow, _ = ch2.descent_vs_flow(loss, net, 0.1, 1.0)
    ch2.plot_descent_vs_flow(
        ax, flow, {0.1: descent}, minimum=0.0, diverged={0.2: descent}, bound_lr=1e-9
    )
    ch2.plot_phi_along_rays(ax, [0.1, 0.2], {2: np.array([-0.01, -0.04])})
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Du & Hu figures (sections 2.4 and 2.5)


def _dh_data_and_net():
    X, Y = ll.width.spectrum_data(5, 9, rank=3, kappa=4.0, d_out=2, rng=1, noise=0.1)
    return X, Y, ll.width.gaussian_network(5, 6, 2, 4, 2)


def test_dh_plot_functions_draw():
    X, Y, net = _dh_data_and_net()
    run = ll.width.descent(X, Y, net, ll.width.dh_step_size(X, 4, 2), 10, track_preconditioner=True)
    fig, axes = plt.subplots(3, 3)
    ax = axes.ravel()
    ch2.plot_norm_histograms(ax[0], {"a": np.array([0.5, 1.0, 2.0])})
    ch2.plot_gap_curves(ax[1], {"run": run.loss}, rate=0.9)
    ch2.plot_iterations_vs_depth(
        ax[2], [1, 2], np.array([[1.0, 2.0], [3.0, np.inf]]), np.ones((2, 2)), 10.0, "wide"
    )
    ch2.plot_bands(ax[3], {k: v[None] for k, v in ll.width.band_ratios(net, X).items()}, "t")
    ch2.plot_lazy(ax[4], ax[5], run, 5.0)
    ch2.plot_relative_movement(ax[6], [8, 16, 32], [0.4, 0.3, 0.2])
    ch2.plot_preconditioner(ax[7], {"run": (run.lam_min, run.lam_max)}, 0.3, 3.0)
    ch2.plot_distances(ax[8], {"run": run})
    assert all(ax.has_data() for ax in axes.ravel())
    plt.close(fig)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda ax, run: ch2.plot_norm_histograms(ax, {}), "ratios"),
        (lambda ax, run: ch2.plot_norm_histograms(ax, {"a": [-1.0, 1.0]}), "ratios"),
        (lambda ax, run: ch2.plot_gap_curves(ax, {"a": [[1.0]]}), "curves"),
        (lambda ax, run: ch2.plot_gap_curves(ax, {"a": [1.0]}, rate=-0.5), "rate"),
        (
            lambda ax, run: ch2.plot_iterations_vs_depth(
                ax, [1], np.ones((2, 2)), np.ones((1, 2)), 1.0, "w"
            ),
            "narrow",
        ),
        (
            lambda ax, run: ch2.plot_iterations_vs_depth(
                ax, [1], np.ones((1, 2)), np.ones((1, 2)), 0.0, "w"
            ),
            "guarantee",
        ),
        (lambda ax, run: ch2.plot_bands(ax, {"outer_max": 1}, "t"), "ratios"),
        (lambda ax, run: ch2.plot_lazy(ax, ax, "run", 1.0), "run"),
        (lambda ax, run: ch2.plot_lazy(ax, ax, run, 0.0), "radius"),
        (lambda ax, run: ch2.plot_relative_movement(ax, [1, 2], [1.0]), "widths"),
        (lambda ax, run: ch2.plot_preconditioner(ax, {}, 0.3, 3.0), "runs"),
        (lambda ax, run: ch2.plot_preconditioner(ax, {"a": ([1.0], [2.0])}, 0.0, 3.0), "low"),
        (lambda ax, run: ch2.plot_distances(ax, {}), "runs"),
        (lambda ax, run: ch2.plot_distances(ax, {"a": "run"}), "runs"),
        (lambda ax, run: ch2.plot_distances(ax, {"a": run}, radii={"b": 1.0}), "radii"),
        (lambda ax, run: ch2.plot_distances(ax, {"a": run}, radii={"a": 0.0}), "radii"),
    ],
)
def test_dh_plot_functions_validate(call, name):
    X, Y, net = _dh_data_and_net()
    run = ll.width.descent(X, Y, net, 0.01, 2)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=name):
        call(ax, run)
    plt.close(fig)


def test_lazy_sweep_records_every_run():
    X, Y = ll.width.spectrum_data(6, 10, rank=1, kappa=1.0, d_out=2, rng=3, noise=0.1)
    X, Y, _ = ll.width.reduce_data(X, Y)
    sweep = ch2.lazy_sweep(X, Y, (16, 32), 3, 2, 5)
    assert list(sweep["width"]) == [16, 16, 32, 32]
    assert set(sweep["runs"]) == {16, 32}
    run, radius = sweep["runs"][16]
    assert sweep["distance"][0] == pytest.approx(run.distance.max())
    assert radius == pytest.approx(ll.width.induction_radius(X, 3, 2, run.loss[0]))
    assert np.all(sweep["distance"] <= sweep["radius"]) and np.all(sweep["steps"] > 0)
    assert all(sweep[k].shape == (4,) for k in ("15", "16", "17", "movement", "P_change"))
    again = ch2.lazy_sweep(X, Y, (16, 32), 3, 2, 5)
    assert np.array_equal(again["loss0"], sweep["loss0"])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"widths": []}, "widths"),
        ({"widths": (16,), "depth": 2}, "depth"),
        ({"widths": (16,), "inits": 0}, "inits"),
    ],
)
def test_lazy_sweep_validates(kwargs, name):
    X, Y = ll.width.spectrum_data(6, 10, rank=1, kappa=1.0, d_out=2, rng=3)
    args = {"widths": (16,), "depth": 3, "inits": 1} | kwargs
    with pytest.raises(ValueError, match=name):
        ch2.lazy_sweep(X, Y, args["widths"], args["depth"], args["inits"], 0)
