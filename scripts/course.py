"""Course kit: hand out the exercise notebooks and grade a class with nbgrader.

The notebooks in exercises/ are the instructor version. This script turns them into an nbgrader
course folder (default build/course) and drives nbgrader's Python API, without JupyterHub, Docker or
an exchange folder.

Cells of an instructor notebook become nbgrader cells as follows (the exercise a cell belongs to is
the last ``{exercise}`` box above it, named by its ``:label:``):
- a code cell with ``### BEGIN SOLUTION`` is a solution cell (the student writes there);
- a code cell calling ``ll.check...`` after an exercise's solution is a visible test cell worth
  VISIBLE_POINTS (the student sees and can run it);
- a code cell tagged ``hidden-tests`` is a hidden test cell worth HIDDEN_POINTS: its code between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed from the release and put back
  when grading (the book does not show these cells: they are also tagged ``remove-cell``);
- every other code cell is locked: nbgrader restores its source when grading;
- solution prose and instructor notes (cells tagged ``solution`` or ``instructor``) are removed.
An exercise scores the points of its test cells that ran without an error.

Usage:
  python scripts/course.py assignment [--course build/course]
      nbgrader source/ and release/ folders and the gradebook; the release notebooks (what students
      get) are also copied to build/assignment/
  python scripts/course.py autograde SUBMISSIONS [--out build/grades] [--jobs 2] [--timeout 60]
      grade SUBMISSIONS/<student>/chN-exercises.ipynb (any subset of chapters per student):
      OUT/grades.csv (one row per student, points per exercise) and OUT/feedback/<student>/
  python scripts/course.py grading-test [--jobs 2]
      grade the reference solutions (full marks), the release untouched (zero) and the wrong
      submissions of tests/grading/wrong-submissions.yml (the points each entry expects)
"""

from __future__ import annotations

import argparse
import copy
import csv
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import yaml
from nbconvert.preprocessors import TagRemovePreprocessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_student import (  # noqa: E402
    INSTRUCTOR_TAG,
    SOLUTION_TAG,
    ClearCodeSolutions,
    remove_solution_directives,
)

EXERCISES = Path("exercises")
COURSE = Path("build/course")
COURSE_ID = "linnet"
NOTEBOOK = re.compile(r"^(?P<chapter>ch\d+)-exercises\.ipynb$")
EXERCISE_BOX = re.compile(r"^(`{3,}|:{3,})\{exercise\}.*?^:label:\s*(?P<label>\S+)", re.S | re.M)
HIDDEN_TAG = "hidden-tests"
VISIBLE_POINTS = 1
HIDDEN_POINTS = 2
MAX_OUTPUT_CHARS = 10_000
MAX_OUTPUT_LINES = 200
WRONG_SUBMISSIONS = Path("tests/grading/wrong-submissions.yml")
# nbgrader runs the `alembic` command of its environment (gradebook migrations): put it on PATH.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")


