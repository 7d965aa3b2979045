"""Mutation testing of the book's checks: does each notebook check fail when the formula it guards is wrong?

The catalog is the YAML files in mutants/. Each entry is one small wrong edit of one library function (a dropped
factor, a swapped exponent, a wrong constant, a sign, an off-by-one), the labels of the checks that must catch it,
and the notebooks they are in::

    - id: ch2-theorem2-delta-exponent-halved
      file: linnet_lib/ch2.py
      function: theorem2_bound
      what: the exponent of delta halved
      find: "delta ** (2 * (n - 1) / n)"      # must occur exactly once in the file
      replace: "delta ** ((n - 1) / n)"
      labels: [cr-theorem-2]
      notebooks: [chapters/ch2/2-2-deficiency-margin.ipynb]
      note: optional text shown on the page (e.g. why a survivor survives)
      equivalent: optional reason; an equivalent mutant (no result can change) is listed but not run

For each mutant the runner copies linnet_lib/ into a temporary folder, applies the edit there (the working tree
is never touched), and executes the mutant's notebooks so that they import the mutated copy (it is put first on
the path). Outcomes: killed by a check (a cell raised linnet_lib's CheckFailed), killed by an error (any other
exception, or a time-out), killed by the figure comparison (no check failed, but a figure differs from the stored
one as ``make test`` compares them: scripts/figure_compare.py), or survived. A mutant of drawing code has the
label ``figure`` and must be killed by a check or the figure comparison; every other mutant by a check.

Two ways to execute a notebook:

* default, a fork server: this process imports every third-party module linnet_lib needs (numpy, scipy,
  matplotlib, cvxpy, ...) but never linnet_lib itself, then forks one child per mutant; the child
  puts the mutated copy first on sys.path and runs each notebook's code cells in order in a fresh IPython
  shell, in a grandchild of its own per notebook. For a drawing mutant the shell uses the kernel's inline
  figure backend and each cell's displayed figures are compared with the stored ones; other mutants
  render no figure, which saves time. This saves a kernel start and ~2 s of imports per mutant, about
  half of the catalog's time. A notebook is run as a kernel would run it (same code, same order, same
  single BLAS thread); text outputs are not compared here.
* ``--kernel``: each notebook in a fresh Jupyter kernel (nbclient), exactly as nbval runs it. Slower; use it
  to confirm a surprising outcome.

Usage:
    python scripts/mutants.py                       run the whole catalog, write the report page and JSON
    python scripts/mutants.py --catalog mutants/ch2-cr.yml   one catalog file (no page written)
    python scripts/mutants.py --only ID [ID ...]    chosen mutants (no page written)
    python scripts/mutants.py --list                list the catalog and check that every edit applies
Options: -j N parallel mutants (default 2), --kernel, --page PATH, --json PATH, --min-rate 0.9.
The last line printed is ``mutants: K killed by checks, F by figures, E by errors, S survived of T``; the exit
status is 1 when the share killed as required is below --min-rate, or an entry is malformed or no longer applies.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import datetime
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "mutants"
PAGE = ROOT / "chapters" / "mutation-catalog.md"
JSON_OUT = ROOT / "_build" / "mutants.json"
CELL_TIMEOUT = 300  # seconds per cell: a mutant that makes a loop endless is killed by an error
NOTEBOOK_TIMEOUT = 900  # seconds per notebook, a guard around the worker process
REQUIRED = ("id", "file", "function", "what", "find", "replace", "labels", "notebooks")
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CHECK_LINE = re.compile(r"check ([\w.-]+): FAILED")


class CatalogError(ValueError):
    """A catalog entry is malformed or its edit no longer applies to the library."""


# ----------------------------------------------------------------------------------------------
# The catalog


def load_catalog(paths: list[Path]) -> list[dict]:
    mutants: list[dict] = []
    for path in paths:
        entries = yaml.safe_load(path.read_text()) or []
        if not isinstance(entries, list):
            raise CatalogError(f"{path}: expected a list of mutants")
        for entry in entries:
            if not isinstance(entry, dict):
                raise CatalogError(f"{path}: every entry must be a mapping, got {entry!r}")
            missing = [key for key in REQUIRED if key not in entry]
            if missing:
                raise CatalogError(f"{path}: mutant {entry.get('id', '?')} lacks {missing}")
            for key in ("labels", "notebooks"):
                if not isinstance(entry[key], list) or not entry[key]:
                    raise CatalogError(f"{path}: {entry['id']}: {key} must be a non-empty list")
            for notebook in entry["notebooks"]:
                if not (ROOT / notebook).is_file():
                    raise CatalogError(f"{path}: {entry['id']}: no notebook {notebook}")
            if entry["find"] == entry["replace"]:
                raise CatalogError(f"{path}: {entry['id']}: find and replace are the same")
            entry["catalog"] = path.name
            mutants.append(entry)
    ids = [m["id"] for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"duplicate mutant ids: {duplicates}")
    return mutants


def mutate(source: str, mutant: dict) -> str:
    count = source.count(mutant["find"])
    if count != 1:
        raise CatalogError(
            f"{mutant['id']}: the text to replace occurs {count} times in {mutant['file']} "
            "(it must occur exactly once; the library changed or the entry needs more context)"
        )
    return source.replace(mutant["find"], mutant["replace"])


def check_applies(mutant: dict) -> None:
    path = ROOT / mutant["file"]
    if not path.is_file() or not mutant["file"].startswith("linnet_lib/"):
        raise CatalogError(
            f"{mutant['id']}: file must be a file of linnet_lib/, got {mutant['file']}"
        )
    mutate(path.read_text(), mutant)


# ----------------------------------------------------------------------------------------------
# Running one notebook (in a worker process whose kernel inherits PYTHONPATH)


def execute_notebook(notebook: Path) -> dict:
    """Run a notebook top to bottom in a fresh kernel; report the first failure."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from nbrun import notebook_client

    nb, client = notebook_client(notebook, CELL_TIMEOUT)
    stored = [cell for cell in nbformat.read(notebook, as_version=4).cells]
    try:
        client.execute()
    except CellTimeoutError as error:
        return {"outcome": "error", "detail": f"cell time-out ({CELL_TIMEOUT} s): {error}"[:300]}
    except CellExecutionError as error:
        text = str(getattr(error, "evalue", "")) or str(error)
        if getattr(error, "ename", "") == "CheckFailed":
            match = CHECK_LINE.search(text)
            return {
                "outcome": "check",
                "label": match.group(1) if match else "?",
                "detail": text.strip().splitlines()[0][:300] if text.strip() else "",
            }
        return {"outcome": "error", "detail": f"{error.ename}: {text}".strip()[:300]}
    except Exception as error:  # kernel death and the like: the mutant broke something
        return {"outcome": "error", "detail": f"{type(error).__name__}: {error}"[:300]}
    for index, (old, new) in enumerate(zip(stored, nb.cells, strict=True)):
        if old.cell_type == "code" and compares_outputs(old):
            figure = figure_outcome(notebook, index, old, new.outputs)
            if figure:
                return figure
    return {"outcome": "survived", "detail": ""}


