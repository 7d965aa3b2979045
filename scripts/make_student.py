"""Make the student version of the exercises (the notebooks in exercises/ are the instructor version).

A notebook becomes a student notebook by these steps:
- cells tagged ``solution``, ``instructor`` (notes for instructors) or ``hidden-tests`` (the
  autograder's hidden tests, see scripts/course.py) are removed (nbconvert's TagRemovePreprocessor);
- sphinx-exercise solutions are removed: fenced ``{solution}`` blocks in markdown cells, and every
  cell from a ``{solution-start}`` cell to its ``{solution-end}`` cell;
- in code cells, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
  ``raise NotImplementedError("...")`` (nbgrader's ClearSolutions, enforce_metadata=False; markdown
  cells are left alone, so prose may quote the markers). The message is the text of a
  ``### STUB MESSAGE: ...`` line inside the region if there is one, else "complete name()" for the
  function whose body holds the region, else a generic request, so that a student running the
  notebook sees which exercise is unfinished;
- outputs are cleared: all of them for the notebooks handed out, only those of changed cells for the
  student book (the book is never executed, so the other stored outputs are kept).
The script fails if a solution marker survives.

Usage:
  python scripts/make_student.py --out build/student exercises
      student notebooks (same paths relative to exercises/), other files copied as they are
  python scripts/make_student.py --book-src build/student-src
      a copy of the book's sources for `make book-student`: chapters/ and exercises/ converted as
      above, and a _config.yml that also sets sphinx-exercise's hide_solutions
"""

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml
from nbconvert.preprocessors import TagRemovePreprocessor
from nbgrader.preprocessors import ClearSolutions

