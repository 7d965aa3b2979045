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
* Two characters of the text have no glyph in some FreeSerif/FreeSans faces (Sphinx's XeLaTeX fonts):
  the subscript p of "ℓₚ" (italic and bold faces) and the circled two of "remark ②" (bold faces).
  They are typeset from the regular face or as a subscript instead; PDF bookmarks keep the character.
* sphinx-exercise labels an exercise in LaTeX only as ``exercise:<label>``, while a ``{ref}`` to it
  points to Sphinx's ``<docname>:<label>``: every reference to an exercise was an undefined hyperlink.
  Exercises get Sphinx's labels as well.
"""

from __future__ import annotations

from pathlib import Path

BBM_STUB = r"""\NeedsTeXFormat{LaTeX2e}
\ProvidesPackage{bbm}[2024/01/01 linnet stub: \string\mathbbm\space as \string\mathbb]
\providecommand{\mathbbm}[1]{\mathbb{#1}}
"""


# Text characters typeset by a replacement in the PDF (first argument of \texorpdfstring); the PDF
# bookmarks (second argument) keep the character itself.
CHARACTER_REPLACEMENTS = {
    "ₚ": r"\textsubscript{p}",
    "②": r"{\normalfont ②}",
}


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


def _replace_missing_glyphs(app):
    from sphinx.builders.latex import LaTeXBuilder
    from sphinx.util import texescape

    if not isinstance(app.builder, LaTeXBuilder):
        return
    # Sphinx fills these maps in the LaTeX builder's init(), which runs before builder-inited.
    for char, latex in CHARACTER_REPLACEMENTS.items():
        texescape._tex_escape_map_without_unicode[ord(char)] = (
            f"\\texorpdfstring{{{latex}}}{{{char}}}"
        )


def _label_exercises(app):
    """Give each exercise Sphinx's LaTeX label (``<docname>:<id>``) besides sphinx-exercise's own."""
    from sphinx.builders.latex import LaTeXBuilder
    from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node

    if not isinstance(app.builder, LaTeXBuilder):
        return
    for node_class in (exercise_node, exercise_enumerable_node):
        visit, depart = app.registry.translation_handlers["latex"][node_class.__name__]

        def labelled_visit(self, node, visit=visit):
            self.body.append(self.hypertarget_to(node, anchor=True))
            visit(self, node)

        app.registry.add_translation_handlers(node_class, latex=(labelled_visit, depart))


def setup(app):
    app.connect("config-inited", _add_macros_to_preamble)
    app.connect("builder-inited", _write_bbm_stub)
    app.connect("builder-inited", _replace_missing_glyphs)
    app.connect("builder-inited", _label_exercises)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
