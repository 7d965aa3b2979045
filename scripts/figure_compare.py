"""Compare the figures of a notebook run with the committed ones, as pictures.

Used by the root ``conftest.py`` (nbval re-runs every notebook in ``make test`` and
``make test-portable``; this adds an image comparison to its text comparison of each cell) and by
``scripts/mutants.py`` (a mutant of drawing code is killed when a figure changes).

The images of a cell are its ``image/png`` outputs, in order, followed by the pre-rendered frames
of its static sliders (PNG data URIs inside a ``text/html`` output, see
``linnet_lib.interactive``). Two images match when they have the same size and the RMS of their
pixel difference (matplotlib's ``compare_images``, on a 0-255 scale) is at most the tolerance:
``RMS_TOL`` by default, or the ``linnet.figure_rms`` of the cell's metadata for a figure whose
content varies with round-off (the notebook must then explain why in a markdown cell, quoting
``linnet.figure_reason``).
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
from pathlib import Path

from matplotlib.testing.compare import compare_images
from matplotlib.testing.exceptions import ImageComparisonFailure

# Default tolerance on the RMS pixel difference (0-255 scale). Measured on the committed figures:
# re-running on this machine gives 0 (the same bytes); the emulated other machines of
# `make test-portable` move no figure by more than ~0.1; removing one curve, a bound line or a
# legend, or making a log axis linear, moves a figure by 2 or more. See the README's author section.
RMS_TOL = 0.5

DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
DIFF_DIR = Path(__file__).resolve().parent.parent / "_build" / "figure-diffs"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cell_images(outputs) -> list[tuple[str, bytes]]:
    """``(what, png bytes)`` for every image of a cell's outputs, in order: each ``image/png``
    output, then the frames of each static-slider HTML output."""
    images, frames = [], []
    for k, out in enumerate(outputs):
        data = out.get("data", {}) if hasattr(out, "get") else {}
        if "image/png" in data:
            images.append((f"output {k} (image)", base64.b64decode(_text(data["image/png"]))))
        if "text/html" in data:
            found = DATA_URI.findall(_text(data["text/html"]))
            frames += [
                (f"output {k} (slider frame {j})", base64.b64decode(b64))
                for j, b64 in enumerate(found)
            ]
    return images + frames


def tolerance(metadata) -> float:
    """The cell's RMS tolerance: its ``linnet.figure_rms`` metadata, else :data:`RMS_TOL`."""
    own = (metadata or {}).get("linnet", {}).get("figure_rms")
    return RMS_TOL if own is None else float(own)


def compare_png(expected: bytes, actual: bytes, tol: float, stem: str) -> dict | None:
    """None when the two PNG images match within ``tol``; otherwise a dict with ``rms`` (or
    ``reason`` for a size change) and, for a measured difference, the paths of the expected,
    actual and difference images saved under ``_build/figure-diffs/<stem>-*.png``."""
    if expected == actual:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exp, act = Path(tmp) / "expected.png", Path(tmp) / "actual.png"
        exp.write_bytes(expected)
        act.write_bytes(actual)
        try:
            result = compare_images(str(exp), str(act), tol, in_decorator=True)
        except ImageComparisonFailure as err:  # different sizes
            DIFF_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(exp, DIFF_DIR / f"{stem}-expected.png")
            shutil.copy(act, DIFF_DIR / f"{stem}-actual.png")
            return {"reason": str(err).strip().splitlines()[0], "rms": float("inf")}
        if result is None:
            return None
        DIFF_DIR.mkdir(parents=True, exist_ok=True)
        saved = {}
        for key, name in (("expected", "expected"), ("actual", "actual"), ("diff", "diff")):
            target = DIFF_DIR / f"{stem}-{name}.png"
            shutil.copy(result[key], target)
            saved[key] = str(target)
        return {"rms": float(result["rms"]), **saved}


def compare_cell(ref_outputs, test_outputs, metadata, stem: str) -> list[str]:
    """Problems found comparing the images of a cell's stored outputs with a fresh run's: a
    figure missing or added, or one that differs by more than the cell's tolerance."""
    ref, test = cell_images(ref_outputs), cell_images(test_outputs)
    if len(ref) != len(test):
        return [
            f"{len(ref)} stored figures, {len(test)} in the new run "
            f"(stored: {[w for w, _ in ref]}; new: {[w for w, _ in test]})"
        ]
    tol = tolerance(metadata)
    problems = []
    for k, ((what, expected), (_, actual)) in enumerate(zip(ref, test, strict=True)):
        found = compare_png(expected, actual, tol, f"{stem}-{k}")
        if found is None:
            continue
        if "reason" in found:
            problems.append(f"{what}: {found['reason']}")
        else:
            problems.append(
                f"{what}: RMS pixel difference {found['rms']:.3g} > tolerance {tol:g}; "
                f"diff image {found['diff']}"
            )
    return problems
