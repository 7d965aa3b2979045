"""Convergence rates far from the target (Eftekhari 2020, section 4 and appendices K-P): the distance
to the best rank-1 approximation, its exact identity and derivative, and the two-phase rate."""

from __future__ import annotations
