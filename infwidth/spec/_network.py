"""The network specification: the data model every engine of infwidth consumes.

A network is a set of *tensors* (trainable weights), each with a ``fan_in`` and a ``fan_out``
given as monomials in the width ``n``, optionally sitting on a residual *branch* (repeated over
the depth ``L`` and scaled by a branch multiplier), plus the *operations* without weights that
still scale with width (attention logits contracting over ``d_head``).

The *role* of a tensor follows from which of its fans are infinite (THEORY.md section 1):

=========  ==================  ===============================================
role       fans                examples
=========  ==================  ===============================================
input      finite -> infinite  first layer, embeddings, biases, LayerNorm gains
hidden     infinite -> inf.    hidden dense layers, 3x3 convolutions, q/k/v/o
output     infinite -> finite  readout, unembedding
scalar     finite -> finite    output bias, a learnable temperature
=========  ==================  ===============================================

This is what lets the symbolic engine derive scalings for a layer type nobody tabulated:
only its fans matter.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Literal

import sympy as sp

from ..errors import SpecError
from ._fans import (
    DEPTH,
    MAX_EXPONENT,
    WIDTH,
    axis_exponent,
    fan_names,
    fan_str,
    parse_fan,
    width_exponent,
)

_RATIONAL = re.compile(
    r"[+-]?(?:\d{1,12}/\d{1,12}|(?:\d{1,12}(?:\.\d{0,12})?|\.\d{1,12})(?:[eE][+-]?\d{1,3})?)"
)

Role = Literal["input", "hidden", "output", "scalar"]

#: Layer kinds and the role their fans must give them (``None``: any role).
KIND_ROLES: dict[str, Role | None] = {
    "input": "input",
    "bias": "input",
    "embedding": "input",
    "position_embedding": "input",
    "layernorm_gain": "input",
    "hidden": "hidden",
    "conv": None,
    "attention": "hidden",
    "ffn": "hidden",
    "adapter": None,
    "expert": None,
    "router": None,
    "output": "output",
    "unembedding": "output",
    "scalar": "scalar",
}

#: Exponent names a spec may give for a tensor (TP4 abc(d) form).
EXPONENT_NAMES = ("a", "b", "c", "d")


def role_from_exponents(fan_in_exp: sp.Rational, fan_out_exp: sp.Rational) -> Role:
    """The role implied by which fans grow with width."""
    if fan_in_exp == 0 and fan_out_exp == 0:
        return "scalar"
    if fan_in_exp == 0:
        return "input"
    if fan_out_exp == 0:
        return "output"
    return "hidden"


def _role(fan_in: sp.Expr, fan_out: sp.Expr, feeds: str | None) -> Role:
    """The role along the width; a tensor that ``feeds`` another produces a feature (a LoRA
    bottleneck), not the network's output."""
    role = role_from_exponents(width_exponent(fan_in), width_exponent(fan_out))
    return {"output": "hidden", "scalar": "input"}.get(role, role) if feeds is not None else role


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One trainable tensor.

    Attributes:
        name: unique name, e.g. ``"block.q"``.
        fan_in, fan_out: SymPy monomials in ``n``.
        kind: the tensor's layer kind (see :data:`KIND_ROLES`), inferred when not given.
        branch: name of the residual branch the tensor sits on (``None``: on the trunk).
            Branch tensors are repeated ``L`` times and scaled by the branch multiplier.
        tied_to: name of another tensor whose trainable entries this one shares
            (tied embedding and unembedding); each use keeps its own forward multiplier.
        exponents: given abc(d) exponents (``classify``) or pinned ones (``derive``).
        density: a masked tensor's fraction of non-zero entries (``rho``): each output
            coordinate sums ``fan_in * density`` terms forward and each input coordinate
            ``fan_out * density`` terms backward (static random mask, SμPar).
        tokens: the fraction of the tokens that reach the tensor (a routed expert: ``k/E``);
            its gradient sums only those tokens, so the gradient's size carries this factor.
        init: ``"random"`` (Gaussian, variance ``n^{-2b}``) or ``"zero"`` (a LoRA ``B``
            factor: no init variance; its entries are what training puts there).
        frozen: not trained (a LoRA base weight): no learning rate, only its init matters.
        feeds: name of the tensor that consumes this tensor's output (LoRA's ``A`` feeds
            ``B``): the output is an internal feature even when its dimension is finite, and
            the backward signal reaching it is the one ``feeds`` sends back.
        axis: the scaling axis that :attr:`fan_in_exponent`, :attr:`fan_out_exponent` and
            :attr:`token_exponent` measure (``"n"``; :meth:`NetworkSpec.along` sets another).
            The role is always read along the width.
        damping: the preconditioner factors (``"out"``, ``"in"``) the spec gives a damping
            for (a derived JSON read back); checked against the optimiser, never used.
    """

    name: str
    fan_in: sp.Expr
    fan_out: sp.Expr
    kind: str
    branch: str | None = None
    tied_to: str | None = None
    exponents: Mapping[str, sp.Rational] = dataclasses.field(default_factory=dict)
    density: sp.Expr | None = None
    tokens: sp.Expr | None = None
    init: str = "random"
    frozen: bool = False
    feeds: str | None = None
    axis: str = "n"
    damping: tuple[str, ...] = ()

    @property
    def fan_in_exponent(self) -> sp.Rational:
        """alpha: the forward contraction count ``fan_in * density = C * axis**alpha``."""
        return axis_exponent(self.fan_in * (self.density or 1), self.axis)

    @property
    def fan_out_exponent(self) -> sp.Rational:
        """beta: the backward contraction count ``fan_out * density = C * axis**beta``."""
        return axis_exponent(self.fan_out * (self.density or 1), self.axis)

    @property
    def token_exponent(self) -> sp.Rational:
        """tau: the fraction of tokens reaching the tensor is ``C * axis**tau`` (0: all)."""
        return axis_exponent(self.tokens or sp.Integer(1), self.axis)

    @property
    def role(self) -> Role:
        """Read from the shape along the width, whatever :attr:`axis` is measured; a tensor
        that ``feeds`` another produces a feature, not the network's output."""
        return _role(self.fan_in, self.fan_out, self.feeds)

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "kind": self.kind,
            "fan_in": fan_str(self.fan_in),
            "fan_out": fan_str(self.fan_out),
        }
        optional = {
            "branch": self.branch,
            "tied_to": self.tied_to,
            "density": None if self.density is None else fan_str(self.density),
            "tokens": None if self.tokens is None else fan_str(self.tokens),
            "init": None if self.init == "random" else self.init,
            "frozen": True if self.frozen else None,
            "feeds": self.feeds,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.exponents:
            out.update({k: str(v) for k, v in self.exponents.items()})
        return out


@dataclasses.dataclass(frozen=True)
class OperationSpec:
    """A non-weight operation whose scale depends on width.

    Only ``kind="attention_logits"`` exists so far: ``q . k * scale`` contracting over
    ``contracted`` coordinates (``d_head``). Its multiplier is derived like a weight's.
    """

    name: str
    kind: str
    contracted: sp.Expr
    branch: str | None = None

    def to_json(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "contracted": fan_str(self.contracted)}
        if self.branch is not None:
            out["branch"] = self.branch
        return out


OPERATION_KINDS = ("attention_logits",)


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """A network: tensors, operations and where the residual branches are."""

    name: str
    tensors: tuple[TensorSpec, ...]
    operations: tuple[OperationSpec, ...] = ()
    axes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.tensors:
            raise SpecError(f"network {self.name!r} has no tensors")
        _check_axes(self.axes)
        declared = {WIDTH.name} | {a for a, _ in self.axes}
        for t in self.tensors:
            for field in ("density", "tokens"):
                unknown = sorted(fan_names(getattr(t, field) or sp.S.One) - declared)
                if unknown:
                    raise SpecError(
                        f"{field} of tensor {t.name!r} uses {', '.join(unknown)}, which is not "
                        f'a declared axis (declare it: "axes": {{"{unknown[0]}": '
                        '"grows" or "shrinks"})'
                    )
        names = [t.name for t in self.tensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"duplicate tensor names: {', '.join(dupes)}")
        for t in self.tensors:
            if t.feeds is not None and (t.feeds not in names or t.feeds == t.name):
                raise SpecError(f"tensor {t.name!r} feeds unknown tensor {t.feeds!r}")
        _check_feeds(self.tensors)
        for t in self.tensors:
            if t.tied_to is not None:
                if t.tied_to not in names or t.tied_to == t.name:
                    raise SpecError(f"tensor {t.name!r} is tied to unknown tensor {t.tied_to!r}")
                other = self.tensor(t.tied_to)
                if {t.fan_in, t.fan_out} != {other.fan_in, other.fan_out}:
                    raise SpecError(
                        f"tied tensors {t.name!r} and {other.name!r} have different shapes"
                    )
        if not any(t.role == "output" for t in self.tensors):
            raise SpecError(
                f"network {self.name!r} has no output tensor (fan_in growing with n, "
                "fan_out finite)"
            )

    def tensor(self, name: str) -> TensorSpec:
        for t in self.tensors:
            if t.name == name:
                return t
        raise SpecError(f"no tensor named {name!r} in network {self.name!r}")

    @property
    def residual(self) -> bool:
        return any(t.branch is not None for t in self.tensors)

    def along(self, axis: str) -> NetworkSpec:
        """The same network with every exponent measured along ``axis`` (roles stay those of
        the width): the engine imposes the desiderata along each axis with the others fixed."""
        if axis != WIDTH.name and axis not in dict(self.axes):
            raise SpecError(f"{axis!r} is not a declared axis of network {self.name!r}")
        ts = tuple(dataclasses.replace(t, axis=axis) for t in self.tensors)
        return dataclasses.replace(self, tensors=ts)

    def to_json(self) -> dict:
        out: dict = {"name": self.name, "tensors": [t.to_json() for t in self.tensors]}
        if self.axes:
            out["axes"] = dict(self.axes)
        if self.operations:
            out["operations"] = [o.to_json() for o in self.operations]
        return out


#: Limit directions an axis may be taken in.
AXIS_DIRECTIONS = ("grows", "shrinks")
#: Most extra axes a spec may declare.
MAX_AXES = 16
_AXIS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def _check_axes(axes: tuple[tuple[str, str], ...]) -> None:
    if len(axes) > MAX_AXES:
        raise SpecError(f"a spec declares at most {MAX_AXES} axes, got {len(axes)}")
    for name, direction in axes:
        if not isinstance(name, str) or not _AXIS_NAME.fullmatch(name) or name == "sqrt":
            raise SpecError(f"axis name {str(name)[:40]!r} must be an identifier such as rho")
        if name in (WIDTH.name, DEPTH.name):
            raise SpecError(
                f"axis {name!r} is built in ({WIDTH.name}: width, {DEPTH.name}: depth); "
                "declare only the other axes"
            )
        if direction not in AXIS_DIRECTIONS:
            raise SpecError(
                f"axis {name!r} has direction {str(direction)[:40]!r}; choose grows or shrinks"
            )


#: How a tensor's entries start: Gaussian or zero (LoRA's B).
INITS = ("random", "zero")


def _check_feeds(tensors: tuple[TensorSpec, ...]) -> None:
    feeds = {t.name: t.feeds for t in tensors}
    for start in feeds:
        seen, name = {start}, feeds[start]
        while name is not None:
            if name in seen:
                raise SpecError(f"tensor {start!r} feeds itself through a cycle of 'feeds'")
            seen.add(name)
            name = feeds[name]


def make_tensor(
    name: str,
    fan_in: str | int,
    fan_out: str | int,
    kind: str | None = None,
    *,
    branch: str | None = None,
    tied_to: str | None = None,
    exponents: Mapping[str, str | int | sp.Rational] | None = None,
    density: str | int | None = None,
    tokens: str | int | None = None,
    init: str = "random",
    frozen: bool = False,
    feeds: str | None = None,
    damping: tuple[str, ...] = (),
) -> TensorSpec:
    """Build a :class:`TensorSpec`, validating fans and kind and inferring the kind."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"tensor name must be a non-empty string, got {name!r}")
    fi = parse_fan(fan_in, what=f"fan_in of {name!r}")
    fo = parse_fan(fan_out, what=f"fan_out of {name!r}")
    role = _role(fi, fo, feeds)
    if kind is None:
        kind = "bias" if (fi == 1 and role == "input") else role
    if kind not in KIND_ROLES:
        raise SpecError(
            f"unknown layer kind {kind!r} for tensor {name!r}; known kinds: {', '.join(KIND_ROLES)}"
        )
    expected = KIND_ROLES[kind]
    if expected is not None and expected != role:
        raise SpecError(
            f"tensor {name!r} has kind {kind!r} but its fans ({fan_str(fi)} -> "
            f"{fan_str(fo)}) make it {role!r}"
        )
    given: dict[str, sp.Rational] = {}
    for key, value in (exponents or {}).items():
        if key not in EXPONENT_NAMES:
            raise SpecError(f"unknown exponent {key!r} for tensor {name!r}")
        given[key] = parse_rational(value, what=f"exponent {key} of {name!r}")
    dens = None if density is None else parse_fan(density, what=f"density of {name!r}")
    tok = None if tokens is None else parse_fan(tokens, what=f"tokens of {name!r}")
    if init not in INITS:
        raise SpecError(f"init of {name!r} is {str(init)[:40]!r}; choose random or zero")
    if not isinstance(frozen, bool):
        raise SpecError(f"frozen of {name!r} must be true or false")
    if frozen and init == "zero":
        raise SpecError(f"tensor {name!r} is frozen at zero: it does nothing")
    fields = (given, dens, tok, init, frozen, feeds)
    return TensorSpec(name, fi, fo, kind, branch, tied_to, *fields, damping=tuple(damping))


def parse_rational(value: str | int | float | sp.Rational, *, what: str) -> sp.Rational:
    """An exact rational exponent as a SymPy number (see :func:`parse_exponent`)."""
    r = parse_exponent(value, what=what)
    return sp.Rational(r.numerator, r.denominator)


def parse_exponent(value: str | int | float | sp.Rational | Fraction, *, what: str) -> Fraction:
    """An exact rational from ``"1/2"``, ``"-1"``, ``0.5`` or an int (never evaluated as code).

    Exponents are small numbers: numerator and denominator are capped at ``MAX_EXPONENT`` of
    :mod:`infwidth.spec._fans`; floats are read through their shortest decimal form
    (``0.1 -> 1/10``).
    """
    if isinstance(value, bool):
        raise SpecError(f"{what} must be a number, got {value!r}")
    if isinstance(value, Fraction):
        r = value
    elif isinstance(value, sp.Rational):
        r = Fraction(int(value.p), int(value.q))
    elif isinstance(value, int):
        r = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"{what} must be a finite rational number, got {value!r}")
        r = Fraction(repr(value))
    elif isinstance(value, str) and _RATIONAL.fullmatch(value.strip()):
        text = value.strip()
        try:
            r = Fraction(text)
        except ZeroDivisionError:
            raise SpecError(f"{what} divides by zero: {value!r}") from None
    else:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise SpecError(f"{what} must be a rational number such as -1/2, got {shown}")
    if abs(r.numerator) > MAX_EXPONENT or r.denominator > MAX_EXPONENT:
        shown = str(r) if len(str(r)) <= 40 else str(r)[:37] + "..."
        raise SpecError(
            f"{what} = {shown} is outside the exponents allowed (|p|, q <= {MAX_EXPONENT})"
        )
    return r
