"""Keep every copy of the repository address in step with ``_config.yml`` (its single source).

``repository: url:`` and ``branch:`` in ``_config.yml`` say where the book lives. Jupyter Book reads them
for the repository, Binder and Colab buttons of every page. Two other places need the address, and this
script writes both from one template:

* the first cell of every notebook in ``chapters/`` and ``exercises/``: a code cell (id ``colab-install``,
  tagged ``remove-cell`` so the HTML book shows neither it nor its output) that installs ``linnet_lib``
  from the repository with pip when the notebook runs in Google Colab, and does nothing anywhere else
  (Binder, a clone, nbval, the mutation runner): no import of anything but ``sys``, no output;
* the lines of ``README.md`` between the ``launch-links`` markers (install command, Binder and Colab links).

Usage:
    python scripts/colab_cell.py            insert or update the cell and the README lines
    python scripts/colab_cell.py --check    exit 1 if any notebook or the README is out of date
A new first cell has no stored execution count until the notebook is re-run (``make execute``): outputs
must come from one clean top-to-bottom run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"
README = ROOT / "README.md"
NOTEBOOK_DIRS = ("chapters", "exercises")
CELL_ID = "colab-install"
CELL_TAGS = ["remove-cell"]
README_BEGIN = (
    "<!-- launch-links: written by scripts/colab_cell.py from _config.yml; do not edit -->"
)
README_END = "<!-- /launch-links -->"

CELL_TEMPLATE = """\
# In Google Colab only: install linnet_lib from the book's repository. Any
# other place (Binder, a clone set up by make) has it: this does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    package = "{target}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", package],
        check=True,
    )"""

README_TEMPLATE = """\
- the library alone, as the Colab cell installs it (next to numpy, scipy and matplotlib):
  `pip install {target}`
- Binder: <{binder}>
- Colab, e.g. Section 1.1: <{colab}>"""


def repository() -> tuple[str, str]:
    """The repository address and branch, from ``_config.yml`` (the only place they are written)."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    repo = config["repository"]
    url = repo["url"].rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url, repo.get("branch", "main")


def pip_target(url: str, branch: str) -> str:
    """What pip installs: ``git+<url>@<branch>``."""
    return f"git+{url}@{branch}"


def cell_source(url: str, branch: str) -> str:
    return CELL_TEMPLATE.format(target=pip_target(url, branch))


def readme_block(url: str, branch: str) -> str:
    owner_repo = url.removeprefix("https://github.com/")
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/{branch}"
    colab = (
        f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}"
        "/chapters/ch1/1-1-model-nonconvexity.ipynb"
    )
    body = README_TEMPLATE.format(target=pip_target(url, branch), binder=binder, colab=colab)
    return f"{README_BEGIN}\n{body}\n{README_END}"


def notebooks() -> list[Path]:
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [
            p for p in (ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
        ]
    return sorted(found)


def is_colab_cell(cell) -> bool:
    return cell.get("id") == CELL_ID


def update_notebook(nb, source: str) -> bool:
    """Insert the cell first, or bring it up to date. Returns True if the notebook changed."""
    if nb.cells and is_colab_cell(nb.cells[0]):
        cell = nb.cells[0]
        changed = False
        if cell.source != source:
            cell.source = source
            changed = True
        if cell.metadata.get("tags") != CELL_TAGS:
            cell.metadata["tags"] = list(CELL_TAGS)
            changed = True
        return changed
    if any(is_colab_cell(c) for c in nb.cells):
        raise ValueError(f"a {CELL_ID!r} cell exists but is not the first cell")
    import nbformat

    cell = nbformat.v4.new_code_cell(source=source, metadata={"tags": list(CELL_TAGS)})
    cell["id"] = CELL_ID
    nb.cells.insert(0, cell)
    return True


def problem(nb, source: str) -> str | None:
    """Why a notebook is out of date (None if it is not)."""
    if not nb.cells or not is_colab_cell(nb.cells[0]):
        return f"first cell is not the {CELL_ID!r} cell"
    cell = nb.cells[0]
    if cell.cell_type != "code":
        return "the colab cell is not a code cell"
    if cell.source != source:
        return "the colab cell differs from the template (repository address changed?)"
    if cell.metadata.get("tags") != CELL_TAGS:
        return f"the colab cell is not tagged {CELL_TAGS}"
    if cell.get("outputs"):
        return "the colab cell has stored outputs (it must print nothing outside Colab)"
    return None


def update_readme(text: str, block: str) -> str:
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {README_BEGIN!r} ... {README_END!r}")
    return text[:start] + block + text[end + len(README_END) :]


def run_cell(source: str, in_colab: bool) -> None:
    """Execute the cell's code in a fresh namespace, with or without a stand-in google.colab module."""
    fake = "google.colab" not in sys.modules and in_colab
    if fake:
        sys.modules["google.colab"] = type(sys)("google.colab")
    try:
        exec(compile(source, "<colab cell>", "exec"), {"__name__": "__main__"})
    finally:
        if fake:
            del sys.modules["google.colab"]


def try_install(target: str) -> int:
    """The cell in an environment without linnet_lib: a no-op outside Colab, an install inside it."""
    source = CELL_TEMPLATE.format(target=target)
    if importlib.util.find_spec("linnet_lib") is not None:
        print("colab_cell: linnet_lib is importable before the test; use a fresh environment")
        return 1
    run_cell(source, in_colab=False)
    importlib.invalidate_caches()
    if importlib.util.find_spec("linnet_lib") is not None:
        print("colab_cell: outside Colab the cell installed something")
        return 1
    print(f"colab_cell: outside Colab the cell did nothing; as in Colab it installs {target}")
    run_cell(source, in_colab=True)
    # A fresh interpreter, as the notebook's next cell would see it (same process would also work).
    probe = "import linnet_lib, sys; assert linnet_lib.__file__.startswith(sys.prefix); print(linnet_lib.__file__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if done.returncode:
        print(done.stderr)
        return 1
    print(f"colab_cell: import linnet_lib works, from {done.stdout.strip()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument(
        "--try-install",
        metavar="TARGET",
        help="run the cell's code here with TARGET as the package: as outside Colab, then as in Colab",
    )
    args = parser.parse_args(argv)
    if args.try_install:
        return try_install(args.try_install)
    import nbformat

    url, branch = repository()
    source = cell_source(url, branch)
    problems, changed = [], []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if args.check:
            why = problem(nb, source)
            if why:
                problems.append(f"{path.relative_to(ROOT)}: {why}")
        elif update_notebook(nb, source):
            nbformat.write(nb, path)
            changed.append(path)
    readme = README.read_text()
    wanted = update_readme(readme, readme_block(url, branch))
    if wanted != readme:
        if args.check:
            problems.append("README.md: the launch lines differ from _config.yml's repository")
        else:
            README.write_text(wanted)
            changed.append(README)
    if args.check:
        for line in problems:
            print(line)
        if problems:
            print("colab_cell: out of date; run python scripts/colab_cell.py (then make execute)")
            return 1
        print("colab_cell: every notebook and the README agree with _config.yml")
        return 0
    for path in changed:
        print(f"updated {path.relative_to(ROOT)}")
    if any(p.suffix == ".ipynb" for p in changed):
        print(
            "re-run the changed notebooks (make execute NB=...) so outputs come from one clean run"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
