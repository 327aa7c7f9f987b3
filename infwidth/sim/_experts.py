"""A finite-size check along the number of experts: are per-expert updates flat in ``E``?

The routed FFN of the ``moe`` built-in at a fixed width ``n``: ``x -> h = tanh(x W_in)``
(``d_in -> n``), each token routed (top-1, balanced: token ``i`` to expert ``i mod E``) to an
expert ``h -> h + W^e_down tanh(W^e_up h)`` (``n -> n -> n``), then a readout ``n -> d_out``,
trained for a few steps of SGD or Adam (:func:`infwidth.sim.train`) at several ``E``. The
experts' init variances and learning rates come from the derived ``moe`` table
(``_axis_check``: ``rule="derived"``, or ``"blind"``: the width rule with every ``E`` exponent
dropped); the trunk and readout are trained with their width rule. Measured per seed:

* ``block.expert_up`` / ``update_rms``: what the experts' own updates move their
  preactivation by, ``h (W^e_{up,T} - W^e_{up,0})`` on each expert's own tokens (RMS over
  tokens and units).

An expert sees ``1/E`` of the tokens, so its gradient carries ``1/E``: SGD's step shrinks like
``E^{-1}`` unless its learning rate grows like ``E`` (derived: slope 0; blind: ``-1``); Adam's
normalised step does not see the fraction (slope 0 under both rules: they coincide).
Predictions: ``-r_t`` along ``E`` (``_axis_check.predicted_update_slope``). The count ``1/E``
describes a gradient summing *aligned* token contributions (the law-of-large-numbers sums of
the derivation), so the tokens share an input direction and a target; with independent random
targets each token's own term dominates the sum and the fraction only partly shows (measured:
SGD slopes +0.62 derived, -0.38 blind at ``n = 128``, ``E = 1..8``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import InfwidthError
from . import _axis_check as ax

UP, DOWN = "block.expert_up", "block.expert_down"
#: The trunk and readout of the check, with the built-in tensor whose width rule they take.
TRUNK = {"W_in": "tok_emb", "W_out": "unembed"}
#: Fewest tokens an expert may see at the largest ``E`` (its gradient's sum).
MIN_TOKENS = 16
CHECK = ax.Check("moe", "E", "expert count", 1, (UP,), {"target": "depth-mup"})


def _run(e: int, secs: tuple[dict, dict], o: ax.Options):
    """``key ->`` the RMS of the experts' own preactivation moves after ``steps`` steps."""
    sc, mult, fit = ax.trainer(
        {UP: UP, DOWN: DOWN, **TRUNK}, secs, e, o, arch="moe", readout="W_out"
    )
    n, d_in, d_out, batch = o.n, o.d_in, o.d_out, o.batch
    route = jax.nn.one_hot(jnp.arange(batch) % e, e)  # (batch, E): balanced top-1

    def one(key):
        k = jax.random.split(key, 6)
        # aligned tokens: a shared input direction and one target (module docstring)
        common = jax.random.normal(k[1], (1, d_in + d_out))
        x = common[:, :d_in] + 0.5 * jax.random.normal(k[0], (batch, d_in))
        y = jnp.broadcast_to(common[:, d_in:], (batch, d_out))
        shapes = {"W_in": (d_in, n), UP: (e, n, n), DOWN: (e, n, n), "W_out": (n, d_out)}
        params = ax.draw(k[2:], shapes, sc, {"W_in": 1 / d_in})

        def apply(p, xs):
            h = mult["W_in"] * jnp.tanh(xs @ p["W_in"])
            up = mult[UP] * jnp.einsum("bi,eij->bej", h, p[UP])
            down = mult[DOWN] * jnp.einsum("bej,ejk->bek", jnp.tanh(up), p[DOWN])
            out = h + jnp.einsum("be,bek->bk", route, down)
            return mult["W_out"] * (out @ p["W_out"]), {"h": h}

        p = fit(params, apply, x, y)
        h0 = apply(params, x)[1]["h"]
        moved = mult[UP] * jnp.einsum("bi,eij->bej", h0, p[UP] - params[UP])
        own = jnp.einsum("be,bej->bj", route, moved)  # each token through its own expert
        return jnp.sqrt(jnp.mean(own**2))

    return one


def experts_check(
    optimizer: str = "sgd",
    *,
    rule: ax.Rule = "derived",
    width: int = 128,
    experts: tuple[int, ...] = (1, 2, 4, 8),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.1,
    batch: int = 128,
    tol: float = 0.15,
) -> list[ax.AxisSlope]:
    """Train the routed FFN at every expert count and judge the fitted slope (module doc)."""
    ax.check_rule(rule, optimizer)
    if any(not isinstance(e, int) or e < 1 for e in experts):
        raise InfwidthError("every expert count must be a positive integer")
    if batch // max(experts) < MIN_TOKENS:
        raise InfwidthError(
            f"batch {batch} gives an expert fewer than {MIN_TOKENS} tokens at E = {max(experts)}"
        )
    return CHECK.run(
        rule, experts, _run, ax.Options(seeds, width, optimizer, batch, steps, lr), tol
    )
