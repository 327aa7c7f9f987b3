"""Symbolic abc(d) engine (being written)."""

from ._optimizers import OPTIMIZERS, Optimizer, get_optimizer


def derive(*args, **kwargs):  # placeholder until the engine lands
    raise NotImplementedError


def classify(*args, **kwargs):  # placeholder until the engine lands
    raise NotImplementedError


__all__ = ["OPTIMIZERS", "Optimizer", "classify", "derive", "get_optimizer"]
