"""Repository-wide pytest hooks: nbval also compares every figure as a picture.

nbval compares a re-run notebook's text outputs with the stored ones and skips images. Here each
cell's images (``image/png`` outputs and the frames of static sliders) are compared too, by
``scripts/figure_compare.py`` (matplotlib's ``compare_images``, RMS tolerance): a figure that
changes, appears or disappears fails the cell, with the measured difference and a diff image saved
under ``_build/figure-diffs/``. Runs in the same pass that re-executes the notebooks.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

import figure_compare  # noqa: E402

try:
    import nbval.plugin as _nbval
except ImportError:  # nbval not installed: nothing to extend
    _nbval = None

if _nbval is not None:
    _compare_text = _nbval.IPyNbCell.compare_outputs

    def _compare_text_and_figures(self, test, ref, skip_compare=None):
        if not _compare_text(self, test, ref, skip_compare):
            return False
        where = Path(str(self.fspath)).resolve().relative_to(ROOT)
        stem = str(where.with_suffix("")).replace("/", "__") + f"-cell{self.cell_num}"
        problems = figure_compare.compare_cell(ref, test, self.cell.get("metadata"), stem)
        first = (self.cell.get("source") or "").strip().splitlines()[:1]
        where = (
            f"code cell {self.cell_num} ({first[0][:60]!r})" if first else f"cell {self.cell_num}"
        )
        for problem in problems:
            self.comparison_traceback.append(f"figure changed in {where}: {problem}")
        if problems:
            self.comparison_traceback.append(
                "if the change is intended, re-run the notebook with `make execute NB=...` "
                "and commit its new outputs"
            )
        return not problems

    _nbval.IPyNbCell.compare_outputs = _compare_text_and_figures


def pytest_sessionstart(session):
    """Start each run with no diff images from an earlier one (in the controller only, not in
    each pytest-xdist worker)."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(figure_compare.DIFF_DIR, ignore_errors=True)
