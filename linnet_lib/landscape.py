"""The loss landscape of linear networks on least squares (Eftekhari 2020, section 2): stationary
points of the layer objective, the bottleneck, rank-constrained regression and its PCA reduction."""

from __future__ import annotations
