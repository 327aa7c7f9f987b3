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

import numpy as np

from .._fit import Design
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from ._axis_check import AxisSlope, Rule, check_rule, fields, judge, predicted_update_slope
from ._axis_check import scale as _scale
from ._axis_check import scaling as _scaling
from ._precond import in_float32

UP, DOWN = "block.expert_up", "block.expert_down"
#: The trunk and readout of the check, with the built-in tensor whose width rule they take.
TRUNK = {"W_in": "tok_emb", "W_out": "unembed"}
#: Fewest tokens an expert may see at the largest ``E`` (its gradient's sum).
MIN_TOKENS = 16


def _run(seeds: int, n: int, e: int, optimizer: str, width, along, cfg) -> np.ndarray:
    """Per seed, the RMS of the experts' own preactivation moves after ``steps`` steps."""
    import jax
    import jax.numpy as jnp

    from ._core import Model, mse
    from ._optim import table_optimizer
    from ._train import train

    d_in, d_out, batch, steps, lr = cfg
    src = {UP: UP, DOWN: DOWN, **TRUNK}

    def sc(t: str, field: str) -> float:
        return _scale(width, along, src[t], field, n, e)

    names = tuple(src)
    mult = {t: sc(t, "multiplier") for t in names}
    lrs = {t: lr * sc(t, "learning_rate") for t in names}
    s = _scaling(n, {t: 0.0 for t in names}, mult, lrs)
    opt = table_optimizer(optimizer, s, names)
    route = jax.nn.one_hot(jnp.arange(batch) % e, e)  # (batch, E): balanced top-1

    def one(key):
        k = jax.random.split(key, 6)
        # aligned tokens: a shared input direction and one target (module docstring)
        common = jax.random.normal(k[1], (1, d_in + d_out))
        x = common[:, :d_in] + 0.5 * jax.random.normal(k[0], (batch, d_in))
        y = jnp.broadcast_to(common[:, d_in:], (batch, d_out))
        shapes = {"W_in": (d_in, n), UP: (e, n, n), DOWN: (e, n, n), "W_out": (n, d_out)}
        params = {
            t: jax.random.normal(kk, shp) * np.sqrt(sc(t, "init_variance") / (d_in if t == "W_in" else 1))
            for (t, shp), kk in zip(shapes.items(), k[2:], strict=True)
        }  # fmt: skip

        def apply(p, xs):
            h = mult["W_in"] * jnp.tanh(xs @ p["W_in"])
            up = mult[UP] * jnp.einsum("bi,eij->bej", h, p[UP])
            down = mult[DOWN] * jnp.einsum("bej,ejk->bek", jnp.tanh(up), p[DOWN])
            out = h + jnp.einsum("be,bek->bk", route, down)
            return mult["W_out"] * (out @ p["W_out"]), {"h": h}

        model = Model(lambda _: params, apply, mse, None, s, frozenset(), ("W_out",), "moe")
        p = train(model, opt, params, x, y, steps=steps)[0].params
        h0 = apply(params, x)[1]["h"]
        moved = mult[UP] * jnp.einsum("bi,eij->bej", h0, p[UP] - params[UP])
        own = jnp.einsum("be,bej->bj", route, moved)  # each token through its own expert
        return jnp.sqrt(jnp.mean(own**2))

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.jit(jax.vmap(one))(keys))


@in_float32
def experts_check(
    optimizer: str = "sgd",
    *,
    rule: Rule = "derived",
    width: int = 128,
    experts: tuple[int, ...] = (1, 2, 4, 8),
    seeds: int = 3,
    steps: int = 1,
    lr: float = 0.1,
    batch: int = 128,
    tol: float = 0.15,
) -> list[AxisSlope]:
    """Train the routed FFN at every expert count and judge the fitted slope (module doc)."""
    check_rule(rule, optimizer)
    if any(not isinstance(e, int) or e < 1 for e in experts):
        raise InfwidthError("every expert count must be a positive integer")
    if batch // max(experts) < MIN_TOKENS:
        raise InfwidthError(
            f"batch {batch} gives an expert fewer than {MIN_TOKENS} tokens at E = {max(experts)}"
        )
    d = derive(builtin("moe"), optimizer, target="depth-mup")
    w_exps, e_exps = fields(d, "E", rule)
    cfg = (16, 4, batch, steps, lr)
    values = np.array([_run(seeds, width, e, optimizer, w_exps, e_exps, cfg) for e in experts])
    design = Design("expert count", min_points=3, min_ratio=4.0, min_size=1)
    pred = predicted_update_slope(d, "E", e_exps, UP)
    got = judge("experts", experts, values, pred, tol=tol, design=design)
    return [AxisSlope("E", rule, optimizer, UP, "update_rms", pred, *got)]
