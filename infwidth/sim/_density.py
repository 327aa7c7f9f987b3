"""A finite-size check along the weight density: is the derived sparse rule flat in ``rho``?

A three-layer MLP ``d_in -> n -> n -> d_out`` (tanh) at a fixed width ``n`` whose hidden
matrix is masked by a static random mask of density ``rho`` (SμPar's setting), trained with
SGD or Adam for a few steps at several densities. Its scalings come from the derived table of
the ``sparse-mlp`` built-in: per tensor, init std and learning rate

.. math:: \\sigma^2 = n^{v_n} \\rho^{v_\\rho},\\qquad \\eta_t = \\eta\\, n^{l_n} \\rho^{l_\\rho}

(``rule="derived"``), or the same table with every ``rho`` exponent dropped
(``rule="mup"``: plain muP, blind to the density). Two quantities of the masked layer are
measured, as RMS over batch and units, per seed:

* ``activation_rms``: its preactivation ``(W_2 \\odot M) x`` at init;
* ``update_rms``: what its own update moves that preactivation by,
  ``((W_2^{(t)} - W_2^{(0)}) \\odot M) x`` (the ``maximal(W2)`` desideratum's quantity).

Their log-log slopes against ``rho`` (:func:`infwidth._fit.fit_exponent`, seeds averaged,
bootstrap interval) are judged (:func:`infwidth._fit.verdict`) against the engine's
prediction along ``rho``: ``alpha/2 - theta`` for the activation and ``-r`` for the update,
with ``r = lambda + p w - alpha`` (``_scaling.feature_r`` on the network seen along ``rho``).
The derived rule predicts 0 and 0; plain muP predicts ``+1/2`` and ``+1``: both vanish as
``rho -> 0``. The density design asks for 3 densities spanning 4x with at least 64
non-zero terms per row (``n rho >= 64``), the width design's floor on a contraction count.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import Design
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from . import _axis_check as ax

Rule = Literal["derived", "mup"]
QUANTITIES = ("activation_rms", "update_rms")
#: The masked layer's name in the ``sparse-mlp`` built-in.
MASKED = "W2"
#: At least this many non-zero terms per row at the smallest density (the width floor).
MIN_TERMS = 64


def _activation_slope(d, rho: dict) -> Fraction:
    """``alpha/2 - theta`` along ``rho`` of the masked layer's preactivation at init, under
    the exponents ``rho`` (one section per tensor)."""
    e = rho[MASKED]
    theta = -Fraction(e["multiplier"]) - Fraction(e["init_variance"]) / 2
    return Fraction(str(d.network.along("rho").tensor(MASKED).fan_in_exponent)) / 2 - theta


def _run(seed: int, n: int, rho: float, optimizer: str, secs, cfg) -> tuple[float, float]:
    """One network at density ``rho``: (activation RMS at init, RMS of its own update)."""
    d_in, d_out, batch, steps, lr = cfg
    keys = jax.random.split(jax.random.PRNGKey(seed), 6)
    x = jax.random.normal(keys[0], (batch, d_in))
    y = jax.random.normal(keys[1], (batch, d_out))
    mask = jax.random.bernoulli(keys[2], rho, (n, n)).astype(jnp.float32)

    def scale(t: str, field: str) -> float:
        return ax.scale(*secs, t, field, n, rho)

    shapes = {"W1": (d_in, n), "W2": (n, n), "W3": (n, d_out)}
    params = ax.draw(keys[3:], shapes, scale, {"W1": 1 / d_in})
    lrs = {t: lr * scale(t, "learning_rate") for t in shapes}

    def hidden(p):
        return jnp.tanh(x @ p["W1"])

    def loss(p):
        out = jnp.tanh(hidden(p) @ (p["W2"] * mask)) @ p["W3"]
        return 0.5 * jnp.mean(jnp.sum((out - y) ** 2, axis=1))

    grad = jax.jit(jax.grad(loss))
    p, m, v = params, {t: 0.0 for t in shapes}, {t: 0.0 for t in shapes}
    for step in range(1, steps + 1):
        g = grad(p)
        if optimizer == "sgd":
            p = {t: p[t] - lrs[t] * g[t] for t in shapes}
        else:  # Adam, bias-corrected, epsilon negligible
            m = {t: 0.9 * m[t] + 0.1 * g[t] for t in shapes}
            v = {t: 0.999 * v[t] + 0.001 * g[t] ** 2 for t in shapes}
            mh = {t: m[t] / (1 - 0.9**step) for t in shapes}
            vh = {t: v[t] / (1 - 0.999**step) for t in shapes}
            p = {t: p[t] - lrs[t] * mh[t] / (jnp.sqrt(vh[t]) + 1e-30) for t in shapes}
    x1 = hidden(params)
    act = jnp.sqrt(jnp.mean((x1 @ (params["W2"] * mask)) ** 2))
    upd = jnp.sqrt(jnp.mean((x1 @ ((p["W2"] - params["W2"]) * mask)) ** 2))
    return float(act), float(upd)


@ax.in_float32
def density_check(
    optimizer: str = "sgd",
    *,
    rule: Rule = "derived",
    width: int = 512,
    densities: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.1,
    batch: int = 32,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the masked MLP at every density and judge the fitted slopes (module docstring)."""
    if optimizer not in ("sgd", "adam"):
        raise InfwidthError(f"density_check trains sgd or adam, got {optimizer!r}")
    if rule not in ("derived", "mup"):
        raise InfwidthError(f"rule is 'derived' or 'mup', got {rule!r}")
    if any(not 0 < r <= 1 for r in densities):
        raise InfwidthError("every density must lie in (0, 1]")
    d = derive(builtin("sparse-mlp"), optimizer)
    secs = ax.fields(d, "rho", rule)
    cfg = (16, 4, batch, steps, lr)
    values = np.array(
        [[_run(s, width, r, optimizer, secs, cfg) for s in range(seeds)] for r in densities]
    )  # (densities, seeds, 2)
    design = Design("density", min_points=3, min_ratio=4.0, min_size=MIN_TERMS / width)
    pred = (_activation_slope(d, secs[1]), ax.predicted_update_slope(d, "rho", secs[1], MASKED))
    rows = [(MASKED, q, p) for q, p in zip(QUANTITIES, pred, strict=True)]
    return ax.judge_rows("rho", rule, optimizer, densities, values, rows, tol, design)
