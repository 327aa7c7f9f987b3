"""Alignment over training (Everett et al. 2024): how far each layer's update is aligned with
its input, measured at several widths and fitted against width.

For a layer :math:`h = x W` (``W``: one parameter leaf, ``h``: the feature it writes,
read by Jacobian-vector products so any layout works) after ``t`` steps,
:math:`\\Delta W = W_t - W_0` and :math:`\\Delta x = x_t - x_0`, the change of its output splits as
:math:`h_t - h_0 = \\Delta W\\,x_t + W_0\\,\\Delta x`, with :math:`\\Delta W\\,x_t = \\Delta W\\,x_0 +
\\Delta W\\,\\Delta x`. Each term is compared with a random Gaussian matrix :math:`G` of the same
shape acting on the same vector:

.. math:: A_{\\Delta W x} = \\frac{\\mathrm{RMS}(\\Delta W\\,x_t)}
                                {\\mathrm{RMS}(\\Delta W)\\,\\mathrm{RMS}(G\\,x_t)},\\quad
          A_{W \\Delta x} = \\frac{\\mathrm{RMS}(W_0\\,\\Delta x)}
                                {\\mathrm{RMS}(W_0)\\,\\mathrm{RMS}(G\\,\\Delta x)},\\quad
          A_{\\Delta W \\Delta x} = \\frac{\\mathrm{RMS}(\\Delta W\\,\\Delta x)}
                                {\\mathrm{RMS}(\\Delta W)\\,\\mathrm{RMS}(G\\,\\Delta x)}.

Over a fan-in :math:`\\propto n^{k}` a sum of :math:`n^k` products grows like
:math:`n^{\\kappa k}` with :math:`\\kappa = 1` when the two factors are aligned (law of large
numbers) and :math:`\\kappa = 1/2` when they are not (central limit, as for :math:`G`). So
:math:`A \\propto n^{(\\kappa - 1/2)k}` and, with the slope :math:`s` of
:func:`infwidth._fit.fit_exponent` of :math:`A` against width,

.. math:: \\kappa = \\tfrac12 + s / k,

Everett et al.'s alignment exponent on the scale of ``derive(..., alignment=...)``: ``full``
is :math:`\\kappa = 1`, ``none`` :math:`\\kappa = 1/2`. A layer leaves the assumed regime at the
first recorded step where :math:`|\\kappa_{\\Delta W x} - \\kappa_{\\rm assumed}| > ` ``tol``; its
learning-rate exponent is re-derived under the alignment nearest the last measured
:math:`\\kappa_{\\Delta W x}` and the difference is reported. Layers whose fan-in does not grow
(:math:`k = 0`) have no width exponent to measure and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._fit import fit_exponent
from ._model import UserModel, build
from ._train import train

TERMS = ("dW_x", "W_dx", "dW_dx")
KAPPA = {"full": 1.0, "none": 0.5}


class Layer(NamedTuple):
    """A tensor to follow: table name, leaf index, the feature it writes, fan-in exponent."""

    tensor: str
    leaf: int
    feature: str
    k_in: Fraction


def checkpoints(steps: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``steps`` (and ``steps``)."""
    out = [2**j for j in range(int(np.log2(steps)) + 1)]
    return tuple(sorted(set(out) | {steps}))


def _rms(x: jax.Array) -> float:
    return float(jnp.sqrt(jnp.mean(jnp.square(x))))


def _ratios(model: UserModel, layers: Sequence[Layer], steps: int) -> dict:
    """``{(tensor, term): [A at each checkpoint]}`` at one width (NaN where undefined)."""
    keep = checkpoints(steps)
    _, kept = train(model, steps, keep=(0, *keep))
    batch = model.first_batch()
    leaves0, tdef = jax.tree.flatten(model.params)

    @jax.jit
    def jvp(params, tangent):
        f = lambda p: dict(model.features(p, batch))  # noqa: E731
        return jax.jvp(f, (params,), (tangent,))[1]

    @jax.jit
    def feats(params):
        return dict(model.features(params, batch))

    def along(leaves, i, t):
        tang = [jnp.zeros_like(x) for x in leaves]
        tang[i] = t
        return jax.tree.unflatten(tdef, tang)

    out: dict[tuple[str, str], list[float]] = {}
    f0 = feats(model.params)
    for lay in layers:
        i, name = lay.leaf, lay.feature
        w0 = leaves0[i]
        g = jr.normal(jr.PRNGKey(7 + i), jnp.shape(w0), jnp.result_type(w0))
        g0 = jvp(model.params, along(leaves0, i, g))[name]
        a, b, c = [], [], []
        for t in keep:
            lt = jax.tree.leaves(kept.get(t, {})) or None
            if lt is None:  # diverged before t
                a.append(np.nan), b.append(np.nan), c.append(np.nan)
                continue
            pt = kept[t]
            dw = lt[i] - w0
            gt = jvp(pt, along(lt, i, g))[name]
            dwx = jvp(pt, along(lt, i, dw))[name]
            dwx0 = jvp(model.params, along(leaves0, i, dw))[name]
            swapped = list(lt)
            swapped[i] = w0
            wdx = feats(jax.tree.unflatten(tdef, swapped))[name] - f0[name]
            n_dw, n_w0, n_gdx = _rms(dw), _rms(w0), _rms(gt - g0)
            a.append(_rms(dwx) / (n_dw * _rms(gt)) if n_dw > 0 else np.nan)
            b.append(_rms(wdx) / (n_w0 * n_gdx) if n_w0 > 0 and n_gdx > 0 else np.nan)
            c.append(_rms(dwx - dwx0) / (n_dw * n_gdx) if n_dw > 0 and n_gdx > 0 else np.nan)
        out[(lay.tensor, "dW_x")], out[(lay.tensor, "W_dx")] = a, b
        out[(lay.tensor, "dW_dx")] = c
    return out


