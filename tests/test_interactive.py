"""Unit tests of linnet_lib.interactive: the pre-rendered sliders and the live ones."""

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from linnet_lib import interactive  # noqa: E402


def draw_line(slope=1.0, shift=0):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [shift, shift + slope])
    return fig, f"a line of slope {slope:g} shifted by {shift}"


def frames_of(html: str) -> dict:
    data = re.search(r'class="linnet-sliders-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(data.replace("<\\/", "</"))


def test_grid_of_two_sliders_stores_every_frame_as_png():
    sliders = interactive.static_sliders(
        "test-line",
        draw_line,
        {"slope": [1.0, 2.0, 3.0], "shift": [0, 1]},
        labels={"slope": "slope of the line"},
        default={"slope": 2.0},
    )
    assert len(sliders.frames) == 6
    assert sliders.default == (1, 0)
    html = sliders.to_html()
    data = frames_of(html)
    assert sorted(data["frames"]) == ["0,0", "0,1", "1,0", "1,1", "2,0", "2,1"]
    assert data["values"] == [["1", "2", "3"], ["0", "1"]]
    uri, alt = data["frames"]["2,1"]
    assert alt == "a line of slope 3 shifted by 1"
    assert base64.b64decode(uri.removeprefix("data:image/png;base64,"))[:8] == b"\x89PNG\r\n\x1a\n"
    # the default frame is shown first, with its alt text, and each slider has a label
    assert 'alt="a line of slope 2 shifted by 0"' in html
    assert html.count('<input type="range"') == 2
    assert '<label for="linnet-sliders-test-line-0">slope of the line</label>' in html
    assert "static sliders 'test-line': 6 pre-rendered figures" in sliders.summary()
    # without HTML (the PDF edition) the default figure is shown
    bundle = sliders._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == sliders.frames[(1, 0)][0]
    assert bundle["text/plain"] == sliders.summary()
    assert plt.get_fignums() == []  # every figure was closed


def test_frames_differ_and_are_deterministic():
    one = interactive.static_sliders("a", draw_line, {"slope": [1.0, 2.0]})
    two = interactive.static_sliders("a", draw_line, {"slope": [1.0, 2.0]})
    assert one.frames[(0,)][0] != one.frames[(1,)][0]
    assert one.to_html() == two.to_html()


def test_alt_template_and_function():
    def bare(slope=1.0):
        fig, _ = plt.subplots(figsize=(1, 1))
        return fig

    by_template = interactive.static_sliders("b", bare, {"slope": [1, 2]}, alt="slope {slope}")
    assert by_template.frames[(1,)][1] == "slope 2"
    by_function = interactive.static_sliders(
        "b", bare, {"slope": [1, 2]}, alt=lambda slope: f"s={slope}"
    )
    assert by_function.frames[(0,)][1] == "s=1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "name must be"),
        ({"draw": 3}, "draw must be"),
        ({"grid": {}}, "grid must map one or two"),
        ({"grid": {"a": [1, 2], "b": [1, 2], "c": [1, 2]}}, "grid must map one or two"),
        ({"grid": {"slope": [1.0]}}, "at least two values"),
        ({"grid": {"slope": "ab"}}, "at least two values"),
        ({"grid": {"slope": [1.0, 1.0]}}, "must not repeat"),
        ({"labels": {"other": "x"}}, "labels names"),
        ({"default": {"slope": 5.0}}, "default\\['slope'\\] must be one of"),
        ({"alt": 3}, "alt must be"),
        ({"dpi": 1000}, "dpi must be"),
        ({"max_bytes": 100}, "max_bytes"),
    ],
)
def test_invalid_input_names_the_argument(kwargs, message):
    args = {"name": "c", "draw": draw_line, "grid": {"slope": [1.0, 2.0]}}
    args.update(kwargs)
    name, draw, grid = args.pop("name"), args.pop("draw"), args.pop("grid")
    with pytest.raises(ValueError, match=message):
        interactive.static_sliders(name, draw, grid, **args)


def test_draw_must_return_a_figure_with_distinct_alt_text():
    with pytest.raises(ValueError, match="draw must return a matplotlib Figure"):
        interactive.static_sliders("d", lambda slope: 1, {"slope": [1, 2]})

    def bare(slope=1.0):
        return plt.subplots(figsize=(1, 1))[0]

    with pytest.raises(ValueError, match="alt is required"):
        interactive.static_sliders("d", bare, {"slope": [1, 2]})
    with pytest.raises(ValueError, match="repeats another frame"):
        interactive.static_sliders("d", bare, {"slope": [1, 2]}, alt="the same words")
    plt.close("all")


def test_live_sliders_names_every_control():
    widgets = pytest.importorskip("ipywidgets")
    slider = widgets.IntSlider(value=1, min=1, max=3)
    interactive.live_sliders(lambda slope: draw_line(slope)[0], slope=slider)
    assert slider.description == "slope"
    with pytest.raises(ValueError, match="at least one control"):
        interactive.live_sliders(draw_line)
    plt.close("all")
