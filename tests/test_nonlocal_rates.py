"""Unit tests of linnet_lib.nonlocal_rates and of section 5.3 of linnet_lib.ch5 (Eftekhari 2020,
section 4 and appendices K-P)."""

import matplotlib
import numpy as np
import pytest
from strategies import rank_one_matrix

import linnet_lib as ll
from linnet_lib import ch5, whitened
from linnet_lib import nonlocal_rates as nr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SHAPE = (3, 4)


def rank_one(rng, s=None):
    return rank_one_matrix(rng, SHAPE, s)


def gapped(values, seed=0):
    return ch5.gapped_target(values, SHAPE, np.random.default_rng(seed))


# --- equations (29), (39), Theorem K.1 -----------------------------------------------------------


def test_rank_one_distance_floor_is_eckart_young_and_reached_at_z1(rng):
    Z = gapped([2.0, 1.0, 0.5])
    floor = nr.rank_one_distance_floor(Z)
    assert floor == pytest.approx(np.sqrt(1.25), rel=1e-12)
    assert np.linalg.norm(Z - whitened.leading_triplet(Z).Z1) == pytest.approx(floor, rel=1e-12)
    for _ in range(200):
        assert np.linalg.norm(Z - rank_one(rng)) >= floor - 1e-12
    assert nr.rank_one_distance_floor(np.array([[3.0, 4.0]])) == 0.0
    with pytest.raises(ValueError, match="Z"):
        nr.rank_one_distance_floor(np.ones(3))


def test_arora_time_formula_and_errors():
    assert nr.arora_time(0.5, 3, 1.0, np.exp(-2.0)) == pytest.approx(2 * 0.5 ** (-4 / 3))
    assert nr.arora_time(0.5, 1, 2.0, 2.0) == 0.0
    for kwargs in (
        {"c": 0.0},
        {"depth": 0},
        {"loss0": -1.0},
        {"eps": 0.0},
    ):
        args = {"c": 0.5, "depth": 2, "loss0": 1.0, "eps": 0.1} | kwargs
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            nr.arora_time(**args)


# --- Lemma N.1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_svd_basis_operator_and_quadratic_form_match_the_sum(depth, rank, rng):
    W = rng.standard_normal((3, rank)) @ rng.standard_normal((rank, 4))
    D = rng.standard_normal(SHAPE)
    exact = whitened.operator(W, D, depth)
    assert ll.relative_difference(nr.svd_basis_operator(W, D, depth), exact) < 1e-12
    form = nr.operator_quadratic_form(W, D, depth)
    assert form == pytest.approx(np.sum(D * exact), rel=1e-12)
    assert form > 0


def test_operator_functions_reject_bad_input(rng):
    W = rank_one(rng)
    with pytest.raises(ValueError, match="Delta"):
        nr.svd_basis_operator(W, np.ones((2, 2)), 2)
    with pytest.raises(ValueError, match="depth"):
        nr.operator_quadratic_form(W, W, 0)


# --- the rank-one flow -------------------------------------------------------------------------------


def test_rank_one_flow_matches_the_per_layer_flow_and_finds_tau(rng):
    Z = gapped([1.0, 0.3])
    X, Y = ch5.whitened_data_for(Z, 30, rng)
    W0 = ch5.turned_start(Z, 4.0, 20.0)
    t = np.linspace(0.0, 0.05, 6)
    ours = nr.rank_one_flow(W0, Z, 3, 30, t, s_level=2.0)
    layers = ll.balanced_init(W0, 3, hidden_dims=[1, 1])
    theirs = ll.gradient_flow(ll.SquareLoss(X, Y), layers, t)
    assert np.max(np.abs(ours.W - theirs.end_to_end)) < 1e-8
    assert 0 < ours.tau < t[-1]
    assert np.linalg.norm(ours.W_tau) == pytest.approx(2.0, rel=1e-9)
    assert np.all(np.linalg.svd(ours.W, compute_uv=False)[:, 1] < 1e-12)
    below = nr.rank_one_flow(0.5 * W0 / 4, Z, 2, 30, t, s_level=2.0)
    assert below.tau == 0.0 and below.W_tau is None
    never = nr.rank_one_flow(W0, Z, 2, 30, t, s_level=0.5)
    assert never.tau == np.inf
    assert np.isnan(nr.rank_one_flow(W0, Z, 2, 30, t).tau)


