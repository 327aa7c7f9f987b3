"""Derive a parametrization from the desiderata (muP and its depth extensions).

For every tensor ``t`` (fans ``n^alpha_t -> n^beta_t``) the unknowns are ``a_t, b_t, c_t`` and,
shared by the whole network, ``w``: the size exponent of the backward signal ``dL/dh`` that
reaches the features. The desiderata (TP4 for SGD, TP4b for entrywise optimisers, written per
tensor through ``_scaling.py``) give two equations per tensor:

1. *stable preactivations at init* (feature tensors): ``a_t + b_t = alpha_t / 2``
   — a sum of ``n^alpha`` independent terms (central limit);
2. *maximal Theta(1) feature updates*: ``r_t = lambda_t + p w - s_t = 0``;
3. *non-trivial, maximal output updates* (readouts): ``r^self = lambda_o - s_o = 0``;
4. *readout initialised maximally* (muP): ``a_o + b_o + r - alpha_o = 0`` with ``r = 0``;
5. *backward signal*: ``w = a_o + b_o`` (the readout's weights carry ``dL/df`` back; checked
   afterwards to dominate the readout's own update).

That leaves one free direction per tensor: the symmetry. A *gauge* equation fixes it
(``_parametrization.py``), or the user pins exponents in the spec. The linear system is solved
exactly with SymPy; with no solution, a minimal conflicting subset is named.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..errors import InfwidthError, NoSolutionError
from ..spec import NetworkSpec, TensorSpec, axis_exponent
from ._constraints import Constraint, solve_exact
from ._depth import DEPTH_CONFLICT, DEPTH_TARGETS, depth_json
from ._optimizers import Optimizer
from ._parametrization import (
    TensorExponents,
    check_gauge,
    gauge_value,
    owner,
    to_gauge,
)
from ._scaling import (
    ALIGNMENTS,
    Alignment,
    backward_exponents,
    feature_r,
    kappa,
    output_self_r,
    step_exponent,
    theta,
    update_entry_exponent,
)

DESIDERATA = {
    "init": "stable preactivations: Theta(1) at init",
    "maximal": "maximal Theta(1) feature updates",
    "output": "non-trivial output: the readout moves the output by Theta(1)",
    "output-init": "readout initialised maximally (output O(1), moved Theta(1) by features)",
    "backward": "backward signal set by the readout's weights",
    "zero": "zero-initialised: no init variance (b is a placeholder the gauge leaves at 0)",
    "frozen": "not trained: no learning rate (c is a placeholder)",
    "gauge": "symmetry fixed by the gauge",
    "pin": "exponent pinned by the spec",
}


@dataclasses.dataclass(frozen=True)
class Solved:
    """Exponents that satisfy a set of desiderata, before any gauge change."""

    exponents: dict[str, TensorExponents]
    backward: sp.Rational
    constraints: tuple[Constraint, ...]
    symbols: dict[str, tuple[sp.Symbol, sp.Symbol, sp.Symbol]]


def symbols_for(net: NetworkSpec) -> dict[str, tuple[sp.Symbol, sp.Symbol, sp.Symbol]]:
    """``(a_t, b_t, c_t)`` per tensor; tied tensors share their owner's ``b`` and ``c``."""
    out = {}
    for t in net.tensors:
        own = owner(net, t).name
        out[t.name] = (
            sp.Symbol(f"a_{{{t.name}}}"),
            sp.Symbol(f"b_{{{own}}}"),
            sp.Symbol(f"c_{{{own}}}"),
        )
    return out


