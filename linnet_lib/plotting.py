"""Shared figure style. Importing this module changes nothing; call :func:`use_style`."""

from __future__ import annotations

import numbers

import matplotlib as mpl

DEPTH_COLORS = {1: "#4c72b0", 2: "#dd8452", 3: "#55a868", 4: "#c44e52", 5: "#8172b3", 6: "#937860"}


def use_style() -> None:
    """Small, readable figures with modest file size for the committed notebooks."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "font.size": 10,
        }
    )


def depth_color(depth: int) -> str:
    """A fixed colour per depth, so every figure of the book colours depth n the same way."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    return DEPTH_COLORS.get(int(depth), "#333333")
