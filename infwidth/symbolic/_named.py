"""Named parametrizations, written as rules on a tensor's fans (for evaluation and comparison).

muP, mean-field, Depth-muP and CompleteP are *derived* (``_derive.py``); the others are
definitions from their papers, stated in their natural gauge and then classified:

* **SP** (standard): ``a = 0``, init variance ``1/fan_in`` (``b = alpha/2``), one global
  learning rate (``c = 0``), constant Adam epsilon.
* **NTP** (NTK parametrization, Jacot et al.): ``a = alpha/2`` (multiplier ``1/sqrt(fan_in)``),
  unit init, global learning rate.
* **u-muP** (Blake et al. 2024), Adam-type only: unit init; multipliers 1 (input),
  ``1/sqrt(fan_in)`` (hidden), ``1/fan_in`` (readout); Adam learning rates
  ``1/sqrt(fan_out)`` for inputs (the paper's embedding rule, an empirical choice),
  ``1/sqrt(fan_in)`` for hidden weights, 1 for readouts.
"""

from __future__ import annotations

import sympy as sp

from ..errors import InfwidthError
from ..spec import NetworkSpec, TensorSpec
from ._optimizers import Optimizer
from ._parametrization import TensorExponents

PRESETS = ("sp", "ntp", "umup")
NATURAL_GAUGE = {
    "mup": "no-multipliers",
    "mfp": "mean-field",
    "depth-mup": "no-multipliers",
    "completep": "no-multipliers",
    "sp": "no-multipliers",
    "ntp": "unit-scaled",
    "umup": "unit-scaled",
}
TARGETS = tuple(NATURAL_GAUGE)
DERIVED = ("mup", "mfp", "depth-mup", "completep")

PRESET_NOTES = {
    "umup": (
        "u-muP calls itself muP, but its input/embedding learning rate 1/sqrt(fan_out) "
        "(an empirical choice in Blake et al. 2024) under-updates input layers by TP4b's "
        "criterion (r_input = 1/2 > 0): the engine classifies it as feature learning, not "
        "maximal. The two sources disagree on this layer; neither is chosen silently."
    ),
}


def preset(name: str, net: NetworkSpec, opt: Optimizer) -> dict[str, TensorExponents]:
    """The abc(d) exponents of a named parametrization, in its natural gauge."""
    if name not in PRESETS:
        raise InfwidthError(f"{name!r} is not a preset; presets: {', '.join(PRESETS)}")
    if name == "umup" and (opt.gradient_power != 0 or opt.structure != "entrywise"):
        raise InfwidthError(
            f"u-muP is defined for Adam-type (entrywise, scale-invariant) optimizers, not "
            f"{opt.name!r}"
        )
    rule = {"sp": _sp, "ntp": _ntp, "umup": _umup}[name]
    d0 = sp.Integer(0) if opt.epsilon else None
    out = {}
    for t in net.tensors:
        a, b, c = rule(t)
        out[t.name] = TensorExponents(sp.Rational(a), sp.Rational(b), sp.Rational(c), d0)
    return out


def _sp(t: TensorSpec):
    return 0, t.fan_in_exponent / 2, 0


def _ntp(t: TensorSpec):
    return t.fan_in_exponent / 2, 0, 0


def _umup(t: TensorSpec):
    al, be = t.fan_in_exponent, t.fan_out_exponent
    return {
        "input": (0, 0, be / 2),
        "hidden": (al / 2, 0, al / 2),
        "output": (al, 0, 0),
        "scalar": (0, 0, 0),
    }[t.role]
