"""Unit tests of linnet_lib.stable_set and of the section-5.2 recipes of linnet_lib.ch5."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import linnet_lib as ll
from linnet_lib import ch5, whitened
from linnet_lib import stable_set as st


@pytest.fixture(scope="module")
def problem():
    X, Y = st.gapped_problem(30, 4, 3, 0.3, rng=1)
    Z = whitened.target(X, Y)
    return X, Y, Z, whitened.leading_triplet(Z)


# ----------------------------------------------------------------------------------------------
# rank_one_parts, alignment, stable_set_margins (the API shared with section 5.3)


def test_rank_one_parts_and_alignment_do_not_depend_on_the_sign_convention(problem):
    _, _, Z, lead = problem
    W = st.rank_one_start(Z, 2.0, 0.6, rng=2)
    parts = st.rank_one_parts(W)
    assert parts.s == pytest.approx(2.0)
    assert parts.rest < 1e-14
    assert st.alignment(W, lead) == pytest.approx(0.6 * lead.s, abs=1e-12)
    # -W = s (-u) v^T: the alignment changes sign, the size does not
    assert st.alignment(-W, lead) == pytest.approx(-0.6 * lead.s, abs=1e-12)
    assert st.rank_one_parts(-W).s == pytest.approx(2.0)


def test_stable_set_margins_match_equations_28_and_36(problem):
    _, _, Z, lead = problem
    W = st.rank_one_start(Z, 2.0, 0.6, rng=3)
    mg = st.stable_set_margins(W, lead, 0.5, beta=3.0)
    assert mg["size"] == pytest.approx(2.0 - 0.2, abs=1e-12)
    assert mg["alignment"] == pytest.approx(0.1, abs=1e-12)
    assert mg["cap"] == pytest.approx(1.0, abs=1e-12)
    assert "cap" not in st.stable_set_margins(W, lead, 0.5)


def test_shared_api_refuses_bad_arguments(problem):
    _, _, Z, lead = problem
    W = st.rank_one_start(Z, 1.0, 0.6, rng=3)
    with pytest.raises(ValueError, match="lead"):
        st.alignment(W, Z)
    with pytest.raises(ValueError, match="lead"):
        st.stable_set_margins(W, "lead", 0.5)
    with pytest.raises(ValueError, match="alpha"):
        st.stable_set_margins(W, lead, 0.1)  # below gamma_Z = 0.3
    with pytest.raises(ValueError, match="beta"):
        st.stable_set_margins(W, lead, 0.5, beta=0.1)
    with pytest.raises(ValueError, match="W"):
        st.alignment(np.ones((2, 2)), lead)


# ----------------------------------------------------------------------------------------------
# gapped_problem and rank_one_start


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.9])
def test_gapped_problem_prescribes_gamma_and_whitens(gamma):
    X, Y = st.gapped_problem(25, 4, 3, gamma, s_Z=2.0, rng=4)
    assert whitened.whitening_error(X) < 1e-12
    Z = whitened.target(X, Y)
    s = np.linalg.svd(Z, compute_uv=False)
    assert s[0] == pytest.approx(2.0)
    assert s[1] / s[0] == pytest.approx(gamma, abs=1e-12)
    # the labels have a part outside the row space of X that Z does not see
    outside = Y - Y @ X.T @ X / X.shape[1]
    assert np.linalg.norm(outside) > 0.1


def test_gapped_problem_refuses_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        st.gapped_problem(20, 3, 2, 1.0)
    with pytest.raises(ValueError, match="gamma"):
        st.gapped_problem(20, 3, 1, 0.3)  # one singular value only
    with pytest.raises(ValueError, match="d_x"):
        st.gapped_problem(3, 4, 2, 0.3)
    with pytest.raises(ValueError, match="s_Z"):
        st.gapped_problem(20, 3, 2, 0.3, s_Z=0.0)
    with pytest.raises(ValueError, match="residual"):
        st.gapped_problem(20, 3, 2, 0.3, residual=-1.0)
    X, Y = st.gapped_problem(20, 3, 1, 0.0, rng=0)
    assert Y.shape == (1, 20)


@given(
    size=hs.floats(0.01, 10.0),
    alignment=hs.floats(-1.0, 1.0),
    second=hs.sampled_from([None, 1, -1]),
)
def test_rank_one_start_has_the_requested_size_and_alignment(size, alignment, second):
    X, Y = st.gapped_problem(20, 4, 3, 0.3, rng=5)
    Z = whitened.target(X, Y)
    lead = whitened.leading_triplet(Z)
    W = st.rank_one_start(Z, size, alignment, rng=6, second=second)
    parts = st.rank_one_parts(W)
    assert parts.s == pytest.approx(size, rel=1e-12)
    assert parts.rest <= 1e-12 * size
    assert st.alignment(W, lead) == pytest.approx(alignment * lead.s, abs=1e-12)
    if second is not None:
        # u^T (Z - Z1) v is +-s_Z2 (1 - |alignment|), the extreme value
        residual = parts.u @ (Z - lead.Z1) @ parts.v
        assert residual == pytest.approx(second * lead.s2 * (1 - abs(alignment)), abs=1e-12)


@pytest.mark.parametrize("degrees", [0.0, 20.0, 44.9, 90.0, 135.0])
def test_rank_one_start_with_an_angle(degrees):
    X, Y = st.gapped_problem(20, 4, 3, 0.3, rng=5)
    Z = st.target(X, Y)
    lead = st.leading_triplet(Z)
    t = np.deg2rad(degrees)
    U, _, Vt = np.linalg.svd(Z)
    # both turned towards the second singular vectors: a = s_Z cos^2 t
    W = st.rank_one_start(Z, 2.0, degrees=degrees, second=1)
    want = 2.0 * np.outer(
        np.cos(t) * U[:, 0] + np.sin(t) * U[:, 1], np.cos(t) * Vt[0] + np.sin(t) * Vt[1]
    )
    np.testing.assert_allclose(W, want, atol=1e-14)
    assert st.alignment(W, lead) == pytest.approx(np.cos(t) ** 2 * lead.s, abs=1e-12)
    # only v turned, by the angle between W and Z1: a = s_Z cos t
    W = st.rank_one_start(Z, 2.0, rng=3, degrees=degrees, right_only=True)
    assert np.linalg.norm(W) == pytest.approx(2.0)
    cos = np.sum(W * lead.Z1) / (np.linalg.norm(W) * lead.s)
    assert cos == pytest.approx(np.cos(t), abs=1e-12)
    assert np.allclose(np.linalg.svd(W, compute_uv=False)[1:], 0.0, atol=1e-12)
    # the same start given by its alignment
    if degrees <= 90:
        by_alignment = st.rank_one_start(Z, 2.0, np.cos(t), rng=3, right_only=True)
        np.testing.assert_allclose(by_alignment, W, atol=1e-12)


def test_rank_one_start_refuses_bad_arguments(problem):
    _, _, Z, _ = problem
    with pytest.raises(ValueError, match="alignment"):
        st.rank_one_start(Z, 1.0, 1.5)
    with pytest.raises(ValueError, match="size"):
        st.rank_one_start(Z, 0.0, 0.5)
    with pytest.raises(ValueError, match="second"):
        st.rank_one_start(Z, 1.0, 0.5, second=2)
    with pytest.raises(ValueError, match="alignment and degrees"):
        st.rank_one_start(Z, 1.0)
    with pytest.raises(ValueError, match="alignment and degrees"):
        st.rank_one_start(Z, 1.0, 0.5, degrees=30.0)
    with pytest.raises(ValueError, match="degrees"):
        st.rank_one_start(Z, 1.0, degrees=np.nan)
    with pytest.raises(ValueError, match="second"):
        st.rank_one_start(np.ones((1, 3)), 1.0, 0.5, second=1)


# ----------------------------------------------------------------------------------------------
# Rates of the size and the alignment (appendix J) and the two floors


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_closed_form_rates_match_the_svd_of_the_induced_velocity(problem, depth):
    _, _, Z, lead = problem
    m = 30
    rng = np.random.default_rng(depth)
    for _ in range(20):
        W = st.rank_one_start(Z, rng.uniform(0.1, 3), rng.uniform(-1, 1), rng)
        closed = st.rank_one_rates(W, Z, depth, m)
        projected = st.triplet_rates(W, whitened.induced_velocity(W, Z, depth, m), lead)
        assert closed == pytest.approx(projected, rel=1e-9, abs=1e-9)


def test_triplet_rates_by_finite_differences(problem):
    _, _, Z, lead = problem
    W = st.rank_one_start(Z, 1.5, 0.4, rng=7)
    V = whitened.induced_velocity(W, Z, 3, 30)
    h = 1e-6
    s_dot, a_dot = st.triplet_rates(W, V, lead)
    ahead, behind = W + h * V, W - h * V  # central differences
    size = (st.rank_one_parts(ahead).s - st.rank_one_parts(behind).s) / (2 * h)
    align = (st.alignment(ahead, lead) - st.alignment(behind, lead)) / (2 * h)
    assert s_dot == pytest.approx(size, rel=1e-6)
    assert a_dot == pytest.approx(align, rel=1e-6)


def test_alignment_floor_holds_and_is_attained(problem):
    _, _, Z, lead = problem
    rng = np.random.default_rng(8)
    for _ in range(200):
        n = int(rng.integers(2, 5))
        W = st.rank_one_start(Z, rng.uniform(0.1, 3), rng.uniform(-0.95, 0.95), rng)
        assert st.rank_one_rates(W, Z, n, 30)[1] >= (1 - 1e-9) * st.alignment_rate_floor(
            W, lead, n, 30
        )
    W = st.rank_one_start(Z, 1.0, 0.5, second=1)
    assert st.rank_one_rates(W, Z, 3, 30)[1] == pytest.approx(
        st.alignment_rate_floor(W, lead, 3, 30), rel=1e-10
    )


def test_weakest_correlation_and_size_rate_floor(problem):
    _, _, Z, lead = problem
    for alpha in (0.3, 0.5, 0.9):
        theta = st.weakest_correlation(alpha, lead)
        assert theta == pytest.approx((alpha - 0.3 * (1 - alpha)) * lead.s)
        W = st.rank_one_start(Z, 1.0, alpha, second=-1)
        parts = st.rank_one_parts(W)
        assert parts.u @ Z @ parts.v == pytest.approx(theta, abs=1e-12)
        corner = (alpha - lead.gamma) * lead.s
        if corner > 0:
            W_c = st.rank_one_start(Z, corner, alpha, second=-1)
            floor = st.size_rate_floor(corner, alpha, lead, 3, 30)
            assert floor == pytest.approx(30 * 3 * corner ** (4 / 3) * alpha * lead.gamma * lead.s)
            assert st.rank_one_rates(W_c, Z, 3, 30)[0] == pytest.approx(floor, rel=1e-10)
    with pytest.raises(ValueError, match="alpha"):
        st.weakest_correlation(1.5, lead)
    with pytest.raises(ValueError, match="lead"):
        st.weakest_correlation(0.5, Z)
    with pytest.raises(ValueError, match="size"):
        st.size_rate_floor(0.0, 0.5, lead, 3, 30)


def test_rates_refuse_matrices_of_rank_two_and_bad_arguments(problem):
    _, _, Z, lead = problem
    W2 = np.eye(3, 4)
    with pytest.raises(ValueError, match="rank 1"):
        st.rank_one_rates(W2, Z, 3, 30)
    with pytest.raises(ValueError, match="rank 1"):
        st.triplet_rates(W2, W2, lead)
    with pytest.raises(ValueError, match="rank 1"):
        st.alignment_rate_floor(np.zeros((3, 4)), lead, 3, 30)
    W = st.rank_one_start(Z, 1.0, 0.5, rng=1)
    with pytest.raises(ValueError, match="depth"):
        st.rank_one_rates(W, Z, 0, 30)
    with pytest.raises(ValueError, match="m"):
        st.rank_one_rates(W, Z, 2, -1.0)
    with pytest.raises(ValueError, match="velocity"):
        st.triplet_rates(W, np.ones((2, 2)), lead)
    with pytest.raises(ValueError, match="lead"):
        st.triplet_rates(W, W, Z)
    with pytest.raises(ValueError, match="lead"):
        st.alignment_rate_floor(W, Z, 3, 30)


# ----------------------------------------------------------------------------------------------
# Flows


def test_induced_trajectory_matches_the_per_layer_flow(problem):
    X, Y, Z, _ = problem
    W0 = st.rank_one_start(Z, 2.0, 0.6, rng=2)
    t = np.linspace(0.0, 0.3, 7)
    path = st.induced_trajectory(W0, Z, 3, X.shape[1], t)
    layers = ch5.balanced_start(W0, (4, 2, 1, 3), rng=3)
    run = ll.gradient_flow(ll.SquareLoss(X, Y), layers, t)
    assert (
        max(ll.relative_difference(a, b) for a, b in zip(path, run.end_to_end, strict=True)) < 1e-7
    )
    assert st.induced_trajectory(W0, Z, 3, 30, [0.0]).shape == (1, 3, 4)
    with pytest.raises(ValueError, match="t_eval"):
        st.induced_trajectory(W0, Z, 3, 30, [0.5, 0.1])
    with pytest.raises(ValueError, match="W0"):
        st.induced_trajectory(np.ones((2, 2)), Z, 3, 30, t)


def test_margins_along_and_rank_one_minimum(problem):
    X, Y, Z, lead = problem
    mats = np.array([st.rank_one_start(Z, s, 0.7, rng=1) for s in (1.0, 2.0)])
    mg = st.margins_along(mats, lead, 0.5)
    assert mg["size"] == pytest.approx([0.8, 1.8])
    assert mg["alignment"] == pytest.approx([0.2, 0.2])
    with pytest.raises(ValueError, match="mats"):
        st.margins_along(mats[0], lead, 0.5)
    loss = ll.SquareLoss(X, Y)
    assert st.rank_one_minimum(X, Y) == pytest.approx(loss.value(lead.Z1), rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(50):
        R = np.outer(rng.standard_normal(3), rng.standard_normal(4))
        assert loss.value(R) >= st.rank_one_minimum(X, Y)
    with pytest.raises(ValueError, match="whitened"):
        st.rank_one_minimum(2 * X, Y)


# ----------------------------------------------------------------------------------------------
# The recipes of section 5.2 in ch5


def test_balanced_start_and_printed_form():
    W0 = np.outer([1.0, 2.0, 0.5], [0.3, -1.0, 0.2, 0.7])
    layers = ch5.balanced_start(W0, (4, 2, 1, 3), rng=1)
    assert [w.shape for w in layers] == [(2, 4), (1, 2), (3, 1)]
    assert ll.unbalancedness(layers) < 1e-12
    assert ll.relative_difference(ll.end_to_end(layers), W0) < 1e-12
    with pytest.raises(ValueError, match="dimension-inconsistent"):
        ll.networks.printed_balance_gap(layers)
    square = ch5.balanced_start(np.eye(3) + 0.5, (3, 3, 3), rng=2)
    assert ll.unbalancedness(square) < 1e-12
    assert ll.networks.printed_balance_gap(square) > 0.1
    with pytest.raises(ValueError, match="W0"):
        ch5.balanced_start(W0, (3, 1, 3))
    with pytest.raises(ValueError, match="widths"):
        ch5.balanced_start(W0, (4,))


def test_product_velocity_is_the_derivative_of_the_product():
    X, Y = whitened.random_problem(20, 3, 2, rng=1)
    loss = ll.SquareLoss(X, Y)
    layers = ll.gaussian_init([3, 4, 2], 0.7, rng=2)
    grads = ll.layer_gradients(layers, loss.grad(ll.end_to_end(layers)))
    h = 1e-7
    moved = ll.end_to_end([w - h * g for w, g in zip(layers, grads, strict=True)])
    finite = (moved - ll.end_to_end(layers)) / h
    assert ll.relative_difference(ll.networks.product_velocity(layers, loss), finite) < 1e-5


def test_second_order_summary_tells_minima_from_saddles():
    loss = ll.SquareLoss.to_target(np.diag([2.0, 1.0]))
    minimum = ll.balanced_init(np.diag([2.0, 1.0]), 2)
    summary = ch5.second_order_summary(loss, minimum)
    assert summary["grad_norm"] < 1e-12
    assert summary["lam_min"] > -1e-8
    saddle = ll.balanced_init(np.diag([2.0, 0.0]), 2)
    assert ch5.second_order_summary(loss, saddle)["lam_min"] < -0.1


def test_random_products_and_numerical_ranks():
    mats = ch5.random_products((4, 2, 1, 3), 500, rng=1)
    assert mats.shape == (500, 3, 4)
    assert np.all(ch5.numerical_ranks(mats) == 1)
    bern = ch5.random_products((4, 2, 1, 3), 500, rng=1, entries="bernoulli")
    assert set(np.unique(bern)) <= set(range(0, 10))
    assert np.any(ch5.numerical_ranks(bern) == 0)
    assert np.all(ch5.numerical_ranks(np.zeros((2, 3, 3))) == 0)
    stack = np.array([np.eye(3), np.diag([1.0, 1e-12, 0.0])])
    assert list(ch5.numerical_ranks(stack)) == [3, 1]
    assert list(ch5.numerical_ranks(stack, scale=1e-20)) == [3, 2]
    with pytest.raises(ValueError, match="entries"):
        ch5.random_products((2, 2), 3, entries="uniform")
    with pytest.raises(ValueError, match="count"):
        ch5.random_products((2, 2), 0)
    with pytest.raises(ValueError, match="mats"):
        ch5.numerical_ranks(np.eye(3))
    with pytest.raises(ValueError, match="scale"):
        ch5.numerical_ranks(stack, scale=0.0)


def test_lower_rank_sequence_converges_to_a_lower_rank_product():
    net = ll.gaussian_init([3, 2, 3], 1.0, rng=3)
    seq = ch5.lower_rank_sequence(net, [1.0, 1e-3, 0.0])
    s = [np.linalg.svd(ll.end_to_end(n), compute_uv=False) for n in seq]
    assert ll.relative_difference(ll.end_to_end(seq[0]), ll.end_to_end(net)) < 1e-12
    assert s[1][1] == pytest.approx(1e-3 * s[0][1], rel=1e-8)
    assert s[2][1] < 1e-12 * s[0][0]
    assert all(np.array_equal(a, b) for a, b in zip(seq[1][1:], net[1:], strict=True))
    with pytest.raises(ValueError, match="non-zero"):
        ch5.lower_rank_sequence([np.zeros((2, 3)), np.ones((3, 2))], [0.5])
    with pytest.raises(ValueError, match="scales"):
        ch5.lower_rank_sequence(net, [-1.0])


def test_flow_summary_phase_path_and_plot(problem):
    X, Y, Z, lead = problem
    W0 = st.rank_one_start(Z, 2.0, 0.6, rng=2)
    run = ll.gradient_flow(
        ll.SquareLoss(X, Y), ch5.balanced_start(W0, (4, 1, 3), rng=5), np.linspace(0, 2, 21)
    )
    summary = ch5.flow_summary(run, X, Y, 0.5)
    assert summary["size"] > 0 and summary["alignment"] == pytest.approx(0.1, abs=1e-9)
    assert summary["distance"] < 1e-6 and abs(summary["loss_gap"]) < 1e-12
    assert summary["sigma2"] < 1e-12 and summary["s_end"] == pytest.approx(1.0)
    a, s = ch5.phase_path(run.end_to_end, lead)
    assert a[0] == pytest.approx(0.6) and s[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="mats"):
        ch5.phase_path(run.end_to_end[0], lead)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ch5.plot_stable_set(ax, {"run": (a, s)}, 0.5, lead.gamma)
    assert ax.get_xlabel().startswith("alignment")
    with pytest.raises(ValueError, match="paths"):
        ch5.plot_stable_set(ax, {}, 0.5, lead.gamma)
    plt.close(fig)
