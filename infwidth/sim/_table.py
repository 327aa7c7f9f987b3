"""Read the symbolic engine's derived table and turn its exponents into numbers.

The table (``infwidth.derive(...).to_json()``) gives, per tensor, width exponents

.. math:: \\mathrm{Var}(w) \\propto n^{e_{\\rm var}},\\quad
          \\text{multiplier} \\propto n^{e_{\\rm mult}},\\quad
          \\eta \\propto n^{e_{\\rm lr}},\\quad \\epsilon \\propto n^{e_{\\epsilon}},\\quad
          \\lambda \\propto n^{e_{\\rm wd}}

and the same keys (plus ``branch_multiplier``) as powers of the depth ``L``. Following
muTransfer, every *constant* is fixed at a base width ``n_0`` (and base depth ``L_0``), where the
network is a standard-initialised network (variance ``gain / fan_in``, multiplier 1, the base
learning rate), and the exponents are applied to ``n / n_0`` and ``L / L_0``:

.. math:: \\sigma^2 = \\frac{g}{\\mathrm{fan\\_in}(n_0)}
          \\Big(\\frac{n}{n_0}\\Big)^{e_{\\rm var}}\\Big(\\frac{L}{L_0}\\Big)^{e^L_{\\rm var}},
          \\qquad \\eta_W = \\eta \\Big(\\frac{n}{n_0}\\Big)^{e_{\\rm lr}} \\cdots

This module is pure Python (no JAX): the jitted code only ever sees the resulting floats.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..errors import InfwidthError, OptimizerMismatchWarning
from ..spec import parse_exponent

WIDTH_KEYS = ("init_variance", "multiplier", "learning_rate", "epsilon", "weight_decay")
DEPTH_KEYS = WIDTH_KEYS + ("branch_multiplier",)


def _frac(value: Any, what: str) -> Fraction:
    return parse_exponent(value, what=what)


def _exps(obj: Any, keys: tuple[str, ...], what: str) -> dict[str, Fraction]:
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise InfwidthError(f"{what} must be an object of exponents")
    return {k: _frac(v, f"{what}.{k}") for k, v in obj.items() if k in keys}


@dataclasses.dataclass(frozen=True)
class TensorRow:
    """One row of a derived table: a tensor's fans and its width/depth exponents."""

    name: str
    kind: str
    fan_in: str
    fan_out: str
    width: Mapping[str, Fraction]
    depth: Mapping[str, Fraction] = dataclasses.field(default_factory=dict)
    branch: str | None = None
    tied_to: str | None = None

    def w(self, key: str) -> Fraction:
        """Width exponent ``key`` (0 when the table does not give it)."""
        return self.width.get(key, Fraction(0))

    def d(self, key: str) -> Fraction:
        """Depth exponent ``key`` (0 when the table does not give it)."""
        return self.depth.get(key, Fraction(0))


@dataclasses.dataclass(frozen=True)
class OperationRow:
    """A non-weight operation (attention logits) and its multiplier exponent."""

    name: str
    kind: str
    contracted: str
    multiplier: Fraction
    branch: str | None = None


