"""The public entry points: :func:`derive` and :func:`classify` (mirroring the CLI)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import sympy as sp

from ..errors import InfwidthError, SpecError
from ..spec import NetworkSpec, builtin, fan_str, load_spec
from ._axes import AxisSolution, effective_width_notes, extra_fields, solve_axes
from ._classify import Classification, classify_parametrization
from ._constraints import Constraint
from ._decay import RULES, rule_note
from ._derive import (
    depth_block,
    depth_for,
    depth_notes,
    in_gauge,
    operation_multipliers,
    solve_mup,
    with_epsilon,
)
from ._named import DERIVED, NATURAL_GAUGE, PRESET_NOTES, TARGETS, preset
from ._optimizers import OPTIMIZERS, Optimizer, get_optimizer
from ._parametrization import GAUGES, TensorExponents
from ._perturbation import PERTURBATIONS, Perturbation, sam_scaling, standard_sam_note
from ._published import published_axis_notes
from ._scaling import ALIGNMENTS, Alignment


@dataclasses.dataclass(frozen=True)
class Derivation:
    """A parametrization for one network and optimiser, with how it was obtained.

    ``exponents`` are in ``gauge``; ``constraints`` are the labelled equations that were
    solved (empty for presets); ``classification`` is gauge-invariant.
    """

    network: NetworkSpec
    optimizer: Optimizer
    target: str
    gauge: str
    alignment: Alignment
    exponents: dict[str, TensorExponents]
    operations: dict[str, sp.Rational]
    depth: dict[str, dict[str, str]]
    depth_alpha: sp.Rational | None
    classification: Classification
    constraints: tuple[Constraint, ...] = ()
    notes: tuple[str, ...] = ()
    axes: dict[str, AxisSolution] = dataclasses.field(default_factory=dict)
    extras: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    perturbation: Perturbation | None = None
    weight_decay: str = "timescale"

    def width_json(self, name: str) -> dict[str, str]:
        """Tensor ``name``'s width exponents: the fields of :meth:`AxisSolution.tensor_json`,
        read from this derivation's ``exponents``, ``extras`` and ``weight_decay`` rule."""
        return AxisSolution.tensor_json(self, self.network, name, self.optimizer)

    def perturbation_radius(self) -> dict[str, str] | None:
        """SAM's radius exponent along the width and every axis (``None`` without SAM)."""
        if self.perturbation is None:
            return None
        out = {"width": str(self.perturbation.radius)}
        out.update({x: str(s.perturbation.radius) for x, s in self.axes.items()})
        return out

    def render(self, fmt: str = "table") -> str:
        """``table``, ``markdown``, ``latex`` or ``json`` text (as the CLI prints it)."""
        from ._render import render

        return render(self, fmt)

    def explain(self) -> str:
        """The step-by-step derivation as Markdown with LaTeX."""
        from ._explain import explain

        return explain(self)

    def to_json(self) -> dict:
        """The JSON contract (every exponent an exact rational string)."""
        return {
            "network": self.network.name,
            "optimizer": self.optimizer.name,
            "target": self.target,
            "gauge": self.gauge,
            "alignment": self.alignment,
            "tensors": [
                {
                    "name": t.name,
                    "kind": t.kind,
                    "role": t.role,
                    "fan_in": fan_str(t.fan_in),
                    "fan_out": fan_str(t.fan_out),
                    **({"branch": t.branch} if t.branch else {}),
                    **({"tied_to": t.tied_to} if t.tied_to else {}),
                    **({"density": fan_str(t.density)} if t.density is not None else {}),
                    **({"tokens": fan_str(t.tokens)} if t.tokens is not None else {}),
                    **({"init": t.init} if t.init != "random" else {}),
                    **({"frozen": True} if t.frozen else {}),
                    **({"feeds": t.feeds} if t.feeds is not None else {}),
                    "width": self.width_json(t.name),
                    "depth": self.depth[t.name],
                    **{
                        x: s.tensor_json(self.network, t.name, self.optimizer)
                        for x, s in self.axes.items()
                    },
                }
                for t in self.network.tensors
            ],
            "operations": [
                {
                    "name": op.name,
                    "kind": op.kind,
                    "contracted": fan_str(op.contracted),
                    "width": {"multiplier": str(self.operations[op.name])},
                    **{x: {"multiplier": str(s.operations[op.name])} for x, s in self.axes.items()},
                }
                for op in self.network.operations
            ],
            **({"axes": dict(self.network.axes)} if self.network.axes else {}),
            **(
                {"perturbation": "sam", "perturbation_radius": self.perturbation_radius()}
                if self.perturbation is not None
                else {}
            ),
            "depth_alpha": None if self.depth_alpha is None else str(self.depth_alpha),
            "regime": self.classification.to_json(),
            "notes": list(self.notes),
        }


