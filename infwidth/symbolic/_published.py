"""Where a derivation along an extra axis and a published rule disagree: say so, with both.

Three readings the size desiderata of ``_derive.py`` do not settle on their own:

* **Spectral condition** (Yang, Simon, Bernstein 2023): ``sigma = fan_in^{-1/2}
  min(1, sqrt(fan_out / fan_in))``, i.e. init variance ``X^{-alpha + min(0, beta - alpha)}``
  along an axis ``X``. The derived init keeps every *output coordinate* Theta(1); the two part
  when ``fan_out`` shrinks against ``fan_in`` along ``X``: a rank-deficient map such as
  grouped-query attention's shared K/V (``n -> n/g``), which GQA-μP (arXiv 2605.15290)
  treats with a modified spectral norm.
* **Head diversity** (Bordelon, Chaudhry, Pehlevan 2024): the logits ``q.k / N^{alpha_A}``.
  The derived multiplier is muP's ``alpha_A = 1`` (trained ``q``, ``k`` are correlated); with
  it the heads collapse to one as the head size ``N`` grows, with ``alpha_A = 1/2`` they stay
  diverse. Diversity is a fluctuation criterion, which no size desideratum here expresses.
* **Large vocabulary** (Hayou & Liu 2025, arXiv 2506.15025, abstract): when the vocabulary
  grows much faster than the width, the optimal embedding-to-hidden Adam learning-rate ratio
  is ``Theta(sqrt(n))``, not muP's ``Theta(n)``.

Each note is triggered by the spec's data (fans, axes, kinds), never by an architecture name.
"""

from __future__ import annotations

import sympy as sp

from ..spec import NetworkSpec, axis_exponent
from ._optimizers import Optimizer
from ._parametrization import TensorExponents


def spectral_init_exponent(alpha: sp.Rational, beta: sp.Rational) -> sp.Rational:
    """Init-variance exponent of the spectral condition along an axis:
    ``sigma^2 = fan_in^{-1} min(1, fan_out/fan_in)`` with ``fan_in ~ X^alpha``,
    ``fan_out ~ X^beta`` (taken in the limit ``X -> infinity``)."""
    return -alpha + min(sp.Integer(0), beta - alpha)


def published_axis_notes(
    net: NetworkSpec,
    width: dict[str, TensorExponents],
    axes: dict,
    opt: Optimizer,
) -> tuple[str, ...]:
    """Notes, one per disagreement, for the axes of ``net`` (``axes``: ``solve_axes``'s)."""
    return (
        *_spectral_notes(net, axes),
        *_head_notes(net, axes),
        *_vocabulary_notes(net, width, axes, opt),
    )


def _spectral_notes(net: NetworkSpec, axes: dict) -> list[str]:
    notes = []
    for axis, sol in axes.items():
        view = net.along(axis)
        for t in view.tensors:
            if t.role != "hidden" or t.init == "zero" or t.feeds is not None:
                continue
            derived = -2 * sol.exponents[t.name].b
            spectral = spectral_init_exponent(t.fan_in_exponent, t.fan_out_exponent)
            if derived != spectral:
                notes.append(
                    f"{t.name}: the derived init variance along {axis} is {axis}^{derived} "
                    f"(every output coordinate Theta(1)); the spectral condition (Yang, Simon, "
                    f"Bernstein 2023: sigma = fan_in^-1/2 min(1, sqrt(fan_out/fan_in))) gives "
                    f"{axis}^{spectral}. They differ because fan_out shrinks against fan_in "
                    f"along {axis} (a rank-deficient map, as GQA's shared K/V; GQA-μP measures "
                    "it with a modified spectral norm): the spectral rule bounds the stored "
                    "matrix's norm, the derived one the size of what it outputs."
                )
    return notes


def _head_notes(net: NetworkSpec, axes: dict) -> list[str]:
    """Heads grow along ``X`` (attention tensors' fans grow, the logit contraction does not)
    and the head size along the width: the derived ``alpha_A = 1`` vs diversity's ``1/2``."""
    notes = []
    for op in net.operations:
        k = axis_exponent(op.contracted, "n")
        heads = [
            x
            for x in axes
            if axis_exponent(op.contracted, x) == 0
            and any(t.kind == "attention" and axis_exponent(t.fan_in, x) > 0 for t in net.tensors)
        ]
        if op.kind != "attention_logits" or k <= 0 or not heads:
            continue
        notes.append(
            f"{op.name}: along {heads[0]} (more heads of a fixed size) the derived logit "
            f"multiplier is {heads[0]}^0; along the head size (the width) it is n^{-k} "
            f"(alpha_A = 1, muP's 1/d_head). Bordelon, Chaudhry, Pehlevan (2024) show that with "
            f"alpha_A = 1 the heads collapse to one as the head size grows (the across-head "
            f"variance falls), while alpha_A = 1/2 (n^{-k / 2}) keeps them diverse. Head "
            "diversity is a fluctuation criterion that these size desiderata do not express: "
            "the engine derives alpha_A = 1 and cannot derive 1/2."
        )
    return notes


def _vocabulary_notes(
    net: NetworkSpec, width: dict[str, TensorExponents], axes: dict, opt: Optimizer
) -> list[str]:
    """An embedding whose vocabulary is an axis, under an Adam-like (normalised) step."""
    if opt.gradient_power != 0 or opt.structure != "entrywise":
        return []
    hidden = [t.name for t in net.tensors if t.role == "hidden" and not t.frozen]
    notes = []
    for t in net.tensors:
        vocab = [x for x in axes if t.kind == "embedding" and axis_exponent(t.fan_in, x) > 0]
        if not vocab or not hidden:
            continue
        ratio = width[hidden[0]].c - width[t.name].c
        notes.append(
            f"{t.name}: the derived {opt.name} embedding-to-hidden learning-rate ratio is "
            f"n^{ratio} along the width and {vocab[0]}^"
            f"{axes[vocab[0]].exponents[hidden[0]].c - axes[vocab[0]].exponents[t.name].c} "
            f"along the vocabulary, so n^{ratio} whatever {vocab[0]}; Hayou & Liu (2025, "
            "abstract) find Theta(n^1/2) when the vocabulary grows much faster than the "
            "width (their large-vocabulary regime), not muP's Theta(n). Their analysis follows "
            "how the ~1/V token frequencies enter Adam's normalised row updates over many "
            "steps; the desiderata here see one normalised step, where the frequency drops out."
        )
    return notes
