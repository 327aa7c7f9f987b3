"""A finite-size check along the LoRA rank: are the adapter's updates flat in ``r``?

The ``lora-mlp`` built-in at a fixed width ``n``: a frozen tanh MLP ``d_in -> n -> n -> d_out``
(muP init) whose hidden layer gets a trainable adapter ``B A`` of rank ``r`` (``A``: ``n -> r``
random, ``B``: ``r -> n`` zero-initialised), trained for a few steps of SGD or Adam
(:func:`infwidth.sim.train`) at several ranks. Init variances and learning rates come from the
derived table (``_axis_check``: ``rule="derived"``, or ``"blind"``: the width rule with every
``r`` exponent dropped). Measured per seed, RMS over batch and units, on the training inputs:

* ``B`` / ``update_rms``: the adapter's output ``h_1 A_T B_T`` (all of it is update: ``B_0 = 0``);
  derived slope 0 (LoRA+ and the rank exponents: ``eta_B ~ r^{-1}``); blind ``+1``: ``B``'s
  step sums ``r`` aligned terms of the bottleneck;
* ``A`` / ``update_rms``: what ``A``'s own updates move the bottleneck by, ``h_1 (A_T - A_0)``
  (needs ``steps >= 2``: ``A``'s gradient is ``B^T delta``, zero at the first step).

Predictions: ``-r_t`` along ``r`` (``_axis_check.predicted_update_slope``). The batch is small
(4, below every rank): ``B``'s step then sums ``r`` aligned terms of the bottleneck; with a
batch of 32 at ranks 4..32 the rank sum is only partly aligned (measured at ``n = 256``:
``B`` slopes -0.30 derived, +0.69 blind, each 0.3 below its prediction).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import InfwidthError
from . import _axis_check as ax

A, B = "W2.lora_A", "W2.lora_B"
#: The smallest rank the design accepts (the adapter's contraction count).
MIN_RANK = 4
CHECK = ax.Check("lora-mlp", "r", "rank", MIN_RANK, (B, A))


def _run(r: int, secs: tuple[dict, dict], o: ax.Options):
    """``key ->`` (RMS of the adapter output, RMS of A's bottleneck move) after ``steps``
    steps."""
    sc, mult, fit = ax.trainer({A: A, B: B}, secs, r, o, arch="lora-mlp", readout="W3")
    n, d_in, d_out = o.n, o.d_in, o.d_out

    def one(key):
        k = jax.random.split(key, 6)
        x = jax.random.normal(k[0], (o.batch, d_in))
        y = jax.random.normal(k[1], (o.batch, d_out))
        shapes = {"W1": (d_in, n), "W2": (n, n), "W3": (n, d_out), A: (n, r)}
        w = ax.draw(k[2:], shapes, sc, {"W1": 1 / d_in})
        params = {A: w[A], B: jnp.zeros((r, n))}

        def apply(p, xs):
            h1 = jnp.tanh(xs @ w["W1"])
            adapter = mult[B] * ((mult[A] * (h1 @ p[A])) @ p[B])
            return jnp.tanh(h1 @ w["W2"] + adapter) @ w["W3"], {"adapter": adapter}

        p = fit(params, apply, x, y)
        moved = mult[A] * (jnp.tanh(x @ w["W1"]) @ (p[A] - w[A]))
        out = apply(p, x)[1]["adapter"]
        return jnp.stack([jnp.sqrt(jnp.mean(out**2)), jnp.sqrt(jnp.mean(moved**2))])

    return one


def rank_check(
    optimizer: str = "adam",
    *,
    rule: ax.Rule = "derived",
    width: int = 256,
    ranks: tuple[int, ...] = (8, 16, 32, 64),
    seeds: int = 3,
    steps: int = 2,
    lr: float = 0.01,
    batch: int = 4,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the LoRA MLP at every rank and judge the fitted slopes (module docstring)."""
    ax.check_rule(rule, optimizer)
    if any(not isinstance(r, int) or not 1 <= r <= width for r in ranks):
        raise InfwidthError(f"every rank must be an integer in 1..width ({width})")
    if steps < 2:
        raise InfwidthError("rank_check needs steps >= 2 (A moves from the second step on)")
    return CHECK.run(rule, ranks, _run, ax.Options(seeds, width, optimizer, batch, steps, lr), tol)
