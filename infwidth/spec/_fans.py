"""Fan expressions: monomials in the width ``n``, the declared scaling axes and finite dimensions.

A fan is written as a string such as ``"n"``, ``"4*n"``, ``"9*n"`` (a 3x3 convolution),
``"V"`` (a finite vocabulary), ``"n/H"`` (a head dimension with a fixed number of heads),
``"sqrt(n)"`` or ``"n**(3/2)"``, or ``"1"`` (the constant input that feeds a bias). Its *width
exponent* is the power of ``n``: ``fan = C * n**k`` with ``C`` free of ``n``; along any other
declared axis (``rho``, ``r``, ``E``, ...) the exponent is read the same way
(:func:`axis_exponent`): a fan is one monomial over all of them.

Spec files are shared between researchers, so a fan is *data*: it is read by the small
recursive-descent parser below, never by ``eval`` or ``sympy.sympify``. The grammar admits
monomials only::

    fan      := factor (("*" | "/") factor)*
    factor   := atom ["**" exponent]
    atom     := INTEGER | NAME | "(" fan ")" | "sqrt" "(" fan ")"
    exponent := ["-"] INTEGER | "(" ["-"] INTEGER ["/" INTEGER] ")"

so ``n + 1``, ``log(n)`` or ``2**n`` (no single scaling exponent) are rejected by construction.
Sizes are capped so that no input can make the parser (or SymPy afterwards) slow: at most
:data:`MAX_LENGTH` characters, integer literals up to :data:`MAX_LITERAL`, and every base's
accumulated exponent ``p/q`` with ``|p|, q <= MAX_EXPONENT``.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import sympy as sp

from ..errors import SpecError

WIDTH = sp.Symbol("n", positive=True)
DEPTH = sp.Symbol("L", positive=True)

#: Longest fan expression accepted (characters).
MAX_LENGTH = 200
#: Largest integer literal accepted in a fan.
MAX_LITERAL = 10**12
#: Largest numerator and denominator of any base's exponent.
MAX_EXPONENT = 64
#: Deepest nesting of parentheses.
MAX_NESTING = 16

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[*/()\-]))")

# A monomial: base (an int literal or a dimension name) -> exact exponent.
_Mono = dict


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


class _Parser:
    """Recursive descent over the token list of one fan expression."""

    def __init__(self, text: str, what: str) -> None:
        self.what = f"{what} {_shown(text)}"
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if m is None:
                bad = stripped[pos:].lstrip()[:1]
                self.fail(f"character {bad!r} is not allowed (a fan is a monomial: * / ** only)")
            number, name, op = m.groups()
            self.tokens.append(
                ("int", number) if number else ("name", name) if name else ("op", op)
            )
            pos = m.end()
        self.i = 0
        self.depth = 0

    def fail(self, reason: str):
        raise SpecError(f"{self.what} is not a valid fan: {reason}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            self.fail(f"expected {want!r} but found {'the end' if tok is None else repr(tok[1])}")
        self.i += 1
        return tok[1]

    def accept(self, op: str) -> bool:
        """Consume the operator ``op`` if it comes next."""
        if self.peek() != ("op", op):
            return False
        self.i += 1
        return True

    def integer(self) -> int:
        digits = self.take("int")
        if len(digits) > len(str(MAX_LITERAL)) or int(digits) > MAX_LITERAL:
            self.fail(f"integer literals are capped at {MAX_LITERAL:.0e}")
        return int(digits)

    def parse(self) -> _Mono:
        if not self.tokens:
            self.fail("it is empty")
        mono = self.fan()
        if self.peek() is not None:
            tok = self.peek()[1]
            hint = " (a fan is a monomial)" if tok in "+-" else ""
            self.fail(f"unexpected {tok!r}{hint}")
        return mono

    def fan(self) -> _Mono:
        mono = self.factor()
        while (tok := self.peek()) is not None and tok in (("op", "*"), ("op", "/")):
            self.i += 1
            rhs = self.factor()
            mono = self.combine(mono, rhs, 1 if tok[1] == "*" else -1)
        return mono

    def factor(self) -> _Mono:
        mono = self.atom()
        if self.accept("**"):
            mono = self.power(mono, self.exponent())
            if self.peek() == ("op", "**"):
                self.fail("chained powers are not allowed; use parentheses")
        return mono

    def atom(self) -> _Mono:
        tok = self.peek()
        if tok is None:
            self.fail("it ends too early")
        kind, value = tok
        if kind == "int":
            k = self.integer()
            if k == 0:
                self.fail("a fan must be positive")
            return {} if k == 1 else {k: Fraction(1)}
        if kind == "name":
            self.i += 1
            if value == "sqrt":
                return self.power(self.group(), Fraction(1, 2))
            if self.peek() == ("op", "("):
                self.fail(f"{value}() is not allowed (only sqrt)")
            if value == DEPTH.name:
                raise SpecError(f"{self.what} depends on the depth L; fans are per layer")
            return {value: Fraction(1)}
        if value == "(":
            return self.group()
        if value == "-":
            self.fail("a fan must be positive")
        self.fail(f"unexpected {value!r}")

    def group(self) -> _Mono:
        self.take("op", "(")
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"parentheses nest deeper than {MAX_NESTING}")
        mono = self.fan()
        self.depth -= 1
        self.take("op", ")")
        return mono

    def exponent(self) -> Fraction:
        paren = self.accept("(")
        sign = -1 if self.accept("-") else 1
        if not paren and (self.peek() is None or self.peek()[0] != "int"):
            self.fail("an exponent must be a rational number such as 2, -1 or (1/2)")
        value = Fraction(self.integer())
        if paren:
            if self.accept("/"):
                den = self.integer()
                if den == 0:
                    self.fail("division by zero in an exponent")
                value /= den
            self.take("op", ")")
        return self.checked(sign * value)

    def checked(self, e: Fraction) -> Fraction:
        if abs(e.numerator) > MAX_EXPONENT or e.denominator > MAX_EXPONENT:
            self.fail(f"exponents are capped at {MAX_EXPONENT} (numerator and denominator)")
        return e

    def combine(self, a: _Mono, b: _Mono, sign: int) -> _Mono:
        out = dict(a)
        for base, e in b.items():
            out[base] = self.checked(out.get(base, Fraction(0)) + sign * e)
        return {k: v for k, v in out.items() if v != 0}

    def power(self, mono: _Mono, e: Fraction) -> _Mono:
        return {k: self.checked(v * e) for k, v in mono.items() if v * e != 0}


def _to_sympy(mono: _Mono) -> sp.Expr:
    factors = []
    for base, e in sorted(mono.items(), key=lambda kv: str(kv[0])):
        b = sp.Integer(base) if isinstance(base, int) else _symbol(base)
        factors.append(sp.Pow(b, sp.Rational(e.numerator, e.denominator)))
    return sp.Mul(*factors)


def _symbol(name: str) -> sp.Symbol:
    return WIDTH if name == WIDTH.name else sp.Symbol(name, positive=True)


def parse_fan(value: str | int, *, what: str = "fan") -> sp.Expr:
    """Parse ``value`` into a positive SymPy monomial ``C * n**k`` (``C`` may hold other,
    finite dimensions such as ``V``, ``d_in``, ``H``).

    Raises :class:`SpecError` (one line) when ``value`` is not such a monomial or exceeds the
    size caps; never evaluates ``value`` as code.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(f"{what} must be a string or an integer, got {type(value).__name__}")
    if isinstance(value, int):
        if not 0 < value <= MAX_LITERAL:
            raise SpecError(f"{what} {value} must be an integer in 1..{MAX_LITERAL:.0e}")
        return sp.Integer(value)
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise SpecError(f"{what} {_shown(text)} is longer than {MAX_LENGTH} characters")
    return _to_sympy(_Parser(text, what).parse())