SOLUTION_TAG = "solution"
INSTRUCTOR_TAG = "instructor"
HIDDEN_TESTS_TAG = "hidden-tests"
REMOVED_TAGS = {SOLUTION_TAG, INSTRUCTOR_TAG, HIDDEN_TESTS_TAG}
STUB_MESSAGE = re.compile(r"^\s*### STUB MESSAGE:\s*(?P<message>.*?)\s*$")
DEF_LINE = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)\s*\(")
GENERIC_STUB = "write your solution here"
# A fenced solution directive: ```{solution} ... ``` or :::{solution} ... ::: (3+ fence characters).
FENCED_SOLUTION = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.DOTALL | re.MULTILINE
)
GATE_START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}", re.MULTILINE)
GATE_END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}", re.MULTILINE)
ANY_SOLUTION_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{solution", re.MULTILINE)
BOOK_FILES = ["_toc.yml", "references.bib"]
BOOK_FOLDERS = ["chapters", "exercises"]


def stub_message(lines: list[str], begin: int, end: int) -> str:
    """The message of the stub replacing lines[begin:end + 1] (a solution region)."""
    for line in lines[begin + 1 : end]:
        match = STUB_MESSAGE.match(line)
        if match and match.group("message"):
            return match.group("message")
    indent = len(lines[begin]) - len(lines[begin].lstrip())
    for line in reversed(lines[:begin]):
        match = DEF_LINE.match(line)
        if match and len(match.group("indent")) < indent:
            return f"complete {match.group('name')}()"
    return GENERIC_STUB


def clear_code_solutions(source: str) -> str:
    """Replace each solution region of a code cell by ``raise NotImplementedError("message")``."""
    lines = source.split("\n")
    begin_marker = ClearSolutions.begin_solution_delimeter.default_value
    end_marker = ClearSolutions.end_solution_delimeter.default_value
    new_lines, begin = [], None
    for index, line in enumerate(lines):
        if begin_marker in line:
            if begin is not None:
                raise RuntimeError(f"nested {begin_marker!r} in a code cell:\n{source}")
            begin = index
        elif end_marker in line:
            if begin is None:
                raise RuntimeError(
                    f"{end_marker!r} without {begin_marker!r} in a code cell:\n{source}"
                )
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            message = stub_message(lines, begin, index)
            new_lines.append(
                f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"
            )
            begin = None
        elif begin is None:
            new_lines.append(line)
    if begin is not None:
        raise RuntimeError(f"no {end_marker!r} after {begin_marker!r} in a code cell:\n{source}")
    return "\n".join(new_lines)


class ClearCodeSolutions(ClearSolutions):
    """nbgrader's ClearSolutions on code cells only (prose may quote the markers themselves), with
    a stub whose message names what to write."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

    def _replace_solution_region(self, cell, language: str) -> bool:
        source = clear_code_solutions(cell.source)
        replaced = source != cell.source
        cell.source = source
        return replaced


def remove_solution_directives(nb) -> None:
    """Drop sphinx-exercise solutions, which a student would read as plain text in Jupyter."""
    kept, in_gate = [], False
    for cell in nb.cells:
        is_markdown = cell.cell_type == "markdown"
        if is_markdown and GATE_START.search(cell.source):
            in_gate = True
        if not in_gate:
            if is_markdown:
                cell.source = FENCED_SOLUTION.sub("", cell.source)
            kept.append(cell)
        if is_markdown and GATE_END.search(cell.source):
            in_gate = False
    if in_gate:
        raise RuntimeError("a {solution-start} cell has no matching {solution-end} cell")
    nb.cells = kept


def studentize(nb, keep_outputs: bool):
    nb, _ = TagRemovePreprocessor(remove_cell_tags=REMOVED_TAGS, enabled=True).preprocess(nb, {})
    remove_solution_directives(nb)
    sources = [cell.source for cell in nb.cells]
    nb, _ = ClearCodeSolutions(enforce_metadata=False).preprocess(nb, {})
    for cell, source in zip(nb.cells, sources, strict=True):
        if cell.cell_type == "code" and (not keep_outputs or cell.source != source):
            cell.outputs = []
            cell.execution_count = None
    if not keep_outputs:
        nb.metadata.pop("widgets", None)
    return nb


def check_no_solution_left(nb, path: Path) -> None:
    for index, cell in enumerate(nb.cells):
        leaks = [
            cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source,
            bool(REMOVED_TAGS & set(cell.metadata.get("tags", []))),
            cell.cell_type == "markdown" and ANY_SOLUTION_DIRECTIVE.search(cell.source),
        ]
        if any(leaks):
            raise RuntimeError(f"{path}: cell {index} still contains a solution")


def convert_folder(folder: Path, out: Path, keep_outputs: bool) -> int:
    """Copy folder to out, converting every notebook; return the number of notebooks."""
    count = 0
    for source in sorted(folder.rglob("*")):
        if ".ipynb_checkpoints" in source.parts or not source.is_file():
            continue
        target = out / source.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix != ".ipynb":
            shutil.copy2(source, target)
            continue
        nb = studentize(nbformat.read(source, as_version=4), keep_outputs)
        check_no_solution_left(nb, source)
        nbformat.validate(nb)
        nbformat.write(nb, target)
        print(f"student: {source} -> {target}")
        count += 1
    return count


def make_book_sources(dest: Path) -> None:
    config = yaml.safe_load(Path("_config.yml").read_text())
    config["title"] = f"{config['title']} (student edition)"
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["hide_solutions"] = True
    # Static folders (the vendored JavaScript where `make assets` put it, our CSS) and the local Sphinx
    # extension stay where they are: the copy's configuration points at them by absolute path.
    sphinx_config["html_static_path"] = [
        str(Path(folder).resolve()) for folder in sphinx_config.get("html_static_path", [])
    ]
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {
        name: str(Path(folder).resolve())
        for name, folder in sphinx.get("local_extensions", {}).items()
    }
    dest.mkdir(parents=True)
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for name in BOOK_FILES:
        shutil.copy2(name, dest / name)
    for folder in BOOK_FOLDERS:
        if Path(folder).is_dir():
            convert_folder(Path(folder), dest / folder, keep_outputs=True)
    print(f"student book sources: {dest}/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of exercise notebooks")
    parser.add_argument("--out", type=Path, default=Path("build/student"))
    parser.add_argument("--book-src", type=Path, help="write the student book's sources here")
    args = parser.parse_args()
    target = args.book_src or args.out
    if target.exists():
        shutil.rmtree(target)
    if args.book_src:
        make_book_sources(args.book_src)
        return 0
    count = sum(convert_folder(folder, args.out, keep_outputs=False) for folder in args.folders)
    if count == 0:
        print("student: no exercise notebooks found", file=sys.stderr)
        return 1
    print(f"student: {count} notebook(s) in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
