"""Tests of linnet_lib.width, the Du & Hu (2019) half of Chapter 2."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import comb
from scipy.stats import chi2
from strategies import NON_FINITE

import linnet_lib as ll

W = ll.width


@pytest.fixture
def data():
    """Data with rank 3 < d_in = 5 < n = 9, condition number 4, d_out = 2, noisy labels."""
    return W.spectrum_data(5, 9, rank=3, kappa=4.0, d_out=2, rng=1, noise=0.1)


@pytest.fixture
def net():
    return W.gaussian_network(5, 6, 2, 4, 2)


# ---------------------------------------------------------------------------------------------
# Set-up


@given(width=st.integers(1, 50), depth=st.integers(1, 6), d_out=st.integers(1, 5))
def test_xavier_factor_formula(width, depth, d_out):
    assert W.xavier_factor(width, depth, d_out) == pytest.approx(
        1 / math.sqrt(width ** (depth - 1) * d_out)
    )


@pytest.mark.parametrize(
    "args, name",
    [((0, 2, 1), "width"), ((3, 0, 1), "depth"), ((3, 2, 0), "d_out"), ((3.5, 2, 1), "width")],
)
def test_xavier_factor_validates(args, name):
    with pytest.raises(ValueError, match=name):
        W.xavier_factor(*args)


def test_gaussian_network_shapes_and_factor():
    layers = W.gaussian_network(3, 7, 2, 4, 0)
    assert [w.shape for w in layers] == [(7, 3), (7, 7), (7, 7), (2, 7)]
    assert W.network_factor(layers) == pytest.approx(W.xavier_factor(7, 4, 2))
    assert [w.shape for w in W.gaussian_network(3, 7, 2, 1, 0)] == [(2, 3)]
    assert W.network_factor(W.gaussian_network(3, 7, 2, 1, 0)) == pytest.approx(2**-0.5)


def test_gaussian_network_is_standard_normal():
    entries = np.concatenate([w.ravel() for w in W.gaussian_network(4, 60, 3, 3, 5)])
    assert abs(entries.mean()) < 0.05
    assert entries.std() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0, 3, 2, 2), "d_in"),
        ((3, 0, 2, 2), "width"),
        ((3, 3, 0, 2), "d_out"),
        ((3, 3, 2, 0), "depth"),
    ],
)
def test_gaussian_network_validates(args, name):
    with pytest.raises(ValueError, match=name):
        W.gaussian_network(*args, rng=0)


def test_network_factor_rejects_unequal_widths():
    layers = [np.ones((3, 2)), np.ones((4, 3)), np.ones((1, 4))]
    with pytest.raises(ValueError, match="same width"):
        W.network_factor(layers)


def test_objective_prediction_and_loss_agree(data, net):
    X, Y = data
    loss = W.objective(X, Y, 6, 4)
    U = W.predictions(net, X)
    assert U.shape == (2, 9)
    value = 0.5 * np.sum((U - Y) ** 2)
    assert loss.value(ll.end_to_end(net)) == pytest.approx(value, rel=1e-12)
    assert W.network_loss(net, X, Y) == pytest.approx(value, rel=1e-12)


def test_predictions_and_loss_validate(data, net):
    X, Y = data
    with pytest.raises(ValueError, match="X"):
        W.predictions(net, X[:4])
    with pytest.raises(ValueError, match="Y"):
        W.network_loss(net, X, Y[:, :3])
    with pytest.raises(ValueError, match="X"):
        W.objective(np.ones(3), Y, 6, 4)


def test_spectrum_data_rank_and_condition():
    X, Y = W.spectrum_data(6, 11, rank=4, kappa=25.0, d_out=3, rng=3, target_norm=2.0)
    r, kappa = W.rank_and_condition(X)
    assert (r, X.shape, Y.shape) == (4, (6, 11), (3, 11))
    assert kappa == pytest.approx(25.0, rel=1e-10)
    phi, opt = W.least_squares(X, Y)
    assert opt == pytest.approx(0.0, abs=1e-20)  # noiseless labels are reachable
    assert np.linalg.norm(phi, 2) <= 2.0 + 1e-10  # Phi is the minimal-norm fit of Phi_0 X


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rank": 7}, "rank"),
        ({"kappa": 0.5}, "kappa"),
        ({"noise": -1.0}, "noise"),
        ({"target_norm": -1.0}, "target_norm"),
        ({"n": 0}, "n"),
    ],
)
def test_spectrum_data_validates(kwargs, name):
    args = {"d_in": 4, "n": 6, "rank": 2, "kappa": 2.0, "d_out": 1, "rng": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        W.spectrum_data(**args)


def test_rank_and_condition_rejects_zero_and_bad_input():
    with pytest.raises(ValueError, match="non-zero"):
        W.rank_and_condition(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="X"):
        W.rank_and_condition(np.array([1.0, np.nan]))


def test_least_squares_matches_lstsq(data):
    X, Y = data
    phi, opt = W.least_squares(X, Y)
    reference = np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T
    assert opt == pytest.approx(0.5 * np.sum((reference @ X - Y) ** 2), rel=1e-10)
    assert np.allclose(phi @ X, reference @ X)
    with pytest.raises(ValueError, match="Y"):
        W.least_squares(X, Y[:, :4])


def test_reduce_data_keeps_the_objective_up_to_opt(data, net):
    X, Y = data
    X_red, Y_red, opt = W.reduce_data(X, Y)
    phi, opt_ls = W.least_squares(X, Y)
    assert X_red.shape == (5, 3) and Y_red.shape == (2, 3)
    assert opt == pytest.approx(opt_ls, rel=1e-10)
    assert np.allclose(Y_red, phi @ X_red)
    gap = W.network_loss(net, X, Y) - W.network_loss(net, X_red, Y_red)
    assert gap == pytest.approx(opt, rel=1e-9)
    for a, b in zip(
        W.gradient_formula(net, X, Y), W.gradient_formula(net, X_red, Y_red), strict=True
    ):
        assert np.allclose(a, b, atol=1e-12)
    with pytest.raises(ValueError, match="Y"):
        W.reduce_data(X, Y.T)


def test_step_size_rate_and_radius(data):
    X, _ = data
    eta = W.dh_step_size(X, 4, 2)
    assert eta == pytest.approx(2 / (3 * 4 * np.linalg.norm(X, 2) ** 2))
    assert W.rate_factor(X, 4, 2, eta) == pytest.approx(1 - 1 / (12 * 4.0))
    sigma = np.linalg.svd(X, compute_uv=False)
    expected = 24 * math.sqrt(2.5 * 2) * sigma[0] / (4 * sigma[2] ** 2)
    assert W.induction_radius(X, 4, 2, 2.5) == pytest.approx(expected)


def test_width_requirement(data):
    X, Y = data
    r, kappa = W.rank_and_condition(X)
    phi, _ = W.least_squares(X, Y)
    first = r * kappa**3 * 2 * (1 + np.linalg.norm(phi, 2) ** 2)
    second = r * kappa**3 * math.log(r / 0.1)
    assert W.width_requirement(X, Y, 4, 0.1) == pytest.approx(4 * max(first, second, math.log(4)))
    assert W.width_requirement(X, Y, 4, 0.1, constant=3.0) == pytest.approx(
        3 * W.width_requirement(X, Y, 4, 0.1)
    )


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda X: W.dh_step_size(X, 0, 2), "depth"),
        (lambda X: W.rate_factor(X, 2, 2, 0.0), "lr"),
        (lambda X: W.rate_factor(X, 2, 0, 0.1), "d_out"),
        (lambda X: W.induction_radius(X, 2, 2, -1.0), "loss_bound"),
        (lambda X: W.width_requirement(X, X[:2], 2, 1.0), "delta"),
        (lambda X: W.width_requirement(X, X[:2], 2, 0.1, constant=0.0), "constant"),
        (lambda X: W.width_requirement(X, X[:2, :3], 2, 0.1), "Y"),
    ],
)
def test_step_size_rate_and_radius_validate(data, call, name):
    with pytest.raises(ValueError, match=name):
        call(data[0])


# ---------------------------------------------------------------------------------------------
# Monte Carlo


def test_gaussian_products_shape_and_second_moment():
    v = np.array([0.6, 0.8])
    draws = W.gaussian_products(v, [2, 30, 3], 4000, 0, batch=500)
    assert draws.shape == (4000, 3, 1)
    # E ||A_2 A_1 v||^2 = 3 * 30 * ||v||^2
    mean, low, high = ll.stats.mean_interval(np.sum(draws**2, axis=(1, 2)) / 90, level=0.999)
    assert low <= 1.0 <= high and mean == pytest.approx(1.0, abs=0.1)


def test_gaussian_products_matrix_input_and_determinism():
    V = np.eye(3)[:, :2]
    a = W.gaussian_products(V, [3, 4, 4], 5, 7)
    b = W.gaussian_products(V, [3, 4, 4], 5, np.random.default_rng(7))
    assert a.shape == (5, 4, 2) and np.array_equal(a, b)


@pytest.mark.parametrize(
    "V, dims, draws, name",
    [
        (np.ones(3), [2, 4], 5, "V"),
        (np.ones(2), [2], 5, "dims"),
        (np.ones(2), [2, 0], 5, "dims"),
        (np.ones(2), [2, 3], 0, "draws"),
        ("ab", [2, 3], 5, "V"),
        (np.array([1.0, np.inf]), [2, 3], 5, "V"),
    ],
)
def test_gaussian_products_validates(V, dims, draws, name):
    with pytest.raises(ValueError, match=name):
        W.gaussian_products(V, dims, draws, 0)


def test_expected_log_gain_matches_monte_carlo():
    x = np.array([1.0, 0.0, 0.0])
    draws = W.gaussian_products(x, [3, 4, 4, 2], 6000, 11)
    logs = np.log(np.sum(draws**2, axis=(1, 2)) * W.xavier_factor(4, 3, 2) ** 2)
    mean, low, high = ll.stats.mean_interval(logs, level=0.999)
    assert low <= W.expected_log_gain(4, 3, 2) <= high
    # width 1: each hidden layer contributes digamma(1/2) + log 2 = -1.2704
    assert W.expected_log_gain(1, 5, 1) == pytest.approx(5 * -1.27036284546, rel=1e-9)
    with pytest.raises(ValueError, match="width"):
        W.expected_log_gain(0, 2, 1)


def test_initial_losses_mean(data):
    X, Y = data
    losses = W.initial_losses(X, Y, 8, 3, 3000, 4)
    _, low, high = ll.stats.mean_interval(losses, level=0.999)
    assert low <= 0.5 * (np.sum(X**2) + np.sum(Y**2)) <= high
    with pytest.raises(ValueError, match="draws"):
        W.initial_losses(X, Y, 8, 3, 0, 4)
    with pytest.raises(ValueError, match="Y"):
        W.initial_losses(X, Y[:, :2], 8, 3, 5, 4)


# ---------------------------------------------------------------------------------------------
# The proof's objects


def test_gradient_formula_matches_library_and_finite_differences(data, net, numerical_gradient):
    X, Y = data
    formula = W.gradient_formula(net, X, Y)
    library = ll.layer_gradients(net, W.objective(X, Y, 6, 4).grad(ll.end_to_end(net)))
    for a, b in zip(formula, library, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)

    def loss_of_first_layer(first):
        return W.network_loss([first, *net[1:]], X, Y)

    assert np.allclose(numerical_gradient(loss_of_first_layer, net[0]), formula[0], atol=1e-6)


def test_preconditioner_matches_jacobian_gram_and_velocity(data, net):
    X, Y = data
    P = W.preconditioner_matrix(net, X)
    J = W.output_jacobian(net, X)
    assert J.shape == (2 * 9, sum(w.size for w in net))
    assert np.allclose(P, J @ J.T, rtol=1e-6, atol=1e-8)
    assert np.linalg.eigvalsh(P)[0] >= -1e-10 * np.abs(P).max()


def test_preconditioner_bounds_bracket_the_spectrum(data):
    X, _ = data
    gen = np.random.default_rng(3)
    for depth in (1, 2, 4):
        layers = [gen.uniform(-1, 1, w.shape) for w in W.gaussian_network(5, 3, 2, depth, gen)]
        X_red = W.reduce_data(X, np.zeros((2, 9)))[0]
        lam = np.linalg.eigvalsh(W.preconditioner_matrix(layers, X_red))
        upper, lower = W.preconditioner_bounds(layers, X_red)
        assert lam[-1] <= upper * (1 + 1e-10)
        assert lam[0] >= lower * (1 - 1e-10)


def test_step_remainder_is_second_order(data, net):
    X, Y = data
    eta = W.dh_step_size(X, 4, 2)
    ratio = W.step_remainder(net, X, Y, eta) / W.step_remainder(net, X, Y, eta / 2)
    assert ratio == pytest.approx(4.0, rel=0.15)
    zero_P = np.zeros((18, 18))
    first_order = W.step_remainder(net, X, Y, eta, zero_P) / W.step_remainder(
        net, X, Y, eta / 2, zero_P
    )
    assert first_order == pytest.approx(2.0, rel=0.15)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda X, Y, n: W.step_remainder(n, X, Y, 0.0), "lr"),
        (lambda X, Y, n: W.step_remainder(n, X, Y, 0.1, np.eye(3)), "P"),
        (lambda X, Y, n: W.output_jacobian(n, X, step=0.0), "step"),
        (lambda X, Y, n: W.preconditioner_matrix(n, X[:2]), "X"),
        (lambda X, Y, n: W.preconditioner_bounds(n, X.T), "X"),
        (lambda X, Y, n: W.gradient_formula(n, X, Y[:1]), "Y"),
    ],
)
def test_proof_objects_validate(data, net, call, name):
    X, Y = data
    with pytest.raises(ValueError, match=name):
        call(X, Y, net)


def test_band_failure_one_layer_matches_simulation_and_decays():
    gen = np.random.default_rng(0)
    m = 50
    norms = np.linalg.norm(gen.standard_normal((20000, m)), axis=1) / math.sqrt(m)
    simulated = np.mean((norms < 0.9) | (norms > 1.1))
    assert W.band_failure_one_layer(m) == pytest.approx(simulated, abs=0.015)
    assert W.band_failure_one_layer(400) < W.band_failure_one_layer(100)
    with pytest.raises(ValueError, match="low"):
        W.band_failure_one_layer(10, 1.2, 1.1)
    with pytest.raises(ValueError, match="width"):
        W.band_failure_one_layer(0)


def _product_failure_by_quadrature(m, low=0.9, high=1.1):
    """P(Y1 Y2 outside [low^2, high^2]) for independent Yi ~ chi2_m / m, by adaptive quadrature."""
    density = lambda y: chi2.pdf(m * y, m) * m  # noqa: E731
    below = integrate.quad(
        lambda y: density(y) * chi2.cdf(m * low**2 / y, m), 0, np.inf, epsabs=0, epsrel=1e-11
    )[0]
    above = integrate.quad(
        lambda y: density(y) * chi2.sf(m * high**2 / y, m), 0, np.inf, epsabs=0, epsrel=1e-11
    )[0]
    return below + above


@pytest.mark.parametrize("m", [25, 400, 3000])
def test_band_failure_two_factors_matches_quadrature(m):
    assert W.band_failure(m, 2) == pytest.approx(_product_failure_by_quadrature(m), rel=1e-8)


def test_band_failure_matches_simulation_and_reduces_to_one_layer():
    assert W.band_failure(60, 1) == W.band_failure_one_layer(60)
    gen = np.random.default_rng(3)
    product = np.prod(gen.chisquare(40, (200000, 3)) / 40, axis=1)
    simulated = np.mean((product < 0.81) | (product > 1.21))
    assert W.band_failure(40, 3) == pytest.approx(simulated, abs=4 * math.sqrt(0.25 / 200000))
    # more factors at the same width fail more often; a finer grid changes nothing
    assert W.band_failure(100, 4) > W.band_failure(100, 2)
    assert W.band_failure(800, 4) == pytest.approx(W.band_failure(800, 4, resolution=32), rel=1e-9)


def test_band_failure_rate_limits_and_exact_increments():
    one = W.band_failure_rate(1)
    assert one == pytest.approx(min((x - 1 - math.log(x)) / 2 for x in (0.81, 1.21)))
    assert W.band_failure_rate(200) == pytest.approx(math.log(1.1) ** 2, rel=1e-2)
    assert W.band_failure_rate(4) < W.band_failure_rate(2) < one
    increment = (math.log(W.band_failure(8000, 2)) - math.log(W.band_failure(16000, 2))) / 4000
    assert increment == pytest.approx(W.band_failure_rate(2), rel=0.03)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: W.band_failure(0, 2), "width"),
        (lambda: W.band_failure(10, 0), "factors"),
        (lambda: W.band_failure(10, 2, 1.1, 0.9), "low"),
        (lambda: W.band_failure(10, 2, 0.0, 1.1), "low"),
        (lambda: W.band_failure(10, 2, resolution=2), "resolution"),
        (lambda: W.band_failure_rate(0), "factors"),
        (lambda: W.band_failure_rate(2, 1.0, 1.1), "low"),
    ],
)
def test_band_failure_validates(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_fuss_catalan_edge_values():
    assert W.fuss_catalan_edge(1) == pytest.approx(2.0)
    assert W.fuss_catalan_edge(2) == pytest.approx(math.sqrt(27 / 4))
    assert W.fuss_catalan_edge(10) < math.sqrt(math.e * 11)
    with pytest.raises(ValueError, match="k"):
        W.fuss_catalan_edge(0)


def test_band_ratios_of_a_scaled_identity_network():
    # Layers that are multiples of (partial) identities have exactly known singular values.
    m = 4
    layers = [
        math.sqrt(m) * np.eye(m)[:, :2],
        math.sqrt(m) * np.eye(m),
        math.sqrt(m) * np.eye(m)[:2],
    ]
    X = np.diag([2.0, 1.0])
    ratios = W.band_ratios(layers, X)
    for key in ("outer_max", "outer_min", "inner_max", "inner_min"):
        assert np.allclose(ratios[key], 1.0)
    assert ratios["outer_max"].shape == (2,) and ratios["inner_max"].shape == (2,)
    assert np.allclose(ratios["middle"], [[1.0, 1.0]])
    assert "middle" not in W.band_ratios(layers, X, middle=False)


def test_perturbation_ratios_and_relative_movement(net, data):
    X, _ = data
    assert W.perturbation_ratios(net, net, X) == {"15": 0.0, "16": 0.0, "17": 0.0}
    assert W.relative_movement(net, net) == 0.0
    moved = [w + 0.01 for w in net]
    ratios = W.perturbation_ratios(moved, net, X, middle=False)
    assert set(ratios) == {"15", "16"} and min(ratios.values()) > 0
    doubled = [2 * w for w in net]
    assert W.relative_movement(doubled, net) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same layer shapes"):
        W.perturbation_ratios(net[:2], net, X)
    with pytest.raises(ValueError, match="weights0"):
        W.relative_movement(net, [np.zeros_like(w) for w in net])


def test_relative_movement_of_large_layers_uses_exact_spectral_norms():
    gen = np.random.default_rng(4)
    start = [gen.standard_normal((300, 8)), gen.standard_normal((300, 300))]
    moved = [start[0], start[1] + np.outer(gen.standard_normal(300), gen.standard_normal(300))]
    expected = np.linalg.norm(moved[1] - start[1], 2) / np.linalg.norm(start[1], 2)
    assert W.relative_movement(moved, start) == pytest.approx(expected, rel=1e-9)
    assert W.relative_movement(start, start) == 0.0


@given(k=st.integers(1, 5), s=st.integers(0, 5))
def test_expansion_terms_count_binomially(k, s):
    gen = np.random.default_rng(k * 10 + s)
    factors = [gen.standard_normal((2, 2)) for _ in range(k)]
    deltas = [gen.standard_normal((2, 2)) for _ in range(k)]
    if s > k:
        with pytest.raises(ValueError, match="s must be at most"):
            W.expansion_terms(factors, deltas, s)
        return
    count, _ = W.expansion_terms(factors, deltas, s)
    assert count == comb(k, s, exact=True)


def test_expansion_terms_rebuild_the_product():
    gen = np.random.default_rng(2)
    factors = [
        gen.standard_normal((3, 2)),
        gen.standard_normal((3, 3)),
        gen.standard_normal((1, 3)),
    ]
    deltas = [gen.standard_normal(f.shape) for f in factors]
    total = sum(W.expansion_terms(factors, deltas, s)[1] for s in range(4))
    expected = ll.end_to_end([f + d for f, d in zip(factors, deltas, strict=True)])
    assert np.allclose(total, expected)
    with pytest.raises(ValueError, match="same shapes"):
        W.expansion_terms(factors, deltas[:2], 1)


# ---------------------------------------------------------------------------------------------
# Training


def test_descent_matches_library_gradient_descent(data, net):
    X, Y = data
    eta = W.dh_step_size(X, 4, 2)
    run = W.descent(X, Y, net, eta, 30, snapshots=[0, 30])
    reference = ll.gradient_descent(W.objective(X, Y, 6, 4), net, eta, 30)
    assert np.allclose(run.loss, reference.loss, rtol=1e-10)
    for a, b in zip(run.snapshots[30], reference.layers_at(-1), strict=True):
        assert np.allclose(a, b)
    assert run.steps == 30 and not run.diverged
    assert run.layer_distance.shape == (31, 4)
    assert np.allclose(run.distance, run.layer_distance.max(axis=1))
    assert run.residual[0] == pytest.approx(math.sqrt(2 * run.loss[0]))
    assert all(np.array_equal(a, b) for a, b in zip(run.snapshots[0], net, strict=True))
    assert all(
        np.array_equal(a, b) for a, b in zip(run.final_weights, run.snapshots[30], strict=True)
    )
    # the distances, updated from thin products at every step, match a direct computation
    direct = [np.linalg.norm(a - b) for a, b in zip(run.final_weights, net, strict=True)]
    assert np.allclose(run.layer_distance[-1], direct, rtol=1e-9)
    # the gradient bound of (14) is evaluated with the exact layer gradients
    grads = W.gradient_formula(net, X, Y)
    scale = 3 * math.sqrt(run.loss[0]) * np.linalg.norm(X, 2) / math.sqrt(2)
    assert run.gradient_ratio[0] == pytest.approx(max(np.linalg.norm(g) for g in grads) / scale)


def test_descent_tracks_preconditioner_and_remainder(data, net):
    X, Y = data
    eta = W.dh_step_size(X, 4, 2)
    run = W.descent(X, Y, net, eta, 5, track_preconditioner=True, track_error=True)
    lam = np.linalg.eigvalsh(W.preconditioner_matrix(net, X))
    assert run.lam_min[0] == pytest.approx(lam[0], abs=1e-12)
    assert run.lam_max[0] == pytest.approx(lam[-1])
    assert run.error_term[0] == pytest.approx(W.step_remainder(net, X, Y, eta), rel=1e-6)
    assert run.gradient_ratio.shape == (6,)


def test_descent_stops_early_and_detects_divergence(data, net):
    X, Y = data
    _, opt = W.least_squares(X, Y)
    eta = W.dh_step_size(X, 4, 2)
    wide = W.gaussian_network(5, 64, 2, 3, 0)
    run = W.descent(X, Y, wide, W.dh_step_size(X, 3, 2), 5000, opt=opt, stop_gap=1e-3)
    assert run.steps < 5000
    assert W.iterations_to(run.loss, 1e-3, opt) == run.steps
    blown = W.descent(X, Y, net, 1e3 * eta, 100)
    assert blown.diverged and blown.steps < 100
    # a diverged run keeps its last finite iterate
    last = W.descent(X, Y, net, 1e3 * eta, blown.steps, snapshots=[blown.steps])
    for a, b in zip(blown.final_weights, last.snapshots[blown.steps], strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr": 0.0}, "lr"),
        ({"steps": -1}, "steps"),
        ({"opt": -1.0}, "opt"),
        ({"stop_gap": 0.0}, "stop_gap"),
        ({"snapshots": [-1]}, "snapshots"),
    ],
)
def test_descent_validates(data, net, kwargs, name):
    X, Y = data
    args = {"lr": 0.01, "steps": 3} | kwargs
    with pytest.raises(ValueError, match=name):
        W.descent(X, Y, net, **args)


def test_descent_rejects_mismatched_data(data, net):
    X, Y = data
    with pytest.raises(ValueError, match="Y"):
        W.descent(X, Y[:1], net, 0.01, 3)
    with pytest.raises(ValueError, match="X"):
        W.descent(X[:3], Y, net, 0.01, 3)


def test_iterations_to():
    loss = np.array([3.0, 2.0, 1.5, 1.1, 1.01])
    assert W.iterations_to(loss, 0.25, opt=1.0) == 2.0
    assert W.iterations_to(loss, 1e-6, opt=1.0) == math.inf
    for bad, name in ((np.ones((2, 2)), "loss"), (["x"], "loss")):
        with pytest.raises(ValueError, match=name):
            W.iterations_to(bad, 0.1)
    with pytest.raises(ValueError, match="eps"):
        W.iterations_to(loss, 0.0)


def test_chain_iterations_agree_with_library_descent():
    depth, eps = 3, 1e-3
    counts = W.chain_iterations(depth, 4, eps, 400, 9)
    gen = np.random.default_rng(9)
    w = gen.standard_normal((4, depth))
    loss = ll.SquareLoss(np.ones((1, 1)), np.ones((1, 1)))
    for k in range(4):
        init = [np.array([[value]]) for value in w[k]]
        run = ll.gradient_descent(loss, init, 1 / (3 * depth), 400)
        expected = W.iterations_to(run.loss, eps)
        assert counts[k] == expected


def test_chain_iterations_marks_unfinished_and_validates():
    counts = W.chain_iterations(6, 8, 1e-12, 3, 0)
    assert np.all(np.isinf(counts))
    for kwargs, name in (({"x": 0.0}, "x"), ({"lr": -1.0}, "lr")):
        with pytest.raises(ValueError, match=name):
            W.chain_iterations(2, 2, 0.1, 10, 0, **kwargs)
    with pytest.raises(ValueError, match="eps"):
        W.chain_iterations(2, 2, 0.0, 10, 0)
    with pytest.raises(ValueError, match="max_steps"):
        W.chain_iterations(2, 2, 0.1, 0, 0)


def test_network_iterations(data):
    X, Y = data
    counts = W.network_iterations(X, Y, 32, 2, 2, 1e-3, 3000, 0)
    assert counts.shape == (2,) and np.all(np.isfinite(counts))
    with pytest.raises(ValueError, match="lr_multiplier"):
        W.network_iterations(X, Y, 32, 2, 2, 1e-3, 10, 0, lr_multiplier=0.0)
    with pytest.raises(ValueError, match="seeds"):
        W.network_iterations(X, Y, 32, 2, 0, 1e-3, 10, 0)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_non_finite_data_rejected(bad, net):
    X = np.ones((5, 3))
    X[0, 0] = bad
    with pytest.raises(ValueError, match="X"):
        W.predictions(net, X)
