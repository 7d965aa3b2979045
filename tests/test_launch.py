"""Launching the notebooks outside the book: Binder, Colab and downloaded copies.

- one repository address: ``repository: url:`` of ``_config.yml``; every other copy (the notebooks' Colab
  cell, the README's launch lines, anything else naming a GitHub, Binder or Colab address) agrees with it;
- the Colab cell: first in every notebook, hidden from the HTML, a no-op (no call, no output) outside Colab,
  the right pip command inside it, kept in the student version;
- binder/: runtime packages only, pinned exactly as in requirements.txt, covering every third-party import
  of linnet_lib and the notebooks; postBuild installs linnet_lib;
- downloaded notebooks: no MathJax macro that only the book's _config.yml defines.
Installing for real is `make colab-check` and `make binder-check` (network, minutes: not unit tests).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cell = load_script("colab_cell")
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = colab_cell.notebooks()


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


# ----------------------------------------------------------------------------------------------
# One repository address

# owner/name as a GitHub, Binder or Colab address writes it
ADDRESS = re.compile(
    r"(?:github\.com/|mybinder\.org/v2/gh/|colab\.research\.google\.com/github/)"
    r"([\w.-]+/[\w.-]+?)(?:\.git)?(?=[/@\s\"'`>)]|$)"
)
SCANNED = [
    "README.md",
    "Makefile",
    "_config.yml",
    "binder",
    "scripts",
    "book_ext",
    "chapters",
    "exercises",
]


# GitHub projects other than the book that the book may link to (none yet)
OTHER_PROJECTS: set[str] = set()


def scanned_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix in {".md", ".py", ".ipynb", ".txt", ".yml", ".cfg", ""}
                and ".ipynb_checkpoints" not in p.parts
            ]
    return files


def test_repository_address_has_one_source() -> None:
    url, branch = colab_cell.repository()
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", url)
    assert match, f"repository.url in _config.yml is not a GitHub address: {url}"
    assert CONFIG["launch_buttons"]["binderhub_url"] and CONFIG["launch_buttons"]["colab_url"]
    owner_repo = match.group(1)
    wrong = [
        f"{path.relative_to(ROOT)}: {found}"
        for path in scanned_files()
        for found in ADDRESS.findall(path.read_text(errors="replace"))
        if found != owner_repo and found not in OTHER_PROJECTS
    ]
    assert not wrong, f"addresses that disagree with _config.yml ({owner_repo}): {wrong}"
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {colab_cell.pip_target(url, branch)}" in readme


def test_notebooks_and_readme_are_up_to_date() -> None:
    assert colab_cell.main(["--check"]) == 0, "run python scripts/colab_cell.py"


def test_check_notices_a_changed_address(tmp_path, monkeypatch) -> None:
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    import nbformat

    nb = nbformat.from_dict(nb)
    colab_cell.update_notebook(nb, colab_cell.cell_source("https://github.com/a/b", "main"))
    assert colab_cell.problem(nb, colab_cell.cell_source("https://github.com/a/b", "main")) is None
    assert colab_cell.problem(nb, colab_cell.cell_source("https://github.com/a/c", "main"))
    assert not colab_cell.update_notebook(
        nb, colab_cell.cell_source("https://github.com/a/b", "main")
    )
    assert colab_cell.update_notebook(nb, colab_cell.cell_source("https://github.com/a/c", "dev"))
    assert "git+https://github.com/a/c@dev" in nb.cells[0].source and len(nb.cells) == 1


# ----------------------------------------------------------------------------------------------
# The Colab cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_hidden_colab_cell(path: Path) -> None:
    first = cells(path)[0]
    assert first["cell_type"] == "code" and first["id"] == colab_cell.CELL_ID
    assert "remove-cell" in first["metadata"].get("tags", []), "the HTML book must hide it"
    assert first["outputs"] == [], "outside Colab the cell prints nothing"
    assert not any(colab_cell.CELL_ID == c.get("id") for c in cells(path)[1:])


def run_cell(monkeypatch, in_colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    url, branch = colab_cell.repository()
    exec(colab_cell.cell_source(url, branch), {"__name__": "__main__"})
    return calls


def test_colab_cell_does_nothing_outside_colab(monkeypatch, capsys) -> None:
    assert run_cell(monkeypatch, in_colab=False) == []
    assert capsys.readouterr() == ("", "")


def test_colab_cell_installs_from_the_repository_in_colab(monkeypatch) -> None:
    calls = run_cell(monkeypatch, in_colab=True)
    url, branch = colab_cell.repository()
    target = colab_cell.pip_target(url, branch)
    assert calls == [
        (([sys.executable, "-m", "pip", "install", "--quiet", target],), {"check": True})
    ]


def test_colab_cell_source_is_formatted() -> None:
    """What `ruff format` (notebook settings) leaves alone; otherwise make test fails on 30 notebooks."""
    url, branch = colab_cell.repository()
    text = colab_cell.cell_source(url, branch) + "\n"
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "format", "--config", str(ROOT / "chapters" / "ruff.toml"), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == text
    assert max(len(line) for line in text.splitlines()) <= 76


def test_student_version_keeps_the_colab_cell() -> None:
    import nbformat

    make_student = load_script("make_student")
    path = ROOT / "exercises" / "ch1-exercises.ipynb"
    nb = make_student.studentize(nbformat.read(path, as_version=4), keep_outputs=False)
    assert nb.cells[0].get("id") == colab_cell.CELL_ID


# ----------------------------------------------------------------------------------------------
# Downloaded notebooks: no macro only the book defines


def book_macros() -> list[str]:
    return list(CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"])


def rendered_texts(cell: dict) -> list[str]:
    """What Jupyter, Colab or the book typesets: markdown sources and markdown/LaTeX/HTML outputs."""
    if cell["cell_type"] == "markdown":
        return [source(cell)]
    texts = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        texts += ["".join(data.get(kind, "")) for kind in ("text/markdown", "text/latex")]
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_no_book_only_macro(path: Path) -> None:
    texts = [t for cell in cells(path) for t in rendered_texts(cell)]
    text = "\n".join(texts)
    used = []
    for name in book_macros():
        defined = re.search(
            rf"\\(newcommand|renewcommand|def|DeclareMathOperator)\{{?\\{name}\b", text
        )
        if re.search(rf"\\{name}(?![A-Za-z])", text) and not defined:
            used.append("\\" + name)
    assert not used, f"{path.name} uses {used}, defined only in _config.yml: write the expansion"


def test_macro_check_would_fail() -> None:
    cell = {"cell_type": "markdown", "source": ["$x \\in \\R^n$ and $\\tr(A)$"]}
    text = rendered_texts(cell)[0]
    assert [n for n in book_macros() if re.search(rf"\\{n}(?![A-Za-z])", text)] == ["R", "tr"]


# ----------------------------------------------------------------------------------------------
# binder/


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{path.name}: not an exact pin: {line!r}"
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


BINDER = ROOT / "binder"
TOOLS = re.compile(
    r"^(jupyter-book|sphinx.*|myst-.*|pytest.*|nbval|ruff|playwright|nbgrader|hypothesis|jupytext|"
    r"coverage|pydata-sphinx-theme|django-static-mathjax|jupyterlab|notebook|nbconvert|nbclient)$"
)
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "IPython": "ipython", "yaml": "pyyaml"}


def test_binder_pins_are_requirements_pins() -> None:
    binder, full = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.txt")
    differ = {n: (v, full.get(n)) for n, v in binder.items() if full.get(n) != v}
    assert not differ, f"binder/requirements.txt pins that differ from requirements.txt: {differ}"
    tools = sorted(n for n in binder if TOOLS.match(n))
    assert not tools, f"build or test tools in binder/requirements.txt: {tools}"


def third_party_imports() -> set[str]:
    names = set()
    sources = [p.read_text() for p in (ROOT / "linnet_lib").glob("*.py")]
    sources += [source(c) for p in NOTEBOOKS for c in cells(p) if c["cell_type"] == "code"]
    for text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {
        n for n in names if n not in sys.stdlib_module_names and n not in {"linnet_lib", "google"}
    }


def test_binder_covers_every_runtime_import() -> None:
    binder = pins(BINDER / "requirements.txt")
    missing = []
    for name in sorted(third_party_imports()):
        dist = re.sub(r"[-_.]+", "-", DISTRIBUTION.get(name, name)).lower()
        if dist not in binder:
            missing.append(f"{name} ({dist})")
    assert not missing, f"imported at run time but not in binder/requirements.txt: {missing}"
    assert "ipykernel" in binder


def test_binder_folder() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only if it is executable"
    assert re.search(r"^pip install --no-deps .*\.$", post_build.read_text(), re.M)
    # repo2docker reads binder/ alone when it exists: no stray configuration at the top
    stray = [
        n for n in ("postBuild", "runtime.txt", "environment.yml", "apt.txt") if (ROOT / n).exists()
    ]
    assert not stray, f"repo2docker would ignore these top-level files: {stray}"
