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

import numpy as np

from .._fit import Design
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from ._axis_check import AxisSlope, Rule, check_rule, fields, judge, predicted_update_slope
from ._axis_check import scale as _scale
from ._axis_check import scaling as _scaling
from ._precond import in_float32

A, B = "W2.lora_A", "W2.lora_B"
#: The smallest rank the design accepts (the adapter's contraction count).
MIN_RANK = 4


def _run(seeds: int, n: int, r: int, optimizer: str, width, along, cfg) -> np.ndarray:
    """Per seed (RMS of the adapter output, RMS of A's bottleneck move) after ``steps`` steps:
    one compilation per rank, the seeds vmapped."""
    import jax
    import jax.numpy as jnp

    from ._core import Model, mse
    from ._optim import table_optimizer
    from ._train import train

    d_in, d_out, batch, steps, lr = cfg

    def sc(t: str, field: str) -> float:
        return _scale(width, along, t, field, n, r)

    mult = {t: sc(t, "multiplier") for t in (A, B)}
    lrs = {t: lr * sc(t, "learning_rate") for t in (A, B)}
    s = _scaling(n, {A: 0.0, B: 0.0}, mult, lrs)
    opt = table_optimizer(optimizer, s, (A, B))

    def one(key):
        k = jax.random.split(key, 6)
        x = jax.random.normal(k[0], (batch, d_in))
        y = jax.random.normal(k[1], (batch, d_out))
        w1 = jax.random.normal(k[2], (d_in, n)) * np.sqrt(sc("W1", "init_variance") / d_in)
        w2 = jax.random.normal(k[3], (n, n)) * np.sqrt(sc("W2", "init_variance"))
        w3 = jax.random.normal(k[4], (n, d_out)) * np.sqrt(sc("W3", "init_variance"))
        a0 = jax.random.normal(k[5], (n, r)) * np.sqrt(sc(A, "init_variance"))
        params = {A: a0, B: jnp.zeros((r, n))}

        def apply(p, xs):
            h1 = jnp.tanh(xs @ w1)
            adapter = mult[B] * ((mult[A] * (h1 @ p[A])) @ p[B])
            return jnp.tanh(h1 @ w2 + adapter) @ w3, {"adapter": adapter}

        model = Model(lambda _: params, apply, mse, None, s, frozenset(), ("W3",), "lora-mlp")
        p = train(model, opt, params, x, y, steps=steps)[0].params
        moved = mult[A] * (jnp.tanh(x @ w1) @ (p[A] - a0))
        out = apply(p, x)[1]["adapter"]
        return jnp.stack([jnp.sqrt(jnp.mean(out**2)), jnp.sqrt(jnp.mean(moved**2))])

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.jit(jax.vmap(one))(keys))


@in_float32
def rank_check(
    optimizer: str = "adam",
    *,
    rule: Rule = "derived",
    width: int = 256,
    ranks: tuple[int, ...] = (8, 16, 32, 64),
    seeds: int = 3,
    steps: int = 2,
    lr: float = 0.01,
    batch: int = 4,
    tol: float = 0.15,
) -> list[AxisSlope]:
    """Train the LoRA MLP at every rank and judge the fitted slopes (module docstring)."""
    check_rule(rule, optimizer)
    if any(not isinstance(r, int) or not 1 <= r <= width for r in ranks):
        raise InfwidthError(f"every rank must be an integer in 1..width ({width})")
    if steps < 2:
        raise InfwidthError("rank_check needs steps >= 2 (A moves from the second step on)")
    d = derive(builtin("lora-mlp"), optimizer)
    w_exps, r_exps = fields(d, "r", rule)
    cfg = (16, 4, batch, steps, lr)
    values = np.array([_run(seeds, width, r, optimizer, w_exps, r_exps, cfg) for r in ranks])
    # (ranks, seeds, 2)
    design = Design("rank", min_points=3, min_ratio=4.0, min_size=MIN_RANK)
    out = []
    for i, tensor in enumerate((B, A)):
        pred = predicted_update_slope(d, "r", r_exps, tensor)
        got = judge("rank", ranks, values[:, :, i], pred, tol=tol, design=design)
        out.append(AxisSlope("r", rule, optimizer, tensor, "update_rms", pred, *got))
    return out
