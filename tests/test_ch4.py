"""Tests of linnet_lib.ch4: Figure 2 and 3 experiments and compression helpers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linnet_lib as ll
from linnet_lib import ch4, sensing


def test_relative_error_and_validation():
    T = np.eye(3)
    assert ch4.relative_error(2 * T, T) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="W"):
        ch4.relative_error(np.eye(2), T)
    with pytest.raises(ValueError, match="non-zero"):
        ch4.relative_error(T, np.zeros((3, 3)))


def test_stable_entry_step_is_half_the_edge():
    T = np.diag([4.0, 1.0])
    assert ch4.stable_entry_step(T, 1) == pytest.approx(1.0)
    assert ch4.stable_entry_step(T, 2) == pytest.approx(0.5 * 2 / (2 * 4.0))
    assert ch4.stable_entry_step(T, 3, fraction=0.9) == pytest.approx(
        0.9 * 2 / (3 * 4.0 ** (4 / 3))
    )
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            ch4.stable_entry_step(T, 2, fraction=bad)
    with pytest.raises(ValueError, match="depth"):
        ch4.stable_entry_step(T, 0)


def test_stable_entry_step_is_stable_and_twice_the_edge_diverges():
    # completion of a rank-one target from all entries: the edge is sharp near the solution
    T = np.outer([3.0, 1.0, 2.0], [1.0, 2.0, 1.0])
    loss = sensing.CompletionLoss.observe(T, T.size, rng=0)
    for n in (1, 2, 3):
        lr = T.size * ch4.stable_entry_step(T, n)
        start = ll.balanced_init(T * 0.9, n)
        good = ll.gradient_descent(loss, start, lr, 2000)
        bad = ll.gradient_descent(loss, start, 4.4 * lr, 2000)
        assert good.loss[-1] < 1e-12
        assert bad.diverged or bad.loss[-1] > 1e-3


def test_small_gaussian_layers_scale_and_shapes():
    layers = ch4.small_gaussian_layers((30, 20), 3, 1e-2, rng=0)
    assert [w.shape for w in layers] == [(30, 20), (30, 30), (30, 30)]
    norm = np.linalg.norm(ll.end_to_end(layers))
    assert 0.3 * 1e-2 * np.sqrt(20) < norm < 3 * 1e-2 * np.sqrt(20)
    with pytest.raises(ValueError, match="init_scale"):
        ch4.small_gaussian_layers((3, 3), 2, 0.0)
    with pytest.raises(ValueError, match="shape"):
        ch4.small_gaussian_layers((3,), 2, 1.0)


def test_train_from_small_init_rejects_other_losses():
    with pytest.raises(ValueError, match="loss"):
        ch4.train_from_small_init(ll.SquareLoss.to_target(np.eye(2)), 2, 1e-3, 0.1, 10, stop_loss=0)


def test_completion_sweep_small_problem():
    T = sensing.low_rank_target((8, 8), 1, rng=0)
    sweep = ch4.completion_sweep(
        T, [40, 64], (2,), init_scale=1e-4, max_steps=20_000, stop_loss=1e-9
    )
    assert set(sweep) >= {"counts", "nuclear", 2, "distance", "solutions", "target_nuclear_norm"}
    assert sweep[2]["converged"].all()
    # with every entry observed, all completions are the target
    assert sweep["nuclear"]["error"][-1] < 1e-4
    assert sweep[2]["error"][-1] < 1e-3
    assert len(sweep["solutions"]) == 2
    with pytest.raises(ValueError, match="counts"):
        ch4.completion_sweep(T, [])
    with pytest.raises(ValueError, match="counts"):
        ch4.completion_sweep(T, [0])


def test_singular_value_runs_and_plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = sensing.low_rank_target((6, 6), 2, rng=1)
    loss = sensing.gaussian_sensing(T, 30, rng=2)
    runs = ch4.singular_value_runs(loss, (1, 2), init_scale=1e-3, lr=0.2, steps=50, record_every=10)
    assert set(runs) == {1, 2}
    assert runs[2].steps.tolist() == [0, 10, 20, 30, 40, 50]
    fig, axes = plt.subplots(1, 2)
    ch4.plot_figure3(axes, runs, T, top=3)
    assert "error" in axes[0].get_title()
    plt.close(fig)


@given(
    d=st.integers(1, 6),
    d2=st.integers(1, 6),
    data=st.data(),
)
def test_truncation_parameters_counts_free_parameters(d, d2, data):
    rank = data.draw(st.integers(0, min(d, d2)))
    count = ch4.truncation_parameters((d, d2), rank)
    assert count == rank * (d + d2 - rank)
    assert count <= d * d2
    if rank == min(d, d2):
        assert count == d * d2


def test_truncation_parameters_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank"):
        ch4.truncation_parameters((3, 4), 4)


def test_truncate_is_best_low_rank_approximation():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((5, 4))
    s = np.linalg.svd(W, compute_uv=False)
    for k in range(5):
        assert np.linalg.norm(W - ch4.truncate(W, k)) == pytest.approx(np.sqrt(np.sum(s[k:] ** 2)))
        assert np.linalg.matrix_rank(ch4.truncate(W, k)) == k
    with pytest.raises(ValueError, match="rank"):
        ch4.truncate(W, 5)


def test_compressed_rank():
    T = sensing.low_rank_target((6, 6), 2, rng=4)
    loss = sensing.CompletionLoss.observe(T, 36, rng=5)
    noisy = T + 1e-3 * np.random.default_rng(6).standard_normal((6, 6))
    assert ch4.compressed_rank(loss, T, 1e-20) == 2
    assert ch4.compressed_rank(loss, noisy, 1e-4) == 2
    with pytest.raises(ValueError, match="tolerance"):
        ch4.compressed_rank(loss, noisy, 1e-12)


@pytest.mark.parametrize("shape, rank", [((5, 4), 1), ((5, 4), 2), ((6, 6), 3), ((3, 7), 3)])
def test_factorization_jacobian_rank_is_footnote_11(shape, rank):
    assert ch4.factorization_jacobian_rank(shape, rank, rng=0) == ch4.truncation_parameters(
        shape, rank
    )


def test_factorization_jacobian_rank_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank"):
        ch4.factorization_jacobian_rank((3, 4), 4)


def test_truncation_curve():
    T = sensing.low_rank_target((6, 6), 2, rng=4)
    loss = sensing.CompletionLoss.observe(T, 36, rng=5)
    curve = ch4.truncation_curve(loss, T, T, [0, 1, 2, 3])
    assert curve["loss"][2] < 1e-20 < curve["loss"][1] < curve["loss"][0]
    assert curve["error"][0] == pytest.approx(1.0)
    assert curve["parameters"].tolist() == [0, 11, 20, 27]
    with pytest.raises(ValueError, match="ranks"):
        ch4.truncation_curve(loss, T, T, [])


def test_factorization_jacobian_rank_drops_at_a_degenerate_point():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 3))
    U[:, 2] = U[:, 0]  # dependent columns: U V^T has rank 2 here
    V = rng.standard_normal((5, 3))
    assert ch4.factorization_jacobian_rank((6, 5), 3, U=U, V=V) < ch4.truncation_parameters(
        (6, 5), 3
    )
    with pytest.raises(ValueError, match="U"):
        ch4.factorization_jacobian_rank((6, 5), 3, U=np.ones((6, 2)))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_sensing_descent_is_gradient_descent(depth):
    target = sensing.spectrum_target((6, 5), [3.0, 1.0], rng=0)
    loss = sensing.gaussian_sensing(target, 20, rng=1, scale=1.0)
    layers = ch4.small_gaussian_layers((6, 5), depth, 1e-2, rng=2)
    a = ll.gradient_descent(loss, layers, 0.01, 300, record_every=7)
    b = ch4.sensing_descent(loss, layers, 0.01, 300, record_every=7)
    assert np.array_equal(a.steps, b.steps) and np.allclose(a.t, b.t)
    assert np.abs(a.end_to_end - b.end_to_end).max() <= 1e-12 * np.abs(a.end_to_end).max()
    assert b.loss == pytest.approx(a.loss, rel=1e-10)
    for wa, wb in zip(a.weights, b.weights, strict=True):
        assert np.abs(wa - wb).max() <= 1e-12


def test_sensing_descent_completion_stop_and_divergence():
    truth = sensing.low_rank_target((8, 8), 2, rng=0)
    loss = sensing.CompletionLoss.observe(truth, 40, rng=1)
    layers = ch4.small_gaussian_layers((8, 8), 2, 1e-2, rng=2)
    lr = 40 * ch4.stable_entry_step(truth, 2)
    a = ll.gradient_descent(loss, layers, lr, 5000, record_every=100, stop_loss=1e-4)
    b = ch4.sensing_descent(loss, layers, lr, 5000, record_every=100, stop_loss=1e-4)
    assert np.array_equal(a.steps, b.steps) and b.loss[-1] <= 1e-4 < b.loss[-2]
    assert np.abs(a.end_to_end - b.end_to_end).max() <= 1e-12
    wild = ch4.sensing_descent(loss, layers, 1e4 * lr, 200)
    assert wild.diverged and np.all(np.isfinite(wild.loss))


def test_sensing_descent_errors():
    loss = sensing.gaussian_sensing(np.eye(3), 5, rng=0)
    with pytest.raises(ValueError, match="loss"):
        ch4.sensing_descent(ll.SquareLoss(np.eye(3), np.eye(3)), [np.eye(3)], 0.1, 2)
    with pytest.raises(ValueError, match="multiply"):
        ch4.sensing_descent(loss, [np.eye(2)], 0.1, 2)
    with pytest.raises(ValueError, match="lr"):
        ch4.sensing_descent(loss, [np.eye(3)], 0.0, 2)
    with pytest.raises(ValueError, match="record_every"):
        ch4.sensing_descent(loss, [np.eye(3)], 0.1, 2, record_every=0)


def test_gaussian_sign_runs_depth_2_lose_the_sign():
    from linnet_lib import norms

    out = ch4.gaussian_sign_runs(norms.completion_2x2(), 2, [0, 1], 1e3, 31)
    assert set(out) == set(ch4.SIGN_RUN_KEYS) and len(ch4.SIGN_RUN_KEYS) == 7
    assert np.all(out["changed"] == 1.0) and np.all(out["solver_crossings"] >= 1)
    assert np.all(out["loss_at_change"] > 0.3)
    assert np.all(out["final_det"] < 0) and np.all(out["final_shortfall"] > 0)
    assert np.all(out["final_norm"] < 5)
    with pytest.raises(ValueError, match="depth"):
        ch4.gaussian_sign_runs(norms.completion_2x2(), 1, [0], 1e3, 31)
    with pytest.raises(ValueError, match="seeds"):
        ch4.gaussian_sign_runs(norms.completion_2x2(), 2, [], 1e3, 31)


def test_component_rate_gaps_balanced_and_unbalanced():
    from linnet_lib import tensor as tn

    target = tn.low_rank_tensor((4, 4, 4), 2, rng=0, weights=(1.0, 0.5))
    loss = tn.TensorCompletionLoss.observe(target, 30, rng=1)
    start = tn.balanced(tn.random_factors((4, 4, 4), 3, 0.3, rng=2))
    (exact, wrong), norms_rec = ch4.component_rate_gaps(loss, start, [1.0, 2.0], 1e-3, (3, 2))
    assert exact < 1e-5 < 1e-2 < wrong
    assert norms_rec.shape == (6, 3)
    unbalanced = [start[0] * 2.0, start[1] * 0.5, start[2]]
    (balanced_formula, general), _ = ch4.component_rate_gaps(
        loss, unbalanced, [1.0, 2.0], 1e-3, (3, "general")
    )
    assert general < 1e-5 < 1e-2 < balanced_formula
    with pytest.raises(ValueError, match="loss"):
        ch4.component_rate_gaps(None, start, [1.0], 1e-3, (3,))
    with pytest.raises(ValueError, match="orders"):
        ch4.component_rate_gaps(loss, start, [1.0], 1e-3, ())
    with pytest.raises(ValueError, match="orders"):
        ch4.component_rate_gaps(loss, start, [1.0], 1e-3, (0,))