def test_rank_one_flow_rejects_bad_input(rng):
    Z = gapped([1.0])
    W0 = rank_one(rng)
    t = np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match="t_eval"):
        nr.rank_one_flow(W0, Z, 2, 1.0, [0.5, 1.0])
    with pytest.raises(ValueError, match="t_eval"):
        nr.rank_one_flow(W0, Z, 2, 1.0, [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="non-zero"):
        nr.rank_one_flow(np.zeros(SHAPE), Z, 2, 1.0, t)
    with pytest.raises(ValueError, match="m"):
        nr.rank_one_flow(W0, Z, 2, 0.0, t)
    with pytest.raises(ValueError, match="depth"):
        nr.rank_one_flow(W0, Z, 1, 1.0, t)
    with pytest.raises(ValueError, match="Z"):
        nr.rank_one_flow(W0, np.ones((4, 3)), 2, 1.0, t)
    with pytest.raises(ValueError, match="s_level"):
        nr.rank_one_flow(W0, Z, 2, 1.0, t, s_level=-1.0)


# --- equations (31)-(34) ---------------------------------------------------------------------------


def test_terms_identity_and_bound(rng):
    Z = gapped([1.5, 0.7, 0.2])
    lead = whitened.leading_triplet(Z)
    W = np.array([rank_one(rng) for _ in range(300)])
    q = nr.terms(W, lead)
    assert np.all(q.T2 >= 0) and np.all(q.T1 >= 0)
    L = nr.l11(W, lead)
    assert np.allclose(nr.l11_identity(W, lead), L, rtol=1e-12)
    assert np.all(nr.l11_bound(W, lead) >= L * (1 - 1e-12))
    # a does not depend on the SVD's sign convention
    assert nr.terms(-W[0], lead).a == pytest.approx(-q.a[0])
    aligned = 2.5 * np.outer(lead.u, lead.v)
    assert nr.l11_bound(aligned, lead) == pytest.approx(nr.l11(aligned, lead), rel=1e-12)
    with pytest.raises(ValueError, match="lead"):
        nr.terms(W, Z)
    with pytest.raises(ValueError, match="W"):
        nr.l11(np.ones((4, 3)), lead)


def test_l11_rate_is_the_derivative_along_the_flow(rng):
    Z = gapped([1.0, 0.4])
    lead = whitened.leading_triplet(Z)
    W0 = ch5.turned_start(Z, 2.0, 25.0)
    h = 1e-5
    run = nr.rank_one_flow(W0, Z, 3, 10, np.array([0.0, h, 2 * h]))
    derivative = (nr.l11(run.W[2], lead) - nr.l11(run.W[0], lead)) / (2 * h)
    assert derivative == pytest.approx(nr.l11_rate(run.W[1], Z, 3, 10), rel=1e-6)
    assert nr.l11_rate_rank_one(run.W[1], Z, 3, 10) == pytest.approx(
        nr.l11_rate(run.W[1], Z, 3, 10), rel=1e-12
    )
    with pytest.raises(ValueError, match="m"):
        nr.l11_rate(W0, Z, 3, -1.0)
    with pytest.raises(ValueError, match="shape"):
        nr.l11_rate_rank_one(W0, np.ones((4, 3)), 3, 1.0)


def test_singular_value_speed_matches_the_flow():
    Z = gapped([1.0, 0.4])
    W0 = ch5.turned_start(Z, 2.0, 25.0)
    h = 1e-6
    run = nr.rank_one_flow(W0, Z, 4, 5, np.array([0.0, h, 2 * h]))
    sizes = np.linalg.norm(run.W, axis=(1, 2))
    assert (sizes[2] - sizes[0]) / (2 * h) == pytest.approx(
        nr.singular_value_speed(run.W[1], Z, 4, 5), rel=1e-6
    )
    with pytest.raises(ValueError, match="depth"):
        nr.singular_value_speed(W0, Z, 1, 5)


# --- Lemma 4.2 ----------------------------------------------------------------------------------------


def test_lemma_4_2_corrected_holds_and_is_tight_printed_fails(rng):
    counts = {"paper T1, scale 1": 0, "paper T1, scale 100": 0, "Markdown T1": 0}
    for N in (2, 3, 5):
        Z = rng.standard_normal(SHAPE)
        lead = whitened.leading_triplet(Z)
        W = np.array([rank_one(rng) for _ in range(300)])
        rate = nr.l11_rate_rank_one(W, Z, N, 3.0)
        corrected = nr.lemma_4_2_corrected(W, lead, N, 3.0)
        assert np.all(rate <= corrected + 1e-12 * np.abs(rate))
        printed = nr.lemma_4_2_printed(W, lead, N, 3.0)
        # read the paper's way, the printed bound is at least the corrected one where T2 <= 1
        small = nr.terms(W, lead).T2 <= 1
        assert np.all(printed[small] >= corrected[small] - 1e-12 * np.abs(corrected[small]))
        counts["paper T1, scale 1"] += int(np.sum(rate > printed + 1e-12 * np.abs(rate)))
        big = whitened.leading_triplet(100 * Z)
        counts["paper T1, scale 100"] += int(
            np.sum(
                100 ** (4 - 2 / N) * rate
                > nr.lemma_4_2_printed(100 * W, big, N, 3.0)
                + 1e-9 * 100 ** (4 - 2 / N) * np.abs(rate)
            )
        )
        counts["Markdown T1"] += int(
            np.sum(rate > nr.lemma_4_2_printed(W, lead, N, 3.0, paper_t1=False))
        )
    assert counts["Markdown T1"] > 100
    assert counts["paper T1, scale 100"] > 10 * max(counts["paper T1, scale 1"], 1)
    # with a rank-1 target the paper's reading is the derived bound
    Z1 = whitened.leading_triplet(rng.standard_normal(SHAPE)).Z1
    W = np.array([rank_one(rng) for _ in range(50)])
    lead1 = whitened.leading_triplet(Z1)
    assert np.allclose(
        nr.lemma_4_2_printed(W, lead1, 4, 2.0), nr.lemma_4_2_corrected(W, lead1, 4, 2.0), rtol=1e-12
    )
    Z = gapped([1.0])
    lead = whitened.leading_triplet(Z)
    W = ch5.turned_start(Z, 2.0, 30.0)
    assert nr.lemma_4_2_corrected(W, lead, 3, 2.0) == pytest.approx(
        nr.l11_rate_rank_one(W, Z, 3, 2.0), rel=1e-12
    )
    with pytest.raises(ValueError, match="depth"):
        nr.lemma_4_2_printed(W, lead, 1, 1.0)
    with pytest.raises(ValueError, match="m"):
        nr.lemma_4_2_corrected(W, lead, 2, 0.0)


# --- Theorem 4.4 and its remark -------------------------------------------------------------------


def test_theorem_rates_formulas_and_errors():
    lead = whitened.leading_triplet(np.diag([2.0, 0.1, 0.0])[:, :2])
    fast, slow = nr.theorem_4_4_rates(3, 5.0, lead, 0.6, 1.5)
    q, g = 4 / 3, 0.05
    assert fast == pytest.approx(5 * 3 * 2**q * ((0.6 - g) ** q - 2 * g * 1.5**q))
    assert slow == pytest.approx(5 * 2**q * (0.6 * (0.6 - g) ** q - 2 * g * 3 * 1.5**q))
    derived = nr.appendix_p_rates(3, 5.0, lead, 0.6, 1.5)
    assert derived[0] >= fast and derived[1] >= slow
    printed = nr.printed_remark_rates(3, 5.0, lead, 0.6, 1.5)
    assert printed[0] == pytest.approx(5 * 3 * 2**2 * ((0.6 - g) ** 2 - 2 * g * 1.5**2))
    for f in (nr.theorem_4_4_rates, nr.appendix_p_rates, nr.printed_remark_rates):
        with pytest.raises(ValueError, match="alpha"):
            f(3, 5.0, lead, 0.05, 1.5)
        with pytest.raises(ValueError, match="beta"):
            f(3, 5.0, lead, 0.6, 1.0)
        with pytest.raises(ValueError, match="lead"):
            f(3, 5.0, "lead", 0.6, 1.5)


def test_bound_and_time_to_accuracy():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    b = nr.theorem_4_4_bound(t, 1.0, 10.0, 2.0, (1.0, 0.5))
    assert np.allclose(b, [10.0, 10 * np.exp(-1), 2 * np.exp(-0.5), 2 * np.exp(-1.0)])
    assert np.allclose(nr.theorem_4_4_bound(t, np.inf, 10.0, 0.0, (1.0, 0.5)), 10 * np.exp(-t))
    logs = nr.theorem_4_4_bound(t, 1.0, 10.0, 2.0, (1e4, 0.5), log=True)
    assert logs[1] == pytest.approx(np.log(10.0) - 1e4) and np.isfinite(logs).all()
    # reached before tau, and after it (chained)
    assert nr.time_to_accuracy(10 * np.exp(-1), 10.0, 2.0, (1.0, 0.5)) == pytest.approx(1.0)
    eps = 10 * np.exp(-2.0 - 0.5 * 3.0)  # tau = 2, then 3 time units at rate 0.5
    assert nr.time_to_accuracy(eps, 10.0, 2.0, (1.0, 0.5)) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="positive"):
        nr.time_to_accuracy(1.0, 10.0, 1.0, (1.0, -0.5))
    with pytest.raises(ValueError, match="eps"):
        nr.time_to_accuracy(0.0, 10.0, 1.0, (1.0, 0.5))
    with pytest.raises(ValueError, match="tau"):
        nr.theorem_4_4_bound(t, -1.0, 1.0, 1.0, (1.0, 1.0))