def mup_constraints(
    net: NetworkSpec,
    opt: Optimizer,
    alignment: Alignment,
    syms: dict,
    w: sp.Symbol,
    *,
    backward_from_update: bool = False,
) -> list[Constraint]:
    """Desiderata 1-5 for every tensor, as labelled linear equations."""
    cons: list[Constraint] = []
    outs = [t for t in net.tensors if t.role == "output"]
    main = max(outs, key=lambda t: t.fan_in_exponent)
    th = {t.name: theta(*syms[t.name][:2]) for t in net.tensors}
    lams = {t.name: step_exponent(opt, *syms[t.name]) for t in net.tensors}
    back = backward_exponents(net, opt, th, lams, w)
    for t in net.tensors:
        a, b, c = syms[t.name]
        al = t.fan_in_exponent
        lam = lams[t.name]
        cons += _placeholders(t, b, c)
        if t.role in ("input", "hidden"):
            if t.init != "zero":
                cons.append(
                    Constraint(
                        f"init({t.name})", DESIDERATA["init"], theta(a, b), al / 2, t.name,
                        f"(W x)_i sums fan_in = n^{al} independent terms of size n^-(a+b)",
                    )
                )  # fmt: skip
            if not t.frozen:
                why = _update_why(opt, t, alignment, feature=True)
                if t.feeds is not None:
                    why += f"; its backward signal is {t.feeds}^T delta, n^-({back[t.name]})"
                cons.append(
                    Constraint(
                        f"maximal({t.name})", DESIDERATA["maximal"],
                        sp.expand(feature_r(opt, t, lam, back[t.name], alignment)),
                        sp.Integer(0), t.name, why,
                    )
                )  # fmt: skip
        else:
            if not t.frozen:
                cons.append(
                    Constraint(
                        f"output({t.name})", DESIDERATA["output"],
                        sp.expand(output_self_r(opt, t, lam, alignment)), sp.Integer(0),
                        t.name, _update_why(opt, t, alignment, feature=False),
                    )
                )  # fmt: skip
            cons.append(
                Constraint(
                    f"output-init({t.name})", DESIDERATA["output-init"], theta(a, b), al, t.name,
                    "W_0 Delta x sums n^alpha terms correlated by back-propagation (LLN)",
                )
            )  # fmt: skip
    if any(t.role in ("input", "hidden") for t in net.tensors):
        a, b, c = syms[main.name]
        rhs = (
            update_entry_exponent(opt, main, step_exponent(opt, a, b, c), 0)
            if backward_from_update
            else theta(a, b)
        )
        cons.append(
            Constraint(
                "backward", DESIDERATA["backward"], w, sp.expand(rhs), None,
                f"dL/dh = W_{main.name}^T dL/df: its entries have the size of {main.name}'s",
            )
        )  # fmt: skip
    return cons


def _placeholders(t: TensorSpec, b: sp.Symbol, c: sp.Symbol) -> list[Constraint]:
    """A zero-initialised tensor has no init variance, a frozen one no learning rate: the
    exponent stays a placeholder (0) that no desideratum involves, reported as such."""
    out = []
    if t.init == "zero":
        out.append(Constraint(f"zero-init({t.name})", DESIDERATA["zero"], b, sp.Integer(0), t.name))
    if t.frozen:
        out.append(Constraint(f"frozen({t.name})", DESIDERATA["frozen"], c, sp.Integer(0), t.name))
    return out


def _update_why(opt: Optimizer, t: TensorSpec, alignment: Alignment, *, feature: bool) -> str:
    k = kappa(alignment)
    grad = " (n^-w)^p," if feature and opt.gradient_power else ""
    if opt.structure == "orthogonal":
        return f"Delta W x = n^-lambda{grad} |x| delta/|delta|: alignment {alignment}"
    if opt.structure == "preconditioned":
        u, v = opt.norm_powers
        return (
            f"Delta W x = n^-lambda{grad} |g|^-{u} |x|^-{v} g (x.x), x.x aligned as "
            f"n^{k * t.fan_in_exponent} ({alignment} alignment)"
        )
    return (
        f"(Delta W x)_i = n^-lambda{grad} times a sum of n^{t.fan_in_exponent} terms "
        f"aligned as n^{k * t.fan_in_exponent} ({alignment} alignment)"
    )


def gauge_constraints(
    net: NetworkSpec, gauge: str, syms: dict, skip: set[str] = frozenset()
) -> list[Constraint]:
    """One equation per trainable parameter (tied uses share it) fixing the symmetry."""
    cons = []
    for t in net.tensors:
        if t.tied_to is not None or t.name in skip:
            continue
        key, value = gauge_value(gauge, t)
        sym = syms[t.name][0 if key == "a" else 1]
        cons.append(
            Constraint(f"gauge({t.name})", f"{DESIDERATA['gauge']} ({gauge})", sym, value, t.name)
        )
    return cons


def pin_constraints(net: NetworkSpec, syms: dict) -> list[Constraint]:
    cons = []
    for t in net.tensors:
        for key, value in t.exponents.items():
            if key == "d":
                continue
            sym = syms[t.name]["abc".index(key)]
            cons.append(Constraint(f"pin {key}({t.name})", DESIDERATA["pin"], sym, value, t.name))
    return cons