def width_exponent(expr: sp.Expr | str, *, what: str = "fan") -> sp.Rational:
    """The power ``k`` of ``n`` in the monomial ``expr = C * n**k`` (exact rational)."""
    return axis_exponent(expr, WIDTH.name, what=what)


def axis_exponent(expr: sp.Expr | str, axis: str, *, what: str = "fan") -> sp.Rational:
    """The power ``k`` of the scaling axis ``axis`` (``"n"``, ``"rho"``, ``"r"``, ...) in the
    monomial ``expr = C * axis**k``; every other symbol counts as part of ``C``.

    E.g. ``axis_exponent("n*rho", "rho") == 1``, ``axis_exponent("n/H", "H") == -1``.
    """
    if isinstance(expr, str):
        expr = parse_fan(expr, what=what)
    power = _axis_exponent(expr, axis)
    if isinstance(power, str):
        raise SpecError(f"{what} {power} {axis}")
    return power


@functools.lru_cache(maxsize=4096)
def _axis_exponent(expr: sp.Expr, axis: str) -> sp.Rational | str:
    """The exponent, or why there is none (cached: every solve asks for the same few fans
    along the same axes many times, and ``powsimp`` dominates a derivation's time)."""
    sym = _symbol(axis)
    expr = sp.powsimp(sp.expand_power_base(expr, force=True), force=True)
    power = sp.S.Zero
    for factor in sp.Mul.make_args(expr):
        base, exp = factor.as_base_exp()
        if base == sym:
            if not exp.is_Rational:
                return "has a non-rational power of"
            power += exp
        elif sym in factor.free_symbols:
            return "is not a monomial in"
    return sp.Rational(power)


def fan_names(expr: sp.Expr) -> set[str]:
    """The dimension names a parsed fan uses (``"n*rho/H"`` -> ``{"n", "rho", "H"}``)."""
    return {s.name for s in expr.free_symbols}


def fan_str(expr: sp.Expr) -> str:
    """Canonical string of a fan expression (``"9*n"``, ``"V"``, ``"n/H"``); it parses back to
    the same expression."""
    return sp.sstr(expr)
