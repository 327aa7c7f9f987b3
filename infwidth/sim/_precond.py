"""Finite-size check of the second-order rules: K-FAC / Shampoo / FOOF / SOAP update sizes vs width.

A three-layer MLP ``d_in -> n -> n -> d_out`` (tanh, no multipliers: the ``no-multipliers``
gauge of the derived table) takes one preconditioned step from its muP init at several widths:

.. math:: \\Delta W_t = -\\eta\\, n^{l_t}\\,(P_{out} + \\lambda n^{k^{out}_t} I)^{-q}\\, G_t\\,
          (P_{in} + \\lambda n^{k^{in}_t} I)^{-q'}

with the optimiser's factors (K-FAC: ``B = g^T g / B``, ``A = X^T X / B``, ``q = q' = 1``;
Shampoo: ``G G^T`` and ``G^T G``, ``q = q' = 1/4``; FOOF: ``A`` only; SOAP: one Adam step in
the eigenbasis ``Q_L, Q_R`` of Shampoo's factors, ``Delta W = -eta Q_L [G'/(|G'| + eps)] Q_R^T``
with ``G' = Q_L^T G Q_R`` and ``eps = lambda n^{k^{eigen}_t}``), learning-rate exponent
``l_t`` and damping exponents ``k_t`` read from the derived table (``rule="derived"``) or with
every damping exponent set to 0 (``rule="fixed-damping"``: one width-independent damping, the
practice the derivation warns against). Two quantities per tensor, RMS per seed:

* ``update_rms``: the entries of ``Delta W_t``, predicted ``n^{-e_t}`` with ``e_t`` the update's
  entry exponent (``_scaling.update_entry_exponent``);
* ``feature_update_rms``: ``(X Delta W_t)`` on the same batch, what the update moves the
  tensor's output by: predicted flat (``-r_t = 0``, every layer maximal).

Slopes: :func:`infwidth._fit.fit_exponent`; verdicts: :func:`infwidth._fit.verdict`.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import WIDTH, Slope
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from ..symbolic._scaling import backward_exponents, update_entry_exponent
from . import _axis_check as ax

Rule = Literal["derived", "fixed-damping"]
TENSORS = ("W1", "W2", "W3")
PRECONDITIONED = ("kfac", "shampoo", "foof", "soap")
#: The damping fields each optimiser reads from the table, in ``_step``'s order.
DAMPINGS = {"soap": ("damping_eigen",)}


def mlp_table(optimizer: str, **kw) -> tuple[object, dict[str, dict[str, str]]]:
    """The derived ``mlp`` table in the no-multipliers gauge and its width fields per tensor."""
    d = derive(builtin("mlp"), optimizer, gauge="no-multipliers", **kw)
    return d, {t: d.width_json(t) for t in TENSORS}


def predicted_slopes(d) -> dict[tuple[str, str], Fraction]:
    """``(tensor, quantity) -> predicted width exponent`` of the module's two quantities."""
    net, opt = d.network, d.optimizer
    th, lam = ax.step_exps(opt, {t: (e.a, e.b, e.c) for t, e in d.exponents.items()})
    back = backward_exponents(net, opt, th, lam, d.classification.backward)
    out = {}
    for t in net.tensors:
        w = back[t.name] if t.role != "output" else 0
        e = update_entry_exponent(opt, t, lam[t.name], w)
        out[(t.name, "update_rms")] = Fraction(str(-e))
        out[(t.name, "feature_update_rms")] = -ax.update_r(opt, t, lam[t.name], w, d.alignment)
    return out


def _inv_root(m, power: float, damping: float):
    """``(m + damping I)^{-power}`` of a symmetric PSD matrix (eigendecomposition)."""
    vals, vecs = jnp.linalg.eigh(m)
    vals = jnp.maximum(vals, 0.0) + damping
    return (vecs * vals**-power) @ vecs.T


def mlp_grads(params: dict, x, y):
    """Per tensor: its input ``X_t`` (batch, fan_in), the per-sample gradient ``g_t`` on its
    output (batch, fan_out; ``B * dL/dh`` for the batch-mean loss) and ``G_t = dL/dW_t``."""

    def forward(hs):
        h1 = hs[0]
        a1 = jnp.tanh(h1)
        h2 = a1 @ params["W2"] + hs[1]
        a2 = jnp.tanh(h2)
        f = a2 @ params["W3"] + hs[2]
        return 0.5 * jnp.mean(jnp.sum((f - y) ** 2, axis=1)), (a1, a2)

    h1 = x @ params["W1"]
    zeros = (h1, jnp.zeros((x.shape[0], params["W2"].shape[1])),
             jnp.zeros((x.shape[0], params["W3"].shape[1])))  # fmt: skip
    (_, (a1, a2)), gh = jax.value_and_grad(forward, has_aux=True)(zeros)
    inputs = {"W1": x, "W2": a1, "W3": a2}
    return {
        t: (inputs[t], g * x.shape[0], inputs[t].T @ g) for t, g in zip(TENSORS, gh, strict=True)
    }


