"""A finite-size check along the number of heads ``H`` at a fixed head size: are the updates
flat in ``H``?

The ``mha-heads`` built-in has ``d_model = H n`` (``H`` heads of size ``n``), so every dense
map grows along ``H`` as it does along the width. The check: a network at a fixed head size
``n``, ``x -> h = tanh(x W_in)`` (``d_in -> H n``), ``z = tanh(h W_q)`` (``H n -> H n``: a
query projection, every head reading all of ``d_model``), a readout ``H n -> d_out``, trained
for a few steps of SGD or Adam (:func:`infwidth.sim.train`) at several ``H``, each tensor
taking the rule of its built-in tensor (``tok_emb``, ``block.q``, ``unembed``) from the
derived ``mha-heads`` table (``_axis_check``: ``rule="derived"``, or ``"blind"``: the width
(head-size) rule with every ``H`` exponent dropped). Measured per seed, RMS over batch and
units (so per head):

* ``block.q`` / ``update_rms``: what ``W_q``'s update moves its preactivation by,
  ``h_0 (W_{q,T} - W_{q,0})``;
* ``tok_emb`` / ``update_rms``: the same for ``W_in``, ``x (W_{in,T} - W_{in,0})``.

Adam's normalised step of a hidden map sums ``H n`` aligned terms: its learning rate must
shrink like ``H^{-1}`` (derived: slope 0; blind: ``+1``); the input map's fan-in is fixed
(0 under both). SGD's input map gets a gradient through ``H n`` readout entries of size
``(H n)^{-1}``: its learning rate must grow like ``H`` (derived: 0; blind: ``-1``), while the
hidden map's SGD rule has no ``H`` learning-rate exponent. Predictions: ``-r_t`` along ``H``
(``_axis_check.predicted_update_slope``), with the backward signal the blind readout sets
(``readout_backward``): blind, the readout's entries are ``H`` times muP's, so SGD's hidden
move is predicted ``+1`` and the input map's 0.

Measured (``n = 32``, ``H = 1..8``): Adam ``block.q`` -0.02 derived, +1.00 blind; ``tok_emb``
-0.01 / -0.00. SGD (6 seeds, batch 16) ``block.q`` -0.08 / +0.78, ``tok_emb`` +0.01 / +0.36:
the blind SGD slopes miss their predictions (+1, 0) because the prediction assumes the
preactivations stable at init (every layer then passes the backward signal on at one size),
and the blind rule breaks that: ``W_q``'s variance is not divided by ``H``, so ``h W_q`` and
the signal ``W_q^T delta`` reaching ``W_in`` grow like ``sqrt(H)`` (``tok_emb``: ``+1/2``),
while ``tanh`` saturates on the grown preactivations (both slopes fall below their naive
values). Adam's normalised steps do not see the signal's size: its blind slopes are clean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import InfwidthError
from . import _axis_check as ax

Q, EMB = "block.q", "tok_emb"
#: The check's tensors, with the built-in tensor whose rule they take.
SRC = {"W_in": EMB, "W_q": Q, "W_out": "unembed"}
CHECK = ax.Check("mha-heads", "H", "head count", 1, (Q, EMB))


def _run(heads: int, secs: tuple[dict, dict], o: ax.Options):
    """``key ->`` (RMS of ``W_q``'s preactivation move, RMS of ``W_in``'s)."""
    m = o.n * heads  # d_model
    sc, mult, fit = ax.trainer(SRC, secs, heads, o, arch="mha-heads", readout="W_out", size=m)

    def one(key):
        k = jax.random.split(key, 5)
        x = jax.random.normal(k[0], (o.batch, o.d_in))
        y = jax.random.normal(k[1], (o.batch, o.d_out))
        shapes = {"W_in": (o.d_in, m), "W_q": (m, m), "W_out": (m, o.d_out)}
        params = ax.draw(k[2:], shapes, sc, {"W_in": 1 / o.d_in})

        def apply(p, xs):
            h = mult["W_in"] * jnp.tanh(xs @ p["W_in"])
            z = jnp.tanh(mult["W_q"] * (h @ p["W_q"]))
            return mult["W_out"] * (z @ p["W_out"]), {"h": h}

        p = fit(params, apply, x, y)
        h0 = apply(params, x)[1]["h"]
        q = mult["W_q"] * (h0 @ (p["W_q"] - params["W_q"]))
        emb = mult["W_in"] * (x @ (p["W_in"] - params["W_in"]))
        return jnp.stack([jnp.sqrt(jnp.mean(q**2)), jnp.sqrt(jnp.mean(emb**2))])

    return one


def heads_check(
    optimizer: str = "adam",
    *,
    rule: ax.Rule = "derived",
    head_size: int = 32,
    heads: tuple[int, ...] = (1, 2, 4, 8),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.01,
    batch: int = 8,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the network at every head count and judge the fitted slopes (module docstring)."""
    ax.check_rule(rule, optimizer)
    if any(not isinstance(h, int) or h < 1 for h in heads):
        raise InfwidthError("every head count must be a positive integer")
    opts = ax.Options(seeds, head_size, optimizer, batch, steps, lr)
    return CHECK.run(rule, heads, _run, opts, tol)
