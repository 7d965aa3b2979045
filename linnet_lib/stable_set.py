"""Gradient flow from a balanced start with a rank-1 bottleneck and the stable sets of Eftekhari
(2020), section 3 and appendices G-J: rank invariance and the sets the flow cannot leave."""

from __future__ import annotations