def test_phase_margin_threshold_and_final_rate(rng):
    Z = gapped([1.0])
    lead = whitened.leading_triplet(Z)
    W = np.array([rank_one(rng, s) for s in rng.uniform(nr.PHASE_THRESHOLD, 5.0, 300)])
    keep = nr.terms(W, lead).a > 0
    assert np.all(nr.phase_margin(W[keep], lead) > 0)
    assert nr.PHASE_THRESHOLD == pytest.approx(np.sqrt(6))
    assert nr.final_rate(3, 2.0, whitened.leading_triplet(gapped([2.0, 0.5]))) == pytest.approx(
        2 * 2 * 2 ** (4 / 3) * 0.75
    )
    with pytest.raises(ValueError, match="depth"):
        nr.final_rate(1, 2.0, lead)


def test_rate_sandwich_bounds_and_errors(rng):
    Z = gapped([1.3])
    lead = whitened.leading_triplet(Z)
    W = np.array([rank_one(rng) for _ in range(300)])
    W = W[nr.terms(W, lead).a >= 0]
    rate = -nr.l11_rate_rank_one(W, Z, 3, 2.0) / nr.l11(W, lead)
    low, high = nr.rate_sandwich(W, lead, 3, 2.0)
    assert np.all(low <= rate * (1 + 1e-12)) and np.all(rate <= high * (1 + 1e-12))
    with pytest.raises(ValueError, match="rank-1"):
        nr.rate_sandwich(W, whitened.leading_triplet(gapped([1.0, 0.5])), 3, 2.0)