def run_mutant(mutant: dict) -> dict:
    start = time.perf_counter()
    result = {"id": mutant["id"], "outcome": "survived", "notebook": "", "label": "", "detail": ""}
    with tempfile.TemporaryDirectory(prefix="linnet-mutant-") as tmp:
        lib = Path(tmp) / "linnet_lib"
        shutil.copytree(ROOT / "linnet_lib", lib, ignore=shutil.ignore_patterns("__pycache__"))
        target = Path(tmp) / mutant["file"]
        target.write_text(mutate(target.read_text(), mutant))
        env = dict(os.environ, **SINGLE_THREAD, PYTHONPATH=tmp, PYTHONDONTWRITEBYTECODE="1")
        env.pop("MPLBACKEND", None)
        for notebook in mutant["notebooks"]:
            command = [sys.executable, __file__, "--execute", str(ROOT / notebook)]
            try:
                proc = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT
                )
                lines = proc.stdout.strip().splitlines()
                outcome = json.loads(lines[-1]) if lines else {}
                if not outcome:
                    outcome = {"outcome": "error", "detail": proc.stderr.strip()[-300:]}
            except subprocess.TimeoutExpired:
                outcome = {
                    "outcome": "error",
                    "detail": f"notebook time-out ({NOTEBOOK_TIMEOUT} s)",
                }
            except json.JSONDecodeError:
                outcome = {"outcome": "error", "detail": proc.stdout.strip()[-300:]}
            if outcome["outcome"] != "survived":
                result.update(outcome, notebook=notebook)
                break
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


# ----------------------------------------------------------------------------------------------
# The fork server: third-party modules imported once, one forked child per mutant


