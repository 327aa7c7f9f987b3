"""Numbers from exponents: per-tensor init scale, multiplier, learning rate, epsilon, decay.

Given a :class:`~infwidth.sim._table.Table`, a width ``n`` and depth ``L`` and the base width
``n_0`` and base depth ``L_0`` where the constants are fixed (muTransfer), tensor ``W`` gets

.. math::
    \\sigma_W &= \\sqrt{g_W / \\mathrm{fan\\_in}_W(n_0)}\\;
                 \\rho^{e_{\\rm var}/2}\\,\\lambda^{e^L_{\\rm var}/2}, &
    m_W &= \\rho^{e_{\\rm mult}}\\lambda^{e^L_{\\rm mult}},\\\\
    \\eta_W &= \\eta\\,\\rho^{e_{\\rm lr}}\\lambda^{e^L_{\\rm lr}}, &
    \\epsilon_W &= \\epsilon\\,\\rho^{e_\\epsilon}\\lambda^{e^L_\\epsilon},\\quad
    \\lambda_W = \\lambda\\,\\rho^{e_{\\rm wd}}\\lambda^{e^L_{\\rm wd}},

with :math:`\\rho = n/n_0` and :math:`\\lambda = L/L_0`; a residual branch is multiplied by
:math:`\\lambda^{e^L_{\\rm branch}}` and attention logits by
:math:`\\rho^{e_{\\rm mult}} / \\sqrt{d_{\\rm head}(n_0)}`. At ``n = n_0``, ``L = L_0`` every
parametrization is the same standard-initialised network: only the exponents differ.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from ..errors import InfwidthError
from ..spec import parse_fan, width_exponent
from ._table import Table

#: Finite dimensions of the built-in specs and their defaults.
DEFAULT_DIMS: dict[str, int] = {"d_in": 32, "d_out": 10, "C": 3, "V": 64, "T": 16, "H": 4}


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Per-tensor numbers at one width/depth (all plain floats, ready for jit)."""

    width: int
    base_width: int
    depth: int
    base_depth: int
    init_std: Mapping[str, float]
    multiplier: Mapping[str, float]
    learning_rate: Mapping[str, float]
    epsilon: Mapping[str, float]
    weight_decay: Mapping[str, float]
    branch_multiplier: Mapping[str, float]
    operation_multiplier: Mapping[str, float]


def _fan_at(expr: str, dims: Mapping[str, int]) -> sp.Expr:
    """The fan ``expr`` with its finite dimensions substituted: ``C * n**k``, ``n`` free."""
    e = parse_fan(expr)
    val = e.subs({s: dims[s.name] for s in e.free_symbols if s.name in dims})
    missing = sorted(s.name for s in val.free_symbols if s.name != "n")
    if missing:
        names = ", ".join(missing)
        raise InfwidthError(f"fan {expr!r} needs a value for the finite dimension(s) {names}")
    return val


def _exact(fan: sp.Expr, width: int) -> sp.Expr:
    return fan.subs({s: width for s in fan.free_symbols})


def evaluate_fan(expr: str, width: int, dims: Mapping[str, int]) -> float:
    """Numeric value of a fan expression such as ``"9*n"`` or ``"n/H"`` at width ``width``."""
    return float(sp.Float(_exact(_fan_at(expr, dims), width)))


def fan_size(expr: str, width: int, dims: Mapping[str, int]) -> int:
    """The fan ``expr`` at ``width`` as an array dimension: exact, never rounded.

    A fan :math:`C n^k` is a dimension only where it is a positive integer (``n/8`` at
    ``n = 128`` is 16); elsewhere (``n/8`` at 100) rounding would give a dimension that need
    not grow with ``n``, so it raises :class:`InfwidthError` naming the nearest widths where
    the fan is whole.
    """
    fan = _fan_at(expr, dims)
    val = _exact(fan, width)
    if val.is_Integer and val > 0:
        return int(val)
    whole = _whole(fan)
    below = next((w for w in range(width - 1, 0, -1) if whole(w)), None)
    above = next((w for w in range(width + 1, 4 * width + 1025) if whole(w)), None)
    near = " or ".join(str(w) for w in (below, above) if w is not None)
    hint = f"; nearest widths where it is: {near}" if near else ""
    raise InfwidthError(
        f"fan {expr!r} is {float(val.evalf()):g} at width {width}, not a whole number{hint}"
    )


def _whole(fan: sp.Expr) -> Callable[[int], bool]:
    """Predicate: is ``fan`` (``C * n**k``) a positive integer at this width?"""
    k, c = width_exponent(fan), fan.subs({s: 1 for s in fan.free_symbols})
    if k.is_Integer and c.is_Rational:
        frac = Fraction(int(c.p), int(c.q))
        return lambda w: (frac * w ** int(k)).denominator == 1
    return lambda w: bool(_exact(fan, w).is_Integer)


def scale_table(
    table: Table,
    *,
    width: int,
    base_width: int,
    depth: int = 1,
    base_depth: int | None = None,
    lr: float = 0.1,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    init_gain: Mapping[str, float] | float = 1.0,
    dims: Mapping[str, int] | None = None,
) -> Scaling:
    """Evaluate ``table`` at ``width`` (and ``depth``) with constants fixed at the base.

    ``init_gain`` is ``g_W`` above (a float for all tensors or a per-tensor mapping; e.g. 2
    for He-initialised ReLU layers). ``dims`` gives the finite dimensions (``d_in``, ``V``...).
    """
    if width < 1 or base_width < 1 or depth < 1:
        raise InfwidthError("widths and depths must be positive integers")
    base_depth = depth if base_depth is None else base_depth
    dims = {**DEFAULT_DIMS, **(dims or {})}
    rho, lam = width / base_width, depth / base_depth

    def pw(row, key: str) -> float:
        return rho ** float(row.w(key)) * lam ** float(row.d(key))

    std, mult, lrs, epss, wds, branch = {}, {}, {}, {}, {}, {}
    for row in table.tensors:
        g = init_gain.get(row.name, 1.0) if isinstance(init_gain, Mapping) else init_gain
        fan = evaluate_fan(row.fan_in, base_width, dims)
        std[row.name] = math.sqrt(g / fan) * math.sqrt(pw(row, "init_variance"))
        mult[row.name] = pw(row, "multiplier")
        lrs[row.name] = lr * pw(row, "learning_rate")
        epss[row.name] = eps * pw(row, "epsilon")
        wds[row.name] = weight_decay * pw(row, "weight_decay")
        if row.branch is not None and row.branch not in branch:
            branch[row.branch] = lam ** float(row.d("branch_multiplier"))
    ops = {}
    for op in table.operations:
        base = evaluate_fan(op.contracted, base_width, dims)
        ops[op.name] = rho ** float(op.multiplier) / math.sqrt(base)
    return Scaling(width, base_width, depth, base_depth, std, mult, lrs, epss, wds, branch, ops)
