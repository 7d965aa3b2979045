#!/usr/bin/env python3
"""Generate the claims ledger: every labelled result of the book, where it is stated, and what its
numerical checks printed (from the committed notebook outputs).

    python scripts/claims_ledger.py           # rewrite chapters/claims-ledger.md
    python scripts/claims_ledger.py --check   # exit 1 if the committed ledger is out of date

Results are sphinx-proof directives (``:::{prf:theorem} Title`` + ``:label: cr-theorem-1``) and
sphinx-exercise ``{exercise}`` directives; checks are output lines ``check <label>: ok, ...`` printed
by ``ll.check`` and its variants. Labels of the form ``<source>-erratum-...`` mark misprints,
``<source>-garble-...`` defects of our text copy of a source.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import OrderedDict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "chapters" / "claims-ledger.md"
DIRECTIVE = re.compile(r":::\{(prf:\w+|exercise)\}[ \t]*(.*)\n:label:[ \t]*([\w-]+)")
CHECK = re.compile(r"^check ([\w-]+): (ok|FAILED), (.*)$")
SOURCES = OrderedDict(
    [
        ("cr", "Cohen & Razin, lecture notes"),
        ("dh", "Du & Hu (2019)"),
        ("eft", "Eftekhari (2020)"),
        ("lsz", "Lin, Sun & Zhang (2021)"),
        ("own", "Added by this book"),
    ]
)


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def read_page(stem: str) -> tuple[str, list[str]]:
    """Markdown text and printed output lines of a book page (a notebook or a markdown file)."""
    notebook = ROOT / f"{stem}.ipynb"
    if notebook.exists():
        nb = json.loads(notebook.read_text())
        markdown, lines = [], []
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                markdown.append(source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    lines.extend("".join(output["text"]).splitlines())
        return "\n".join(markdown), lines
    page = ROOT / f"{stem}.md"
    return (page.read_text() if page.exists() else ""), []


def collect():
    results, checks, order = {}, {}, []
    for stem in toc_files():
        if stem.endswith("claims-ledger"):
            continue
        markdown, lines = read_page(stem)
        for kind, title, label in DIRECTIVE.findall(markdown):
            kind = kind.removeprefix("prf:")
            results[label] = {"kind": kind, "title": title.strip(), "page": stem}
            order.append(label)
        for line in lines:
            match = CHECK.match(line.strip())
            if match:
                label, status, text = match.groups()
                entry = checks.setdefault(label, {"page": stem, "lines": []})
                entry["lines"].append((status, text))
                if label not in order:
                    order.append(label)
    return results, checks, order


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def chapters() -> list[tuple[str, str]]:
    """``(key, caption)`` of the book's chapters, in order, from the parts of ``_toc.yml``; the key
    is ``chN``, matching ``chapters/chN/`` and ``exercises/chN-exercises``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = []
    for part in toc.get("parts", []):
        match = re.match(r"Chapter (\d+)", part.get("caption", ""))
        if match:
            found.append((f"ch{match.group(1)}", part["caption"]))
    return found


def chapter_of(page: str) -> str:
    match = re.search(r"(?:chapters/|exercises/)(ch\d+)", page)
    return match.group(1) if match else "other"


def source_of(label: str) -> str:
    return label.split("-", 1)[0]