def _step(optimizer: str, X, g, G, lr: float, d_out: float, d_in: float = 0.0):
    """One preconditioned update of ``W`` (shape fan_in x fan_out, ``h = X W``); SOAP's one
    damping (Adam's epsilon in the eigenbasis) comes as ``d_out``."""
    b = X.shape[0]
    if optimizer == "soap":
        # Adam's first step from zero moments (bias-corrected): m = G', v = G'^2
        ql, qr = jnp.linalg.eigh(G @ G.T)[1], jnp.linalg.eigh(G.T @ G)[1]
        rot = ql.T @ G @ qr
        return -lr * ql @ (rot / (jnp.abs(rot) + d_out)) @ qr.T
    if optimizer == "kfac":
        return -lr * _inv_root(X.T @ X / b, 1.0, d_in) @ G @ _inv_root(g.T @ g / b, 1.0, d_out)
    if optimizer == "shampoo":
        return -lr * _inv_root(G @ G.T, 0.25, d_in) @ G @ _inv_root(G.T @ G, 0.25, d_out)
    return -lr * _inv_root(X.T @ X / b, 1.0, d_in) @ G  # foof


def mlp_draw(seed: int, n: int, width: dict, d_in: int, d_out: int, batch: int):
    """``(params, x, y)``: the three-layer MLP at width ``n`` drawn at the table's init
    (variance ``n^{b_t}`` times ``1/d_in`` for ``W1``) and one Gaussian batch, from ``seed``."""
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    x = jax.random.normal(k[0], (batch, d_in))
    y = jax.random.normal(k[1], (batch, d_out))
    shapes = {"W1": (d_in, n), "W2": (n, n), "W3": (n, d_out)}
    sc = {t: n ** float(Fraction(width[t]["init_variance"])) for t in shapes}
    return ax.draw(k[2:], shapes, lambda t, _: sc[t], {"W1": 1.0 / d_in}), x, y


def _run(seed: int, n: int, optimizer: str, width: dict, cfg) -> list[float]:
    d_in, d_out, batch, lr, damping, rule = cfg
    params, x, y = mlp_draw(seed, n, width, d_in, d_out, batch)
    lrs, damps = {}, {}
    for t in TENSORS:
        f = width[t]
        lrs[t] = lr * n ** float(Fraction(f["learning_rate"]))
        damps[t] = tuple(
            damping if key not in f or rule == "fixed-damping"
            else damping * n ** float(Fraction(f[key]))
            for key in DAMPINGS.get(optimizer, ("damping_out", "damping_in"))
        )  # fmt: skip
    return [float(v) for v in _measure(optimizer)(params, x, y, lrs, damps)]


@functools.cache
def _measure(optimizer: str):
    """The jitted step-and-measure of ``optimizer`` (one compilation per width)."""

    def measure(params, x, y, lrs, damps):
        grads = mlp_grads(params, x, y)
        out = []
        for t in TENSORS:
            X, g, G = grads[t]
            step = _step(optimizer, X, g, G, lrs[t], *damps[t])
            out += [jnp.sqrt(jnp.mean(step**2)), jnp.sqrt(jnp.mean((X @ step) ** 2))]
        return jnp.stack(out)

    return jax.jit(measure)


@ax.in_float32
def precond_check(
    optimizer: str = "kfac",
    *,
    rule: Rule = "derived",
    widths: tuple[int, ...] = (128, 256, 512, 1024),
    seeds: int = 3,
    lr: float = 0.1,
    damping: float = 1.0,
    batch: int = 8,
    tol: float = 0.15,
) -> list[Slope]:
    """One preconditioned step (``optimizer`` in :data:`PRECONDITIONED`) at every width; fitted slopes of the two quantities per tensor
    with the derived prediction and a verdict (module docstring)."""
    if optimizer not in PRECONDITIONED:
        raise InfwidthError(f"precond_check steps {', '.join(PRECONDITIONED)}, got {optimizer!r}")
    if rule not in ("derived", "fixed-damping"):
        raise InfwidthError(f"rule is 'derived' or 'fixed-damping', got {rule!r}")
    d, width = mlp_table(optimizer)
    pred = predicted_slopes(d)
    cfg = (16, 4, batch, lr, damping, rule)
    values = np.array([[_run(s, n, optimizer, width, cfg) for s in range(seeds)] for n in widths])
    return _judge(widths, values, pred, tol)


def _judge(sizes, values, pred: dict, tol: float) -> list[Slope]:
    """Fit ``values[:, :, i]`` for the ``i``-th ``(tensor, quantity)`` of ``pred`` (its
    predicted slope) and judge it."""
    out = []
    for i, ((t, q), p) in enumerate(pred.items()):
        s, lo, hi, v, why = ax.judge(sizes, values[:, :, i], p, tol=tol, design=WIDTH)
        out.append(Slope(t, q, 1, s, lo, hi, p, v, why))
    return out