def imported_modules(sources: list[str]) -> set[str]:
    """The absolute module names that ``sources`` (Python, or IPython cells) import anywhere, at top
    level or inside functions, except linnet_lib's own."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(transform(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return {name for name in names if name.split(".")[0] != "linnet_lib"}


@functools.cache
def code_cells(notebook: Path) -> tuple:
    """``(index in the notebook, cell)`` for the code cells of ``notebook``, in order (read once,
    by the fork server)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return tuple((k, cell) for k, cell in enumerate(nb.cells) if cell.cell_type == "code")


def preload_dependencies(notebooks: list[Path] = ()) -> int:
    """Import here every module that a child would otherwise import itself, except linnet_lib's own,
    so that forked children only import the mutated library: what ``import linnet_lib`` loads, what
    its functions and the ``notebooks`` import (cvxpy and scikit-learn are imported inside library
    functions), nbformat, and what a fresh IPython shell loads. A throw-away interpreter imports
    them and lists what it loaded. Also reads the notebooks' code cells. Returns the count."""
    os.environ.update(SINGLE_THREAD)
    os.environ["MPLBACKEND"] = "Agg"
    sources = [path.read_text() for path in sorted((ROOT / "linnet_lib").rglob("*.py"))]
    for notebook in notebooks:
        sources += [cell.source for _, cell in code_cells(notebook)]
    code = (
        "import importlib, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance()\n"
        "import linnet_lib, ipywidgets, nbformat\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        pass\n"
        "sys.stdout.write('\\n'.join(m for m in sys.modules if not m.startswith('linnet_lib')))"
    )
    names = subprocess.run(
        [sys.executable, "-c", code, *sorted(imported_modules(sources))],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    import importlib

    loaded = 0
    for name in names:
        try:
            importlib.import_module(name)
            loaded += 1
        except Exception:  # private modules that only import in their parent's context
            pass
    if any(m == "linnet_lib" or m.startswith("linnet_lib.") for m in sys.modules):
        sys.exit("error: the fork server imported linnet_lib; children would not see the mutant")
    return loaded


def compares_outputs(cell) -> bool:
    """Whether nbval compares this code cell's outputs (and so its figures)."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    return not tags & {"nbval-ignore-output", "nbval-skip", "raises-exception"}


def figure_outcome(notebook: Path, index: int, cell, outputs) -> dict | None:
    """The "figure" outcome when the images of ``outputs`` differ from the cell's stored ones, as
    the figure comparison of ``make test`` (scripts/figure_compare.py) would find; else None."""
    import figure_compare

    figure_compare.DIFF_DIR = Path(tempfile.gettempdir()) / "linnet-mutant-figure-diffs"
    stem = f"{notebook.stem}-cell{index}"
    problems = figure_compare.compare_cell(cell.outputs, outputs, cell.get("metadata"), stem)
    if not problems:
        return None
    return {"outcome": "figure", "label": "", "detail": f"cell {index}: {problems[0]}"[:300]}


def _bundle(data: dict) -> dict:
    """A display bundle as a notebook stores it (binary images base64-encoded)."""
    import base64

    return {
        key: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        for key, value in data.items()
    }


def run_cells(notebook: Path, lib_root: str, figures: bool = True) -> dict:
    """In a forked child: run the code cells of ``notebook`` in a fresh IPython shell whose
    ``linnet_lib`` is the copy under ``lib_root``; report like :func:`execute_notebook`.

    With ``figures``, they are drawn by the same inline backend as in a kernel and captured with
    the shell's display outputs, then compared with the stored ones (see :func:`figure_outcome`);
    without, nothing is rendered (matplotlib's Agg backend draws nothing unless asked)."""
    import matplotlib.pyplot as plt
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    os.chdir(notebook.parent)
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    shell.display_pub = CapturingDisplayPublisher()
    if figures:
        # The kernel's figure display: ipykernel's inline backend, flushed after each cell
        # (enable_matplotlib("inline") needs a GUI-capable shell, so configure it directly).
        import matplotlib_inline.backend_inline as inline

        plt.switch_backend("module://matplotlib_inline.backend_inline")
        inline.configure_inline_support(shell, "module://matplotlib_inline.backend_inline")
    shell.run_cell("import linnet_lib as _mutant_check", store_history=False)
    found = getattr(shell.user_ns.get("_mutant_check"), "__file__", "") or ""
    if not found.startswith(lib_root):
        return {"outcome": "error", "detail": f"imported linnet_lib from {found}, not the mutant"}
    shell.reset(new_session=False)
    figure = error_outcome = None
    for index, cell in code_cells(notebook):
        shell.display_pub.outputs.clear()
        result = shell.run_cell(cell.source, store_history=False)
        outputs = [{"data": _bundle(out["data"])} for out in shell.display_pub.outputs]
        stored_result = any(out.get("output_type") == "execute_result" for out in cell.outputs)
        if result.result is not None and stored_result:
            outputs.append({"data": _bundle(shell.display_formatter.format(result.result)[0])})
        plt.close("all")
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            text = str(error)
            if type(error).__name__ == "CheckFailed":
                match = CHECK_LINE.search(text)
                return {
                    "outcome": "check",
                    "label": match.group(1) if match else "?",
                    "detail": text.strip().splitlines()[0][:300] if text.strip() else "",
                }
            error_outcome = {
                "outcome": "error",
                "detail": f"{type(error).__name__}: {text}".strip()[:300],
            }
            break
        if figures and figure is None and compares_outputs(cell):
            figure = figure_outcome(notebook, index, cell, outputs)
    return error_outcome or figure or {"outcome": "survived", "detail": ""}


def run_notebook_forked(notebook: Path, tmp: str, out: Path, figures: bool) -> dict:
    """Run one notebook (:func:`run_cells`) in a forked grandchild, so that each notebook starts
    from the fork server's clean state, as each would in its own kernel (matplotlib's settings,
    caches and module state of one notebook never reach the next)."""
    pid = os.fork()
    if pid == 0:
        try:
            outcome = run_cells(notebook, tmp, figures)
        except BaseException as error:  # noqa: BLE001 (anything a mutant breaks is a kill)
            outcome = {"outcome": "error", "detail": f"{type(error).__name__}: {error}"[:300]}
        out.write_text(json.dumps(outcome))
        os._exit(0)
    os.waitpid(pid, 0)
    if not out.is_file():
        return {"outcome": "error", "detail": "the notebook's process died (crash)"}
    return json.loads(out.read_text())


def mutant_child(mutant: dict, tmp: str, out: Path) -> None:
    """Body of a forked child: every notebook of the mutant in order, result as JSON in ``out``."""
    sys.path.insert(0, tmp)
    os.environ["PYTHONPATH"] = tmp
    # The fork server never imports linnet_lib, but a parent that did (a test worker) must not hand
    # its copy to the child: forget it, so that the notebooks import the mutant.
    for name in [m for m in sys.modules if m == "linnet_lib" or m.startswith("linnet_lib.")]:
        del sys.modules[name]
    result = {"outcome": "survived", "notebook": "", "label": "", "detail": ""}
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the child)
    sys.stderr = sys.stdout
    for k, notebook in enumerate(mutant["notebooks"]):
        outcome = run_notebook_forked(
            ROOT / notebook,
            tmp,
            Path(tmp) / f"notebook-{k}.json",
            figures="figure" in mutant["labels"],
        )
        if outcome["outcome"] != "survived":
            result.update(outcome, notebook=notebook)
            break
    out.write_text(json.dumps(result))


def run_forked(mutants: list[dict], jobs: int, report) -> None:
    """Run ``mutants`` in at most ``jobs`` forked children at a time; ``report(mutant, result)``
    is called as each finishes. A child over NOTEBOOK_TIMEOUT per notebook is killed (an error)."""
    pending = list(mutants)
    running: dict[int, tuple[dict, tempfile.TemporaryDirectory, float]] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            mutant = pending.pop(0)
            tmp = tempfile.TemporaryDirectory(prefix="linnet-mutant-")
            lib = Path(tmp.name) / "linnet_lib"
            shutil.copytree(ROOT / "linnet_lib", lib, ignore=shutil.ignore_patterns("__pycache__"))
            target = Path(tmp.name) / mutant["file"]
            target.write_text(mutate(target.read_text(), mutant))
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:  # the child, leader of its own process group (with its grandchildren)
                os.setpgid(0, 0)
                code = 0
                try:
                    mutant_child(mutant, tmp.name, Path(tmp.name) / "result.json")
                except BaseException:  # noqa: BLE001
                    code = 1
                os._exit(code)
            running[pid] = (mutant, tmp, time.perf_counter())
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.perf_counter()
            for child, (mutant, _, start) in list(running.items()):
                if now - start > NOTEBOOK_TIMEOUT * len(mutant["notebooks"]):
                    try:
                        os.killpg(child, 9)  # the child and the notebook it is running
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
            continue
        mutant, tmp, start = running.pop(pid)
        out = Path(tmp.name) / "result.json"
        result = {"id": mutant["id"], "outcome": "survived", "notebook": "", "label": ""}
        if out.is_file():
            result.update(json.loads(out.read_text()))
        else:
            result.update(outcome="error", detail="the child died (time-out or crash)")
        result["seconds"] = round(time.perf_counter() - start, 1)
        tmp.cleanup()
        report(mutant, result)


def verify_isolation() -> None:
    """The kernels must import the mutated copy, not the installed one: check PYTHONPATH wins."""
    with tempfile.TemporaryDirectory(prefix="linnet-mutant-") as tmp:
        shutil.copytree(ROOT / "linnet_lib", Path(tmp) / "linnet_lib")
        env = dict(os.environ, PYTHONPATH=tmp)
        code = "import linnet_lib, sys; sys.stdout.write(linnet_lib.__file__)"
        found = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT / "chapters",
        ).stdout
        if not found.startswith(tmp):
            sys.exit(
                f"error: a kernel would import linnet_lib from {found}, not from the mutant copy"
            )


