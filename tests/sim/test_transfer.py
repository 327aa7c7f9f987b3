"""muP for a user's own JAX model: infinite axes, roles, rescaled init, per-tensor LRs."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.sim._transfer import mup_transfer


def user_init(key, width, d_in=8, d_out=3, vocab=50):
    """A model infwidth did not define: embedding + 2-layer MLP, standard 1/fan_in init."""
    k = jr.split(key, 4)
    return {
        "embed": jr.normal(k[0], (vocab, width)),
        "mlp": {
            "w_in": jr.normal(k[1], (d_in, width)) / np.sqrt(d_in),
            "b_in": jnp.zeros(width),
            "w_hid": jr.normal(k[2], (width, width)) / np.sqrt(width),
        },
        "head": {"kernel": jr.normal(k[3], (width, d_out)) / np.sqrt(width)},
        "temperature": jnp.ones(()),
    }


def test_roles_rescaled_init_and_learning_rates():
    n, n0 = 256, 32
    key = jr.PRNGKey(0)
    params = user_init(key, n)
    t = mup_transfer(params, user_init(key, n0), optimizer="adam", lr=1e-2)
    kinds = {i.name: i.kind for i in t.leaves}
    assert kinds == {
        "embed": "input",
        "mlp/w_in": "input",
        "mlp/b_in": "bias",
        "mlp/w_hid": "hidden",
        "head/kernel": "output",
        "temperature": "scalar",
    }
    rho = n / n0
    # muP (TP5 Table 3): hidden init unchanged (1/fan_in already), output init 1/fan_in^2
    np.testing.assert_allclose(t.params["mlp"]["w_hid"], params["mlp"]["w_hid"])
    np.testing.assert_allclose(t.params["head"]["kernel"], params["head"]["kernel"] / rho**0.5)
    np.testing.assert_allclose(t.params["embed"], params["embed"])
    # Adam LRs: 1/fan_in for hidden and output, constant for input, bias, scalar
    sgd_like = jax.tree.map(jnp.ones_like, params)
    state = t.optimizer.init(t.params)
    upd, _ = t.optimizer.update(sgd_like, state, t.params)
    lr = {
        i.name: float(jnp.abs(x).max()) for i, x in zip(t.leaves, jax.tree.leaves(upd), strict=True)
    }
    assert lr["mlp/w_hid"] == pytest.approx(1e-2 / rho, rel=1e-3)
    assert lr["head/kernel"] == pytest.approx(1e-2 / rho, rel=1e-3)
    assert lr["mlp/w_in"] == pytest.approx(1e-2, rel=1e-3)
    assert lr["temperature"] == pytest.approx(1e-2, rel=1e-3)


def test_sgd_transfer_and_delta_width():
    """A vocabulary that differs at the target is finite when base and delta agree on it."""
    key = jr.PRNGKey(1)
    t = mup_transfer(
        user_init(key, 128, vocab=80),
        user_init(key, 16),
        user_init(key, 32),
        optimizer="sgd",
        lr=0.1,
    )
    emb = next(i for i in t.leaves if i.name == "embed")
    assert emb.infinite_axes == (1,) and emb.fan_in == "80" and emb.ratio == 8.0
    state = t.optimizer.init(t.params)
    ones = jax.tree.map(jnp.ones_like, t.params)
    upd, _ = t.optimizer.update(ones, state, t.params)
    # SGD muP: input LR ~ fan_out (x8), hidden constant, output 1/fan_in (/8)
    assert float(-upd["mlp"]["w_in"][0, 0]) == pytest.approx(0.8)
    assert float(-upd["mlp"]["w_hid"][0, 0]) == pytest.approx(0.1)
    assert float(-upd["head"]["kernel"][0, 0]) == pytest.approx(0.0125)


def test_mismatched_trees_are_refused():
    with pytest.raises(InfwidthError, match="structure"):
        mup_transfer({"a": jnp.ones((4, 4))}, {"b": jnp.ones((2, 2))})


@pytest.mark.skipif(importlib.util.find_spec("flax") is None, reason="flax not installed")
def test_flax_linen_params():  # pragma: no cover - needs flax
    import flax.linen as nn

    class MLP(nn.Module):
        width: int

        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(self.width)(x))
            x = nn.relu(nn.Dense(self.width)(x))
            return nn.Dense(3)(x)

    x = jnp.ones((1, 8))
    big = MLP(256).init(jr.PRNGKey(0), x)
    small = MLP(32).init(jr.PRNGKey(0), x)
    t = mup_transfer(big, small, optimizer="adam")
    kinds = sorted({i.kind for i in t.leaves})
    assert kinds == ["bias", "hidden", "input", "output", "scalar"]


@pytest.mark.skipif(importlib.util.find_spec("equinox") is None, reason="equinox not installed")
def test_equinox_module():  # pragma: no cover - needs equinox
    import equinox as eqx

    def make(width):
        return eqx.nn.MLP(8, 3, width, 2, key=jr.PRNGKey(0))

    big, small = (eqx.filter(make(w), eqx.is_inexact_array) for w in (256, 32))
    t = mup_transfer(big, small, optimizer="adam", lr=1e-2)
    kinds = {i.name: i.kind for i in t.leaves}  # Equinox weights are (out, in)
    assert kinds == {
        "layers/0/weight": "input",
        "layers/0/bias": "bias",
        "layers/1/weight": "hidden",
        "layers/1/bias": "bias",
        "layers/2/weight": "output",
        "layers/2/bias": "scalar",
    }
    upd, _ = t.optimizer.update(
        jax.tree.map(jnp.ones_like, t.params), t.optimizer.init(t.params), t.params
    )
    assert float(-upd.layers[1].weight[0, 0]) == pytest.approx(1e-2 / 8, rel=1e-3)
    assert float(-upd.layers[0].weight[0, 0]) == pytest.approx(1e-2, rel=1e-3)


X = jr.normal(jr.PRNGKey(100), (32, 8))
Y = jr.normal(jr.PRNGKey(101), (32, 3))


def _hidden(p):
    return jax.nn.relu(X @ p["w_in"] + p["b_in"]) @ p["w_hid"]


def _loss(p):
    return 0.5 * jnp.mean(jnp.sum((jax.nn.relu(_hidden(p)) @ p["out"] - Y) ** 2, -1))


def _hidden_movement(width: int, transfer: bool, steps: int = 3) -> float:
    """RMS movement of the user's hidden pre-activations after Adam steps (one seed: the
    RMS over 32 x width coordinates is already a sharp estimate)."""
    import optax

    key = jr.PRNGKey(0)
    params = user_init(key, width)["mlp"] | {"out": user_init(key, width)["head"]["kernel"]}
    base = user_init(key, 32)["mlp"] | {"out": user_init(key, 32)["head"]["kernel"]}
    if transfer:
        t = mup_transfer(params, base, optimizer="adam", lr=0.01)
        params, opt = t.params, t.optimizer
    else:
        opt = optax.adam(0.01)

    @jax.jit
    def run(p0):
        p, state = p0, opt.init(p0)
        for _ in range(steps):
            upd, state = opt.update(jax.grad(_loss)(p), state, p)
            p = optax.apply_updates(p, upd)
        return jnp.sqrt(jnp.mean((_hidden(p) - _hidden(p0)) ** 2))

    return float(run(params))


def test_transfer_makes_a_user_model_feature_learning():
    """Plain Adam on the user's model: hidden features move like n^1 (SP blows up);
    after mup_transfer they move by O(1) at every width (slope ~ 0)."""
    widths = np.array([128, 512, 2048])
    for transfer, expected in ((True, 0.0), (False, 1.0)):
        m = [_hidden_movement(int(n), transfer) for n in widths]
        slope = np.polyfit(np.log(widths), np.log(m), 1)[0]
        assert abs(slope - expected) < 0.2, (transfer, slope)