def _kappa(widths: Sequence[int], values: np.ndarray, k: Fraction) -> float | None:
    fit = fit_exponent(widths, values, n_boot=0)
    return None if fit is None else 0.5 + fit.slope / float(k)


def alignment_report(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    layers: Sequence[Layer],
    *,
    steps: int = 16,
    assumed: str = "full",
    tol: float = 0.25,
    lr_exponents: Callable[[str], dict[str, Fraction]] | None = None,
) -> list[dict[str, Any]]:
    """Per layer with a growing fan-in: the alignment exponents ``kappa[term][checkpoint]``,
    the step it leaves the ``assumed`` regime (``None``: never), the nearest regime and the
    learning-rate exponents derived under both (``lr_exponents(alignment)``; module
    docstring)."""
    layers = [lay for lay in layers if lay.k_in > 0]
    if not layers:
        return []
    widths = sorted(int(w) for w in widths)
    per = [_ratios(build(make, w), layers, steps) for w in widths]
    keep = checkpoints(steps)
    derived = {}
    if lr_exponents is not None:
        derived = {a: lr_exponents(a) for a in KAPPA}
    out = []
    for lay in layers:
        kappa = {
            term: [
                _kappa(widths, np.array([p[(lay.tensor, term)][j] for p in per]), lay.k_in)
                for j in range(len(keep))
            ]
            for term in TERMS
        }
        main = kappa["dW_x"]
        left = next(
            (s for s, k in zip(keep, main, strict=True)
             if k is not None and abs(k - KAPPA[assumed]) > tol), None,
        )  # fmt: skip
        last = next((k for k in reversed(main) if k is not None), None)
        nearest = None if last is None else min(KAPPA, key=lambda a: abs(KAPPA[a] - last))
        row = {
            "tensor": lay.tensor,
            "feature": lay.feature,
            "fan_in_exponent": str(lay.k_in),
            "steps": list(keep),
            "kappa": {t: [None if k is None else round(k, 3) for k in v] for t, v in kappa.items()},
            "assumed": assumed,
            "left_assumed_at_step": left,
            "nearest": nearest,
        }
        if derived and nearest is not None:
            row["learning_rate_exponent"] = {
                a: str(derived[a].get(lay.tensor)) for a in KAPPA if lay.tensor in derived[a]
            }
        row["sentence"] = sentence(row)
        out.append(row)
    return out


def sentence(row: dict[str, Any]) -> str:
    """One layer's alignment in words."""
    k = [x for x in row["kappa"]["dW_x"] if x is not None]
    t, a = row["tensor"], row["assumed"]
    if not k:
        return f"`{t}`: alignment not measurable (no update, or every width diverged)."
    s = (
        f"`{t}`: Delta W x alignment kappa = {k[0]:.2f} at step {row['steps'][0]}, "
        f"{k[-1]:.2f} at step {row['steps'][-1]} (full 1, none 1/2; assumed {a})"
    )
    if row["left_assumed_at_step"] is None:
        return s + f"; it stays in the {a}-alignment regime."
    s += f"; it leaves the {a}-alignment regime at step {row['left_assumed_at_step']}"
    lr = row.get("learning_rate_exponent") or {}
    near = row["nearest"]
    if near != a and a in lr and near in lr and lr[a] != lr[near]:
        return s + (
            f"; derived under {near} alignment its learning rate scales as n^{lr[near]} "
            f"instead of n^{lr[a]}."
        )
    return s + (f", nearer {near} alignment" if near != a else "") + "."
