"""Explicit optimisers on end-to-end matrices (Chapter 3 comparison). (Being written.)"""
