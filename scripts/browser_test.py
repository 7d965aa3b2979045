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
or a request that fails) or a request to any host other than the local server fails the run.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--only", nargs="*", help="pages whose path contains one of these")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    html = Path(args.html)
    if not (html / "index.html").exists():
        print(f"no built book at {html}: run `make book` first", file=sys.stderr)
        return 2
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    shots = Path(args.screenshots)
    if not args.no_screenshots:
        shutil.rmtree(shots, ignore_errors=True)
        shots.mkdir(parents=True)
    server, base = serve(html)
    failures: list[str] = []
    code_total = code_wide = 0
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        desktop = browser.new_context(viewport=DESKTOP)
        phone = browser.new_context(viewport=PHONE)
        for rel in pages(html, args.only):
            url = f"{base}/{rel}"
            page = desktop.new_page()
            page.on(
                "console",
                lambda m, rel=rel: (
                    console.append(f"{rel}: console {m.type}: {m.text[:160]}")
                    if m.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda e, rel=rel: console.append(f"{rel}: page error: {e}"))
            page.on(
                "response",
                lambda r, rel=rel: (
                    console.append(f"{rel}: HTTP {r.status} {r.url}") if r.status >= 400 else None
                ),
            )
            page.on(
                "request",
                lambda r, rel=rel: (
                    console.append(f"{rel}: request to another host: {r.url}")
                    if not r.url.startswith((base, "data:", "blob:", "about:"))
                    else None
                ),
            )
            page.on(
                "requestfailed",
                lambda r, rel=rel: console.append(f"{rel}: request failed: {r.url}"),
            )
            print(f"{rel}: ", end="", flush=True)
            page.goto(url)
            wait_for_math(page)
            m = page.evaluate(MEASURE)
            code_total += m["code"]
            code_wide += m["codeWide"]
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
            if not args.no_screenshots:
                target = shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
                page.screenshot(path=str(target), full_page=True)
            page.close()

            small = phone.new_page()
            small.goto(url)
            wait_for_math(small)
            sideways = small.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            if sideways > 0:
                failures.append(f"{rel}: at 390 px the page scrolls sideways by {sideways} px")
            small.close()
            print(
                f"{m['outputs']} outputs ({len(m['outputsCut'])} cut), "
                f"{m['code']} code ({m['codeWide']} wide), article {m['articleWidth']} px"
            )
        browser.close()
    server.shutdown()
    share = code_wide / code_total if code_total else 0.0
    print(
        f"code blocks wider than the column at 1280 px: {code_wide} of {code_total} ({share:.1%})"
    )
    if share > MAX_CODE_OVERFLOW:
        failures.append(
            f"{code_wide} of {code_total} code blocks overflow at 1280 px "
            f"(more than {MAX_CODE_OVERFLOW:.0%})"
        )
    failures += sorted(set(console))
    if failures:
        print(f"browser test FAILED: {len(failures)} problems", file=sys.stderr)
        for line in failures:
            print("  " + line, file=sys.stderr)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
