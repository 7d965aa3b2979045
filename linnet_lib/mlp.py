"""A small numpy multilayer perceptron with optionally factorised dense layers (Chapter 3). (Being written.)"""
