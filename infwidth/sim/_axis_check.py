"""Shared pieces of the finite-size checks along an axis other than the width (rank, experts).

A check trains a small network at a fixed width ``n`` and several values ``X`` of one declared
axis, with every tensor scaled by the derived table of a built-in,

.. math:: \\sigma_t^2 = n^{v^n_t} X^{v^X_t},\\qquad \\eta_t = \\eta\\, n^{l^n_t} X^{l^X_t}

(``rule="derived"``) or with every ``X`` exponent dropped (``rule="blind"``: the width rule
alone, blind to the axis). A measured quantity's log-log slope against ``X``
(:func:`infwidth._fit.fit_exponent`) is judged (:func:`infwidth._fit.verdict`) against the
engine's prediction along ``X`` for the same rule: ``-r_t`` of ``_scaling.feature_r`` on the
network seen along ``X`` (what a tensor's update moves its output by).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Literal

import numpy as np

from .._fit import Design, fit_exponent, verdict
from ..errors import InfwidthError
from ..symbolic._scaling import (
    backward_exponents,
    feature_r,
    output_self_r,
    step_exponent,
    theta,
    update_entry_exponent,
)
from ._scaling import Scaling

Rule = Literal["derived", "blind"]
RULES = ("derived", "blind")


@dataclasses.dataclass(frozen=True)
class AxisSlope:
    """One fitted slope along ``axis`` and its verdict."""

    axis: str
    rule: str
    optimizer: str
    tensor: str
    quantity: str
    predicted: Fraction
    slope: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    reason: str | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"predicted": str(self.predicted)}


def check_rule(rule: str, optimizer: str) -> None:
    if rule not in RULES:
        raise InfwidthError(f"rule is 'derived' or 'blind', got {rule!r}")
    if optimizer not in ("sgd", "adam"):
        raise InfwidthError(f"this check trains sgd or adam, got {optimizer!r}")


def fields(d, axis: str, rule: Rule) -> tuple[dict, dict]:
    """Per tensor, the width section and the ``axis`` section (zeros under ``rule="blind"``)
    of the derived table ``d``."""
    names = [t.name for t in d.network.tensors]
    width = {t: d.width_json(t) for t in names}
    sol = d.axes[axis]
    along = {t: sol.tensor_json(d.network, t, d.optimizer) for t in names}
    if rule == "blind":
        along = {t: {k: ("0" if _num(v) else v) for k, v in f.items()} for t, f in along.items()}
    return width, along


def _num(v: str) -> bool:
    return v not in ("zero", "frozen")


def predicted_update_slope(d, axis: str, along: dict, tensor: str) -> Fraction:
    """``-r_t`` along ``axis`` for ``tensor`` under the exponents ``along`` (one section per
    tensor, as :func:`fields`): the slope of what its update moves its output by."""
    view = d.network.along(axis)
    opt, ex = d.optimizer, {}
    for t in view.tensors:
        f = along[t.name]
        a = -Fraction(f["multiplier"])
        b = Fraction(0) if f["init_variance"] == "zero" else -Fraction(f["init_variance"]) / 2
        c = Fraction(0) if f["learning_rate"] == "frozen" else -Fraction(f["learning_rate"])
        ex[t.name] = (a, b, c)
    th = {t: theta(a, b) for t, (a, b, _) in ex.items()}
    lam = {t: step_exponent(opt, *e) for t, e in ex.items()}
    w = readout_backward(view, opt, th, lam, d.axes[axis].direction)
    back = backward_exponents(view, opt, th, lam, w)
    t = view.tensor(tensor)
    if t.role == "output":  # the readout moves the output itself (dL/df = Theta(1))
        r = output_self_r(opt, t, lam[tensor], d.alignment)
    else:
        r = feature_r(opt, t, lam[tensor], back[tensor], d.alignment)
    return -Fraction(str(r))


def readout_backward(view, opt, th: dict, lam: dict, direction: str):
    """The backward signal's exponent ``w`` under the exponents ``th``/``lam``, as the engine
    sets it (``symbolic._derive``): the main readout's weights ``theta_o`` or its update's
    entries, whichever is larger (the smaller exponent along a growing axis). A rule that
    changes the readout's exponents along the axis (``blind`` along the heads) changes ``w``."""
    outs = [t for t in view.tensors if t.role == "output"]
    main = max(outs, key=lambda t: t.fan_in_exponent)
    upd = update_entry_exponent(opt, main, lam[main.name], 0)
    if main.frozen:
        return th[main.name]
    pick = max if direction == "shrinks" else min
    return pick(th[main.name], upd)


def scaling(n: int, std: dict, mult: dict, lrs: dict, eps: float = 1e-12) -> Scaling:
    """A :class:`Scaling` at width ``n`` from per-tensor numbers (no weight decay)."""
    zero = {t: 0.0 for t in std}
    return Scaling(
        n, n, 1, 1, std, mult, lrs, {t: eps for t in std}, zero, {}, {}
    )  # fmt: skip


def judge(
    axis: str,
    sizes: tuple[float, ...],
    values: np.ndarray,
    predicted: Fraction,
    *,
    tol: float,
    design: Design,
) -> tuple[float | None, float | None, float | None, str, str | None]:
    """Slope, 95% interval, verdict and reason of ``values`` ``(points, seeds)``."""
    fit = fit_exponent(sizes, values)
    slope, lo, hi = (None, None, None) if fit is None else (fit.slope, fit.ci_low, fit.ci_high)
    pts = np.asarray(sizes, dtype=float) if fit is None else fit.sizes
    j = verdict(slope, lo, hi, predicted, tol=tol, widths=pts, design=design)
    return slope, lo, hi, j.verdict, j.reason


def scale(width: dict, along: dict, tensor: str, field: str, n: int, x: float) -> float:
    """``n^{width exponent} x^{axis exponent}`` of ``field`` for ``tensor``."""
    return float(n) ** float(Fraction(width[tensor][field])) * float(x) ** float(
        Fraction(along[tensor][field])
    )