# ----------------------------------------------------------------------------------------------
# Report


def killed(mutant: dict, result: dict) -> bool:
    """Killed as the catalog requires: by a check, or, for a drawing mutant (label ``figure``), by
    the figure comparison too."""
    return result["outcome"] == "check" or (
        result["outcome"] == "figure" and "figure" in mutant["labels"]
    )


def describe(result: dict) -> str:
    if result["outcome"] == "check":
        return f"killed by check `{result['label']}`"
    if result["outcome"] == "figure":
        return "killed by the figure comparison"
    if result["outcome"] == "error":
        return "killed by an error"
    return "**survived**"


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short=12", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "linnet_lib", "chapters", "mutants").strip()
    return commit + (" with uncommitted changes" if dirty else "")


def doc_link(notebook: str) -> str:
    if notebook.startswith("chapters/"):
        return "{doc}`" + notebook[len("chapters/") :].removesuffix(".ipynb") + "`"
    return f"`{notebook}`"


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_page(mutants: list[dict], results: dict[str, dict], summary: dict, path: Path) -> None:
    lines = [
        "# Mutation catalog: evidence that the checks work",
        "",
        "A check that still passes when the formula it guards is wrong is not a check. This page is the",
        "test of the tests: each row is a *mutant*, one small wrong edit of one function of `linnet_lib`",
        "(a dropped factor, a wrong exponent or constant, a sign, an off-by-one). `make mutants` applies each",
        "edit to a temporary copy of the library, re-runs the notebooks whose checks should notice, and",
        "records whether a check failed (killed by a check), the notebook crashed (killed by an error) or",
        "every check passed (survived). The catalog lives in `mutants/*.yml`.",
        "",
        f"Generated by `make mutants` from commit `{summary['commit']}` on {summary['date']}.",
        "",
        f"**{summary['killed']} of {summary['total']} mutants killed as required "
        f"({100 * summary['rate']:.0f}%)**: {summary['checks']} by a notebook check, "
        f"{summary['figures']} by the figure comparison, {summary['errors']} by an error, "
        f"{summary['survived']} survived; {len(summary['equivalent'])} equivalent mutants not run.",
        "",
        "A mutant of drawing code (its label is `figure`) must be caught by the figure comparison of",
        "`make test`: each figure the notebooks draw is compared with the stored one as a picture.",
        "",
    ]
    by_chapter: dict[str, list[dict]] = {}
    for mutant in mutants:
        if mutant.get("equivalent"):
            continue
        by_chapter.setdefault(mutant["catalog"].removesuffix(".yml"), []).append(mutant)
    for chapter, entries in sorted(by_chapter.items()):
        count = sum(killed(m, results[m["id"]]) for m in entries)
        lines += [
            f"## `{chapter}`: {count} of {len(entries)} killed as required",
            "",
            "| mutant | function | the edit | must be caught by | outcome |",
            "| --- | --- | --- | --- | --- |",
        ]
        for m in entries:
            r = results[m["id"]]
            where = f" in {doc_link(r['notebook'])}" if r.get("notebook") else ""
            outcome = describe(r) + where
            lines.append(
                f"| `{m['id']}` | `{cell(m['function'])}` | {cell(m['what'])} | "
                f"{', '.join('`' + label + '`' for label in m['labels'])} | {outcome} |"
            )
        lines.append("")
    survivors = [m for m in mutants if not m.get("equivalent") and not killed(m, results[m["id"]])]
    lines += ["## Mutants not killed as required", ""]
    if not survivors:
        lines += ["None: every mutant was killed as required.", ""]
    for m in survivors:
        r = results[m["id"]]
        reason = m.get("note") or "No explanation recorded yet."
        lines += [f"- `{m['id']}` ({describe(r)}): {cell(reason)}"]
    lines.append("")
    equivalent = [m for m in mutants if m.get("equivalent")]
    if equivalent:
        lines += ["## Equivalent mutants (removed from the count)", ""]
        lines += [f"- `{m['id']}` ({cell(m['what'])}): {cell(m['equivalent'])}" for m in equivalent]
        lines.append("")
    path.write_text("\n".join(lines))


# ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog", nargs="+", type=Path, help="catalog files (default: mutants/*.yml)"
    )
    parser.add_argument("--only", nargs="+", help="run only these mutant ids")
    parser.add_argument(
        "--list", action="store_true", help="list the catalog and check the edits apply"
    )
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument(
        "--kernel",
        action="store_true",
        help="run each notebook in a fresh Jupyter kernel instead of a forked child",
    )
    parser.add_argument(
        "--page",
        type=Path,
        help=f"report page (default {PAGE.relative_to(ROOT)} when the whole catalog runs)",
    )
    parser.add_argument("--json", type=Path, default=JSON_OUT)
    parser.add_argument("--min-rate", type=float, default=0.9)
    parser.add_argument("--execute", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.execute:  # worker mode: one notebook, one JSON line
        print(json.dumps(execute_notebook(args.execute)))
        return 0

    whole = not args.catalog and not args.only
    paths = args.catalog or sorted(CATALOG_DIR.glob("*.yml"))
    try:
        mutants = load_catalog([Path(p) for p in paths])
        for mutant in mutants:
            check_applies(mutant)
    except CatalogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.only:
        unknown = sorted(set(args.only) - {m["id"] for m in mutants})
        if unknown:
            print(f"error: unknown mutant ids {unknown}", file=sys.stderr)
            return 1
        mutants = [m for m in mutants if m["id"] in args.only]
    if args.list:
        for m in mutants:
            print(
                f"{m['id']}: {m['file']}::{m['function']}: {m['what']} -> {', '.join(m['labels'])}"
            )
        print(f"{len(mutants)} mutants, every edit applies")
        return 0

    to_run = [m for m in mutants if not m.get("equivalent")]
    results: dict[str, dict] = {}

    def report(m: dict, r: dict) -> None:
        results[m["id"]] = r
        expected = (
            ""
            if r["outcome"] != "check" or r["label"] in m["labels"]
            else (f" (expected {', '.join(m['labels'])})")
        )
        where = f" in {r['notebook']}" if r["notebook"] else ""
        text = (
            describe(r).replace("`", "").replace("**", "").upper()
            if r["outcome"] == "survived"
            else describe(r).replace("`", "")
        )
        print(f"{m['id']}: {text}{where}{expected} [{r['seconds']} s]", flush=True)
        if r["outcome"] == "error":
            print(f"    {r['detail']}", flush=True)

    if args.kernel:
        verify_isolation()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_mutant, m): m for m in to_run}
            for future in concurrent.futures.as_completed(futures):
                report(futures[future], future.result())
    else:
        notebooks = sorted({ROOT / nb for m in to_run for nb in m["notebooks"]})
        print(f"fork server: {preload_dependencies(notebooks)} modules preloaded", flush=True)
        run_forked(to_run, args.jobs, report)

    total = len(to_run)
    counts = {
        k: sum(r["outcome"] == k for r in results.values())
        for k in ("check", "figure", "error", "survived")
    }
    required = sum(killed(m, results[m["id"]]) for m in to_run)
    rate = required / total if total else 0.0
    summary = {
        "commit": git_commit(),
        "date": datetime.date.today().isoformat(),
        "total": total,
        "killed": required,
        "checks": counts["check"],
        "figures": counts["figure"],
        "errors": counts["error"],
        "survived": counts["survived"],
        "rate": rate,
        "equivalent": [m["id"] for m in mutants if m.get("equivalent")],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "results": results}, indent=1))
    page = args.page or (PAGE if whole else None)
    if page:
        write_page(mutants, results, summary, page)
        print(f"page: {page}")
    print(f"kill rate as required: {100 * rate:.1f}% (required {100 * args.min_rate:.0f}%)")
    print(
        f"mutants: {counts['check']} killed by checks, {counts['figure']} by figures, "
        f"{counts['error']} by errors, {counts['survived']} survived of {total}"
    )
    return 0 if total and rate >= args.min_rate else 1


if __name__ == "__main__":
    sys.exit(main())
