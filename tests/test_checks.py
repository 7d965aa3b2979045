"""Tests of linnet_lib.checks (the book's one-line numerical checks and figure fingerprints) and of
the small plotting helpers."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

import linnet_lib as ll

# ---------------------------------------------------------------------------------------------
# check


def test_check_prints_the_documented_line(capsys):
    ll.check("cr-theorem-1", 3.2e-9, 1e-7, detail="depth 2, 3, 4")
    assert capsys.readouterr().out == (
        "check cr-theorem-1: ok, max relative difference ~3e-09 <= 1e-07 (depth 2, 3, 4)\n"
    )


def test_check_without_detail_has_no_parentheses(capsys):
    ll.check("cr-lemma-1", 2e-12, 1e-8)
    assert (
        capsys.readouterr().out == "check cr-lemma-1: ok, max relative difference ~2e-12 <= 1e-08\n"
    )


def test_check_roundoff_figure_has_one_significant_digit(capsys):
    ll.check("own-x", 0.000123456, 1.0)
    assert "~1e-04 <=" in capsys.readouterr().out


def test_check_without_roundoff_prints_three_significant_digits(capsys):
    ll.check("own-x", 0.0123456, 0.05, what="final loss", roundoff=False)
    assert capsys.readouterr().out == "check own-x: ok, final loss 0.0123 <= 0.05\n"


def test_check_uses_the_given_description(capsys):
    ll.check("cr-proposition-2", 1e-10, 1e-8, what="change in unbalancedness")
    assert "ok, change in unbalancedness ~1e-10 <= 1e-08" in capsys.readouterr().out


def test_check_passes_at_equality(capsys):
    ll.check("own-x", 1e-7, 1e-7)
    assert capsys.readouterr().out.startswith("check own-x: ok")


def test_check_accepts_numpy_scalars(capsys):
    ll.check("own-x", np.float64(1e-9), np.float32(1e-7))
    assert "ok" in capsys.readouterr().out


def test_check_raises_check_failed_when_measured_exceeds_tol(capsys):
    with pytest.raises(ll.CheckFailed, match=r"check cr-theorem-1: FAILED, .* ~2e-03 <= 1e-07"):
        ll.check("cr-theorem-1", 2e-3, 1e-7)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("measured", [np.nan, np.inf])
def test_check_raises_check_failed_on_nan_or_inf(measured):
    with pytest.raises(ll.CheckFailed, match="FAILED"):
        ll.check("own-x", measured, 1.0)


def test_check_failed_is_an_assertion_error():
    assert issubclass(ll.CheckFailed, AssertionError)
    with pytest.raises(AssertionError):
        ll.check("own-x", 2.0, 1.0)


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_check_rejects_bad_label(bad):
    with pytest.raises(ValueError, match="label"):
        ll.check(bad, 0.0, 1.0)


@pytest.mark.parametrize("bad", ["0.1", None, True, [0.1], np.array([0.1, 0.2])])
def test_check_rejects_measured_that_is_not_a_real_number(bad):
    with pytest.raises(ValueError, match="measured"):
        ll.check("own-x", bad, 1.0)


@pytest.mark.parametrize("bad", ["1e-7", None, False])
def test_check_rejects_tol_that_is_not_a_real_number(bad):
    with pytest.raises(ValueError, match="tol"):
        ll.check("own-x", 0.0, bad)


# ---------------------------------------------------------------------------------------------
# check_at_least


def test_check_at_least_prints_the_documented_line(capsys):
    ll.check_at_least("cr-theorem-2", 1.98765, 1.5, what="rate", detail="depth 3")
    assert capsys.readouterr().out == "check cr-theorem-2: ok, rate 1.99 >= 1.5 (depth 3)\n"


def test_check_at_least_with_roundoff_uses_the_tilde_format(capsys):
    ll.check_at_least("own-x", 3.3e-5, 1e-6, what="gap", roundoff=True)
    assert capsys.readouterr().out == "check own-x: ok, gap ~3e-05 >= 1e-06\n"


def test_check_at_least_passes_at_equality(capsys):
    ll.check_at_least("own-x", 2.0, 2.0, what="ratio")
    assert "ok" in capsys.readouterr().out


def test_check_at_least_raises_check_failed_below_the_bound():
    with pytest.raises(ll.CheckFailed, match=r"check own-x: FAILED, ratio 1.2 >= 1.5"):
        ll.check_at_least("own-x", 1.2, 1.5, what="ratio")


def test_check_at_least_raises_check_failed_on_nan():
    with pytest.raises(ll.CheckFailed):
        ll.check_at_least("own-x", np.nan, 0.0, what="ratio")


@pytest.mark.parametrize(
    "args, name",
    [(("", 1.0, 0.0), "label"), (("own-x", "1", 0.0), "measured"), (("own-x", 1.0, None), "bound")],
)
def test_check_at_least_rejects_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        ll.check_at_least(*args, what="ratio")


# ---------------------------------------------------------------------------------------------
# check_between


def test_check_between_prints_the_documented_line(capsys):
    ll.check_between("cr-claim-3", 2.01234, 1.9, 2.1, what="slope", detail="log-log fit")
    assert (
        capsys.readouterr().out == "check cr-claim-3: ok, slope 2.01 in [1.9, 2.1] (log-log fit)\n"
    )


def test_check_between_includes_both_ends(capsys):
    ll.check_between("own-x", 1.0, 1.0, 2.0, what="v")
    ll.check_between("own-x", 2.0, 1.0, 2.0, what="v")
    assert capsys.readouterr().out.count(": ok,") == 2


@pytest.mark.parametrize("measured", [0.5, 2.5, np.nan, np.inf])
def test_check_between_raises_check_failed_outside_the_interval(measured):
    with pytest.raises(ll.CheckFailed, match="check own-x: FAILED, v .* in \\[1, 2\\]"):
        ll.check_between("own-x", measured, 1.0, 2.0, what="v")


def test_check_between_rejects_low_above_high():
    with pytest.raises(ValueError, match="low"):
        ll.check_between("own-x", 1.5, 2.0, 1.0, what="v")


@pytest.mark.parametrize(
    "args, name",
    [
        ((None, 1.0, 0.0, 2.0), "label"),
        (("own-x", None, 0.0, 2.0), "measured"),
        (("own-x", 1.0, "0", 2.0), "low"),
        (("own-x", 1.0, 0.0, [2.0]), "high"),
    ],
)
def test_check_between_rejects_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        ll.check_between(*args, what="v")


# ---------------------------------------------------------------------------------------------
# relative_difference


def test_relative_difference_divides_by_the_larger_norm():
    assert ll.relative_difference([3.0, 4.0], [0.0, 0.0]) == 1.0
    assert ll.relative_difference([[1.0, 0.0]], [[2.0, 0.0]]) == 0.5


def test_relative_difference_is_symmetric(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert ll.relative_difference(a, b) == ll.relative_difference(b, a)


def test_relative_difference_is_scale_invariant(rng):
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    assert ll.relative_difference(1e6 * a, 1e6 * b) == pytest.approx(ll.relative_difference(a, b))


def test_relative_difference_of_equal_arrays_is_zero(rng):
    a = rng.standard_normal((2, 2))
    assert ll.relative_difference(a, a.copy()) == 0.0


def test_relative_difference_of_two_zero_arrays_is_zero():
    assert ll.relative_difference(np.zeros(3), np.zeros(3)) == 0.0


def test_relative_difference_returns_a_python_float(rng):
    assert type(ll.relative_difference(rng.standard_normal(2), rng.standard_normal(2))) is float


def test_relative_difference_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        ll.relative_difference(np.zeros((2, 3)), np.zeros((3, 2)))


# ---------------------------------------------------------------------------------------------
# fingerprint


def test_fingerprint_prints_scalars_and_arrays_to_three_significant_digits(capsys):
    ll.fingerprint("fig-1-3", final_loss=0.0123456, sigma=np.array([1.0, 0.5]))
    assert capsys.readouterr().out == "fingerprint fig-1-3: final_loss=0.0123 sigma=[1 0.5]\n"


def test_fingerprint_flattens_matrices_and_keeps_keyword_order(capsys):
    ll.fingerprint("fig-2-1", b=[[1.23456, 2.0], [3.0, 4e-7]], a=12345.6)
    assert capsys.readouterr().out == "fingerprint fig-2-1: b=[1.23 2 3 4e-07] a=1.23e+04\n"


def test_fingerprint_rejects_no_values():
    with pytest.raises(ValueError, match="at least one keyword value"):
        ll.fingerprint("fig-1-3")


@pytest.mark.parametrize("bad", ["abc", None])
def test_fingerprint_rejects_non_numeric_value(bad):
    with pytest.raises(ValueError, match="final_loss"):
        ll.fingerprint("fig-1-3", final_loss=bad)


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_fingerprint_rejects_bad_name(bad):
    with pytest.raises(ValueError, match="name"):
        ll.fingerprint(bad, x=1.0)


# ---------------------------------------------------------------------------------------------
# plotting helpers


def test_depth_color_is_fixed_and_distinct_for_depths_one_to_six():
    colors = [ll.depth_color(depth) for depth in range(1, 7)]
    assert len(set(colors)) == 6
    assert colors == [ll.depth_color(depth) for depth in range(1, 7)]
    assert all(mpl.colors.is_color_like(c) for c in colors)


def test_depth_color_has_a_fallback_for_large_depths():
    assert mpl.colors.is_color_like(ll.depth_color(12))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "2"])
def test_depth_color_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        ll.depth_color(bad)


def test_use_style_sets_rcparams_smoke():
    with mpl.rc_context():
        ll.use_style()
        assert mpl.rcParams["axes.grid"] is True
        assert mpl.rcParams["axes.spines.top"] is False


def test_forbidden_calls_catches_aliases_and_restores():
    from linnet_lib.dynamics import end_to_end_velocity as alias

    W = np.eye(2)
    expected = ll.end_to_end_velocity(W, W, 2)

    def student(W, G, f=alias):
        return f(W, G, 2)

    with pytest.raises(ll.ForbiddenCall, match="end_to_end_velocity"):
        with ll.forbidden_calls(ll.end_to_end_velocity):
            student(W, W)
    np.testing.assert_array_equal(alias(W, W, 2), expected)


def test_forbidden_calls_sees_a_caught_call():
    def sneaky(W):
        try:
            return ll.end_to_end(W)
        except Exception:
            return W[0]

    with pytest.raises(ll.ForbiddenCall, match="inside the block"):
        with ll.forbidden_calls(ll.end_to_end):
            sneaky([np.eye(2)])
    np.testing.assert_array_equal(ll.end_to_end([np.eye(2)]), np.eye(2))


def test_forbidden_calls_lets_other_functions_run():
    with ll.forbidden_calls(ll.end_to_end_velocity):
        assert ll.end_to_end([np.eye(2), 2 * np.eye(2)])[0, 0] == 2.0


def test_forbidden_calls_rejects_bad_input():
    with pytest.raises(ValueError, match="functions"):
        with ll.forbidden_calls():
            pass
    with pytest.raises(ValueError, match="functions"):
        with ll.forbidden_calls(np.linalg.svd):
            pass
