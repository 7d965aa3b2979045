"""The book's numerical checks: one line of output each, and an exception when a check fails.

Format (BOOK_GUIDE section 8)::

    check cr-theorem-1: ok, max relative difference ~3e-09 <= 1e-07 (depth 2, 3, 4)

Round-off-level figures are printed with a leading ``~`` and one significant digit (the nbval
sanitizer masks them, since they depend on the BLAS thread count); figures that carry meaning
(rates, ratios, counts) are printed to 3 significant digits and compared by nbval as they are.
"""

from __future__ import annotations

import contextlib
import numbers
import types

import numpy as np


class CheckFailed(AssertionError):
    """A numerical check of the book failed: the statement, the code or our reading is wrong."""


def _number(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    return float(x)


def _label(label) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string such as 'cr-theorem-1', got {label!r}")
    return label


def _fmt(x: float, roundoff: bool) -> str:
    return f"~{x:.0e}" if roundoff else f"{x:.3g}"


def _report(label: str, ok: bool, text: str, detail: str) -> None:
    line = f"check {label}: {'ok' if ok else 'FAILED'}, {text}"
    if detail:
        line += f" ({detail})"
    if not ok:
        raise CheckFailed(line)
    print(line)


def check(
    label: str,
    measured,
    tol,
    *,
    what: str = "max relative difference",
    detail: str = "",
    roundoff: bool = True,
) -> None:
    """Assert ``measured <= tol`` and print one line. NaN fails."""
    label = _label(label)
    m, t = _number("measured", measured), _number("tol", tol)
    ok = bool(m <= t)
    _report(label, ok, f"{what} {_fmt(m, roundoff)} <= {t:.3g}", detail)


def check_at_least(
    label: str,
    measured,
    bound,
    *,
    what: str,
    detail: str = "",
    roundoff: bool = False,
) -> None:
    """Assert ``measured >= bound`` and print one line. NaN fails."""
    label = _label(label)
    m, b = _number("measured", measured), _number("bound", bound)
    ok = bool(m >= b)
    _report(label, ok, f"{what} {_fmt(m, roundoff)} >= {b:.3g}", detail)


def check_between(
    label: str,
    measured,
    low,
    high,
    *,
    what: str,
    detail: str = "",
    roundoff: bool = False,
) -> None:
    """Assert ``low <= measured <= high`` and print one line. NaN fails."""
    label = _label(label)
    m, lo, hi = _number("measured", measured), _number("low", low), _number("high", high)
    if lo > hi:
        raise ValueError(f"low must be <= high, got low={lo} and high={hi}")
    ok = bool(lo <= m <= hi)
    _report(label, ok, f"{what} {_fmt(m, roundoff)} in [{lo:.3g}, {hi:.3g}]", detail)


def relative_difference(a, b) -> float:
    """``||a - b|| / max(||a||, ||b||)`` in the Frobenius/Euclidean norm (0 when both are 0)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def fingerprint(name: str, **values) -> None:
    """Print a figure's numbers to 3 significant digits, so nbval notices when a figure changes.

    ``ll.fingerprint("fig-1-3", final_loss=r.loss[-1], sigma=r.singular_values[-1])`` prints
    ``fingerprint fig-1-3: final_loss=0.0123 sigma=[1 0.5]``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string such as 'fig-1-3', got {name!r}")
    if not values:
        raise ValueError("fingerprint needs at least one keyword value")
    parts = []
    for key, val in values.items():
        try:
            arr = np.asarray(val, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key} must be a number or an array of numbers, got {val!r}") from exc
        if val is None or arr.dtype == object:
            raise ValueError(f"{key} must be a number or an array of numbers, got {val!r}")
        if arr.ndim == 0:
            parts.append(f"{key}={float(arr):.3g}")
        else:
            parts.append(f"{key}=[" + " ".join(f"{x:.3g}" for x in arr.ravel()) + "]")
    print(f"fingerprint {name}: " + " ".join(parts))


class ForbiddenCall(AssertionError):
    """A function that a graded exercise asks the student to write called the library's version."""


# Names of forbidden functions called inside forbidden_calls blocks (see there).
_forbidden_hits: list[str] = []


def _forbidden_code(name: str):
    """Code raising ForbiddenCall, self-contained (no free variables, only builtins), so that it can
    replace the code of a function defined in any module."""
    message = (
        f"{name} of linnet_lib was called: this exercise asks you to compute it yourself, "
        "without the library's function"
    )
    source = (
        "def forbidden(*args, **kwargs):\n"
        "    checks = __import__('linnet_lib.checks', fromlist=['ForbiddenCall'])\n"
        f"    checks._forbidden_hits.append({name!r})\n"
        f"    raise checks.ForbiddenCall({message!r})\n"
    )
    namespace: dict = {}
    exec(compile(source, "<forbidden_calls>", "exec"), namespace)
    return namespace["forbidden"].__code__


@contextlib.contextmanager
def forbidden_calls(*functions):
    """Within the block, calling any of ``functions`` raises :class:`ForbiddenCall`.

    The grading tests of the exercises use it where a student must implement something the library
    already has: the student's function runs inside the block, so handing the work to the library
    fails however the function was reached. The function objects themselves are changed (their code
    is swapped and restored on exit), not the module attributes that name them, so aliases (``from
    linnet_lib.dynamics import end_to_end_velocity``, ``f = ll.end_to_end_velocity``, a default
    argument) are caught as well as ``ll.end_to_end_velocity(...)``, and a call that the code under
    test catches still makes the block raise on exit. Other library functions that call a forbidden
    one internally fail too. A copy of the library's source text is not detected.

    Parameters
    ----------
    *functions
        Plain Python functions (``ll.end_to_end_velocity``, ``ll.ch2.distance_to_deficient``); a bound
        method stands for its underlying function.
    """
    if not functions:
        raise ValueError("functions must name at least one function to forbid")
    targets = []
    for function in functions:
        function = getattr(function, "__func__", function)
        if not isinstance(function, types.FunctionType):
            raise ValueError(f"functions must be Python functions, got {function!r}")
        if function.__code__.co_freevars:
            raise ValueError(f"functions must not be closures, got {function.__qualname__}")
        targets.append(function)
    saved = [function.__code__ for function in targets]
    hits_before = len(_forbidden_hits)
    try:
        for function in targets:
            function.__code__ = _forbidden_code(function.__qualname__)
        yield
    finally:
        for function, code in zip(targets, saved, strict=True):
            function.__code__ = code
    # A call the student's code caught (``except Exception``) still fails the block.
    called = _forbidden_hits[hits_before:]
    del _forbidden_hits[hits_before:]
    if called:
        raise ForbiddenCall(f"{called[0]} of linnet_lib was called inside the block")
