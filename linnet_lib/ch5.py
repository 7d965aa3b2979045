"""Chapter 5, "Beyond lazy training" (Eftekhari 2020): the recipes and figures of its notebooks.

One section per notebook; the mathematics lives in the concept modules ``whitened``, ``landscape``,
``stable_set`` and ``nonlocal_rates``.
"""

from __future__ import annotations

# --- 5.1 The landscape ---------------------------------------------------------------------------

# --- 5.2 Gradient flow and the stable set --------------------------------------------------------

# --- 5.3 Non-local rates -------------------------------------------------------------------------

# --- 5.4 Figure 1, and how far the weights travel ------------------------------------------------
