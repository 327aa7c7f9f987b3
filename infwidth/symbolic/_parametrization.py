"""Parametrizations as data, and the symmetry that moves them between gauges.

Per tensor, TP4's abc(d) exponents: forward multiplier ``n^{-a}``, init ``w ~ N(0, n^{-2b})``,
learning rate ``eta n^{-c}``, Adam's gradient prefactor ``n^d`` (epsilon ``~ n^{-d}``).
Practitioners' form (what ``derive`` reports): ``init_variance = -2b``, ``multiplier = -a``,
``learning_rate = -c``, ``epsilon = -d``.

Symmetry (THEORY.md section 1): ``(a, b, c, d) -> (a + t, b - t, c + k t, d + t)`` leaves the
training trajectory unchanged at every width, with ``k = -2`` for SGD, ``-1`` for Adam-like
updates and ``0`` for parameter-scaled ones (:attr:`Optimizer.c_shift`). A *gauge* picks one
representative per tensor:

================  ===========================================================  ===========
gauge             fixed                                                        reference
================  ===========================================================  ===========
no-multipliers    ``a = 0`` (all scaling in init and learning rate)            TP5 Table 3
mup-package       ``a = 0``, but readouts ``b = 0`` (multiplier 1/fan_in)      TP5 Table 8
tp4               ``b = 1/2`` for tensors with an infinite dimension           TP5 Table 9
unit-scaled       ``b = 0`` (unit init, all scaling in multipliers)            u-muP
mean-field        ``a = 0`` input, ``alpha/2`` hidden, ``alpha`` readout         BP22, DMFT
================  ===========================================================  ===========

Tied tensors share ``b`` and ``c`` (and ``d``): the gauge is fixed on the owner and the same
shift is applied to every use, each keeping its own multiplier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import sympy as sp

from ..errors import InfwidthError
from ..spec import NetworkSpec, TensorSpec
from ._optimizers import Optimizer

GAUGES = ("no-multipliers", "mup-package", "tp4", "unit-scaled", "mean-field")
HALF = sp.Rational(1, 2)


@dataclasses.dataclass(frozen=True)
class TensorExponents:
    """abc(d) exponents of one tensor (``d`` is ``None`` when the optimiser has no epsilon)."""

    a: sp.Rational
    b: sp.Rational
    c: sp.Rational
    d: sp.Rational | None = None

    def shifted(self, t: sp.Rational, opt: Optimizer) -> TensorExponents:
        """Apply the symmetry ``(a + t, b - t, c + k t, d + t)``."""
        return TensorExponents(
            self.a + t,
            self.b - t,
            self.c + opt.c_shift * t,
            None if self.d is None else self.d + t,
        )

    def width_json(self) -> dict[str, str]:
        out = {
            "init_variance": str(-2 * self.b),
            "multiplier": str(-self.a),
            "learning_rate": str(-self.c),
        }
        if self.d is not None:
            out["epsilon"] = str(-self.d)
        return out


Parametrization = Mapping[str, TensorExponents]


def mark_placeholders(t: TensorSpec, out: dict[str, str]) -> dict[str, str]:
    """A zero-initialised tensor reports ``init_variance: "zero"``, a frozen one
    ``learning_rate: "frozen"`` (and no epsilon or weight decay): their ``b`` / ``c`` are
    placeholders that no desideratum fixes."""
    if t.init == "zero":
        out["init_variance"] = "zero"
    if t.frozen:
        out["learning_rate"] = "frozen"
        for key in ("epsilon", "weight_decay"):
            out.pop(key, None)
    return out


def owner(net: NetworkSpec, t: TensorSpec) -> TensorSpec:
    """The tensor owning ``t``'s trainable entries (itself unless tied)."""
    return net.tensor(t.tied_to) if t.tied_to is not None else t


def gauge_value(gauge: str, t: TensorSpec) -> tuple[str, sp.Rational]:
    """Which exponent the gauge fixes for tensor ``t``, and its value."""
    al, be, role = t.fan_in_exponent, t.fan_out_exponent, t.role
    if t.init == "zero" and gauge != "mean-field":  # b is a placeholder: fix a instead
        return "a", sp.Integer(0)
    if gauge == "no-multipliers":
        return "a", sp.Integer(0)
    if gauge == "mup-package":
        return ("b", sp.Integer(0)) if role == "output" else ("a", sp.Integer(0))
    if gauge == "tp4":
        return "b", HALF if (al > 0 or be > 0) else sp.Integer(0)
    if gauge == "unit-scaled":
        return "b", sp.Integer(0)
    if gauge == "mean-field":
        return "a", {"input": 0, "scalar": 0, "hidden": al / 2, "output": al}[role]
    raise InfwidthError(f"unknown gauge {gauge!r}; choose one of {', '.join(GAUGES)}")


def to_gauge(
    net: NetworkSpec, params: Parametrization, opt: Optimizer, gauge: str
) -> dict[str, TensorExponents]:
    """Move ``params`` to ``gauge`` with the symmetry; the dynamics are unchanged."""
    out: dict[str, TensorExponents] = {}
    shifts: dict[str, sp.Rational] = {}
    for t in net.tensors:  # owners first: their shift is shared by tied uses
        if t.tied_to is None:
            key, value = gauge_value(gauge, t)
            e = params[t.name]
            shifts[t.name] = (value - e.a) if key == "a" else (e.b - value)
    for t in net.tensors:
        out[t.name] = params[t.name].shifted(shifts[owner(net, t).name], opt)
    return out


def check_gauge(gauge: str) -> str:
    if gauge not in GAUGES:
        raise InfwidthError(f"unknown gauge {gauge!r}; choose one of {', '.join(GAUGES)}")
    return gauge
