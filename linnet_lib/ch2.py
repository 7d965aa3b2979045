"""Experiments of Chapter 2, first half (lecture notes section 3.1). (Being written.)"""
