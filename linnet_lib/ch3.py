"""Experiments of Chapter 3, first half: the discretised end-to-end update and Claim 1. (Being written.)"""
