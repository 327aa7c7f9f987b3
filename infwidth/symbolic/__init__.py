"""Symbolic abc(d) engine: derive, classify and explain width/depth scalings (SymPy).

SymPy runs here, at derivation time; everything downstream (JAX) sees exact rationals
converted to numbers once.
"""

from ._api import Derivation, classify, derive
from ._classify import Check, Classification, classify_parametrization
from ._constraints import Constraint
from ._named import DERIVED, NATURAL_GAUGE, PRESETS, TARGETS
from ._optimizers import OPTIMIZERS, Optimizer, get_optimizer
from ._parametrization import GAUGES, TensorExponents, to_gauge
from ._scaling import ALIGNMENTS

__all__ = [
    "ALIGNMENTS",
    "DERIVED",
    "GAUGES",
    "NATURAL_GAUGE",
    "OPTIMIZERS",
    "PRESETS",
    "TARGETS",
    "Check",
    "Classification",
    "Constraint",
    "Derivation",
    "Optimizer",
    "TensorExponents",
    "classify",
    "classify_parametrization",
    "derive",
    "get_optimizer",
    "to_gauge",
]
