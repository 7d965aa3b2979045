"""Chapter 2, second half: Du & Hu (2019), randomly initialised deep linear networks and why width
matters. (Being written.)"""
