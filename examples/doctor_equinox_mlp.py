"""A muP MLP built from Equinox's own ``eqx.nn.MLP``, for ``infwidth doctor --model``.

``make(width)`` is correct muP for Adam (base width 64): Equinox's standard 1/sqrt(fan_in)
initialisation with the readout made sqrt(64/width) smaller (variance n^-2), learning rates
1 (input), 64/width (hidden, readout) and Adam epsilons 64/width (input, hidden), 1
(readout), as ``infwidth derive`` gives in the no-multiplier gauge. ``make_buggy(width)``
leaves the hidden learning rate unscaled, the most common muP bug.

    infwidth doctor --model examples/doctor_equinox_mlp.py:make --base-width 64 \\
        --widths 64,128,256 --optimizer adam --out doctor_eqx
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax

from infwidth.doctor import UserModel

BASE, D_IN, D_OUT, LR, EPS = 64, 16, 4, 1e-2, 1e-8


def make(width: int, hidden_lr_scaled: bool = True) -> UserModel:
    mlp = eqx.nn.MLP(
        D_IN, D_OUT, width, depth=2, use_bias=False, use_final_bias=False, key=jr.PRNGKey(0)
    )
    r = BASE / width
    mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * r**0.5)
    params, static = eqx.partition(mlp, eqx.is_array)

    def features(p, batch):
        m, h, out = eqx.combine(p, static), batch[0], {}
        for i, layer in enumerate(m.layers):
            h = jax.vmap(layer)(h)
            out["output" if i == len(m.layers) - 1 else f"h{i}"] = h
            h = m.activation(h)
        return out

    def loss(p, batch):
        return jnp.mean((features(p, batch)["output"] - batch[1]) ** 2)

    # per layer: (learning-rate factor, epsilon factor)
    scale = {"in": (1.0, r), "hidden": (r if hidden_lr_scaled else 1.0, r), "out": (r, 1.0)}
    labels = eqx.tree_at(
        lambda m: [layer.weight for layer in m.layers], params, ["in", "hidden", "out"]
    )
    opt = optax.multi_transform(
        {k: optax.adam(LR * a, eps=EPS * e) for k, (a, e) in scale.items()},
        lambda _: labels,  # an eqx.Module is callable: optax would call it as a function
    )
    keys = jr.split(jr.PRNGKey(1), 8)
    batches = [(jr.normal(k, (32, D_IN)), jr.normal(jr.fold_in(k, 1), (32, D_OUT))) for k in keys]
    return UserModel(params, loss, opt, batches, features)


def make_buggy(width: int) -> UserModel:
    """:func:`make` with the hidden layer's Adam learning rate not scaled by 64/width."""
    return make(width, hidden_lr_scaled=False)