def solve_mup(
    net: NetworkSpec,
    opt: Optimizer,
    alignment: Alignment,
    gauge: str,
    *,
    use_pins: bool,
    shrinks: bool = False,
) -> Solved:
    """Solve desiderata 1-5 plus gauge (or pins) exactly.

    The equations are homogeneous in the exponents, so the limit's direction only decides the
    one inequality: the backward signal is the *larger* of the readout's weights and its
    update, i.e. the smaller exponent when the axis grows and the larger when it shrinks
    (``shrinks=True``: an axis such as the density ``rho -> 0``).
    """
    if alignment not in ALIGNMENTS:
        raise InfwidthError(f"unknown alignment {alignment!r}; choose one of full, none")
    syms = symbols_for(net)
    w = sp.Symbol("w")
    unknowns = sorted({s for trio in syms.values() for s in trio} | {w}, key=str)
    pins = pin_constraints(net, syms) if use_pins else []
    pinned = {c.tensor for c in pins}
    for from_update in (False, True):
        cons = mup_constraints(net, opt, alignment, syms, w, backward_from_update=from_update)
        if not any(c.label == "backward" for c in cons):
            unknowns = [u for u in unknowns if u != w]
        system = cons + pins + gauge_constraints(net, gauge, syms, skip=pinned)
        values = solve_exact(system, unknowns)
        free = set().union(*(v.free_symbols for v in values.values()))
        if free:  # pins did not fix the symmetry of some tensor: add its gauge too
            system += gauge_constraints(net, gauge, syms) if pins else []
            values = solve_exact(system, unknowns)
            free = set().union(*(v.free_symbols for v in values.values()))
            if free:
                names = ", ".join(sorted(map(str, free)))
                raise NoSolutionError(f"the desiderata leave {names} undetermined")
        exps = {}
        for t in net.tensors:
            a, b, c = (sp.Rational(values[s]) for s in syms[t.name])
            exps[t.name] = TensorExponents(a, b, c)
        back = sp.Rational(values.get(w, 0))
        outs = [t for t in net.tensors if t.role == "output"]
        main = max(outs, key=lambda t: t.fan_in_exponent)
        e = exps[main.name]
        upd = update_entry_exponent(opt, main, step_exponent(opt, e.a, e.b, e.c), 0)
        if from_update or main.frozen or (back >= upd if shrinks else back <= upd):
            return Solved(exps, back, tuple(system), syms)
    raise NoSolutionError("no consistent backward signal size")  # pragma: no cover


def with_epsilon(
    net: NetworkSpec, exps: dict[str, TensorExponents], opt: Optimizer, w: sp.Rational
) -> dict[str, TensorExponents]:
    """Adam's ``d``: ``n^d`` times the gradient's typical entry is Theta(1) (TP4b).

    ``dL/dw = n^{-a} dL/dW_eff`` with entries ``n^{-a} n^{-w} |x|`` on feature tensors and
    ``n^{-a}`` on readouts (``dL/df = Theta(1)``), so ``d = a + w`` and ``d = a`` respectively:
    epsilon ``~ n^{-d}`` stays comparable to the gradient (any smaller epsilon also works).
    Tied uses take their owner's ``d``.
    """
    if not opt.epsilon:
        return exps
    th = {t.name: theta(e.a, e.b) for t, e in ((t, exps[t.name]) for t in net.tensors)}
    lam = {
        t.name: step_exponent(opt, e.a, e.b, e.c)
        for t, e in ((t, exps[t.name]) for t in net.tensors)
    }
    back = backward_exponents(net, opt, th, lam, w)
    out = {}
    for t in net.tensors:
        own = owner(net, t)
        e_own = exps[own.name]
        signal = back[own.name] if own.role in ("input", "hidden") else 0
        d = e_own.a + signal - own.token_exponent
        out[t.name] = dataclasses.replace(exps[t.name], d=sp.Rational(d))
    return out


def operation_multipliers(
    net: NetworkSpec, alignment: Alignment | None, axis: str = "n"
) -> dict[str, sp.Rational]:
    """Attention logits ``s q.k`` over ``d_head = n^k`` coordinates: trained ``q`` and ``k``
    are correlated (LLN), so ``s ~ n^{-k}`` keeps logits Theta(1) in training (muP's
    ``1/d_head``); ``alignment=None`` gives the standard ``1/sqrt(d_head)`` (init-only CLT)."""
    out = {}
    for op in net.operations:
        k = axis_exponent(op.contracted, axis)
        out[op.name] = -(k / 2 if alignment is None else kappa(alignment) * k)
    return out


def depth_for(target: str) -> tuple[sp.Rational | None, str | None]:
    if target in DEPTH_TARGETS:
        return DEPTH_TARGETS[target]
    return None, None


def depth_block(net: NetworkSpec, opt: Optimizer, target: str) -> dict[str, dict[str, str]]:
    alpha, _ = depth_for(target)
    out = {}
    for t in net.tensors:
        out[t.name] = depth_json(opt, alpha, t.branch is not None, with_wd=opt.weight_decay)
        if t.frozen:  # not trained: no learning rate along depth either
            out[t.name] = {
                k: v for k, v in out[t.name].items() if k not in ("epsilon", "weight_decay")
            }
            out[t.name]["learning_rate"] = "frozen"
    return out


def depth_notes(net: NetworkSpec, target: str) -> tuple[str, ...]:
    if not net.residual:
        return ()
    if target in DEPTH_TARGETS:
        return (DEPTH_CONFLICT,)
    return (
        "Residual branches are not scaled with depth in this target (branch multiplier 1): "
        "the stream's variance grows like L at init. Use --target depth-mup or completep "
        "for depth exponents.",
    )


def in_gauge(
    net: NetworkSpec, exps: dict[str, TensorExponents], opt: Optimizer, gauge: str
) -> dict[str, TensorExponents]:
    return to_gauge(net, exps, opt, check_gauge(gauge))
