"""LaTeX-only hooks of linnet's PDF edition (`make pdf`); they do nothing in the HTML build.

* The math macros of the HTML book live in one place, ``mathjax3_config: tex: macros:`` of _config.yml.
  The PDF gets the same macros: each becomes a ``\\newcommand`` in the LaTeX preamble (``\\newcommand``,
  not ``\\providecommand``: a macro that LaTeX or a package already defines fails the build instead of
  silently meaning something else).
* Jupyter Book's document class (``jupyterBook.cls`` of sphinx-jupyterbook-latex) loads the ``bbm``
  package for a few blackboard-bold shorthands this book never uses. ``bbm`` is only in Debian's
  texlive-fonts-extra (about 1.4 GB installed), so the build writes a two-line ``bbm.sty`` beside the
  .tex file that maps ``\\mathbbm`` to ``\\mathbb`` (unicode-math provides it) and the PDF needs only
  the small TeX Live packages listed in the Makefile's ``pdf`` target.
"""

from __future__ import annotations

from pathlib import Path

BBM_STUB = r"""\NeedsTeXFormat{LaTeX2e}
\ProvidesPackage{bbm}[2024/01/01 linnet stub: \string\mathbbm\space as \string\mathbb]
\providecommand{\mathbbm}[1]{\mathbb{#1}}
"""


def latex_macros(mathjax_macros: dict) -> str:
    """LaTeX definitions of MathJax 3 macros (``name: body`` or ``name: [body, nargs]``)."""
    lines = []
    for name, spec in mathjax_macros.items():
        body, nargs = (spec[0], int(spec[1])) if isinstance(spec, list | tuple) else (spec, 0)
        arity = f"[{nargs}]" if nargs else ""
        lines.append(f"\\newcommand{{\\{name}}}{arity}{{{body}}}")
    return "\n".join(lines)


def _add_macros_to_preamble(app, config):
    macros = (config.mathjax3_config or {}).get("tex", {}).get("macros", {})
    if not macros:
        return
    elements = dict(config.latex_elements)
    preamble = elements.get("preamble", "")
    elements["preamble"] = (
        f"{preamble}\n% The math macros of mathjax3_config (_config.yml)\n{latex_macros(macros)}\n"
    )
    config.latex_elements = elements


def _write_bbm_stub(app):
    from sphinx.builders.latex import LaTeXBuilder

    if isinstance(app.builder, LaTeXBuilder):
        Path(app.outdir).mkdir(parents=True, exist_ok=True)
        (Path(app.outdir) / "bbm.sty").write_text(BBM_STUB)


def setup(app):
    app.connect("config-inited", _add_macros_to_preamble)
    app.connect("builder-inited", _write_bbm_stub)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