def code(text: str) -> str:
    """An inline code span holding ``text`` whatever backticks it contains."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def item_block(label: str, result: dict | None, check: dict) -> list[str]:
    page = (result or check)["page"]
    # The title is written as Markdown (its math is typeset), then the label, then a link to the
    # statement box (sphinx-proof names the link by the box's kind, e.g. "Theorem 2"): the text of a
    # reference role is shown literally and would show a title's TeX as typed.
    if result:
        role = "ref" if result["kind"] == "exercise" else "prf:ref"
        head = f"**{result['title'] or label}** · `{label}` · {{{role}}}`{label} <{label}>`"
    else:
        head = f"**a check without a stated box** · `{label}`"
    lines = check["lines"]
    failed = sum(status != "ok" for status, _ in lines)
    if not lines:
        if result and result["kind"] in ("definition", "assumption"):
            article = "an" if result["kind"][0] in "aeiou" else "a"
            status = f"{article} {result['kind']}: nothing to check"
        else:
            status = "no numerical check"
    elif failed:
        status = f"**{failed} of {len(lines)} checks FAILED**"
    else:
        status = f"{len(lines)} check{'s' if len(lines) > 1 else ''}, all ok"
    out = [f"- {head} · {{doc}}`/{page}` · {status}"]
    out += [f"  - {code(text)}" for _, text in lines]
    return out


def counts(labels: list[str], checks: dict) -> tuple[int, int, int, int]:
    """Items, check lines, errata and failed check lines among ``labels``."""
    lines = [line for label in labels for line in checks.get(label, {"lines": []})["lines"]]
    errata = sum("-erratum-" in label for label in labels)
    return len(labels), len(lines), errata, sum(status != "ok" for status, _ in lines)


def render() -> str:
    results, checks, order = collect()
    page_of = {label: (results.get(label) or checks[label])["page"] for label in order}
    groups = chapters() + [("other", "Front and back matter")]
    out = [
        "---",
        "# A reference page: no page contents column, the text uses the full width (book_static/linnet.css).",
        "html_theme.sidebar_secondary.remove: true",
        "---",
        "",
        "# Claims ledger",
        "",
        "Every labelled result of the book, where it is stated, and what its numerical checks printed",
        "when the notebooks were last run, grouped by chapter and, within a chapter, by source. Labels",
        "name the source and its numbering: `cr` for the lecture notes {cite}`cohen2023lecture`, `dh`",
        "for {cite}`du2019width`, `eft` for {cite}`eftekhari2020training`, `lsz` for",
        "{cite}`lin2021directional`, and `own` for statements the book adds. A label containing",
        "`erratum` marks a misprint in a source: the book shows the printed form failing and the",
        "corrected form holding. A label containing `garble` marks a defect of our text copy of a",
        "source (a symbol lost or merged in the conversion), not a misprint of the source: the book",
        "says what the source has and checks that reading.",
        "",
        "This page is generated by `scripts/claims_ledger.py` from the committed notebooks; `make test`",
        "fails if it is out of date. A round-off-level figure is printed with a leading `~`.",
        "",
    ]
    # Summary: one row per chapter, one per source.
    out += ["## At a glance", "", "| Chapter | Items | Checks | Errata |", "|---|---:|---:|---:|"]
    for key, caption in groups:
        labels = [label for label in order if chapter_of(page_of[label]) == key]
        if labels:
            n, c, e, f = counts(labels, checks)
            failed = f" ({f} FAILED)" if f else ""
            out.append(f"| {{ref}}`{cell(caption)} <ledger-{key}>` | {n} | {c}{failed} | {e} |")
    n, c, e, f = counts(order, checks)
    out.append(f"| **All** | **{n}** | **{c}**{f' ({f} FAILED)' if f else ''} | **{e}** |")
    out += ["", "| Source | Items | Checks | Errata |", "|---|---:|---:|---:|"]
    for prefix, source_name in SOURCES.items():
        labels = [label for label in order if source_of(label) == prefix]
        if labels:
            n, c, e, f = counts(labels, checks)
            failed = f" ({f} FAILED)" if f else ""
            out.append(f"| {source_name} (`{prefix}-`) | {n} | {c}{failed} | {e} |")
    out.append("")
    for key, caption in groups:
        in_chapter = [label for label in order if chapter_of(page_of[label]) == key]
        if not in_chapter:
            continue
        n, c, e, _ = counts(in_chapter, checks)
        out += [f"(ledger-{key})=", f"## {caption}", "", f"{n} items, {c} checks, {e} errata.", ""]
        for prefix, source_name in SOURCES.items():
            labels = [label for label in in_chapter if source_of(label) == prefix]
            if not labels:
                continue
            n, c, e, _ = counts(labels, checks)
            out += [f"### {source_name}", "", f"{n} items, {c} checks, {e} errata.", ""]
            for label in labels:
                out += item_block(label, results.get(label), checks.get(label, {"lines": []}))
            out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed ledger is stale"
    )
    args = parser.parse_args()
    text = render()
    if args.check:
        if not LEDGER.exists() or LEDGER.read_text() != text:
            print(
                "claims ledger is out of date: run `python scripts/claims_ledger.py` and commit",
                file=sys.stderr,
            )
            return 1
        print("claims ledger is up to date")
        return 0
    LEDGER.write_text(text)
    print(f"wrote {LEDGER.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