def _network(network: NetworkSpec | str | Path) -> NetworkSpec:
    if isinstance(network, NetworkSpec):
        return network
    if isinstance(network, Path) or (isinstance(network, str) and "." in network):
        return load_spec(network)
    if isinstance(network, str):
        return builtin(network)
    raise SpecError(f"expected a NetworkSpec, an architecture name or a spec path, got {network!r}")


def derive(
    network: NetworkSpec | str | Path,
    optimizer: str | Optimizer = "sgd",
    *,
    target: str = "mup",
    gauge: str | None = None,
    alignment: Alignment = "full",
    perturbation: str | None = None,
    weight_decay: str | None = None,
) -> Derivation:
    """Derive (or, for SP/NTP/u-muP, evaluate) a parametrization of ``network``.

    Args:
        network: a :class:`NetworkSpec`, a built-in name (``"mlp"``) or a spec file path.
        optimizer: ``sgd``, ``momentum``, ``adam``, ``adamw``, ``signsgd``, ``adafactor``,
            ``muon`` or an :class:`Optimizer`.
        target: ``mup`` (derived), ``mfp``, ``depth-mup``, ``completep`` (derived),
            ``sp``, ``ntp``, ``umup`` (presets, classified).
        gauge: ``no-multipliers`` (TP5 Table 3), ``mup-package`` (Table 8), ``tp4``
            (Table 9), ``unit-scaled``, ``mean-field``; default: the target's natural gauge.
        alignment: ``full`` or ``none`` (Everett et al. 2024).
        perturbation: ``"sam"``: also derive SAM's radius and per-layer perturbation
            scaling (``_perturbation.py``) on top of the optimiser.
        weight_decay: the desideratum weight decay is derived from, ``timescale`` (default)
            or ``equilibrium`` (``_decay.py``); only for optimisers with weight decay.

    Returns:
        a :class:`Derivation`; ``.to_json()`` gives the CLI's JSON.

    Example:
        >>> import infwidth
        >>> d = infwidth.derive("mlp", "adam")
        >>> [d.exponents[t].c for t in ("W1", "W2", "W3")]   # Adam LR ~ n^-c
        [0, 1, 1]
    """
    net = _network(network)
    opt = get_optimizer(optimizer)
    if target not in TARGETS:
        raise InfwidthError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if alignment not in ALIGNMENTS:
        raise InfwidthError(f"unknown alignment {alignment!r}; choose one of full, none")
    if gauge is not None and gauge not in GAUGES:
        raise InfwidthError(f"unknown gauge {gauge!r}; choose one of {', '.join(GAUGES)}")
    zero = [t.name for t in net.tensors if t.init == "zero"]
    if opt.param_scaled and zero:
        raise InfwidthError(
            f"{opt.name}'s step is relative to RMS(w), which is zero for the zero-initialised "
            f"tensor(s) {', '.join(zero)}; choose another optimizer"
        )
    if perturbation is not None and perturbation not in PERTURBATIONS:
        raise InfwidthError(
            f"unknown perturbation {perturbation!r}; choose one of {', '.join(PERTURBATIONS)}"
        )
    if weight_decay is not None and weight_decay not in RULES:
        raise InfwidthError(
            f"unknown weight-decay rule {weight_decay!r}; choose one of {', '.join(RULES)}"
        )
    if weight_decay is not None and not opt.weight_decay:
        raise InfwidthError(f"{opt.name} has no decoupled weight decay; --weight-decay needs adamw")
    _check_damping(net, opt)
    if perturbation is not None and target not in DERIVED:
        raise InfwidthError(f"--perturbation needs a derived target, not the preset {target!r}")
    if opt.preconditioner and target not in DERIVED:
        raise InfwidthError(
            f"{opt.name}'s damping is derived; use a derived target, not {target!r}"
        )
    wd_rule = weight_decay or "timescale"
    pinned = any(t.exponents for t in net.tensors)
    notes: list[str] = []
    sam = None
    extras: dict[str, dict[str, str]] = {}
    if target in DERIVED:
        solve_gauge = gauge or NATURAL_GAUGE[target]
        solved = solve_mup(net, opt, alignment, solve_gauge, use_pins=pinned)
        exps, constraints = solved.exponents, solved.constraints
        if pinned and gauge is None:
            out_gauge = "pinned"
        else:
            out_gauge = solve_gauge
            exps = in_gauge(net, exps, opt, solve_gauge)
        cls = classify_parametrization(net, exps, opt, alignment=alignment)
        exps = with_epsilon(net, exps, opt, cls.backward)
        ops = operation_multipliers(net, alignment)
        axes = solve_axes(
            net, opt, alignment, solve_gauge, perturbation=perturbation, weight_decay=wd_rule
        )
        if perturbation:
            sam = sam_scaling(net, exps, opt, cls.backward, alignment)
        extras = extra_fields(net, exps, opt, cls.backward, sam)
        if target == "mfp":
            notes.append(
                "Mean-field (BP22/DMFT) is muP up to the abc symmetry (TP4 section 5): the "
                "same dynamics, reported in the mean-field gauge."
            )
    else:
        if pinned:
            raise InfwidthError(
                f"target {target!r} is a preset; pinned exponents need a derived target"
            )
        if net.axes:
            raise InfwidthError(
                f"target {target!r} is a preset defined along the width only; the axes "
                f"{', '.join(a for a, _ in net.axes)} need a derived target (mup, mfp, ...)"
            )
        axes = {}
        exps = preset(target, net, opt)
        cls = classify_parametrization(net, exps, opt, alignment=alignment)
        out_gauge = gauge or NATURAL_GAUGE[target]
        exps = in_gauge(net, exps, opt, out_gauge)
        if target == "umup":
            exps = with_epsilon(net, exps, opt, cls.backward)
            ops = operation_multipliers(net, alignment)
            notes.append(PRESET_NOTES["umup"])
        else:
            ops = operation_multipliers(net, None)
        constraints = ()
    alpha, _ = depth_for(target)
    if weight_decay is not None:
        notes.append(rule_note(weight_decay))
    if sam is not None:
        notes.extend(
            n for n in (standard_sam_note(sam), *(
                standard_sam_note(s.perturbation, x) for x, s in axes.items()
            )) if n
        )  # fmt: skip
    notes.extend(effective_width_notes(net, exps, axes, opt))
    notes.extend(published_axis_notes(net, exps, axes, opt))
    notes.extend(depth_notes(net, target))
    notes.extend(cls.notes)
    return Derivation(
        net, opt, target, out_gauge, alignment, exps, ops, depth_block(net, opt, target),
        alpha, cls, tuple(constraints), tuple(notes), axes, extras, sam, wd_rule,
    )  # fmt: skip