@dataclasses.dataclass(frozen=True)
class Table:
    """A derived parametrization, as the finite-width engine consumes it."""

    optimizer: str
    target: str
    gauge: str
    tensors: tuple[TensorRow, ...]
    operations: tuple[OperationRow, ...] = ()
    regime: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    alignment: str = "full"

    def row(self, name: str) -> TensorRow:
        for t in self.tensors:
            if t.name == name:
                return t
        raise InfwidthError(f"the table has no tensor named {name!r}")

    def operation(self, kind: str) -> OperationRow | None:
        return next((o for o in self.operations if o.kind == kind), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    def predicted(self, *, first_step: bool = False) -> dict[str, Any]:
        """The regime's predicted width exponents, as Fractions (``{}`` when absent).

        ``first_step=True``: the exponents after the first step (the readout still at its
        init), where the table gives them; otherwise those from the second step on.
        """
        regime = self.regime or {}
        raw = (regime.get("predicted_exponents_first_step") if first_step else None) or (
            regime.get("predicted_exponents") or {}
        )
        out: dict[str, Any] = {}
        for q, v in raw.items():
            if isinstance(v, Mapping):
                out[q] = {k: _frac(e, f"predicted {q}.{k}") for k, e in v.items()}
            elif v is not None:
                out[q] = _frac(v, f"predicted {q}")
        return out

    def replace_width(self, name: str, **exps: str | Fraction) -> Table:
        """A copy with some width exponents of tensor ``name`` replaced (for experiments)."""
        self.row(name)  # refuses an unknown name
        new = {k: _frac(v, k) for k, v in exps.items()}
        rows = [
            dataclasses.replace(t, width={**t.width, **new}) if t.name == name else t
            for t in self.tensors
        ]
        return dataclasses.replace(self, tensors=tuple(rows), regime={})

    def check_optimizer(self, optimizer: str) -> None:
        """Warn (:class:`~infwidth.errors.OptimizerMismatchWarning`) when the table is trained
        with ``optimizer`` but was derived for an optimiser with other width exponents.

        The derivation reads only an optimiser's scaling description (gradient power,
        structure, parameter scaling, epsilon, weight decay; momentum changes no exponent), so
        two optimisers share exponents exactly when those agree: SGD and momentum do, SGD and
        Adam do not. Unknown names are not judged here.
        """
        from ..symbolic import OPTIMIZERS

        def scaling(name: str) -> Any:
            o = OPTIMIZERS.get(str(name).lower())
            return o and dataclasses.replace(o, name="", description="", momentum=False)

        mine, theirs = scaling(self.optimizer), scaling(optimizer)
        if mine and theirs and mine != theirs:
            warnings.warn(
                f"this table was derived for {self.optimizer} but is trained with {optimizer}, "
                f"whose width exponents differ; derive it for {optimizer}",
                OptimizerMismatchWarning,
                stacklevel=3,
            )

    def spec_json(self) -> dict:
        """The tensors as a spec dict with their width exponents (for ``classify``)."""
        tensors = []
        for t in self.tensors:
            entry = {"name": t.name, "fan_in": t.fan_in, "fan_out": t.fan_out}
            extra = (("kind", t.kind), ("branch", t.branch), ("tied_to", t.tied_to))
            entry.update({k: v for k, v in extra if v})
            entry["width"] = {k: str(v) for k, v in t.width.items()}
            tensors.append(entry)
        return {"tensors": tensors}

    def reclassified(self) -> Table:
        """A copy whose ``regime`` (and predictions) the symbolic engine recomputes from the
        exponents actually in the table (after :meth:`replace_width`, say)."""
        from .. import classify, spec_from_dict

        regime = classify(spec_from_dict(self.spec_json()), self.optimizer).to_json()
        return dataclasses.replace(self, regime=regime)

    @classmethod
    def derive(
        cls,
        arch: str = "mlp",
        optimizer: str = "sgd",
        *,
        target: str = "mup",
        gauge: str | None = None,
        alignment: str = "full",
        **arch_kwargs: Any,
    ) -> Table:
        """``infwidth.derive`` on a built-in architecture (or a spec), read as a table."""
        from .. import builtin, derive

        net = builtin(arch, **arch_kwargs) if isinstance(arch, str) else arch
        return cls.from_json(
            derive(net, optimizer, target=target, gauge=gauge, alignment=alignment)
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Any) -> Table:
        """Build from ``derive(...).to_json()`` (or from the Derivation object itself)."""
        if hasattr(data, "to_json") and not isinstance(data, Mapping):
            data = data.to_json()
        if not isinstance(data, Mapping) or not isinstance(data.get("tensors"), list):
            raise InfwidthError("a derived table must be an object with a 'tensors' list")
        rows = []
        for i, t in enumerate(data["tensors"]):
            if not isinstance(t, Mapping) or "name" not in t:
                raise InfwidthError(f"tensors[{i}] must be an object with a 'name'")
            rows.append(
                TensorRow(
                    name=str(t["name"]),
                    kind=str(t.get("kind", "")),
                    fan_in=str(t.get("fan_in", "1")),
                    fan_out=str(t.get("fan_out", "1")),
                    width=_exps(t.get("width"), WIDTH_KEYS, f"{t['name']}.width"),
                    depth=_exps(t.get("depth"), DEPTH_KEYS, f"{t['name']}.depth"),
                    branch=t.get("branch"),
                    tied_to=t.get("tied_to"),
                )
            )
        ops = []
        for o in data.get("operations", []) or []:
            mult = (o.get("width") or {}).get("multiplier", "0")
            ops.append(
                OperationRow(
                    name=str(o.get("name", o.get("kind"))),
                    kind=str(o.get("kind")),
                    contracted=str(o.get("contracted", "1")),
                    multiplier=_frac(mult, f"{o.get('name')}.width.multiplier"),
                    branch=o.get("branch"),
                )
            )
        return cls(
            optimizer=str(data.get("optimizer", "sgd")),
            target=str(data.get("target", "custom")),
            gauge=str(data.get("gauge", "custom")),
            tensors=tuple(rows),
            operations=tuple(ops),
            regime=dict(data.get("regime") or {}),
            alignment=str(data.get("alignment", "full")),
        )
