"""Check a PDF edition of the book (`make pdf`) against the book's sources.

Fails (exit status 1, one line per problem) unless:
- the PDF has at least --min-pages pages (pdfinfo);
- the title of every page in _toc.yml (its first `# ` heading) and every part caption appear in the
  text (pdftotext), each at least twice: once in the table of contents and once as a heading;
- no "??" (LaTeX's mark of an unresolved reference) is left in the text;
- every kind of box the sources state appears at least as often as the sources state it: sphinx-proof
  results (Theorem, Lemma, Definition, ... and Proof), sphinx-exercise exercises, and solutions
  ("Solution to ..."), which must be absent from the student edition (--student) instead;
- the PDF holds at least as many images as the notebooks have PNG figures (pdfimages);
- the bibliography is there and lists every entry of references.bib that the sources cite;
- with --log, the LaTeX log of the last run reports no undefined reference or citation and no
  character missing from a font.

Usage: python scripts/check_pdf.py PDF [--student] [--log LATEX.log] [--min-pages N]
(run from the top of the book, whose _toc.yml, sources and references.bib are the reference).
Needs pdfinfo, pdftotext and pdfimages (Debian's poppler-utils).
"""

import argparse
import json
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import yaml

# sphinx-proof directives and the title their box has in the PDF ("Proof." for proofs).
PROOF_KINDS = [
    "axiom",
    "theorem",
    "lemma",
    "definition",
    "remark",
    "conjecture",
    "corollary",
    "algorithm",
    "example",
    "property",
    "observation",
    "proposition",
    "assumption",
    "criterion",
    "notation",
]
DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(?P<name>[\w:-]+)\}", re.MULTILINE)
CITE = re.compile(r"\{cite(?::\w+)?\}`(?P<keys>[^`]+)`")
BIB_ENTRY = re.compile(r"@\w+\s*\{\s*(?P<key>[^,\s]+)\s*,(?P<body>.*?)(?=^@|\Z)", re.S | re.M)
BIB_TITLE = re.compile(r"\btitle\s*=\s*[{\"](?P<title>.*?)[}\"]\s*,?\s*$", re.S | re.M | re.I)
LOG_PROBLEMS = [
    re.compile(r"LaTeX Warning: (Hyper r|R)eference .*? undefined"),
    re.compile(r"LaTeX Warning: Citation .*? undefined"),
    re.compile(r"LaTeX Warning: There were undefined references"),
    re.compile(r"Missing character: There is no .*"),
]


def toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def markdown_sources(stem: str) -> list[str]:
    """The markdown text of a page of the book (front matter and code fences kept out)."""
    notebook, markdown = Path(f"{stem}.ipynb"), Path(f"{stem}.md")
    if notebook.exists():
        cells = json.loads(notebook.read_text())["cells"]
        return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    text = markdown.read_text()
    if text.startswith("---\n"):
        text = text.split("\n---\n", 1)[1]
    return [text]


def page_title(stem: str) -> str:
    for source in markdown_sources(stem):
        fence = None
        for line in source.splitlines():
            marker = re.match(r"^\s*(`{3,}|:{3,})", line)
            if marker:
                fence = (
                    None
                    if fence and marker.group(1).startswith(fence)
                    else fence or marker.group(1)
                )
            elif fence is None and line.startswith("# "):
                return line[2:].strip()
    raise ValueError(f"{stem}: no `# ` title")


