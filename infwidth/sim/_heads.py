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

import numpy as np

from .._fit import Design
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from ._axis_check import AxisSlope, Rule, check_rule, fields, judge, predicted_update_slope
from ._axis_check import scale as _scale
from ._axis_check import scaling as _scaling
from ._precond import in_float32

Q, EMB = "block.q", "tok_emb"
#: The check's tensors, with the built-in tensor whose rule they take.
SRC = {"W_in": EMB, "W_q": Q, "W_out": "unembed"}


def _run(seeds: int, n: int, heads: int, optimizer: str, width, along, cfg) -> np.ndarray:
    """Per seed (RMS of ``W_q``'s preactivation move, RMS of ``W_in``'s)."""
    import jax
    import jax.numpy as jnp

    from ._core import Model, mse
    from ._optim import table_optimizer
    from ._train import train

    d_in, d_out, batch, steps, lr = cfg
    m = n * heads  # d_model

    def sc(t: str, field: str) -> float:
        return _scale(width, along, SRC[t], field, n, heads)

    names = tuple(SRC)
    mult = {t: sc(t, "multiplier") for t in names}
    lrs = {t: lr * sc(t, "learning_rate") for t in names}
    s = _scaling(m, {t: 0.0 for t in names}, mult, lrs)
    opt = table_optimizer(optimizer, s, names)

    def one(key):
        k = jax.random.split(key, 5)
        x = jax.random.normal(k[0], (batch, d_in))
        y = jax.random.normal(k[1], (batch, d_out))
        shapes = {"W_in": (d_in, m), "W_q": (m, m), "W_out": (m, d_out)}
        params = {
            t: jax.random.normal(kk, shp) * np.sqrt(sc(t, "init_variance") / (d_in if t == "W_in" else 1))
            for (t, shp), kk in zip(shapes.items(), k[2:], strict=True)
        }  # fmt: skip

        def apply(p, xs):
            h = mult["W_in"] * jnp.tanh(xs @ p["W_in"])
            z = jnp.tanh(mult["W_q"] * (h @ p["W_q"]))
            return mult["W_out"] * (z @ p["W_out"]), {"h": h}

        model = Model(lambda _: params, apply, mse, None, s, frozenset(), ("W_out",), "mha-heads")  # fmt: skip
        p = train(model, opt, params, x, y, steps=steps)[0].params
        h0 = apply(params, x)[1]["h"]
        q = mult["W_q"] * (h0 @ (p["W_q"] - params["W_q"]))
        emb = mult["W_in"] * (x @ (p["W_in"] - params["W_in"]))
        return jnp.stack([jnp.sqrt(jnp.mean(q**2)), jnp.sqrt(jnp.mean(emb**2))])

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.jit(jax.vmap(one))(keys))


@in_float32
def heads_check(
    optimizer: str = "adam",
    *,
    rule: Rule = "derived",
    head_size: int = 32,
    heads: tuple[int, ...] = (1, 2, 4, 8),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.01,
    batch: int = 8,
    tol: float = 0.15,
) -> list[AxisSlope]:
    """Train the network at every head count and judge the fitted slopes (module docstring)."""
    check_rule(rule, optimizer)
    if any(not isinstance(h, int) or h < 1 for h in heads):
        raise InfwidthError("every head count must be a positive integer")
    d = derive(builtin("mha-heads"), optimizer)
    w_exps, h_exps = fields(d, "H", rule)
    cfg = (16, 4, batch, steps, lr)
    values = np.array([_run(seeds, head_size, h, optimizer, w_exps, h_exps, cfg) for h in heads])
    design = Design("head count", min_points=3, min_ratio=4.0, min_size=1)
    out = []
    for i, tensor in enumerate((Q, EMB)):
        pred = predicted_update_slope(d, "H", h_exps, tensor)
        got = judge("heads", heads, values[:, :, i], pred, tol=tol, design=design)
        out.append(AxisSlope("H", rule, optimizer, tensor, "update_rms", pred, *got))
    return out
