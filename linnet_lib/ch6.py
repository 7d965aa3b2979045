"""Chapter 6, "Directional convergence" (Lin, Sun & Zhang 2021): the recipes and figures of its
notebooks. One section per notebook; the mathematics lives in concept modules (the population loss
in ``population_logistic``)."""

from __future__ import annotations

# --- 6.1 Set-up: the loss on spherically symmetric data -------------------------------------------

# --- 6.2 Logistic regression (N = 1) --------------------------------------------------------------

# --- 6.3 Deep linear networks ---------------------------------------------------------------------

# --- 6.4 Figure 1 ---------------------------------------------------------------------------------
