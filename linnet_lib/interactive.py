"""Explore sections that work with and without a kernel: one drawing function, two front ends.

Every "Explore" section of the book has a function ``draw(**params)`` that returns a matplotlib
figure. :func:`static_sliders` calls it on a small grid of parameter values, stores the figures as
PNG images in one HTML output, and adds range sliders with a few lines of JavaScript that swap
the image: this works in the static HTML book, with no server. :func:`live_sliders` hands the
same function to ``ipywidgets.interact`` for readers with a kernel (Binder, Colab, Jupyter), where
any value of the sliders' ranges can be drawn.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

#: The largest total size in bytes of the images of one set of sliders. A page carries its own
#: figures too and must stay under 3 MB, which the browser test checks on every page.
MAX_BYTES = 1_200_000

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class StaticSliders:
    """Pre-rendered figures over a grid, shown with sliders in HTML (see :func:`static_sliders`).

    ``frames`` maps each grid index (one integer per slider) to ``(png_bytes, alt_text)``.
    """

    name: str
    labels: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    default: tuple[int, ...]
    frames: Mapping[tuple[int, ...], tuple[bytes, str]]

    @property
    def size(self) -> int:
        """Total size of the PNG images in bytes."""
        return sum(len(png) for png, _ in self.frames.values())

    def summary(self) -> str:
        """One deterministic line per slider (for the text output that nbval compares)."""
        lines = [f"static sliders {self.name!r}: {len(self.frames)} pre-rendered figures"]
        for label, values, index in zip(self.labels, self.values, self.default, strict=True):
            lines.append(f"  {label}: {', '.join(values)} (shown first: {values[index]})")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The HTML fragment: one image, the sliders and the script that swaps the image."""
        root = f"linnet-sliders-{self.name}"
        frames = {
            ",".join(map(str, key)): [_data_uri(png), alt]
            for key, (png, alt) in sorted(self.frames.items())
        }
        first_png, first_alt = self.frames[self.default]
        controls = []
        for k, (label, values, index) in enumerate(
            zip(self.labels, self.values, self.default, strict=True)
        ):
            ident = f"{root}-{k}"
            controls.append(
                f'<div class="linnet-slider"><label for="{ident}">{html.escape(label)}</label> '
                f'<input type="range" id="{ident}" min="0" max="{len(values) - 1}" step="1" '
                f'value="{index}" aria-valuetext="{html.escape(values[index])}"> '
                f'<output for="{ident}">{html.escape(values[index])}</output></div>'
            )
        data = json.dumps({"values": [list(v) for v in self.values], "frames": frames})
        # "</" cannot end the JSON early: json.dumps escapes no "/", so escape it here.
        data = data.replace("</", "<\\/")
        return (
            f'<div class="linnet-sliders" id="{root}">\n'
            f'<p class="linnet-sliders-note">Pre-computed: {len(self.frames)} figures; '
            "move a slider to switch between them (no kernel needed).</p>\n"
            + "\n".join(controls)
            + f'\n<img class="linnet-sliders-figure" src="{_data_uri(first_png)}" '
            f'alt="{html.escape(first_alt)}">\n'
            f'<script type="application/json" class="linnet-sliders-data">{data}</script>\n'
            f"<script>{_SCRIPT % json.dumps(root)}</script>\n</div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        # Jupyter and the HTML book show the sliders (text/html ranks first there); the LaTeX
        # builder (the PDF edition) and other front ends without HTML show the default figure.
        png, _ = self.frames[self.default]
        return {
            "text/html": self.to_html(),
            "image/png": base64.b64encode(png).decode("ascii"),
            "text/plain": self.summary(),
        }


# Reads the slider positions, looks the image up, swaps it and its alt text, updates the labels.
_SCRIPT = """(function () {
  var root = document.getElementById(%s);
  var data = JSON.parse(root.querySelector("script.linnet-sliders-data").textContent);
  var img = root.querySelector("img.linnet-sliders-figure");
  var inputs = root.querySelectorAll("input[type=range]");
  function update() {
    var key = [];
    inputs.forEach(function (input, k) {
      var text = data.values[k][Number(input.value)];
      key.push(input.value);
      input.setAttribute("aria-valuetext", text);
      root.querySelector('output[for="' + input.id + '"]').textContent = text;
    });
    var frame = data.frames[key.join(",")];
    img.src = frame[0];
    img.alt = frame[1];
  }
  inputs.forEach(function (input) { input.addEventListener("input", update); });
})();"""


def _data_uri(png: bytes) -> str:
    # One form for every image, so nbval_sanitize.cfg can mask the pixels in one pattern.
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _value_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def static_sliders(
    name: str,
    draw: Callable[..., Figure | tuple[Figure, str]],
    grid: Mapping[str, Sequence],
    *,
    labels: Mapping[str, str] | None = None,
    default: Mapping[str, object] | None = None,
    alt: str | Callable[..., str] | None = None,
    dpi: float = 72,
    max_bytes: int = MAX_BYTES,
) -> StaticSliders:
    """Draw ``draw(**params)`` at every point of ``grid`` and return sliders that show the figures.

    ``grid`` maps one or two parameter names of ``draw`` to the values a slider steps through (at
    least two each). ``draw`` returns a figure, or a figure and its alt text; otherwise ``alt``
    gives the alt text, as a ``str.format`` template of the parameters or a function of them.
    ``labels`` names each slider for readers (default: the parameter name); ``default`` picks the
    values shown first (default: the first of each). Each figure is saved as a PNG at ``dpi`` and
    closed; the images together may take at most ``max_bytes``. Display the result in a notebook
    cell: it renders as HTML with a slider per parameter.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"name must be lower-case letters and digits joined by hyphens, such as "
            f"'ch1-explore', got {name!r}"
        )
    if not callable(draw):
        raise ValueError(f"draw must be a function of the grid's parameters, got {draw!r}")
    if not isinstance(grid, Mapping) or not 1 <= len(grid) <= 2:
        raise ValueError(f"grid must map one or two parameter names to their values, got {grid!r}")
    params = list(grid)
    values = []
    for param in params:
        vals = grid[param]
        if not isinstance(param, str) or not param.isidentifier():
            raise ValueError(f"grid keys must be parameter names of draw, got {param!r}")
        if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or len(vals) < 2:
            raise ValueError(
                f"grid[{param!r}] must be a sequence of at least two values, got {vals!r}"
            )
        if len(set(map(_value_text, vals))) != len(vals):
            raise ValueError(f"grid[{param!r}] must not repeat a value, got {vals!r}")
        values.append(list(vals))
    labels = dict(labels or {})
    unknown = set(labels) - set(params)
    if unknown:
        raise ValueError(f"labels names {sorted(unknown)}, which are not keys of grid {params}")
    default = dict(default or {})
    unknown = set(default) - set(params)
    if unknown:
        raise ValueError(f"default names {sorted(unknown)}, which are not keys of grid {params}")
    start = []
    for param, vals in zip(params, values, strict=True):
        if param in default:
            texts = [_value_text(v) for v in vals]
            if _value_text(default[param]) not in texts:
                raise ValueError(
                    f"default[{param!r}] must be one of grid[{param!r}] = {vals}, "
                    f"got {default[param]!r}"
                )
            start.append(texts.index(_value_text(default[param])))
        else:
            start.append(0)
    if alt is not None and not (isinstance(alt, str) or callable(alt)):
        raise ValueError(
            f"alt must be a format string or a function of the parameters, got {alt!r}"
        )
    if not (isinstance(dpi, int | float) and 20 <= dpi <= 200):
        raise ValueError(f"dpi must be a number between 20 and 200, got {dpi!r}")
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")

    frames: dict[tuple[int, ...], tuple[bytes, str]] = {}
    total = 0
    for index in itertools.product(*(range(len(v)) for v in values)):
        point = {p: values[k][i] for k, (p, i) in enumerate(zip(params, index, strict=True))}
        out = draw(**point)
        fig, text = out if isinstance(out, tuple) else (out, None)
        if not isinstance(fig, Figure):
            raise ValueError(
                f"draw must return a matplotlib Figure (or a Figure and alt text), got {out!r}"
            )
        if text is None:
            if alt is None:
                plt.close(fig)
                raise ValueError("alt is required when draw returns a figure without alt text")
            text = alt.format(**point) if isinstance(alt, str) else alt(**point)
        if not isinstance(text, str) or not text.strip():
            plt.close(fig)
            raise ValueError(f"the alt text at {point} must be a non-empty string, got {text!r}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        plt.close(fig)
        if any(text == seen for _, seen in frames.values()):
            raise ValueError(
                f"the alt text at {point} repeats another frame's: each must say what its figure "
                f"shows, including the parameters, got {text!r}"
            )
        frames[index] = (buffer.getvalue(), text)
        total += len(frames[index][0])
        if total > max_bytes:
            raise ValueError(
                f"the figures of {name!r} take more than max_bytes = {max_bytes} bytes: "
                "use fewer grid values, a smaller figure or a lower dpi"
            )
    return StaticSliders(
        name=name,
        labels=tuple(labels.get(p, p) for p in params),
        values=tuple(tuple(_value_text(v) for v in vals) for vals in values),
        default=tuple(start),
        frames=frames,
    )


def live_sliders(draw: Callable[..., Figure | tuple[Figure, str]], **controls):
    """Redraw ``draw(**params)`` live as ipywidgets sliders move (needs a running kernel).

    ``controls`` maps each parameter to an ipywidgets control (or anything ``interact`` accepts);
    a control without a ``description`` gets the parameter name, so every slider has a name that
    screen readers announce. Returns what ``ipywidgets.interact`` returns.
    """
    import ipywidgets  # noqa: PLC0415 (only needed with a live kernel)

    if not callable(draw):
        raise ValueError(f"draw must be a function of the controls' parameters, got {draw!r}")
    if not controls:
        raise ValueError("live_sliders needs at least one control, e.g. depth=IntSlider(...)")
    for param, control in controls.items():
        if isinstance(control, ipywidgets.ValueWidget) and not getattr(control, "description", ""):
            control.description = param

    def show(**params):
        out = draw(**params)
        fig = out[0] if isinstance(out, tuple) else out
        if not isinstance(fig, Figure):
            raise ValueError(f"draw must return a matplotlib Figure, got {out!r}")
        plt.show()

    return ipywidgets.interact(show, **controls)