def normalise(text: str) -> str:
    """Compare text without markup, spacing or typographic variants (ligatures, sub/superscripts)."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("`", "").replace("*", "")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2010", "-").replace("\u2011", "-")
    return re.sub(r"\s+", "", text)


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def source_directives(stems: list[str]) -> Counter:
    counts = Counter()
    for stem in stems:
        for source in markdown_sources(stem):
            for match in DIRECTIVE.finditer(source):
                counts[match.group("name")] += 1
    return counts


def expected_boxes(directives: Counter) -> dict[str, int]:
    boxes = {kind.capitalize(): directives[f"prf:{kind}"] for kind in PROOF_KINDS}
    boxes["Proof."] = directives["prf:proof"]
    boxes["Exercise"] = directives["exercise"] + directives["exercise-start"]
    return {name: count for name, count in boxes.items() if count}


def count_box_titles(text: str, name: str) -> int:
    if name.endswith("."):
        return len(re.findall(rf"^{re.escape(name)}", text, re.MULTILINE))
    # "Theorem (title)", "Theorem 2 (title)", "Exercise 3.1", or a bare "Definition" line.
    return len(re.findall(rf"^{name}(?: [\d.]+)?(?: \(|$)", text, re.MULTILINE))


def cited_keys(stems: list[str]) -> set[str]:
    keys = set()
    for stem in stems:
        for source in markdown_sources(stem):
            for match in CITE.finditer(source):
                keys.update(key.strip() for key in match.group("keys").split(","))
    return keys


def bib_titles(path: Path) -> dict[str, str]:
    titles = {}
    for entry in BIB_ENTRY.finditer(path.read_text()):
        title = BIB_TITLE.search(entry.group("body"))
        if title:
            titles[entry.group("key")] = re.sub(r"[{}\\]", "", title.group("title"))
    return titles


def notebook_png_count(stems: list[str]) -> int:
    count = 0
    for stem in stems:
        notebook = Path(f"{stem}.ipynb")
        if not notebook.exists():
            continue
        for cell in json.loads(notebook.read_text())["cells"]:
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell["cell_type"] != "code" or tags & {"remove-output", "remove-cell"}:
                continue
            count += sum("image/png" in output.get("data", {}) for output in cell["outputs"])
    return count


def check(pdf: Path, student: bool, log: Path | None, min_pages: int) -> list[str]:
    problems = []
    info = run("pdfinfo", str(pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    if pages < min_pages:
        problems.append(f"{pages} pages, fewer than {min_pages}")
    text = unicodedata.normalize("NFKC", run("pdftotext", "-enc", "UTF-8", str(pdf), "-"))
    flat = normalise(text)

    toc = yaml.safe_load(Path("_toc.yml").read_text())
    stems = toc_files(toc)
    titles = [page_title(stem) for stem in stems[1:]]  # the root page's title is the title page
    titles += [part["caption"] for part in toc.get("parts", []) if "caption" in part]
    for title in titles:
        found = flat.count(normalise(title))
        if found < 2:
            problems.append(
                f"title {title!r} found {found} time(s), expected its entry and heading"
            )

    if "??" in text:
        lines = [line for line in text.splitlines() if "??" in line]
        problems.append(f"{len(lines)} line(s) with '??' (unresolved reference), e.g. {lines[0]!r}")

    directives = source_directives(stems)
    for name, expected in expected_boxes(directives).items():
        found = count_box_titles(text, name)
        if found < expected:
            problems.append(f"{found} '{name}' box(es), the sources state {expected}")
    solutions = len(re.findall(r"^Solution to ", text, re.MULTILINE))
    expected_solutions = directives["solution"] + directives["solution-start"]
    if student and solutions:
        problems.append(f"student edition shows {solutions} solution(s)")
    if not student and solutions < expected_solutions:
        problems.append(f"{solutions} solution(s), the sources have {expected_solutions}")

    images = sum(
        1
        for line in run("pdfimages", "-list", str(pdf)).splitlines()[2:]
        if line.split()[2] == "image"
    )
    figures = notebook_png_count(stems)
    if images < figures:
        problems.append(f"{images} image(s) in the PDF, the notebooks have {figures} figures")

    if not re.search(r"^Bibliography$", text, re.MULTILINE):
        problems.append("no Bibliography")
    titles_by_key = bib_titles(Path("references.bib"))
    for key in sorted(cited_keys(stems)):
        title = titles_by_key.get(key)
        if title is None:
            problems.append(f"cited key {key!r} has no title in references.bib")
        elif normalise(title).lower() not in flat.lower():
            problems.append(f"bibliography entry {key!r} ({title}) not in the PDF")

    if log is not None:
        # `make pdf` sets max_print_line, so that TeX does not wrap a message over several lines.
        lines = log.read_text(errors="replace").splitlines()
        found = Counter(line.strip() for line in lines if any(p.search(line) for p in LOG_PROBLEMS))
        problems += [f"{log.name}: {line} ({n} time(s))" for line, n in found.items()]

    print(
        f"{pdf}: {pages} pages, {len(titles)} titles, {images} images ({figures} notebook figures), "
        f"{sum(expected_boxes(directives).values())} result/exercise boxes expected, "
        f"{solutions} solutions, {len(cited_keys(stems))} cited works"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--student", action="store_true", help="the edition without solutions")
    parser.add_argument("--log", type=Path, help="the LaTeX log of the last run")
    parser.add_argument("--min-pages", type=int, default=300)
    args = parser.parse_args()
    problems = check(args.pdf, args.student, args.log, args.min_pages)
    for problem in problems:
        print(f"check_pdf: {problem}", file=sys.stderr)
    if problems:
        print(f"check_pdf: {args.pdf}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_pdf: {args.pdf}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
