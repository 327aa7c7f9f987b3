"""Classify a parametrization: unstable, trivial, kernel regime, feature learning, muP.

TP4 (SGD) and TP4b (entrywise optimisers) state the conditions for an MLP; here they are
evaluated per tensor from the exponent algebra of ``_scaling.py``, so any network reduces to
them. With ``w`` the size exponent of the backward signal reaching the features (set by the
readout, ``w = min_o min(theta_o, e_o)``) and ``r_t`` the exponent of tensor ``t``'s feature
update, ``r = min_t r_t``:

* stable at init: ``theta_t = alpha_t / 2`` for feature tensors, ``theta_o >= alpha_o / 2``
  for readouts;
* stable in training: ``r_t >= 0``; readout self-update ``r^self_o >= 0``;
  ``theta_o + r - alpha_o >= 0``; for entrywise optimisers also ``lambda_o >= theta_o``
  (TP4b's ``b_{L+1} <= c_{L+1}``);
* nontrivial: ``r^self_o = 0`` or ``theta_o + r - alpha_o = 0``;
* feature learning iff ``r = 0``, kernel regime iff ``r > 0``;
* muP (maximal): every ``r_t = 0``, every readout updated (``r^self = 0``) and initialised
  (``theta_o + r = alpha_o``) maximally.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..errors import SpecError
from ..spec import NetworkSpec
from ._optimizers import Optimizer
from ._parametrization import Parametrization, TensorExponents
from ._scaling import (
    Alignment,
    backward_exponents,
    feature_r,
    output_from_features,
    output_self_r,
    step_exponent,
    theta,
    update_entry_exponent,
)


@dataclasses.dataclass(frozen=True)
class Check:
    """One condition, evaluated: ``value == 0`` or ``value >= 0``."""

    label: str
    stage: str  # "init", "training", "nontrivial"
    expression: str
    value: sp.Rational
    relation: str  # "==" or ">="
    meaning: str
    source: str

    @property
    def ok(self) -> bool:
        return bool(self.value == 0) if self.relation == "==" else bool(self.value >= 0)

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "stage": self.stage,
            "condition": f"{self.expression} {self.relation} 0",
            "value": str(self.value),
            "ok": self.ok,
            "meaning": self.meaning,
            "source": self.source,
        }


@dataclasses.dataclass(frozen=True)
class Classification:
    """The regime of a parametrization and the width exponents it predicts."""

    regime: str
    r: sp.Rational | None
    maximal: bool
    backward: sp.Rational
    r_per_tensor: dict[str, sp.Rational]
    checks: tuple[Check, ...]
    predicted: dict
    notes: tuple[str, ...] = ()
    predicted_first_step: dict | None = None

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok and c.stage != "nontrivial")

    def to_json(self) -> dict:
        return {
            "regime": self.regime,
            "r": None if self.r is None else str(self.r),
            "maximal": self.maximal,
            "backward_exponent": str(self.backward),
            "r_per_tensor": {k: str(v) for k, v in self.r_per_tensor.items()},
            "failed": [c.label for c in self.failed],
            "predicted_exponents": self.predicted,
            "predicted_exponents_first_step": self.predicted_first_step,
            "checks": [c.to_json() for c in self.checks],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        name = "muP (every layer maximal)" if self.maximal else self.regime.replace("_", " ")
        r = "" if self.r is None else f", r = {self.r}"
        lines = [f"regime: {name}{r}"]
        for c in self.failed:
            lines.append(f"  fails {c.label}: {c.expression} {c.relation} 0 (value {c.value}):")
            lines.append(f"    {c.meaning}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def classify_parametrization(
    net: NetworkSpec,
    params: Parametrization,
    opt: Optimizer,
    *,
    alignment: Alignment = "full",
) -> Classification:
    """Evaluate the TP4/TP4b conditions for ``params`` (exact rationals) on ``net``."""
    missing = [t.name for t in net.tensors if t.name not in params]
    if missing:
        raise SpecError(f"no exponents given for tensor(s): {', '.join(missing)}")
    feats = [t for t in net.tensors if t.role in ("input", "hidden")]
    outs = [t for t in net.tensors if t.role == "output"]
    scalars = [t for t in net.tensors if t.role == "scalar"]
    ex: dict[str, TensorExponents] = dict(params)
    th = {t.name: theta(ex[t.name].a, ex[t.name].b) for t in net.tensors}
    lam = {
        t.name: step_exponent(opt, ex[t.name].a, ex[t.name].b, ex[t.name].c) for t in net.tensors
    }
    w = min(
        min(th[o.name], update_entry_exponent(opt, o, lam[o.name], 0))
        if not o.frozen
        else th[o.name]
        for o in outs
    )
    r_t = _feature_rs(net, opt, feats, th, lam, w, alignment)
    r = min(r_t.values()) if r_t else None
    src = "TP4" if opt.family == "sgd" else "TP4b"
    checks: list[Check] = []
    for t in [t for t in feats if t.init != "zero"] + outs + scalars:
        al = t.fan_in_exponent
        v = th[t.name] - al / 2
        feature = t.role in ("input", "hidden")
        what = f"preactivations of {t.name} {'vanish' if v > 0 else 'blow up'}"
        checks.append(
            Check(
                f"init({t.name})", "init", f"a + b - {al / 2}", v, "==" if feature else ">=",
                f"{what if feature else 'the output blows up'} at init like n^{-v}", src,
            )
        )  # fmt: skip
    for t in (t for t in feats if t.name in r_t):
        checks.append(
            Check(
                f"training({t.name})", "training", "r_t", r_t[t.name], ">=",
                f"features of {t.name} blow up in training like n^{-r_t[t.name]}", src,
            )
        )  # fmt: skip
    r_self = {
        o.name: sp.Rational(output_self_r(opt, o, lam[o.name], alignment))
        for o in outs + scalars
        if not o.frozen
    }
    via = {}
    for o in outs + scalars:
        if o.name in r_self:
            checks.append(
                Check(
                    f"training-self({o.name})", "training", "r_self", r_self[o.name], ">=",
                    f"the output blows up from {o.name}'s own update like "
                    f"n^{-r_self[o.name]}", src,
                )
            )  # fmt: skip
        if r is not None:
            via[o.name] = sp.Rational(output_from_features(o, th[o.name], r))
            checks.append(
                Check(
                    f"training-features({o.name})", "training", "a + b + r - alpha",
                    via[o.name], ">=", "the output blows up from the feature updates", src,
                )
            )  # fmt: skip
        if opt.family == "entrywise" and o.role == "output" and not o.frozen:
            upd = update_entry_exponent(opt, o, lam[o.name], 0)
            checks.append(
                Check(
                    f"readout-update({o.name})", "training", "e_update - (a + b)",
                    sp.Rational(upd - th[o.name]), ">=",
                    f"{o.name}'s update entries exceed its initialisation (TP4b: b_out <= "
                    "c_out for entrywise updates)",
                    "TP4b",
                )
            )  # fmt: skip
    movers = outs or scalars
    nontrivial = any(r_self.get(o.name) == 0 or via.get(o.name) == 0 for o in movers)
    checks.append(
        Check(
            "nontrivial", "nontrivial", "min(r_self, a + b + r - alpha)",
            sp.Integer(0) if nontrivial else sp.Integer(1), "==",
            "the output does not move at infinite width", src,
        )
    )  # fmt: skip
    stable = all(c.ok for c in checks if c.stage != "nontrivial")
    if not stable:
        regime = "unstable"
    elif not nontrivial:
        regime = "trivial"
    elif r is None or r > 0:
        regime = "kernel"
    else:
        regime = "feature_learning"
    maximal = (
        regime == "feature_learning"
        and all(v == 0 for v in r_t.values())
        and all(v == 0 for v in r_self.values())
        and all(via.get(o.name, 0) == 0 for o in outs)
    )
    # The first step back-propagates through the readout at init (w0 = theta_o); TP4's w is
    # the size after the readout has been updated, which holds from the second step on.
    w0 = min(th[o.name] for o in outs)
    r_t0 = _feature_rs(net, opt, feats, th, lam, w0, alignment)
    r0 = min(r_t0.values()) if r_t0 else None
    via0 = {} if r0 is None else {
        o.name: sp.Rational(output_from_features(o, th[o.name], r0)) for o in outs + scalars
    }  # fmt: skip
    return Classification(
        regime, r, maximal, sp.Rational(w), r_t, tuple(checks),
        _predictions(net, th, r_t, r_self, via, outs), _notes(opt, regime),
        _predictions(net, th, r_t0, r_self, via0, outs),
    )  # fmt: skip


def _feature_rs(net, opt, feats, th, lam, w, alignment) -> dict[str, sp.Rational]:
    """``r_t`` of every trained feature tensor, each with the backward signal reaching it."""
    back = backward_exponents(net, opt, th, lam, w)
    return {
        t.name: sp.Rational(feature_r(opt, t, lam[t.name], back[t.name], alignment))
        for t in feats
        if not t.frozen
    }


def _predictions(net, th, r_t, r_self, via, outs) -> dict:
    """Width exponents of measured quantities (positive: grows with n).

    ``predicted`` holds from the second step on (TP4's asymptotic ``w``); the first step sees
    the readout at init, so ``predicted_first_step`` uses ``w0 = theta_o``. They differ only
    when the readout's update outgrows its init (SP at a fixed learning rate: the input
    layer moves like ``n^{-1/2}`` at step 1, then Theta(1)). Feature movement accumulates
    along the forward order of ``net.tensors``.
    """
    act, move = {}, {}
    running = None
    for t in net.tensors:
        if t.name in r_t:
            act[t.name] = str(t.fan_in_exponent / 2 - th[t.name])
            running = r_t[t.name] if running is None else min(running, r_t[t.name])
            move[t.name] = str(-running)
    o = max(outs, key=lambda t: t.fan_in_exponent)
    init = o.fan_in_exponent / 2 - th[o.name]
    moving = max(-x[o.name] for x in (r_self, via) if o.name in x)
    return {
        "activation_rms": act,
        "feature_movement_rms": move,
        "output_rms": str(max(init, moving)),
        "output_movement_rms": str(moving),
        "output_init_rms": str(init),
    }


def _notes(opt: Optimizer, regime: str) -> tuple[str, ...]:
    notes = []
    if opt.family == "sgd":
        notes.append(
            "TP4 states its conditions for one global learning-rate exponent c; per-tensor c "
            "follows the per-layer form of TP4b, which reduces to TP4 when all c agree."
        )
    return tuple(notes)
