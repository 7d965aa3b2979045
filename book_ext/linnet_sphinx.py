"""linnet's own Sphinx extension (loaded through `local_extensions` in _config.yml).

* Inline scripts registered twice are written once. sphinx-thebe and sphinx-togglebutton add their
  configuration scripts (``const THEBE_JS_URL = ...``) from an event that fires twice in a Jupyter
  Book build; a second ``const`` declaration is a JavaScript error on every page.
* ``linnet-mathjax-hub.js`` gives MathJax 3 the one MathJax 2 call that the Jupyter widget manager
  makes (``MathJax.Hub.Queue``), so pages with stored widgets typeset their labels instead of
  throwing "Cannot read properties of undefined (reading 'Queue')".
* The toggles that open a section of the navigation (a ``<summary>`` holding only a chevron icon)
  get an accessible name, "Show the sections of <title>": without one a screen reader announces
  an unnamed control (axe-core's rule summary-name, checked by ``make browser-test``).
* Bibliography entries are list items: docutils writes ``role="list"`` on the citation list and the
  deprecated DPUB role ``doc-biblioentry`` on its entries, which is no list item to assistive
  technology (axe-core's rule aria-required-children); the entries get ``role="listitem"``.

For the library reference (chapters/reference/, written by scripts/api_reference.py):

* autodoc imports ``linnet_lib`` from the checkout being built, not from wherever the venv's editable
  install points (another clone sharing the venv would otherwise be documented).
* ``linnet_lib.NAME`` for a name the package re-exports resolves to the entry of the module that
  defines it (``linnet_lib.gradient_flow`` -> ``linnet_lib.training.gradient_flow``): each object is
  documented once, under its module, and the short public spelling still links.
* A dataclass signature shows ``...`` for a default made by ``default_factory`` (``<factory>`` is not
  Python and made Sphinx print the whole signature as raw text).
* A module constant without a ``#:`` doc comment or docstring gets no text, instead of the docstring of
  its type (autodoc otherwise shows ``tuple``'s or ``numpy.ndarray``'s help for it).
* autosummary's first-sentence cut is fixed: Sphinx 7.4 checks each candidate sentence by parsing the
  whole docstring, so a summary was cut at the first period followed by a space even inside an inline
  literal (the literal ``W_n ... W_1`` was cut after ``W_n .``, and the build warned).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # An inline script has no file: one extension registers it with None, another with "".
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def _label_nav_toggles(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for summary in soup.select("details > summary"):
        if summary.get("aria-label") or summary.get_text(strip=True):
            continue
        item = summary.find_parent("li")
        link = item.find("a") if item else None
        title = link.get_text(" ", strip=True) if link else ""
        summary["aria-label"] = f"Show the sections of {title}" if title else "Show the sections"
    return str(soup)


def _name_nav_toggles(app, pagename, templatename, context, doctree):
    """Wrap the theme's navigation builder so that its section toggles have a name."""
    generate = context.get("generate_toctree_html")
    if generate is None or getattr(generate, "linnet_named", False):
        return
    from markupsafe import Markup

    def named(*args, **kwargs):
        return Markup(_label_nav_toggles(str(generate(*args, **kwargs))))

    named.linnet_named = True
    context["generate_toctree_html"] = named


def _citation_list_items(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def _resolve_reexport(app, env, node, contnode):
    """Resolve ``linnet_lib.NAME`` (a package re-export) to the entry of its defining module."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.startswith("linnet_lib."):
        name = target.removeprefix("linnet_lib.")
    elif node.get("py:module") == "linnet_lib":  # a relative name on a page about the package
        name = target
    else:
        return None
    package = importlib.import_module("linnet_lib")
    if "." in name or name not in getattr(package, "__all__", ()):
        return None
    module = getattr(getattr(package, name), "__module__", None)
    if not module or module == "linnet_lib":
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], f"{module}.{name}", node, contnode
    )


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A module constant documents itself only through a ``#:`` comment or a docstring after it."""
    if what != "data" or "." not in name:
        return
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    module, _, attr = name.rpartition(".")
    try:
        own = ModuleAnalyzer.for_module(module).find_attr_docs()
    except PycodeError:
        return
    if ("", attr) not in own:
        lines.clear()


def _fixed_extract_summary(original):
    from docutils import nodes
    from docutils.parsers.rst.states import RSTStateMachine, state_classes
    from docutils.utils import new_document
    from sphinx.ext.autosummary import WELL_KNOWN_ABBREVIATIONS, periods_re
    from sphinx.util.docutils import NullReporter

    def clean(text: str, settings) -> bool:
        machine = RSTStateMachine(state_classes, "Body")
        document = new_document("", settings)
        document.reporter = NullReporter()
        machine.run([text], document)
        return not any(document.findall(nodes.system_message))

    def extract_summary(doc: list[str], document) -> str:
        summary = original(doc[:], document)
        if clean(summary, document.settings):
            return summary
        # The cut broke inline markup: extend it sentence by sentence until it parses cleanly.
        blank = next((i for i, line in enumerate(doc) if not line.strip()), len(doc))
        text = " ".join(line.strip() for line in doc[:blank])
        sentences = periods_re.split(text)
        for i in range(len(sentences)):
            candidate = ". ".join(sentences[: i + 1]).rstrip(".") + "."
            if not candidate.endswith(WELL_KNOWN_ABBREVIATIONS) and clean(
                candidate, document.settings
            ):
                return candidate
        return text

    return extract_summary


def _dataclass_factory_default(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field with ``default_factory`` shows ``<factory>`` in the signature, which is not
    Python: Sphinx then cannot parse the signature and prints it as raw text (``~numpy.ndarray``).
    ``...`` keeps it valid and still says that there is a default."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def _use_this_checkout(app, config):
    root = str(Path(app.srcdir).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    app.connect("config-inited", _use_this_checkout)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _drop_type_docstring)
    app.connect("autodoc-process-signature", _dataclass_factory_default)
    from sphinx.ext import autosummary

    if not getattr(autosummary.extract_summary, "linnet_fixed", False):
        autosummary.extract_summary = _fixed_extract_summary(autosummary.extract_summary)
        autosummary.extract_summary.linnet_fixed = True
    # Late (priority 900): after every other extension has added its scripts to the page.
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # After pydata-sphinx-theme (priority 500) has put its navigation builder into the context.
    app.connect("html-page-context", _name_nav_toggles, priority=900)
    app.connect("html-page-context", _citation_list_items, priority=900)
    # Early (priority 200, before the widget manager's files), not deferred.
    app.add_js_file("linnet-mathjax-hub.js", priority=200)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
