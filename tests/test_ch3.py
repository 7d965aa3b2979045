"""Tests of linnet_lib.ch3, the experiments of Chapter 3 (sections 3.1, 3.2 and 3.4; the
section 3.3 helpers are tested in test_optimizers.py)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linnet_lib as ll  # noqa: E402

ch3 = ll.ch3


def test_end_to_end_step_depth_one_is_gradient_step():
    W, G = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    assert np.allclose(ch3.end_to_end_step(W, G, 1, 0.1), W - 0.1 * G)


def test_end_to_end_step_validates_lr():
    with pytest.raises(ValueError, match="lr"):
        ch3.end_to_end_step(np.ones((2, 2)), np.ones((2, 2)), 2, 0.0)


def test_end_to_end_descent_matches_repeated_steps():
    loss = ll.LpLoss(np.eye(2), np.array([[2.0, 1.0]]), p=4)
    W = np.array([[0.1, 0.05]])
    run = ch3.end_to_end_descent(loss, W, 3, 0.05, 5)
    for _ in range(5):
        W = ch3.end_to_end_step(W, loss.grad(W), 3, 0.05)
    assert np.allclose(run.end_to_end[-1], W)
    assert list(run.steps) == [0, 1, 2, 3, 4, 5]
    assert np.allclose(run.t, run.steps * 0.05)


def test_end_to_end_descent_stop_and_divergence():
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))
    stopped = ch3.end_to_end_descent(
        loss, np.array([[0.5]]), 2, 0.1, 1000, record_every=100, stop_loss=1e-4
    )
    assert stopped.loss[-1] <= 1e-4 < stopped.loss[-2]
    diverged = ch3.end_to_end_descent(loss, np.array([[0.5]]), 2, 100.0, 1000)
    assert diverged.diverged and np.all(np.isfinite(diverged.loss))


@pytest.mark.parametrize(
    "name, kwargs",
    [("depth", {"depth": 0}), ("steps", {"steps": -1}), ("stop_loss", {"stop_loss": np.inf})],
)
def test_end_to_end_descent_validates(name, kwargs):
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))
    args = {"depth": 2, "steps": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        ch3.end_to_end_descent(
            loss, np.array([[0.5]]), args.pop("depth"), 0.1, args.pop("steps"), **args
        )


def test_iterations_to():
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))
    run = ch3.end_to_end_descent(loss, np.array([[0.0]]), 1, 0.5, 10)
    k = ch3.iterations_to(run, 1e-3)
    assert run.loss[int(k)] <= 1e-3 < run.loss[int(k) - 1]
    assert ch3.iterations_to(run, -1.0) == float("inf")


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_row_counts_match_general_route(depth):
    target = np.array([2.0, 1.0])
    loss = ch3.row_lp_problem(target, 4)
    start = 1e-3 * target / np.linalg.norm(target)
    w0 = np.zeros((1, 2)) if depth == 1 else start[None, :]
    for lr in (0.05, 0.3):
        run = ch3.end_to_end_descent(loss, w0, depth, lr, 3000, record_every=3000, stop_loss=1e-4)
        assert ch3.row_counts(target, 4, depth, 1e-4, [lr], 3000)[0] == ch3.iterations_to(run, 1e-4)


def test_row_counts_validates():
    with pytest.raises(ValueError, match="grid"):
        ch3.row_counts([1.0, 1.0], 4, 2, 1e-6, [0.0], 10)
    with pytest.raises(ValueError, match="p"):
        ch3.row_counts([1.0, 1.0], 1.5, 2, 1e-6, [0.1], 10)
    with pytest.raises(ValueError, match="target"):
        ch3.row_lp_problem(np.ones((2, 2)), 4)


def test_claim1_counts_structure_and_p2_control():
    result = ch3.claim1_counts(np.array([2.0, 1.0]), 2, (1, 2), 1e-6, np.logspace(-2, 0.5, 11), 500)
    assert result[1]["iterations"] == 1.0 and result[1]["lr"] == pytest.approx(1.0)
    assert result[2]["iterations"] > 1
    assert set(result[1]) == {
        "iterations",
        "lr",
        "robust_iterations",
        "robust_lr",
        "counts",
        "edge",
    }


def test_robust_best_ignores_isolated_lucky_step():
    grid = np.array([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
    counts = np.array([50.0, 40.0, 45.0, np.inf, 3.0, np.inf])  # 3 at 1.6 is isolated
    assert ch3.robust_best(counts, grid) == (50.0, 0.2)
    assert ch3.robust_best(np.full(6, np.inf), grid)[0] == float("inf")
    with pytest.raises(ValueError, match="counts"):
        ch3.robust_best(counts[:4], grid)


def test_row_counts_scales_change_the_problem():
    plain = ch3.row_counts([2.0, 1.0], 2, 1, 1e-6, [1.0], 50)
    scaled = ch3.row_counts([2.0, 1.0], 2, 1, 1e-6, [1.0], 50, scales=[1.0, 0.5])
    assert plain[0] == 1 and scaled[0] > 1


def test_best_step_search_picks_fastest():
    loss = ll.SquareLoss.to_target(np.array([[1.0]]))

    def run(lr):
        return ch3.end_to_end_descent(loss, np.array([[0.0]]), 1, lr, 50, stop_loss=1e-6)

    out = ch3.best_step_search(run, [0.1, 0.5, 0.9, 1.5], 1e-6)  # error factor |1 - lr| per step
    assert out["lr"] == 0.9 and out["edge"] is False
    with pytest.raises(ValueError, match="steps_grid"):
        ch3.best_step_search(run, [0.1], 1e-6)


def test_layer_step_vs_end_to_end_second_order():
    rng = np.random.default_rng(0)
    loss = ll.SquareLoss(rng.standard_normal((2, 5)), rng.standard_normal((2, 5)))
    net = ll.balanced_init(0.5 * rng.standard_normal((2, 2)), 3, rng=rng)
    e1 = ch3.layer_step_vs_end_to_end(loss, net, 1e-2)
    e2 = ch3.layer_step_vs_end_to_end(loss, net, 5e-3)
    assert 3.5 < e1 / e2 < 4.5


def test_paths_loss_curves_and_plots():
    target = np.array([2.0, 1.0])
    paths = ch3.paths_2d(target, 4, (1, 2), {1: 0.05, 2: 0.3}, 20)
    assert paths[1].shape == (21, 2) and np.allclose(paths[1][0], 0)
    curves = ch3.loss_curves(target, 4, {"gd": (1, 0.05), "deep": (2, 0.3)}, 20)
    assert curves["deep"].loss[-1] < curves["deep"].loss[0]
    fig, ax = plt.subplots()
    ch3.plot_paths_2d(ax, paths, target)
    ch3.plot_loss_curves(ax, curves)
    ch3.plot_family(ax, [2.0, 4.0], {"a": (np.array([2.0, 4.0]), 2, "-")}, predicted={2: 1.0})
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Section 3.2: the ablation arms, early stopping, the lower bound and the family


@pytest.mark.parametrize("depth", [2, 3])
def test_row_counts_arms_follow_their_formulas(depth):
    target, scales = ch3.weak_feature_instance(4.0)
    start = 1e-3 * target / np.linalg.norm(target)
    lr, n, x = 0.3, depth, scales
    for terms in ch3.UPDATE_TERMS:
        w, expected = start.copy(), np.inf
        for k in range(1, 400):
            r = x * (w - target)
            g = x * r**3
            w_hat = w / np.linalg.norm(w)
            factor = np.linalg.norm(w) ** (2 - 2 / n) if terms != "direction" else 1.0
            extra = (n - 1) * (w_hat @ g) * w_hat if terms != "norm" else 0.0
            w = w - lr * factor * (g + extra)
            if np.sum((x * (w - target)) ** 4) / 4 <= 1e-3:
                expected = k
                break
        count = ch3.row_counts(target, 4, n, 1e-3, [lr], 400, scales=scales, terms=terms)[0]
        assert np.isfinite(expected) and count == expected


def test_row_counts_arms_differ_and_validate():
    target, scales = ch3.weak_feature_instance(8.0)
    counts = {
        terms: ch3.row_counts(target, 4, 2, 1e-4, [0.5], 20_000, scales=scales, terms=terms)[0]
        for terms in ch3.UPDATE_TERMS
    }
    assert len(set(counts.values())) == 3
    with pytest.raises(ValueError, match="terms"):
        ch3.row_counts(target, 4, 2, 1e-4, [0.5], 10, terms="momentum")
    with pytest.raises(ValueError, match="scales"):
        ch3.row_counts(target, 4, 2, 1e-4, [0.5], 10, scales=[1.0, -1.0])


def test_row_counts_early_stop_keeps_both_bests():
    target, scales = ch3.weak_feature_instance(4.0)
    grid = np.logspace(-2, 1.5, 22)
    for depth in (1, 2):
        full = ch3.row_counts(target, 4, depth, 1e-4, grid, 5000, scales=scales, early_stop=False)
        fast = ch3.row_counts(target, 4, depth, 1e-4, grid, 5000, scales=scales)
        assert fast.min() == full.min() and np.argmin(fast) == np.argmin(full)
        assert ch3.robust_best(fast, grid) == ch3.robust_best(full, grid)
        finite = np.isfinite(fast)
        assert np.array_equal(fast[finite], full[finite])


def test_row_lp_problem_scales_match_row_counts():
    target, scales = ch3.weak_feature_instance(3.0)
    loss = ch3.row_lp_problem(target, 4, scales)
    assert loss.value(target[None, :]) == 0.0
    assert np.isclose(loss.value(np.zeros((1, 2))), 0.5)
    run = ch3.end_to_end_descent(loss, np.zeros((1, 2)), 1, 1.5, 2000, stop_loss=1e-4)
    assert (
        ch3.iterations_to(run, 1e-4)
        == ch3.row_counts(target, 4, 1, 1e-4, [1.5], 2000, scales=scales)[0]
    )


def test_weak_feature_instance():
    target, scales = ch3.weak_feature_instance(5.0)
    assert np.allclose(target, [1.0, 5.0]) and np.allclose(scales, [1.0, 0.2])
    with pytest.raises(ValueError, match="s"):
        ch3.weak_feature_instance(0.5)


@pytest.mark.parametrize("p", [4, 6])
def test_gd_lower_bound_holds_for_every_step(p):
    target, scales = ch3.weak_feature_instance(4.0)
    info = ch3.gd_lower_bound(target, p, 1e-4, scales)
    assert info["coordinate"] == 1 and np.isclose(info["eta_max"], 2.0)
    steps = np.concatenate([np.linspace(0.2, 1.99, 40), [2.0, 2.5]])
    counts = ch3.row_counts(target, p, 1, 1e-4, steps, 100_000, scales=scales, early_stop=False)
    assert np.all(counts >= info["bound"])
    assert np.all(np.isinf(counts[-2:]))  # at or above eta_max nothing converges
    assert counts.min() <= 1.5 * info["bound"]  # and the bound is not far off


def test_gd_lower_bound_limit_and_validation():
    target, scales = ch3.weak_feature_instance(8.0)
    base = ch3.gd_lower_bound(target, 4, 1e-5, scales)
    assert ch3.gd_lower_bound(target, 4, 1e-5, scales, limit=1.0)["bound"] > 1.9 * base["bound"]
    with pytest.raises(ValueError, match="p"):
        ch3.gd_lower_bound(target, 2, 1e-5, scales)
    with pytest.raises(ValueError, match="target"):
        ch3.gd_lower_bound([1.0, 0.0], 4, 1e-5)
    with pytest.raises(ValueError, match="eps"):
        ch3.gd_lower_bound(target, 4, 10.0, scales)


def test_family_counts_structure():
    grid = np.logspace(-2, 1.5, 15)
    out = ch3.family_counts(4, [2.0, 4.0], (2,), 1e-3, grid, 20_000, terms=("both", "norm"))
    assert set(out) == {("gd", 1), ("both", 2), ("norm", 2)}
    assert out["gd", 1]["iterations"].shape == (2,)
    assert out["gd", 1]["iterations"][1] > out["gd", 1]["iterations"][0]
    with pytest.raises(ValueError, match="terms"):
        ch3.family_counts(4, [2.0], (2,), 1e-3, grid, 100, terms=("all",))
    with pytest.raises(ValueError, match="s_values"):
        ch3.family_counts(4, [], (2,), 1e-3, grid, 100)


def test_row_run_matches_row_counts():
    target, scales = ch3.weak_feature_instance(4.0)
    for terms in ch3.UPDATE_TERMS:
        values = ch3.row_run(target, 4, 3, 0.5, 3000, scales=scales, terms=terms)
        count = ch3.row_counts(target, 4, 3, 1e-4, [0.5], 3000, scales=scales, terms=terms)[0]
        assert int(np.argmax(values <= 1e-4)) == count
    stopped = ch3.row_run(target, 4, 2, 0.5, 3000, scales=scales, stop_loss=1e-4)
    assert np.isnan(stopped[-1]) and np.nanmin(stopped) <= 1e-4
    diverged = ch3.row_run(target, 4, 1, 50.0, 100, scales=scales)
    assert np.isnan(diverged[-1])
    with pytest.raises(ValueError, match="terms"):
        ch3.row_run(target, 4, 2, 0.5, 10, terms="x")


# ---------------------------------------------------------------------------------------------
# Section 3.4: summaries of training curves


def test_trains_and_best_step_index():
    runs = np.ones((3, 2, 4))
    runs[0, :, -1] = [0.05, 0.08]  # trains
    runs[1, :, -1] = [0.01, np.nan]  # one seed diverged
    runs[2, :, -1] = [0.02, 0.03]  # trains, lower median
    assert list(ch3.trains(runs)) == [True, False, True]
    assert ch3.best_step_index(runs) == 2
    assert list(ch3.trains(runs, fraction=0.04)) == [False, False, True]
    with pytest.raises(ValueError, match="runs"):
        ch3.trains(np.ones((2, 3)))
    with pytest.raises(ValueError, match="no step size trains"):
        ch3.best_step_index(np.ones((2, 2, 3)))
