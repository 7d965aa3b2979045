"""The mutation catalog (mutants/*.yml) and its runner (scripts/mutants.py): entries are well formed, every
edit still applies to the library exactly once, and bad entries are refused. Running the mutants themselves
is `make mutants` (minutes, not a unit test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutants_runner", ROOT / "scripts" / "mutants.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

CATALOGS = sorted((ROOT / "mutants").glob("*.yml"))
NOTEBOOK = "chapters/ch1/1-3-end-to-end-dynamics.ipynb"


def entry(**changes) -> dict:
    base = {
        "id": "test-mutant",
        "file": "linnet_lib/dynamics.py",
        "function": "end_to_end_velocity",
        "what": "a test edit",
        "find": "left((j - 1) / n) @ G @ right((n - j) / n)",
        "replace": "left(j / n) @ G @ right((n - j) / n)",
        "labels": ["cr-theorem-1"],
        "notebooks": [NOTEBOOK],
    }
    base.update(changes)
    return base


def write(tmp_path: Path, entries: list[dict]) -> Path:
    import yaml

    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(entries))
    return path


@pytest.mark.skipif(not CATALOGS, reason="no catalog files yet")
def test_every_catalog_edit_applies_exactly_once():
    mutants = runner.load_catalog(CATALOGS)
    for mutant in mutants:
        runner.check_applies(mutant)
        labels_ok = all(
            isinstance(label, str) and ("-" in label or label == "figure")
            for label in mutant["labels"]
        )
        assert labels_ok, mutant["id"]


def test_mutate_replaces_the_one_occurrence():
    assert runner.mutate("a + b", entry(find="+", replace="-")) == "a - b"


@pytest.mark.parametrize("source", ["a b", "a + b + c"])
def test_mutate_refuses_missing_or_repeated_text(source):
    with pytest.raises(runner.CatalogError, match="exactly once"):
        runner.mutate(source, entry(find="+", replace="-"))


def test_load_catalog_accepts_a_good_entry(tmp_path):
    (mutant,) = runner.load_catalog([write(tmp_path, [entry()])])
    runner.check_applies(mutant)
    assert mutant["catalog"] == "catalog.yml"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"labels": []}, "labels must be a non-empty list"),
        ({"notebooks": ["chapters/no-such.ipynb"]}, "no notebook"),
        ({"replace": "left((j - 1) / n) @ G @ right((n - j) / n)"}, "the same"),
    ],
)
def test_load_catalog_refuses_bad_entries(tmp_path, bad, message):
    with pytest.raises(runner.CatalogError, match=message):
        runner.load_catalog([write(tmp_path, [entry(**bad)])])


def test_load_catalog_refuses_missing_keys_and_duplicate_ids(tmp_path):
    incomplete = entry()
    del incomplete["labels"]
    with pytest.raises(runner.CatalogError, match="lacks"):
        runner.load_catalog([write(tmp_path, [incomplete])])
    with pytest.raises(runner.CatalogError, match="duplicate"):
        runner.load_catalog([write(tmp_path, [entry(), entry()])])


def test_check_applies_refuses_files_outside_the_library():
    with pytest.raises(runner.CatalogError, match="linnet_lib"):
        runner.check_applies(entry(file="scripts/mutants.py"))


def test_fork_server_reports_checks_errors_and_survivors(tmp_path):
    """The default runner (forked children running code cells in an IPython shell) classifies the
    three outcomes as the kernel runner does, and its children import the mutated copy: the edit
    adds a function that only the copy has, and the "mutated" notebook survives only if it sees it."""
    import nbformat

    cells = {
        "check": ["import linnet_lib as ll", "ll.check('own-test-label', 2.0, 1.0)"],
        "error": ["import linnet_lib as ll", "1 / 0"],
        "survived": ["import linnet_lib as ll", "ll.check('own-test-label', 0.5, 1.0)"],
        "mutated": ["import linnet_lib as ll", "assert ll.checks.only_in_the_copy() == 1"],
    }
    mutants = []
    for name, sources in cells.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        mutants.append(
            entry(
                id=name,
                file="linnet_lib/checks.py",
                find="def check(\n",
                replace="def only_in_the_copy():\n    return 1\n\n\ndef check(\n",
                notebooks=[str(path)],
            )
        )
    results = {}
    runner.run_forked(mutants, 2, lambda m, r: results.__setitem__(m["id"], r))
    assert results["check"]["outcome"] == "check", results["check"]["detail"]
    assert results["check"]["label"] == "own-test-label"
    assert results["error"]["outcome"] == "error"
    assert "ZeroDivisionError" in results["error"]["detail"]
    assert results["survived"]["outcome"] == "survived"
    assert results["mutated"]["outcome"] == "survived", results["mutated"]
    assert not hasattr(__import__("linnet_lib").checks, "only_in_the_copy")
