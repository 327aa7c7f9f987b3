"""A finite-size check along the GQA group size ``g``: are the shared K/V updates flat in ``g``?

The attention values of the ``gqa`` built-in at a fixed width ``n``: ``x -> h = tanh(x W_in)``
(``d_in -> n``), one shared value map ``v = h W_v`` (``n -> n/g``: ``n/g`` channels of K/V
heads) read by ``g`` query heads each (the heads' outputs are ``v`` repeated ``g`` times, the
attention pattern taken as the identity on one token), a readout ``n -> d_out``, trained for a
few steps of SGD or Adam (:func:`infwidth.sim.train`) at several ``g``. ``W_v``'s init variance
and learning rate come from the derived ``gqa`` table (``_axis_check``: ``rule="derived"``, or
``"blind"``: the width rule with every ``g`` exponent dropped); the trunk and readout take
their width rule. Measured per seed:

* ``block.v`` / ``update_rms``: what ``W_v``'s own updates move its output by,
  ``h (W_{v,T} - W_{v,0})`` (RMS over batch and channels).

A K/V channel is read by ``g`` query heads, so its gradient sums ``g`` terms (``tokens g``):
SGD's step grows like ``g`` unless its learning rate shrinks like ``g^{-1}`` (derived: slope
0; blind: ``+1``); Adam's normalised step does not see the sum (its rules differ only in
epsilon: they coincide). Predictions: ``-r_t`` along ``g``
(``_axis_check.predicted_update_slope``).

The ``g`` terms add up like ``g`` when they are *aligned* (the law-of-large-numbers sums of the
derivation). The readout is zero-initialised (muP's usual choice): every backward signal then
comes through the readout's own update, which is the same for the ``g`` copies of a channel,
so the sum is aligned; ``W_v`` moves from the second step on. With a random readout the copies'
backward signals at init are independent and add like ``sqrt(g)`` (``readout=1``, measured
at ``n = 256``, ``g = 1..8``: -0.50 derived, +0.50 blind: both rules shifted by ``-1/2``, a
full ``g^1`` apart as predicted); zero readout: -0.03 derived, +0.97 blind.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import InfwidthError
from . import _axis_check as ax

V = "block.v"
#: The trunk and readout of the check, with the built-in tensor whose width rule they take.
TRUNK = {"W_in": "tok_emb", "W_out": "unembed"}
CHECK = ax.Check("gqa", "g", "group size", 1, (V,))


def _run(g: int, secs: tuple[dict, dict], o: ax.Options):
    """``key ->`` the RMS of ``W_v``'s own output move after ``steps`` steps."""
    sc, mult, fit = ax.trainer({V: V, **TRUNK}, secs, g, o, arch="gqa", readout="W_out")
    n, d_in, d_out = o.n, o.d_in, o.d_out

    def one(key):
        k = jax.random.split(key, 5)
        x = jax.random.normal(k[0], (o.batch, d_in))
        y = jax.random.normal(k[1], (o.batch, d_out))
        shapes = {"W_in": (d_in, n), V: (n, n // g), "W_out": (n, d_out)}
        params = ax.draw(k[2:], shapes, sc, {"W_in": 1.0 / d_in, "W_out": o.extra})

        def apply(p, xs):
            h = mult["W_in"] * jnp.tanh(xs @ p["W_in"])
            heads = jnp.tile(mult[V] * (h @ p[V]), (1, g))  # g query heads read each channel
            return mult["W_out"] * (jnp.tanh(heads) @ p["W_out"]), {"h": h}

        p = fit(params, apply, x, y)
        h0 = apply(params, x)[1]["h"]
        return jnp.sqrt(jnp.mean((mult[V] * (h0 @ (p[V] - params[V]))) ** 2))

    return one


def gqa_check(
    optimizer: str = "sgd",
    *,
    rule: ax.Rule = "derived",
    width: int = 256,
    groups: tuple[int, ...] = (1, 2, 4, 8),
    seeds: int = 4,
    steps: int = 2,
    lr: float = 0.1,
    batch: int = 64,
    readout: float = 0.0,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the shared-value network at every group size and judge the fitted slope (module
    docstring); ``readout`` scales the readout's init variance (0: zero-initialised)."""
    ax.check_rule(rule, optimizer)
    if any(not isinstance(g, int) or g < 1 or width % g for g in groups):
        raise InfwidthError(
            f"every group size must be a positive integer dividing the width ({width})"
        )
    if steps < 2:
        raise InfwidthError("gqa_check needs steps >= 2 (W_v moves from the second step on)")
    opts = ax.Options(seeds, width, optimizer, batch, steps, lr, d_out=16, extra=readout)
    return CHECK.run(rule, groups, _run, opts, tol)
