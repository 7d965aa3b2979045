"""Open every page of the built book in headless Chromium (Playwright driving Debian's chromium)
and fail on what a reader would see as broken.

Run by `make browser-test` after `make book`. The pages are served from `_build/html` on
127.0.0.1 by a thread of this script; no other host is contacted. Per page:

* desktop (1280 x 900): every output block fits the content column (no output is cut off); code
  blocks that overflow are counted (at most 5% of the book's code blocks may); no raw TeX in the
  navigation, page title, headings or prose once MathJax has run; no line of a solution is visible
  before the reader opens its toggle; a full-page screenshot goes to `_build/screenshots/`;
* phone (390 x 844): the page itself never scrolls sideways (wide code and outputs scroll or wrap
  inside their own box).

On every page, a console error, an uncaught page error, a failed request (HTTP status 400 or more,
or a request that fails) or a request to any host other than the local server fails the run; so do,
at the desktop size:

* an image that did not load (``naturalWidth`` 0) or that has no alt text saying what it shows (an
  empty alt, or myst-nb's default: the image's file name; figures get theirs from the cell metadata
  ``mystnb.image.alt``);
* traceback text ("Traceback (most recent call last)", or a cell output of an error) and MathJax
  errors (``mjx-merror`` elements, anything with ``data-mjx-error``, "Math input error", and an
  undefined macro, which MathJax shows as its name in red);
* fewer or more result boxes than the page's source states: sphinx-proof boxes (``{prf:...}``),
  exercises (``{exercise}``, ``{exercise-start}``) and solutions (``{solution}``, ``{solution-start}``)
  counted in the notebook's (or Markdown file's) markdown against the rendered page;
* an accessibility violation of impact "serious" or "critical" found by axe-core (the copy bundled
  with the pinned ``axe-playwright-python``, injected into the page: no network), run once per page
  in the same page load.

Each page, with the images it shows, must weigh at most 3 MB; and on a page with pre-rendered sliders
(``linnet_lib.interactive.static_sliders``), every frame of the grid must be stored, and moving each slider
with the keyboard must swap the figure and its alt text and update the value shown beside it.

Last, the search page must find "balanced" (``search.html?q=balanced`` lists at least one result).
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import functools
import http.server
import itertools
import json
import multiprocessing
import os
import re
import shutil
import sys
import threading
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_CODE_OVERFLOW = 0.05
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Directives in a page's source that each render as one box: sphinx-proof results (class "proof"),
# sphinx-exercise exercises and solutions (gated ones open with the -start directive).
DIRECTIVE = re.compile(
    r"^ {0,3}(?::{3,}|`{3,})\{(prf:[a-z]+|exercise|exercise-start|solution|solution-start)\}", re.M
)
BOX_KIND = {"exercise-start": "exercise", "solution-start": "solution"}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|Math input error|Math output error")
# axe-core impacts that fail the run ("minor" and "moderate" are printed as a count only).
AXE_FAIL = ("serious", "critical")
# "preload": false: axe would otherwise re-fetch every stylesheet and resolve their @import against the
# page's address instead of the stylesheet's (the theme's `@import "../basic.css"` then 404s); the
# computed styles it checks come from the browser either way.
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}
# The claims ledger is one template repeated for every result of the book (23 000 elements): axe's
# colour-contrast rule, which measures every text element, takes minutes on it. Its colours are
# checked on the summary table and on the first chapter's entries; the other chapters' entries,
# the same elements with the same classes, are left out of that one rule (all other rules see them).
CONTRAST_SAMPLE_EXCLUDE = {
    "chapters/claims-ledger.html": "section#claims-ledger > section:nth-of-type(n+3)",
}

# Raw TeX a reader could see: \( \) \[ \] delimiters, $\command, or a TeX command with a brace.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\\[A-Za-z]|\\(?:ell|mathbb|frac|sigma|top)\b")

MEASURE = """
() => {
  const wide = (el) => el.scrollWidth > el.clientWidth + 1;
  const outputs = [...document.querySelectorAll('.cell_output pre, .cell_output .output')];
  const outPre = outputs.filter((el) => el.tagName === 'PRE');
  const code = [...document.querySelectorAll('.cell_input pre')];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
      && getComputedStyle(el).visibility !== 'hidden';
  // textContent, not innerText: collapsed parts of the navigation count too (a reader opens them).
  const text = (sel) => [...document.querySelectorAll(sel)].map((el) => el.textContent).join('\\n');
  // Everything of an answer: the solution admonitions and the code cells that hold solution code.
  const answerCells = [...document.querySelectorAll('.cell')].filter(
      (c) => /### BEGIN SOLUTION/.test(c.querySelector('.cell_input')?.textContent || ''));
  const shownAnswerLines = answerCells.filter(visible)
      .map((c) => c.querySelector('.cell_input').innerText.split('\\n').length)
      .reduce((a, b) => a + b, 0);
  const solutions = [...document.querySelectorAll('.solution')];
  const shownSolutionBodies = solutions.filter((s) => {
      const body = [...s.children].filter((ch) => !ch.classList.contains('admonition-title'));
      return body.some(visible);
  }).length;
  const prose = [...document.querySelectorAll('article p, article li, article h1, article h2, article h3, article td, article dt, article dd')]
      .filter((el) => !el.closest('pre, code, .cell_input, .cell_output'))
      .map((el) => el.innerText).join('\\n');
  return {
    outputs: outPre.length,
    outputsCut: outPre.filter(wide).map((el) => el.innerText.split('\\n').find((l) => l.length > 0)?.slice(0, 80) || ''),
    code: code.length,
    codeWide: code.filter(wide).length,
    answerCells: answerCells.length,
    shownAnswerLines: shownAnswerLines,
    solutions: solutions.length,
    shownSolutionBodies: shownSolutionBodies,
    nav: text('.bd-sidebar-primary, .bd-header, .prev-next-area, .bd-sidebar-secondary, .header-article')
        + '\\n' + document.title,
    prose: prose,
    articleWidth: document.querySelector('article')?.clientWidth || 0,
    // Images: every <img> must have loaded and say what it shows (not myst-nb's default alt, the path).
    imagesBroken: [...document.images].filter((im) => im.complete && im.naturalWidth === 0
        || !im.complete).map((im) => im.getAttribute('src')),
    imagesNoAlt: [...document.images].filter((im) => {
        const alt = (im.getAttribute('alt') || '').trim();
        return !alt || alt === im.getAttribute('src') || /\\.(png|jpe?g|gif|svg|webp)$/i.test(alt);
    }).map((im) => im.getAttribute('src')),
    images: document.images.length,
    // Tracebacks and MathJax errors: text anywhere in the article, error outputs, error nodes.
    articleText: document.querySelector('article')?.innerText || '',
    errorOutputs: document.querySelectorAll('.cell_output .traceback, .cell_output .output.error').length,
    mathErrors: [...new Set([...document.querySelectorAll('mjx-merror, [data-mjx-error], .mjx-output-error')]
        .map((el) => el.getAttribute('data-mjx-error') || el.textContent.slice(0, 80))
        // An undefined macro is no error for MathJax: it shows its name in red (package noundefined).
        .concat([...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
            .filter((el) => el.textContent.startsWith('\\\\'))
            .map((el) => `undefined macro ${el.textContent}`)))],
    boxes: {
      prf: document.querySelectorAll('div.admonition.proof').length,
      exercise: document.querySelectorAll('div.admonition.exercise').length,
      solution: document.querySelectorAll('div.admonition.solution').length,
    },
  };
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on stdout
        pass

    def handle_one_request(self):  # a browser that cancels a request is not an error of the book
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pages(html: Path, only: list[str] | None) -> list[str]:
    skip = ("_static", "_sources", "_images")
    found = sorted(
        str(p.relative_to(html))
        for p in html.rglob("*.html")
        if p.relative_to(html).parts[0] not in skip
        and 'http-equiv="refresh"' not in p.read_text().lower()  # index.html only redirects
    )
    if only:
        found = [p for p in found if any(o in p for o in only)]
    return found


def expected_boxes(html: Path, rel: str) -> dict[str, int] | None:
    """The boxes the page's source states: its notebook's markdown cells, or its Markdown file."""
    stem = ROOT / rel.removesuffix(".html")
    if stem.with_suffix(".ipynb").exists():
        cells = json.loads(stem.with_suffix(".ipynb").read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    elif stem.with_suffix(".md").exists():
        text = stem.with_suffix(".md").read_text()
    else:  # a page Sphinx makes itself (index, search)
        return None
    counts = {"prf": 0, "exercise": 0, "solution": 0}
    for match in DIRECTIVE.finditer(text):
        kind = match.group(1)
        counts["prf" if kind.startswith("prf:") else BOX_KIND.get(kind, kind)] += 1
    return counts


def audit(axe: Axe, page, contrast_exclude: str | None) -> list[dict]:
    """axe-core's violations on the page (all rules, one run; two where colour contrast is sampled)."""
    context = None  # the whole page
    if contrast_exclude is None:
        return axe.run(page, context, AXE_OPTIONS).response["violations"]
    others = {**AXE_OPTIONS, "rules": {"color-contrast": {"enabled": False}}}
    contrast = {**AXE_OPTIONS, "runOnly": ["color-contrast"]}
    sampled = {"exclude": [[contrast_exclude]]}
    return (
        axe.run(page, context, others).response["violations"]
        + axe.run(page, sampled, contrast).response["violations"]
    )


def search_finds(context, base: str, word: str) -> int:
    """How many results Sphinx's search page lists for ``word`` (0 if it has not finished in 30 s).

    Sphinx adds the results one by one (a timer each) and then writes its summary line ("Search
    finished, found N page(s)..." or "Your search did not match..."): the count is read after that
    line appears, so it is the whole list, the same on every run."""
    page = context.new_page()
    try:
        page.goto(f"{base}/search.html?q={word}")
        page.wait_for_function(
            "() => document.querySelector('#search-results .search-summary')?.innerText.trim()",
            timeout=30_000,
        )
        return page.locator("#search-results ul.search li").count()
    except PlaywrightTimeout:
        return 0
    finally:
        page.close()


def wait_for_math(page) -> None:
    """Wait until the page has loaded and MathJax (where the page has math) has typeset it."""
    from playwright.sync_api import Error

    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            page.evaluate(
                "() => (window.MathJax && MathJax.startup && MathJax.startup.promise) "
                "? MathJax.startup.promise : null"
            )
            return
        except Error:  # a script of the page navigated (e.g. the search page adds its query)
            if attempt == 2:
                raise
            page.wait_for_timeout(500)


MAX_PAGE_BYTES = 3_000_000
LOCAL_IMG = re.compile(r'<img\b[^>]*?\bsrc="(?!data:)([^"#?]+)"')


def page_bytes(html: Path, rel: str) -> int:
    """The page's HTML file plus the local images it shows (shared CSS and JavaScript not counted)."""
    page = html / rel
    text = page.read_text(encoding="utf-8")
    images = {(page.parent / src).resolve() for src in LOCAL_IMG.findall(text)}
    return page.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())


def check_sliders(page) -> tuple[int, list[str]]:
    """Move every pre-rendered slider of the page by one step with the keyboard and check the
    figure, its alt text and the shown value change; return the count of slider groups and the
    problems found."""
    problems = []
    roots = page.locator(".linnet-sliders")
    for r in range(roots.count()):
        root = roots.nth(r)
        name = root.get_attribute("id")
        data = root.evaluate(
            "(el) => { const d = JSON.parse(el.querySelector('script.linnet-sliders-data')"
            ".textContent); return {values: d.values, keys: Object.keys(d.frames)}; }"
        )
        grid = itertools.product(*(range(len(values)) for values in data["values"]))
        expected = {",".join(map(str, index)) for index in grid}
        if set(data["keys"]) != expected:
            problems.append(
                f"{name}: frames stored for {sorted(set(data['keys']))}, the grid has {sorted(expected)}"
            )
        img = root.locator("img.linnet-sliders-figure")
        inputs = root.locator("input[type=range]")
        if inputs.count() != len(data["values"]):
            problems.append(
                f"{name}: {inputs.count()} sliders for {len(data['values'])} parameters"
            )
            continue
        for k in range(inputs.count()):
            slider = inputs.nth(k)
            before = (img.get_attribute("src"), img.get_attribute("alt"))
            value = int(slider.input_value())
            slider.focus()
            page.keyboard.press(
                "ArrowLeft" if value == int(slider.get_attribute("max")) else "ArrowRight"
            )
            moved = int(slider.input_value())
            after = (img.get_attribute("src"), img.get_attribute("alt"))
            shown = root.locator(f'output[for="{slider.get_attribute("id")}"]').inner_text()
            loaded = img.evaluate(
                "(im) => im.decode().then(() => im.naturalWidth > 0, () => false)"
            )
            if moved == value:
                problems.append(f"{name}: slider {k} did not move with the arrow keys")
            elif after[0] == before[0] or after[1] == before[1]:
                problems.append(
                    f"{name}: moving slider {k} did not change the figure and its alt text"
                )
            elif shown != data["values"][k][moved] or not loaded:
                problems.append(
                    f"{name}: after slider {k} moved, the value shown is {shown!r} "
                    f"(expected {data['values'][k][moved]!r}) and the image loaded: {loaded}"
                )
    return roots.count(), problems


class Checker:
    """One headless Chromium (two contexts: desktop and phone) that checks pages one at a time.

    :meth:`check` returns what a run reports for one page: its ``failures``, its ``console`` lines
    (console and page errors, failed or outside requests), its code block counts, its count of minor
    axe findings and its printed ``line``. Each worker process of :func:`main` holds one."""

    def __init__(self, base: str, html: Path, shots: Path | None):
        self.base, self.html, self.shots = base, html, shots
        chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        self.desktop = self.browser.new_context(viewport=DESKTOP)
        self.phone = self.browser.new_context(viewport=PHONE)
        self.axe = Axe()

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()

    def search(self, word: str) -> int:
        return search_finds(self.desktop, self.base, word)

    def check(self, rel: str) -> dict:
        base = self.base
        url = f"{base}/{rel}"
        failures: list[str] = []
        console: list[str] = []
        page = self.desktop.new_page()
        page.on(
            "console",
            lambda m: (
                console.append(f"{rel}: console {m.type}: {m.text[:160]}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: console.append(f"{rel}: page error: {e}"))
        page.on(
            "response",
            lambda r: (
                console.append(f"{rel}: HTTP {r.status} {r.url}") if r.status >= 400 else None
            ),
        )
        page.on(
            "request",
            lambda r: (
                console.append(f"{rel}: request to another host: {r.url}")
                if not r.url.startswith((base, "data:", "blob:", "about:"))
                else None
            ),
        )
        page.on("requestfailed", lambda r: console.append(f"{rel}: request failed: {r.url}"))
        page.goto(url)
        wait_for_math(page)
        m = page.evaluate(MEASURE)
        for first in m["outputsCut"]:
            failures.append(f"{rel}: output block cut at 1280 px: {first!r}")
        if m["shownAnswerLines"]:
            failures.append(
                f"{rel}: {m['shownAnswerLines']} lines of solution code visible without a click"
            )
        if m["shownSolutionBodies"]:
            failures.append(f"{rel}: {m['shownSolutionBodies']} solutions open without a click")
        for where in ("nav", "prose"):
            hit = RAW_TEX.search(m[where])
            if hit:
                context = m[where][max(hit.start() - 40, 0) : hit.end() + 40].replace("\n", " ")
                failures.append(f"{rel}: raw TeX in the {where}: ...{context}...")
        for src in m["imagesBroken"]:
            failures.append(f"{rel}: image did not load: {src}")
        for src in m["imagesNoAlt"]:
            failures.append(f"{rel}: image without alt text saying what it shows: {src}")
        hit = TRACEBACK.search(m["articleText"])
        if hit:
            failures.append(f"{rel}: error text on the page: {hit.group(0)!r}")
        if m["errorOutputs"]:
            failures.append(f"{rel}: {m['errorOutputs']} error outputs (tracebacks) shown")
        for error in m["mathErrors"]:
            failures.append(f"{rel}: MathJax error: {error[:120]}")
        expected = expected_boxes(self.html, rel)
        if expected is not None and expected != m["boxes"]:
            failures.append(
                f"{rel}: result boxes in the source {expected}, on the page {m['boxes']}"
            )
        violations = audit(self.axe, page, CONTRAST_SAMPLE_EXCLUDE.get(rel))
        axe_minor = 0
        for v in violations:
            if v["impact"] in AXE_FAIL:
                targets = ", ".join(str(n["target"][0]) for n in v["nodes"][:3])
                failures.append(
                    f"{rel}: accessibility ({v['impact']}) {v['id']}: {v['help']} "
                    f"[{len(v['nodes'])} elements: {targets}]"
                )
            else:
                axe_minor += 1
        if self.shots is not None:
            target = self.shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
            page.screenshot(path=str(target), full_page=True)
        sliders, problems = check_sliders(page)  # after the screenshot: it moves them
        failures += [f"{rel}: {problem}" for problem in problems]
        weight = page_bytes(self.html, rel)
        if weight > MAX_PAGE_BYTES:
            failures.append(f"{rel}: the page and its images weigh {weight} bytes (over 3 MB)")
        page.close()

        small = self.phone.new_page()
        small.goto(url)
        wait_for_math(small)
        sideways = small.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if sideways > 0:
            failures.append(f"{rel}: at 390 px the page scrolls sideways by {sideways} px")
        small.close()
        line = (
            f"{rel}: {m['outputs']} outputs ({len(m['outputsCut'])} cut), "
            f"{m['code']} code ({m['codeWide']} wide), {m['images']} images, "
            f"{sum(m['boxes'].values())} boxes, {len(violations)} axe violations, "
            f"{sliders} slider groups, {weight / 1e6:.2f} MB, "
            f"article {m['articleWidth']} px"
        )
        return {
            "failures": failures,
            "console": console,
            "code": m["code"],
            "codeWide": m["codeWide"],
            "axe_minor": axe_minor,
            "line": line,
        }


# The checker of a worker process (see main): started by _start_worker, closed when the worker exits.
_CHECKER: Checker | None = None


def _start_worker(base: str, html: str, shots: str | None) -> None:
    global _CHECKER
    _CHECKER = Checker(base, Path(html), Path(shots) if shots else None)
    atexit.register(_CHECKER.close)


def check_or_report(checker: Checker, rel: str) -> dict:
    """``checker.check(rel)``; a page on which the browser itself fails (a time-out, a crash) is a
    failure of that page, and the run goes on with the other pages."""
    try:
        return checker.check(rel)
    except Exception as error:  # noqa: BLE001 (reported as a failure of the page)
        text = f"{type(error).__name__}: {error}".strip().splitlines()[0][:300]
        for context in (checker.desktop, checker.phone):  # the next page starts clean
            for page in context.pages:
                try:
                    page.close()
                except Exception:  # noqa: BLE001, S110 (a crashed page may not close)
                    pass
        return {
            "failures": [f"{rel}: the browser test could not check the page: {text}"],
            "console": [],
            "code": 0,
            "codeWide": 0,
            "axe_minor": 0,
            "line": f"{rel}: not checked ({text})",
        }


def _check(rel: str) -> dict:
    return check_or_report(_CHECKER, rel)


def _search(word: str) -> int:
    return _CHECKER.search(word)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--only", nargs="*", help="pages whose path contains one of these")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=2,
        help="browsers in parallel, one worker process each (default 2; 1 checks in this process)",
    )
    args = parser.parse_args()
    html = Path(args.html)
    if not (html / "index.html").exists():
        print(f"no built book at {html}: run `make book` first", file=sys.stderr)
        return 2
    shots = None if args.no_screenshots else Path(args.screenshots)
    if shots is not None:
        shutil.rmtree(shots, ignore_errors=True)
        shots.mkdir(parents=True)
    server, base = serve(html)
    rels = pages(html, args.only)
    # Longest pages first (the HTML's size stands for the time a page takes), handed to whichever
    # browser is free: the browsers finish together. Results are printed in page order regardless.
    order = sorted(rels, key=lambda rel: -(html / rel).stat().st_size)
    jobs = max(1, min(args.jobs, len(rels)))
    results: dict[str, dict] = {}
    failures: list[str] = []
    try:
        if jobs == 1:
            checker = Checker(base, html, shots)
            try:
                for rel in rels:
                    print(f"{rel}: ", end="", flush=True)
                    results[rel] = check_or_report(checker, rel)
                    print(results[rel]["line"].removeprefix(f"{rel}: "), flush=True)
                found = checker.search("balanced")
            finally:
                checker.close()
        else:
            # spawn, not fork: a worker must not inherit this process's server thread.
            spawn = multiprocessing.get_context("spawn")
            init = (base, str(html), str(shots) if shots else None)
            with concurrent.futures.ProcessPoolExecutor(
                jobs, mp_context=spawn, initializer=_start_worker, initargs=init
            ) as pool:
                futures = {rel: pool.submit(_check, rel) for rel in order}
                searched = pool.submit(_search, "balanced")
                for rel in rels:
                    results[rel] = futures[rel].result()
                    print(results[rel]["line"], flush=True)
                found = searched.result()
    finally:
        server.shutdown()
    print(f"search page: {found} results for 'balanced'")
    for rel in rels:
        failures += results[rel]["failures"]
    if not found:
        failures.append("search.html?q=balanced lists no result")
    code_total = sum(r["code"] for r in results.values())
    code_wide = sum(r["codeWide"] for r in results.values())
    share = code_wide / code_total if code_total else 0.0
    print(
        f"code blocks wider than the column at 1280 px: {code_wide} of {code_total} ({share:.1%})"
    )
    if share > MAX_CODE_OVERFLOW:
        failures.append(
            f"{code_wide} of {code_total} code blocks overflow at 1280 px "
            f"(more than {MAX_CODE_OVERFLOW:.0%})"
        )
    axe_minor = sum(r["axe_minor"] for r in results.values())
    print(f"axe-core: {axe_minor} minor or moderate violations (not failing)")
    failures += sorted({line for r in results.values() for line in r["console"]})
    if failures:
        print(f"browser test FAILED: {len(failures)} problems", file=sys.stderr)
        for line in failures:
            print("  " + line, file=sys.stderr)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
