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
from ._fans import MAX_EXPONENT, fan_str, parse_fan, width_exponent

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
    """

    name: str
    fan_in: sp.Expr
    fan_out: sp.Expr
    kind: str
    branch: str | None = None
    tied_to: str | None = None
    exponents: Mapping[str, sp.Rational] = dataclasses.field(default_factory=dict)

    @property
    def fan_in_exponent(self) -> sp.Rational:
        """alpha: fan_in = C * n**alpha."""
        return width_exponent(self.fan_in)

    @property
    def fan_out_exponent(self) -> sp.Rational:
        """beta: fan_out = C * n**beta."""
        return width_exponent(self.fan_out)

    @property
    def role(self) -> Role:
        return role_from_exponents(self.fan_in_exponent, self.fan_out_exponent)

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "kind": self.kind,
            "fan_in": fan_str(self.fan_in),
            "fan_out": fan_str(self.fan_out),
        }
        if self.branch is not None:
            out["branch"] = self.branch
        if self.tied_to is not None:
            out["tied_to"] = self.tied_to
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

    def __post_init__(self) -> None:
        if not self.tensors:
            raise SpecError(f"network {self.name!r} has no tensors")
        names = [t.name for t in self.tensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"duplicate tensor names: {', '.join(dupes)}")
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

    def to_json(self) -> dict:
        out: dict = {"name": self.name, "tensors": [t.to_json() for t in self.tensors]}
        if self.operations:
            out["operations"] = [o.to_json() for o in self.operations]
        return out


def make_tensor(
    name: str,
    fan_in: str | int,
    fan_out: str | int,
    kind: str | None = None,
    *,
    branch: str | None = None,
    tied_to: str | None = None,
    exponents: Mapping[str, str | int | sp.Rational] | None = None,
) -> TensorSpec:
    """Build a :class:`TensorSpec`, validating fans and kind and inferring the kind."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"tensor name must be a non-empty string, got {name!r}")
    fi = parse_fan(fan_in, what=f"fan_in of {name!r}")
    fo = parse_fan(fan_out, what=f"fan_out of {name!r}")
    role = role_from_exponents(width_exponent(fi), width_exponent(fo))
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
    return TensorSpec(name, fi, fo, kind, branch, tied_to, given)


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