def nbgrader_meta(grade_id: str, *, solution=False, grade=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def exercise_cells(nb) -> dict[str, dict[str, list[int]]]:
    """For each exercise label: the indices of its solution, visible test and hidden test cells."""
    exercises: dict[str, dict[str, list[int]]] = {}
    label = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = EXERCISE_BOX.search(cell.source)
            if match:
                label = match.group("label")
                exercises[label] = {"solution": [], "visible": [], "hidden": []}
            continue
        tags = set(cell.metadata.get("tags", []))
        if label is None:
            continue
        if HIDDEN_TAG in tags:
            if "### BEGIN HIDDEN TESTS" not in cell.source:
                raise RuntimeError(f"cell {index} is tagged {HIDDEN_TAG} without hidden tests")
            exercises[label]["hidden"].append(index)
        elif "### BEGIN SOLUTION" in cell.source:
            exercises[label]["solution"].append(index)
        elif exercises[label]["solution"] and "ll.check" in cell.source:
            exercises[label]["visible"].append(index)
    return exercises


def source_notebook(path: Path):
    """The nbgrader source version of an instructor notebook (solutions kept, prose removed)."""
    nb = nbformat.read(path, as_version=4)
    nb, _ = TagRemovePreprocessor(
        remove_cell_tags={SOLUTION_TAG, INSTRUCTOR_TAG}, enabled=True
    ).preprocess(nb, {})
    remove_solution_directives(nb)
    roles = {}
    for label, cells in exercise_cells(nb).items():
        if not cells["solution"]:
            continue
        if not (cells["visible"] or cells["hidden"]):
            raise RuntimeError(f"{path}: exercise {label} has a solution but no test cell")
        for kind in ("solution", "visible", "hidden"):
            for number, index in enumerate(cells[kind], start=1):
                roles[index] = (kind, f"{label}-{kind}-{number}")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        kind, grade_id = roles.get(index, ("locked", f"locked-{index}"))
        if kind == "solution":
            meta = nbgrader_meta(grade_id, solution=True)
        elif kind == "visible":
            meta = nbgrader_meta(grade_id, grade=True, locked=True, points=VISIBLE_POINTS)
        elif kind == "hidden":
            meta = nbgrader_meta(grade_id, grade=True, locked=True, points=HIDDEN_POINTS)
        else:
            meta = nbgrader_meta(grade_id, locked=True)
        cell.metadata["nbgrader"] = meta
    nb.metadata.pop("widgets", None)
    return nb


def course_config(course: Path, timeout: int = 60):
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        ComputeChecksums,
        Execute,
        IgnorePattern,
        IncludeHeaderFooter,
        InstantiateTests,
        LimitOutput,
        LockCells,
        SaveAutoGrades,
        SaveCells,
    )
    from nbgrader.preprocessors.clearhiddentests import ClearHiddenTests
    from nbgrader.preprocessors.clearmarkingscheme import ClearMarkScheme
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course.resolve())
    config.CourseDirectory.course_id = COURSE_ID
    # Our ClearSolutions: its stub names the function to complete (scripts/make_student.py).
    config.GenerateAssignment.preprocessors = [
        IncludeHeaderFooter,
        InstantiateTests,
        LockCells,
        StubSolutions,
        ClearOutput,
        CheckCellMetadata,
        ComputeChecksums,
        SaveCells,
        ClearHiddenTests,
        ClearMarkScheme,
        ComputeChecksums,
        CheckCellMetadata,
    ]
    # Containment: a time limit per cell (the kernel is interrupted and the notebook goes on),
    # and outputs cut to MAX_OUTPUT_LINES lines and MAX_OUTPUT_CHARS characters.
    config.Execute.timeout = timeout
    config.Execute.interrupt_on_timeout = True
    config.LimitOutput.max_lines = MAX_OUTPUT_LINES
    config.LimitOutput.max_traceback = 100
    config.Autograde.autograde_preprocessors = [
        Execute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        TruncateOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    return config


from nbgrader.preprocessors import NbGraderPreprocessor  # noqa: E402

# nbgrader's ClearSolutions, with a stub that names the function to complete (make_student.py).
StubSolutions = ClearCodeSolutions


class TruncateOutput(NbGraderPreprocessor):
    """Cut each text output to MAX_OUTPUT_CHARS characters (LimitOutput counts lines only)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and len(output.text) > MAX_OUTPUT_CHARS:
                output.text = output.text[:MAX_OUTPUT_CHARS] + "\n... (output truncated)\n"
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and len(value) > MAX_OUTPUT_CHARS:
                    output.data[key] = value[:MAX_OUTPUT_CHARS] + "\n... (output truncated)"
        return cell, resources


def api_for(course: Path, timeout: int = 60):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = course_config(course, timeout)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def chapters_in(folder: Path) -> dict[str, Path]:
    return {
        match.group("chapter"): path
        for path in sorted(folder.glob("*.ipynb"))
        if (match := NOTEBOOK.match(path.name))
    }


def make_assignment(course: Path = COURSE, copy_to: Path | None = Path("build/assignment")):
    if course.exists():
        shutil.rmtree(course)
    api = api_for(course)
    for chapter, path in chapters_in(EXERCISES).items():
        target = course / "source" / chapter / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_notebook(path), target)
        result = api.generate_assignment(chapter, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader generate_assignment {chapter} failed:\n{result['log']}")
        release = course / "release" / chapter / path.name
        check_release(nbformat.read(release, as_version=4), release)
        print(f"assignment: {path} -> {release}")
    if copy_to:
        if copy_to.exists():
            shutil.rmtree(copy_to)
        copy_to.mkdir(parents=True)
        for release in sorted((course / "release").glob("*/*.ipynb")):
            shutil.copy2(release, copy_to / release.name)
        print(f"assignment: release notebooks (hand these out) in {copy_to}/")


def check_release(nb, path: Path) -> None:
    for index, cell in enumerate(nb.cells):
        leaks = ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "{solution"]
        if any(leak in cell.source for leak in leaks if cell.cell_type == "code" or "{" in leak):
            raise RuntimeError(f"{path}: cell {index} still contains a solution or hidden test")


def max_points(course: Path, *, hidden_only: bool = False) -> dict[str, dict[str, float]]:
    """Per chapter, per exercise label: the points its test cells are worth (only its hidden
    tests' points with ``hidden_only``)."""
    points: dict[str, dict[str, float]] = {}
    for chapter, path in chapters_in(EXERCISES).items():
        source = nbformat.read(course / "source" / chapter / path.name, as_version=4)
        per_exercise: dict[str, float] = {}
        for cell in source.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and (not hidden_only or "-hidden-" in meta["grade_id"]):
                label = exercise_of(meta["grade_id"])
                per_exercise[label] = per_exercise.get(label, 0) + meta["points"]
        points[chapter] = per_exercise
    return points


def exercise_of(grade_id: str) -> str:
    return re.sub(r"-(solution|visible|hidden)-\d+$", "", grade_id)


def grade_one(args) -> dict:
    """Autograde one student's notebook of one chapter in a private copy of the course folder
    (nbgrader's gradebook is an SQLite file: parallel jobs each get their own)."""
    course, chapter, notebook_name, student, submission, timeout, feedback_dir = args
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="linnet-grade-") as tmp:
        root = Path(tmp)
        shutil.copytree(course / "source" / chapter, root / "source" / chapter)
        shutil.copy2(course / "gradebook.db", root / "gradebook.db")
        target = root / "submitted" / student / chapter / notebook_name
        target.parent.mkdir(parents=True)
        shutil.copy2(submission, target)
        api = api_for(root, timeout)
        outcome = {"chapter": chapter, "student": student, "scores": {}, "note": ""}
        result = api.autograde(chapter, student, force=True, create=True)
        if not result["success"]:
            outcome["note"] = f"{chapter}: could not be graded (see feedback)"
            error = (result.get("error") or "") + (result.get("log") or "")
            feedback_dir.mkdir(parents=True, exist_ok=True)
            (feedback_dir / f"{chapter}-exercises-error.txt").write_text(error)
            return outcome
        db_url = f"sqlite:///{root / 'gradebook.db'}"
        with Gradebook(db_url, COURSE_ID) as gradebook:
            graded = gradebook.find_submission_notebook(notebook_name[:-6], chapter, student)
            for grade in graded.grades:
                label = exercise_of(grade.name)
                outcome["scores"][label] = outcome["scores"].get(label, 0) + (grade.score or 0)
        api.generate_feedback(chapter, student, force=True)
        feedback = root / "feedback" / student / chapter / f"{notebook_name[:-6]}.html"
        feedback_dir.mkdir(parents=True, exist_ok=True)
        if feedback.exists():
            shutil.copy2(feedback, feedback_dir / feedback.name)
        autograded = root / "autograded" / student / chapter / notebook_name
        if autograded.exists():
            shutil.copy2(autograded, feedback_dir / f"{notebook_name[:-6]}-graded.ipynb")
        return outcome


def autograde(
    submissions: Path, out: Path, course: Path = COURSE, jobs: int = 2, timeout: int = 60
) -> dict[str, dict]:
    """Grade every SUBMISSIONS/<student>/chN-exercises.ipynb; write OUT/grades.csv and
    OUT/feedback/<student>/; return {student: {"scores": {chapter: {label: points}}, "notes": []}}."""
    if not (course / "gradebook.db").exists():
        raise SystemExit(f"no course in {course}: run `make assignment` first")
    points = max_points(course)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    if not students:
        raise SystemExit(f"no student folders in {submissions} (expected {submissions}/<student>/)")
    if out.exists():
        shutil.rmtree(out)
    tasks, results = [], {s: {"scores": {}, "notes": []} for s in students}
    for student in students:
        found = {p.name for p in (submissions / student).glob("*.ipynb")}
        for chapter in points:
            name = f"{chapter}-exercises.ipynb"
            if name not in found:
                results[student]["notes"].append(f"{chapter}: missing")
                continue
            submission = (submissions / student / name).resolve()
            feedback_dir = (out / "feedback" / student).resolve()
            tasks.append(
                (course.resolve(), chapter, name, student, submission, timeout, feedback_dir)
            )
        unknown = sorted(found - {f"{c}-exercises.ipynb" for c in points})
        if unknown:
            results[student]["notes"].append("not graded: " + ", ".join(unknown))
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for outcome in pool.map(grade_one, tasks):
            entry = results[outcome["student"]]
            entry["scores"][outcome["chapter"]] = outcome["scores"]
            if outcome["note"]:
                entry["notes"].append(outcome["note"])
    write_grades(out, points, results)
    return results


def write_grades(out: Path, points, results) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = [(c, label) for c, per in points.items() for label in per]
    header = ["student"]
    header += [f"{c}/{label} (/{points[c][label]:g})" for c, label in columns]
    header += [f"{c} total (/{sum(per.values()):g})" for c, per in points.items()]
    total = sum(sum(per.values()) for per in points.values())
    header += [f"total (/{total:g})", "notes"]
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for student, entry in results.items():
            scores = entry["scores"]
            row = [student]
            row += [f"{scores.get(c, {}).get(label, 0):g}" for c, label in columns]
            chapter_totals = [sum(scores.get(c, {}).values()) for c in points]
            row += [f"{t:g}" for t in chapter_totals]
            row += [f"{sum(chapter_totals):g}", "; ".join(entry["notes"])]
            writer.writerow(row)
            write_student_page(out / "feedback" / student, student, points, entry)
    print(f"autograde: {len(results)} student(s): {out / 'grades.csv'}, {out / 'feedback'}/")


def write_student_page(folder: Path, student: str, points, entry) -> None:
    """OUT/feedback/<student>/index.html: the scores and links to nbgrader's feedback pages."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for chapter, per in points.items():
        scores = entry["scores"].get(chapter)
        page = f"{chapter}-exercises.html"
        link = f'<a href="{page}">{chapter}</a>' if (folder / page).exists() else chapter
        for label, worth in per.items():
            got = "missing" if scores is None else f"{scores.get(label, 0):g}"
            rows.append(f"<tr><td>{link}</td><td>{label}</td><td>{got} / {worth:g}</td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in entry["notes"])
    (folder / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(student)}"
        f"</title></head><body><h1>Exercises: {html.escape(student)}</h1>"
        "<table><tr><th>Chapter</th><th>Exercise</th><th>Points</th></tr>"
        + "".join(rows)
        + f"</table><ul>{notes}</ul></body></html>\n"
    )


def wrong_submission(spec: dict, course: Path) -> nbformat.NotebookNode:
    """The reference solution of spec's chapter with spec's edit applied to one solution cell."""
    chapter = spec["chapter"]
    nb = nbformat.read(course / "source" / chapter / f"{chapter}-exercises.ipynb", as_version=4)
    nb = copy.deepcopy(nb)
    hits = [cell for cell in nb.cells if spec["replace"] in cell.source]
    if len(hits) != 1 or not hits[0].metadata["nbgrader"]["solution"]:
        raise RuntimeError(f"{spec['name']}: 'replace' must match one solution cell")
    hits[0].source = hits[0].source.replace(spec["replace"], spec["with"], 1)
    return nb


def grading_test(jobs: int, timeout: int) -> int:
    start = time.monotonic()
    course = Path("build/grading-test/course")
    make_assignment(course, copy_to=None)
    points = max_points(course)
    hidden = max_points(course, hidden_only=True)
    submissions = Path("build/grading-test/submissions")
    if submissions.exists():
        shutil.rmtree(submissions)
    expected: dict[str, dict[str, dict[str, float]]] = {}
    for chapter, per in points.items():
        name = f"{chapter}-exercises.ipynb"
        for student, folder in (("reference", "source"), ("untouched", "release")):
            (submissions / student).mkdir(parents=True, exist_ok=True)
            shutil.copy2(course / folder / chapter / name, submissions / student / name)
        expected.setdefault("reference", {})[chapter] = dict(per)
        expected.setdefault("untouched", {})[chapter] = {label: 0 for label in per}
    specs = yaml.safe_load(WRONG_SUBMISSIONS.read_text())
    for spec in specs:
        chapter, student = spec["chapter"], spec["name"]
        (submissions / student).mkdir(parents=True)
        nbformat.write(
            wrong_submission(spec, course), submissions / student / f"{chapter}-exercises.ipynb"
        )
        wanted = dict(points[chapter])
        for label, value in spec["expect"].items():
            if label not in wanted:
                raise RuntimeError(f"{student}: no exercise {label} in {chapter}")
            visible = wanted[label] - hidden[chapter].get(label, 0)
            wanted[label] = visible if value == "visible only" else value
        expected[student] = {chapter: wanted}
    out = Path("build/grading-test/grades")
    results = autograde(submissions, out, course, jobs=jobs, timeout=timeout)
    failures = []
    for student, chapters in expected.items():
        for chapter, wanted in chapters.items():
            got = results[student]["scores"].get(chapter, {})
            for label, value in wanted.items():
                if got.get(label, 0) != value:
                    failures.append(
                        f"{student} {chapter} {label}: scored {got.get(label, 0):g}, expected {value:g}"
                    )
    for spec in specs:
        limit = spec.get("max_output_chars")
        if limit:
            graded = out / "feedback" / spec["name"] / f"{spec['chapter']}-exercises-graded.ipynb"
            size = sum(
                len(json.dumps(c.get("outputs", []))) for c in nbformat.read(graded, 4).cells
            )
            if size > limit:
                failures.append(f"{spec['name']}: stored outputs {size} characters > {limit}")
    for line in failures:
        print("grading-test: FAILED", line)
    seconds = time.monotonic() - start
    print(
        f"grading-test: {len(expected)} submission sets, {len(points)} chapters, "
        f"{'FAILED' if failures else 'ok'} in {seconds:.0f} s"
    )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    assignment = sub.add_parser("assignment")
    assignment.add_argument("--course", type=Path, default=COURSE)
    grade = sub.add_parser("autograde")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--course", type=Path, default=COURSE)
    grade.add_argument("--out", type=Path, default=Path("build/grades"))
    grade.add_argument("--jobs", type=int, default=2)
    grade.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    test = sub.add_parser("grading-test")
    test.add_argument("--jobs", type=int, default=2)
    test.add_argument("--timeout", type=int, default=45, help="seconds per cell")
    args = parser.parse_args()
    if args.command == "assignment":
        make_assignment(args.course)
        return 0
    if args.command == "autograde":
        if not args.submissions.is_dir():
            parser.error(f"SUBMISSIONS must be a folder, got {args.submissions}")
        autograde(args.submissions, args.out, args.course, args.jobs, args.timeout)
        return 0
    return grading_test(args.jobs, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