def _check_damping(net: NetworkSpec, opt: Optimizer) -> None:
    """A spec that gives a damping the optimiser does not have is an error, not ignored."""
    sides = set(opt.damping_sides)
    for t in net.tensors:
        for side in t.damping:
            if side not in sides:
                has = [o for o, x in OPTIMIZERS.items() if side in x.damping_sides]
                raise InfwidthError(
                    f"tensor {t.name!r} gives damping_{side}, but {opt.name} has no "
                    f"{'left' if side == 'out' else 'right'} preconditioner factor to damp "
                    f"({', '.join(has)} do)"
                )


def classify(
    network: NetworkSpec | str | Path,
    optimizer: str | Optimizer = "sgd",
    *,
    preset_name: str | None = None,
    exponents: dict[str, TensorExponents] | None = None,
    alignment: Alignment = "full",
) -> Classification:
    """Classify a parametrization: ``unstable``, ``trivial``, ``kernel`` or
    ``feature_learning`` (``maximal`` for muP), with ``r`` and the failing conditions.

    The exponents come from (in order) ``exponents``, ``preset_name`` (``sp``, ``ntp``,
    ``umup``, or a derived target such as ``mup``), or the ``a, b, c`` given per tensor in the
    spec.

    Example:
        >>> import infwidth
        >>> infwidth.classify("mlp", "sgd", preset_name="ntp").regime
        'kernel'
    """
    net = _network(network)
    opt = get_optimizer(optimizer)
    if alignment not in ALIGNMENTS:
        raise InfwidthError(f"unknown alignment {alignment!r}; choose one of full, none")
    if exponents is None and preset_name is not None:
        if preset_name in DERIVED:
            return derive(net, opt, target=preset_name, alignment=alignment).classification
        exponents = preset(preset_name, net, opt)
    if exponents is None:
        missing = [t.name for t in net.tensors if not {"a", "b", "c"} <= set(t.exponents)]
        if missing:
            raise SpecError(
                f"the spec must give a, b and c for every tensor to classify it (missing for "
                f"{', '.join(missing)}); or use --preset"
            )
        exponents = {
            t.name: TensorExponents(
                t.exponents["a"], t.exponents["b"], t.exponents["c"], t.exponents.get("d")
            )
            for t in net.tensors
        }
        tied = [t for t in net.tensors if t.tied_to is not None]
        for t in tied:
            own = exponents[t.tied_to]
            if (exponents[t.name].b, exponents[t.name].c) != (own.b, own.c):
                raise SpecError(f"tied tensor {t.name!r} must share b and c with {t.tied_to!r}")
    return classify_parametrization(net, exponents, opt, alignment=alignment)
