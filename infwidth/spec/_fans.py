"""Fan expressions: monomials in the width ``n`` (and the depth ``L``).

A fan is written as a string such as ``"n"``, ``"4*n"``, ``"9*n"`` (a 3x3 convolution),
``"V"`` (a finite vocabulary), ``"n/H"`` (a head dimension with a fixed number of heads) or
``"1"`` (the constant input that feeds a bias). Its *width exponent* is the power of ``n``:
``fan = C * n**k`` with ``C`` free of ``n``. Anything that is not such a monomial (``n + 1``,
``log(n)``, ``2**n``) has no single scaling exponent and is rejected.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError

WIDTH = sp.Symbol("n", positive=True)
DEPTH = sp.Symbol("L", positive=True)

_RESERVED = {"n": WIDTH, "L": DEPTH}


def parse_fan(value: str | int, *, what: str = "fan") -> sp.Expr:
    """Parse ``value`` into a positive SymPy monomial in ``n``.

    Every other symbol (``V``, ``d_in``, ``H``) is a finite, positive constant.
    Raises :class:`SpecError` when ``value`` is not a monomial ``C * n**k``.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(f"{what} must be a string or an integer, got {value!r}")
    text = str(value).strip()
    if not text:
        raise SpecError(f"{what} is empty")
    try:
        expr = sp.sympify(text, locals=dict(_RESERVED), rational=True)
    except (sp.SympifyError, SyntaxError, TypeError) as exc:
        raise SpecError(f"{what} {text!r} is not a valid expression") from exc
    if not isinstance(expr, sp.Expr):
        raise SpecError(f"{what} {text!r} is not an expression")
    # Make every free symbol other than n positive, so that powers simplify.
    expr = expr.subs({s: sp.Symbol(s.name, positive=True) for s in expr.free_symbols if s != WIDTH})
    if DEPTH in expr.free_symbols:
        raise SpecError(f"{what} {text!r} depends on the depth L; fans are per layer")
    width_exponent(expr, what=f"{what} {text!r}")
    if expr.is_positive is False or expr == 0:
        raise SpecError(f"{what} {text!r} must be positive")
    return expr


def width_exponent(expr: sp.Expr, *, what: str = "fan") -> sp.Rational:
    """The power ``k`` of ``n`` in the monomial ``expr = C * n**k`` (exact rational)."""
    expr = sp.powsimp(sp.expand_power_base(sp.sympify(expr), force=True), force=True)
    coeff, power = sp.S.One, sp.S.Zero
    for factor in sp.Mul.make_args(expr):
        base, exp = factor.as_base_exp()
        if base == WIDTH:
            if not exp.is_Rational:
                raise SpecError(f"{what} has a non-rational power of n")
            power += exp
        elif WIDTH in factor.free_symbols:
            raise SpecError(f"{what} is not a monomial in the width n")
        else:
            coeff *= factor
    if WIDTH in coeff.free_symbols:  # pragma: no cover - guarded above
        raise SpecError(f"{what} is not a monomial in the width n")
    return sp.Rational(power)


def fan_str(expr: sp.Expr) -> str:
    """Canonical string of a fan expression (``"9*n"``, ``"V"``, ``"n/H"``)."""
    return sp.sstr(expr)