# --- ch5, section 5.3 ------------------------------------------------------------------------------


def test_gapped_target_and_data():
    Z = gapped([2.0, 0.5])
    assert np.allclose(np.linalg.svd(Z, compute_uv=False), [2.0, 0.5, 0.0])
    X, Y = ch5.whitened_data_for(Z, 20, rng=1)
    assert whitened.whitening_error(X) < 1e-12
    assert np.allclose(whitened.target(X, Y), Z, atol=1e-12)
    with pytest.raises(ValueError, match="singular_values"):
        ch5.gapped_target([0.5, 2.0], SHAPE)
    with pytest.raises(ValueError, match="singular_values"):
        ch5.gapped_target([1, 1, 1, 1], SHAPE)
    with pytest.raises(ValueError, match="samples"):
        ch5.whitened_data_for(Z, 5)


def test_turned_start_and_random_rank_one(rng):
    Z = gapped([1.0, 0.2])
    lead = whitened.leading_triplet(Z)
    W0 = ch5.turned_start(Z, 3.0, 30.0)
    q = nr.terms(W0, lead)
    assert q.s == pytest.approx(3.0) and q.a == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Z"):
        ch5.turned_start(np.ones((1, 3)), 1.0, 10.0)
    with pytest.raises(ValueError, match="size"):
        ch5.turned_start(Z, 0.0, 10.0)
    W = ch5.random_rank_one(50, SHAPE, (1.0, 2.0), rng)
    s = np.linalg.svd(W, compute_uv=False)
    assert np.all((s[:, 0] >= 1.0) & (s[:, 0] <= 2.0)) and np.all(s[:, 1] < 1e-12)
    with pytest.raises(ValueError, match="s_range"):
        ch5.random_rank_one(5, SHAPE, (2.0, 1.0))
    with pytest.raises(ValueError, match="count"):
        ch5.random_rank_one(0, SHAPE, (1.0, 2.0))


