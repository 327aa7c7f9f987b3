"""SAM's perturbation radius and per-layer perturbation scaling (muP², Haas et al. 2024).

SAM evaluates the gradient at ``w + eps`` with, per trained tensor ``t``,

.. math:: \\epsilon_t = \\rho\\, n^{R}\\, n^{P_t}\\, \\frac{g_t}{\\lVert g \\rVert},
          \\qquad \\lVert g \\rVert^2 = \\sum_t \\lVert g_t \\rVert^2,

``g_t = dL/dw_t``: ``R`` is the radius exponent (``perturbation_radius``) and ``P_t`` the
layer's perturbation scaling (``perturbation``); standard SAM has every ``P_t = 0``. The
ascent step is a normalised gradient whatever the optimiser, so it acts on ``W_eff`` like an
SGD step with learning-rate exponent ``c^eps_t = G - R - P_t``, where ``n^G`` is the size of
``||g||``: ``||g_t|| = n^{-a} |delta| |x| = n^{-a - (w_t - tau) + (beta + alpha)/2}`` (the
largest term dominates the sum: the *smallest* exponent when the axis shrinks).

Desideratum ("every layer effectively perturbed"): each tensor's perturbation moves its output
features (readouts: the output) by Theta(1), the SGD ``maximal`` / ``output`` equations with
the base parametrization's ``a`` and backward signal ``w``: ``c^eps_t = -r_t(c = 0)``. The pair
``(R, P_t)`` has one symmetry, ``R -> R + s, P_t -> P_t - s``; the gauge ``P = 0`` on the main
readout (standard SAM's readout) fixes it, so ``R = G - c^eps_out`` and ``P_t = c^eps_out -
c^eps_t``. Under standard SAM (``P_t = 0``) tensor ``t``'s perturbation moves its features
like ``n^{-P_t}``: it vanishes wherever the derived ``P_t > 0``, which is the paper's finding
that standard SAM at large width perturbs only the last layer.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..spec import NetworkSpec
from ._optimizers import Optimizer, get_optimizer
from ._parametrization import TensorExponents
from ._scaling import Alignment, backward_exponents, feature_r, output_self_r, step_exponent, theta

PERTURBATIONS = ("sam",)


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """Radius exponent ``R`` and per-tensor scalings ``P_t`` (powers of one axis)."""

    radius: sp.Rational
    layers: dict[str, sp.Rational]
    gradient_norm: sp.Rational


def sam_scaling(
    net: NetworkSpec,
    exps: dict[str, TensorExponents],
    opt: Optimizer,
    w: sp.Rational,
    alignment: Alignment,
    *,
    shrinks: bool = False,
) -> Perturbation:
    """Derive ``R`` and ``P_t`` (module docstring) from a solved parametrization."""
    sgd = get_optimizer("sgd")
    th = {t.name: theta(exps[t.name].a, exps[t.name].b) for t in net.tensors}
    lam = {t.name: step_exponent(opt, exps[t.name].a, exps[t.name].b, exps[t.name].c)
           for t in net.tensors}  # fmt: skip
    back = backward_exponents(net, opt, th, lam, w)
    c_eps: dict[str, sp.Rational] = {}
    norms = []
    for t in net.tensors:
        if t.frozen or t.tied_to is not None:
            continue
        a = exps[t.name].a
        if t.role in ("input", "hidden"):
            r0 = feature_r(sgd, t, 2 * a, back[t.name], alignment)
            signal = back[t.name]
        else:
            r0 = output_self_r(sgd, t, 2 * a, alignment)
            signal = 0
        c_eps[t.name] = sp.Rational(-sp.expand(r0))
        norms.append(
            -a - (signal - t.token_exponent) + (t.fan_out_exponent + t.fan_in_exponent) / 2
        )
    g = sp.Rational(min(norms) if shrinks else max(norms))
    outs = [t for t in net.tensors if t.role == "output" and t.name in c_eps]
    main = max(outs, key=lambda t: t.fan_in_exponent).name if outs else next(iter(c_eps))
    radius = g - c_eps[main]
    return Perturbation(radius, {k: c_eps[main] - v for k, v in c_eps.items()}, g)


def standard_sam_note(p: Perturbation, axis: str = "n") -> str | None:
    """Which tensors standard SAM (every ``P_t = 0``) fails to perturb, and how fast."""
    lost = [f"{k} (like {axis}^-{v})" for k, v in p.layers.items() if v > 0]
    if not lost:
        return None
    return (
        f"Standard SAM (one radius, no per-layer scaling) at the derived radius {axis}^{p.radius} "
        f"perturbs only the layers whose perturbation scaling is {axis}^0; the perturbation of "
        f"{', '.join(lost)} vanishes as {axis} grows (muP², Haas et al. 2024: effectively only "
        "the last layer is perturbed)."
    )
