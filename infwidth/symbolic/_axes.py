"""Exponents along every declared scaling axis besides the width (density, rank, experts, ...).

A spec may declare axes ``X`` (``"axes": {"rho": "shrinks", "E": "grows"}``); every fan,
density and token fraction is a monomial ``C n^{k_n} X^{k_X} ...``. The desiderata of
``_derive.py`` are imposed along each axis independently, with the other axes held fixed:
for axis ``X`` a tensor's contraction counts are ``fan_in * density = C X^{alpha_X}`` forward
and ``fan_out * density = C X^{beta_X}`` backward, its token fraction is ``C X^{tau_X}``, and
the same labelled linear equations give its exponents ``(a_X, b_X, c_X, d_X)``: forward
multiplier ``X^{-a_X}``, init ``w ~ N(0, X^{-2 b_X})``, learning rate ``eta X^{-c_X}``.
Roles (input/hidden/output) stay those of the width: what a tensor *is* does not change when
another axis moves, only how many terms its sums have.

The equations are homogeneous in the exponents (reversing the limit, ``X -> 1/X``, flips every
exponent and leaves the solution the same), so the limit direction only decides the
inequalities: which of two contributions dominates (``_derive.solve_mup(shrinks=...)``).

The discriminating case is SμPar (Dey et al. 2024): a masked hidden layer of density ``rho``
has ``alpha_rho = beta_rho = 1`` while the dense readout has ``alpha_rho = 0``, so the
backward signal ``w_rho = 0``: SGD's hidden learning rate is ``rho^{-1}``, not the
``(n rho)^0 = 1`` that substituting ``n -> n rho`` in muP would give.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..spec import NetworkSpec, axis_exponent
from ._constraints import Constraint
from ._decay import weight_decay_exponent
from ._derive import in_gauge, operation_multipliers, solve_mup, with_epsilon
from ._optimizers import Optimizer
from ._parametrization import TensorExponents, mark_placeholders
from ._perturbation import Perturbation, sam_scaling
from ._precondition import damping_exponents
from ._scaling import Alignment


@dataclasses.dataclass(frozen=True)
class AxisSolution:
    """The exponents along one axis: per tensor, per operation, and how they were derived."""

    axis: str
    direction: str
    exponents: dict[str, TensorExponents]
    operations: dict[str, sp.Rational]
    backward: sp.Rational
    constraints: tuple[Constraint, ...]
    extras: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    perturbation: Perturbation | None = None
    weight_decay: str = "timescale"

    def tensor_json(self, net: NetworkSpec, name: str, opt: Optimizer) -> dict[str, str]:
        """The same fields as a tensor's ``width`` section, as powers of this axis."""
        e = self.exponents[name]
        out = e.width_json()
        if opt.weight_decay:
            out["weight_decay"] = str(weight_decay_exponent(e, self.weight_decay))
        return mark_placeholders(net.tensor(name), out | self.extras.get(name, {}))


def solve_axes(
    net: NetworkSpec,
    opt: Optimizer,
    alignment: Alignment,
    gauge: str,
    *,
    perturbation: str | None = None,
    weight_decay: str = "timescale",
) -> dict[str, AxisSolution]:
    """Solve the desiderata along every declared axis of ``net`` (in declaration order)."""
    out = {}
    for axis, direction in net.axes:
        view = net.along(axis)
        solved = solve_mup(
            view, opt, alignment, gauge, use_pins=False, shrinks=direction == "shrinks"
        )
        exps = in_gauge(view, solved.exponents, opt, gauge)
        exps = with_epsilon(view, exps, opt, solved.backward)
        ops = operation_multipliers(view, alignment, axis)
        shrinks = direction == "shrinks"
        sam = (
            sam_scaling(view, exps, opt, solved.backward, alignment, shrinks=shrinks)
            if perturbation
            else None
        )
        out[axis] = AxisSolution(
            axis, direction, exps, ops, solved.backward, tuple(solved.constraints),
            extra_fields(view, exps, opt, solved.backward, sam), sam, weight_decay,
        )  # fmt: skip
    return out


def extra_fields(
    net: NetworkSpec,
    exps: dict[str, TensorExponents],
    opt: Optimizer,
    backward: sp.Rational,
    sam: Perturbation | None,
) -> dict[str, dict[str, str]]:
    """Per tensor, the fields beyond abc(d): ``damping_out``/``damping_in`` of a
    preconditioned optimiser and SAM's ``perturbation`` (empty for today's optimisers)."""
    out: dict[str, dict[str, str]] = {}
    for name, fields in damping_exponents(net, exps, opt, backward).items():
        out.setdefault(name, {}).update({k: str(v) for k, v in fields.items()})
    if sam is not None:
        for t in net.tensors:
            own = t.tied_to or t.name
            if own in sam.layers:
                out.setdefault(t.name, {})["perturbation"] = str(sam.layers[own])
    return out


def effective_width_notes(
    net: NetworkSpec,
    width: dict[str, TensorExponents],
    axes: dict[str, AxisSolution],
    opt: Optimizer | None = None,
) -> tuple[str, ...]:
    """Where the derivation and the *effective-width* reading of SμPar disagree, say so.

    That reading treats a masked ``n -> n`` layer of density ``X^k`` as a dense layer of
    width ``n X^k``: each of its exponents along ``X`` would be ``k`` times its width
    exponent. The derivation agrees for the init and for Adam-like steps; for SGD it does
    not, because the step carries the backward signal, which the *dense* readout sets.
    """
    notes = []
    for t in net.tensors:
        if t.density is None or (t.fan_in_exponent, t.fan_out_exponent) != (1, 1):
            continue
        for axis, sol in axes.items():
            k = net.along(axis).tensor(t.name).fan_in_exponent - axis_exponent(t.fan_in, axis)
            got, w = -sol.exponents[t.name].c, -width[t.name].c
            if k != 0 and got != k * w:
                notes.append(
                    f"{t.name}: the derived learning rate along {axis} is {axis}^{got}; "
                    f"treating the masked layer as a dense one of width n*{t.density} (the "
                    f"effective-width reading of SμPar) gives {axis}^{k * w}. They differ "
                    + (
                        "because the preconditioner normalises by the norms of the dense "
                        "input and gradient vectors, which the mask does not thin."
                        if opt is not None and opt.preconditioner
                        else f"because this optimiser's step carries the backward signal, "
                        f"which the dense readout sets ({axis}^{-sol.backward}), not the "
                        "masked layer."
                    )
                )
    return tuple(notes)