def test_theorem_run_ratios_rates_and_plot():
    Z = gapped([1.0])
    run = ch5.theorem_4_4_run(Z, ch5.turned_start(Z, 5.0, 15.0), 2, 10, 0.9, 5.5, 1.0, 201)
    assert np.linalg.norm(run.W_tau) == pytest.approx(np.sqrt(6), rel=1e-9)
    ratios = ch5.decay_ratios(run)
    assert ratios["worst"] <= 1 and ratios["fast"] >= 1 and ratios["slow"] >= 1
    assert ch5.decay_ratios(run, (1e3, 1e3))["worst"] > 1
    rates = ch5.instantaneous_rates(run, Z)
    assert np.all(rates > 0)
    final = ch5.fitted_final_rate(run, 1e-12, 1e-6)
    assert final == pytest.approx(nr.final_rate(2, 10, run.lead), rel=1e-3)
    with pytest.raises(ValueError, match="window"):
        ch5.fitted_final_rate(run, 1e-40, 1e-39)
    fig, ax = plt.subplots()
    ch5.plot_theorem_4_4(ax, {"N = 2": run}, title="t")
    assert ax.get_legend() is not None and len(ax.get_lines()) >= 3
    plt.close(fig)


def test_first_time_below():
    t = np.array([0.0, 1.0, 2.0])
    assert ch5.first_time_below(t, [4.0, 2.0, 1.0], np.sqrt(2.0)) == pytest.approx(1.5)
    assert ch5.first_time_below(t, [4.0, 2.0, 1.0], 5.0) == 0.0
    assert ch5.first_time_below(t, [4.0, 2.0, 1.0], 0.5) == np.inf
    with pytest.raises(ValueError, match="level"):
        ch5.first_time_below(t, [4.0, 2.0, 1.0], 0.0)
