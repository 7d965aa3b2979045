"""linnet's own Sphinx extension (loaded through `local_extensions` in _config.yml).

* Inline scripts registered twice are written once. sphinx-thebe and sphinx-togglebutton add their
  configuration scripts (``const THEBE_JS_URL = ...``) from an event that fires twice in a Jupyter
  Book build; a second ``const`` declaration is a JavaScript error on every page.
* ``linnet-mathjax-hub.js`` gives MathJax 3 the one MathJax 2 call that the Jupyter widget manager
  makes (``MathJax.Hub.Queue``), so pages with stored widgets typeset their labels instead of
  throwing "Cannot read properties of undefined (reading 'Queue')".
"""

from __future__ import annotations


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


def setup(app):
    # Late (priority 900): after every other extension has added its scripts to the page.
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # Early (priority 200, before the widget manager's files), not deferred.
    app.add_js_file("linnet-mathjax-hub.js", priority=200)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
