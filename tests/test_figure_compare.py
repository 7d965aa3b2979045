"""The figure comparison that `make test` adds to nbval (scripts/figure_compare.py), and the
per-figure tolerances that notebooks may declare."""

import base64
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import figure_compare  # noqa: E402


def png(log: bool = True, curves: int = 2, size=(3, 2)) -> bytes:
    fig, ax = plt.subplots(figsize=size)
    for k in range(curves):
        ax.plot([1, 2, 3, 4], [1, 10 ** (k + 1), 100, 1000], label=f"curve {k}")
    if log:
        ax.set_yscale("log")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    plt.close(fig)
    return buffer.getvalue()


def output(data: bytes) -> dict:
    return {"output_type": "display_data", "data": {"image/png": base64.b64encode(data).decode()}}


def test_same_figure_passes_and_changed_drawing_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(figure_compare, "DIFF_DIR", tmp_path)
    ref = png()
    assert figure_compare.compare_cell([output(ref)], [output(png())], {}, "same") == []
    for changed in (png(log=False), png(curves=1)):
        problems = figure_compare.compare_cell([output(ref)], [output(changed)], {}, "changed")
        assert len(problems) == 1 and "RMS pixel difference" in problems[0]
    assert (tmp_path / "changed-0-diff.png").exists()


def test_missing_added_and_resized_figures_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(figure_compare, "DIFF_DIR", tmp_path)
    ref = png()
    assert (
        "1 stored figures, 0 in the new run"
        in figure_compare.compare_cell([output(ref)], [], {}, "gone")[0]
    )
    assert (
        "1 stored figures, 2"
        in figure_compare.compare_cell([output(ref)], [output(ref), output(ref)], {}, "added")[0]
    )
    resized = figure_compare.compare_cell([output(ref)], [output(png(size=(4, 2)))], {}, "size")
    assert len(resized) == 1 and "size" in resized[0].lower()


def test_cell_tolerance_from_metadata():
    assert figure_compare.tolerance({}) == figure_compare.RMS_TOL
    assert figure_compare.tolerance({"linnet": {"figure_rms": 4}}) == 4.0


def test_slider_frames_are_images_too():
    frame = base64.b64encode(png()).decode()
    html = f'<img src="data:image/png;base64,{frame}"><script>["data:image/png;base64,{frame}"]'
    found = figure_compare.cell_images([{"data": {"text/html": html}}])
    assert [what for what, _ in found] == ["output 0 (slider frame 0)", "output 0 (slider frame 1)"]


NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb")) + sorted(
    (ROOT / "exercises").glob("*.ipynb")
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_own_figure_tolerances_are_explained_on_the_page(path):
    """A cell that loosens the figure tolerance says why in its metadata, and the page shows the
    reason (a markdown cell quotes it)."""
    nb = json.loads(path.read_text())
    markdown = " ".join(
        " ".join("".join(c["source"]).split()) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    for cell in nb["cells"]:
        own = cell.get("metadata", {}).get("linnet", {})
        if "figure_rms" not in own:
            continue
        reason = own.get("figure_reason", "")
        assert float(own["figure_rms"]) > figure_compare.RMS_TOL
        assert reason.strip(), f"{path.name}: figure_rms without figure_reason"
        assert " ".join(reason.split()) in markdown, (
            f"{path.name}: the reason for figure_rms is not shown in a markdown cell: {reason!r}"
        )
