"""A finite-size check along the vocabulary ``V``: do the embedding and unembedding updates stay
flat as ``V`` grows?

The ends of the ``large-vocab`` built-in at a fixed width ``n``: one-hot tokens ``x`` (``V``
ids, balanced: token ``i`` is id ``i mod V``) embedded by ``h = x E`` (``E``: ``V -> n``, one
term of the ``V`` in the forward sum: density ``1/V``), unembedded by ``tanh(h) U``
(``U``: ``n -> V``) under a softmax cross-entropy with next-id targets (``(i + 1) mod V``),
trained for a few steps of SGD or Adam (:func:`infwidth.sim.train`) at several ``V``. Init
variances and learning rates come from the derived ``large-vocab`` table (``_axis_check``:
``rule="derived"``, or ``"blind"``: the width rule with every ``V`` exponent dropped).
Measured per seed, on the training batch:

* ``tok_emb`` / ``update_rms``: what ``E``'s update moves its output by, ``x (E_T - E_0)``
  (RMS over tokens and units);
* ``unembed`` / ``update_rms``: what ``U``'s update moves the target logit by,
  ``[tanh(h_0) (U_T - U_0)]_{i, y_i}`` (RMS over tokens): the logits of the other ids move by
  ``1/V`` of it (their softmax weight), so an RMS over all ``V`` logits would fall like
  ``V^{-1/2}`` from the averaging alone.

A row of ``E`` (a column of ``U``) is reached by the ``1/V`` of the tokens that carry its id
(``tokens 1/V``), so SGD's step shrinks like ``V^{-1}`` unless its learning rate grows like
``V`` (derived: slope 0; blind: ``-1``). The tokens of one id share their input and target, so
that sum is aligned by construction. Adam's normalised step does not see the fraction (its
rules differ only in epsilon: they coincide). Predictions: ``-r_t`` along ``V``
(``_axis_check.predicted_update_slope``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import InfwidthError
from . import _axis_check as ax

EMB, UNEMB = "tok_emb", "unembed"
#: Fewest tokens of one id in the batch at the largest ``V`` (the sum its row's gradient takes).
MIN_TOKENS = 4
CHECK = ax.Check("large-vocab", "V", "vocabulary size", 2, (EMB, UNEMB))


def _cross_entropy(f, y):
    """Mean softmax cross-entropy of logits ``f`` against one-hot ``y``."""
    return -(y * jax.nn.log_softmax(f)).sum(-1).mean()


def _run(v: int, secs: tuple[dict, dict], o: ax.Options):
    """``key ->`` (RMS of ``E``'s output move, RMS of ``U``'s target-logit move)."""
    sc, mult, fit = ax.trainer(
        {EMB: EMB, UNEMB: UNEMB}, secs, v, o, arch="large-vocab", readout=UNEMB, loss=_cross_entropy
    )
    ids = jnp.arange(o.batch) % v
    x, y = jax.nn.one_hot(ids, v), jax.nn.one_hot((ids + 1) % v, v)

    def one(key):
        params = ax.draw(jax.random.split(key, 2), {EMB: (v, o.n), UNEMB: (o.n, v)}, sc)

        def apply(p, xs):
            h = mult[EMB] * (xs @ p[EMB])
            return mult[UNEMB] * (jnp.tanh(h) @ p[UNEMB]), {"h": h}

        p = fit(params, apply, x, y)
        emb = mult[EMB] * (x @ (p[EMB] - params[EMB]))
        h0 = apply(params, x)[1]["h"]
        logit = mult[UNEMB] * ((jnp.tanh(h0) @ (p[UNEMB] - params[UNEMB])) * y).sum(-1)
        return jnp.stack([jnp.sqrt(jnp.mean(emb**2)), jnp.sqrt(jnp.mean(logit**2))])

    return one


def vocab_check(
    optimizer: str = "sgd",
    *,
    rule: ax.Rule = "derived",
    width: int = 128,
    vocabs: tuple[int, ...] = (8, 16, 32, 64),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.1,
    batch: int = 256,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the embedding/unembedding pair at every vocabulary size and judge the fitted
    slopes (module docstring)."""
    ax.check_rule(rule, optimizer)
    if any(not isinstance(v, int) or v < 2 for v in vocabs):
        raise InfwidthError("every vocabulary size must be an integer >= 2")
    if batch // max(vocabs) < MIN_TOKENS:
        raise InfwidthError(
            f"batch {batch} gives an id fewer than {MIN_TOKENS} tokens at V = {max(vocabs)}"
        )
    return CHECK.run(rule, vocabs, _run, ax.Options(seeds, width, optimizer, batch, steps, lr), tol)
