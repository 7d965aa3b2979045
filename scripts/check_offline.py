"""Fail if a built HTML page loads a script, stylesheet or other resource from another host.

The book must read offline: MathJax and the widget manager are served from _static/ (see
_config.yml).
Links a reader clicks (<a href>) and plain text are fine; what a browser fetches by itself is not:
<script src>, <link href> (stylesheets, preloads, icons), <img src>, <iframe src>, and the
data-jupyter-widgets-cdn attribute of the widget manager.

Usage: python scripts/check_offline.py _build/html
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# <link rel=...> values that make the browser fetch the target (canonical/alternate are only links).
FETCHING_LINK_RELS = {
    "stylesheet",
    "preload",
    "prefetch",
    "modulepreload",
    "icon",
    "shortcut",
    "manifest",
}


class ResourceFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        candidates = []
        if tag in {"script", "img", "iframe", "audio", "video", "source"}:
            candidates.append(attributes.get("src"))
        if tag == "link":
            rels = set((attributes.get("rel") or "").lower().split())
            if rels & FETCHING_LINK_RELS:
                candidates.append(attributes.get("href"))
        candidates.append(attributes.get("data-jupyter-widgets-cdn"))
        for url in candidates:
            if url and REMOTE.match(url):
                self.remote.append(f"<{tag}> {url}")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    pages = sorted(root.rglob("*.html"))
    if not pages:
        print(f"check_offline: no HTML pages under {root}", file=sys.stderr)
        return 1
    failures = 0
    for page in pages:
        finder = ResourceFinder()
        finder.feed(page.read_text(encoding="utf-8"))
        for item in finder.remote:
            print(f"{page}: loads {item}", file=sys.stderr)
            failures += 1
    if failures:
        print(
            f"check_offline: {failures} remote resource(s) in {len(pages)} pages", file=sys.stderr
        )
        return 1
    print(f"check_offline: {len(pages)} pages load nothing from another host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
