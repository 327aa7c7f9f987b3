"""muP for a user's own JAX model: infinite axes, roles, rescaled init, per-tensor LRs."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
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


# Flax (Linen and NNX) is in the test extra, so CI runs these; verified with flax 0.12.8 on
# jax 0.10.2 (Python 3.11). Without flax they skip.
needs_flax = pytest.mark.skipif(importlib.util.find_spec("flax") is None, reason="no flax")

N, N0, LR = 256, 32, 1e-2
XF = jr.normal(jr.PRNGKey(7), (16, 8))
YF = jr.normal(jr.PRNGKey(8), (16, 3))
# The same 8 -> n -> n -> 3 ReLU MLP written as a plain dict of (fan_in, fan_out) kernels.
DICT_KINDS = {"w0": "input", "b0": "bias", "w1": "hidden", "b1": "bias"}
DICT_KINDS |= {"w2": "output", "b2": "scalar"}


def _dict_mlp(p, x):
    h = jax.nn.relu(x @ p["w0"] + p["b0"])
    h = jax.nn.relu(h @ p["w1"] + p["b1"])
    return h @ p["w2"] + p["b2"]


def _mse(f):
    return 0.5 * jnp.mean(jnp.sum((f - YF) ** 2, -1))


def _adam_losses(loss, opt, params, steps=5):
    @jax.jit
    def run(p):
        state, losses = opt.init(p), []
        for _ in range(steps):
            value, g = jax.value_and_grad(loss)(p)
            upd, state = opt.update(g, state, p)
            p, losses = optax.apply_updates(p, upd), [*losses, value]
        return jnp.stack(losses), p

    return run(params)


def _same_as_plain_dict(big, small, loss, names):
    """``mup_transfer`` on a Flax tree (target width ``N``, base ``N0``) gives the same roles,
    init, per-tensor learning rates and Adam trajectory as on the same MLP as a plain dict;
    ``names`` maps the Flax leaf names to the dict's (w0, b0, ...)."""
    t = mup_transfer(big, small, optimizer="adam", lr=LR)
    assert [i.name for i in t.leaves] == list(names)

    def as_dict(tree):
        return {names[i.name]: x for i, x in zip(t.leaves, jax.tree.leaves(tree), strict=True)}

    ref = mup_transfer(as_dict(big), as_dict(small), optimizer="adam", lr=LR)
    # roles: both hidden-kernel axes are infinite, one axis of the input and readout kernels
    info = {names[i.name]: i for i in t.leaves}
    assert {k: i.kind for k, i in info.items()} == DICT_KINDS
    assert {i.name: i.kind for i in ref.leaves} == DICT_KINDS
    assert info["w1"].infinite_axes == (0, 1) and info["w1"].fan_in == "1*n"
    assert info["w0"].infinite_axes == (1,) and info["w0"].fan_in == "8"
    assert info["w2"].infinite_axes == (0,) and info["w2"].fan_out == "3"
    assert all(i.ratio == N / N0 for k, i in info.items() if k != "b2")
    # init: Flax's lecun_normal is the standard 1/fan_in; muP keeps it except the readout,
    # whose variance becomes 1/(fan_in * rho) = n0/n^2 (TP5 Table 3)
    p, p_sp, p_ref = as_dict(t.params), as_dict(big), ref.params
    for k in DICT_KINDS:
        np.testing.assert_array_equal(p[k], p_ref[k])
    np.testing.assert_allclose(p["w2"], p_sp["w2"] / (N / N0) ** 0.5, rtol=1e-6)
    np.testing.assert_array_equal(p["w1"], p_sp["w1"])
    np.testing.assert_array_equal(p["w0"], p_sp["w0"])
    assert float(jnp.std(p["w1"])) == pytest.approx(N**-0.5, rel=0.03)
    assert float(jnp.std(p["w2"])) == pytest.approx((N0 / N**2) ** 0.5, rel=0.1)
    # Adam learning rates (first step on unit gradients moves each entry by its own LR):
    # 1/fan_in for hidden and readout, constant for input, biases and the output bias
    ones = jax.tree.map(jnp.ones_like, t.params)
    upd = as_dict(t.optimizer.update(ones, t.optimizer.init(t.params), t.params)[0])
    upd_ref = ref.optimizer.update(
        jax.tree.map(jnp.ones_like, p_ref), ref.optimizer.init(p_ref), p_ref
    )[0]
    expected = {k: LR / (N / N0) if k in ("w1", "w2") else LR for k in DICT_KINDS}
    for k, lr in expected.items():
        np.testing.assert_allclose(-upd[k], lr, rtol=1e-5)
        np.testing.assert_array_equal(upd[k], upd_ref[k])
    # training: the Flax model under t.optimizer follows the plain-dict model's trajectory
    losses, final = _adam_losses(loss, t.optimizer, t.params)
    losses_ref, final_ref = _adam_losses(lambda q: _mse(_dict_mlp(q, XF)), ref.optimizer, p_ref)
    assert float(losses[-1]) < 0.9 * float(losses[0])
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-5)
    for k, x in as_dict(final).items():
        np.testing.assert_allclose(x, final_ref[k], rtol=1e-4, atol=1e-6)
    return t


@needs_flax
def test_flax_linen_matches_plain_dict():
    import flax.linen as nn

    class MLP(nn.Module):
        width: int

        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(self.width)(x))
            x = nn.relu(nn.Dense(self.width)(x))
            return nn.Dense(3)(x)

    big, small = (MLP(w).init(jr.PRNGKey(0), XF[:1]) for w in (N, N0))
    names = {
        f"params/Dense_{i}/{a}": f"{'wb'[a == 'bias']}{i}"
        for i in range(3)
        for a in ("bias", "kernel")
    }
    t = _same_as_plain_dict(big, small, lambda p: _mse(MLP(N).apply(p, XF)), names)
    assert t.table.row("params/Dense_1/kernel").kind == "hidden"


@needs_flax
def test_flax_nnx_state_matches_plain_dict():
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, width, rngs):
            self.l0 = nnx.Linear(8, width, rngs=rngs)
            self.l1 = nnx.Linear(width, width, rngs=rngs)
            self.l2 = nnx.Linear(width, 3, rngs=rngs)

        def __call__(self, x):
            return self.l2(nnx.relu(self.l1(nnx.relu(self.l0(x)))))

    graphdef, big = nnx.split(MLP(N, nnx.Rngs(0)), nnx.Param)
    small = nnx.state(MLP(N0, nnx.Rngs(0)), nnx.Param)
    # leaves are named by the nnx.Param, not by its ``value`` attribute
    names = {f"l{i}/{a}": f"{'wb'[a == 'bias']}{i}" for i in range(3) for a in ("bias", "kernel")}
    t = _same_as_plain_dict(big, small, lambda s: _mse(nnx.merge(graphdef, s)(XF)), names)
    one_step = _adam_losses(lambda s: _mse(nnx.merge(graphdef, s)(XF)), t.optimizer, t.params, 1)
    # the rescaled State goes back into the module (sharing its Variables: the optimizer below
    # updates t.params in place), and nnx.Optimizer takes t.optimizer
    model = nnx.merge(graphdef, t.params)
    np.testing.assert_array_equal(model.l2.kernel[...], t.params["l2"]["kernel"][...])
    opt = nnx.Optimizer(model, t.optimizer, wrt=nnx.Param)
    w0, w1 = model.l0.kernel[...], model.l1.kernel[...]
    opt.update(model, nnx.grad(lambda m: _mse(m(XF)))(model))
    # first Adam step: |dW| = LR on the input kernel, LR * n0/n on the hidden one
    np.testing.assert_allclose(jnp.abs(model.l0.kernel[...] - w0).max(), LR, rtol=1e-4)
    np.testing.assert_allclose(jnp.abs(model.l1.kernel[...] - w1).max(), LR * N0 / N, rtol=1e-4)
    # ... and the same step as t.optimizer on the State (checked above against the plain dict)
    for x, y in zip(
        jax.tree.leaves(nnx.state(model, nnx.Param)), jax.tree.leaves(one_step[1]), strict=True
    ):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


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


def _with_counter(width: int) -> dict:
    p = user_init(jr.PRNGKey(3), width)
    return p | {"step": jnp.asarray(7, jnp.int32), "mask": jnp.ones(width, bool)}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_non_float_leaves_are_left_alone(optimizer):
    """An int32 step counter and a bool mask: not rescaled, not trained, dtype kept; the
    float weights around them still train (and ``frozen`` holds a float leaf still)."""
    params = _with_counter(256)
    t = mup_transfer(
        params,
        _with_counter(32),
        optimizer=optimizer,
        lr=1e-2,
        weight_decay=0.1,
        frozen=["temperature"],
    )
    kinds = {i.name: i.kind for i in t.leaves}
    assert kinds["step"] == kinds["mask"] == kinds["temperature"] == "frozen"
    assert kinds["head/kernel"] == "output" and "step" not in t.table.names
    assert t.params["step"] is params["step"] and t.params["mask"] is params["mask"]

    def loss(p):
        h = jax.nn.relu(X @ p["mlp"]["w_in"] + p["mlp"]["b_in"]) @ p["mlp"]["w_hid"]
        return jnp.mean((jax.nn.relu(h) @ p["head"]["kernel"] * p["temperature"]) ** 2)

    p, state = t.params, t.optimizer.init(t.params)
    for _ in range(4):
        g = jax.grad(loss, allow_int=True)(p)
        upd, state = t.optimizer.update(g, state, p)
        assert upd["step"].dtype == jnp.int32 and upd["mask"].dtype == jnp.bool_
        p = optax.apply_updates(p, upd)
    assert p["step"].dtype == jnp.int32 and int(p["step"]) == 7
    assert p["mask"].dtype == jnp.bool_ and bool(p["mask"].all())
    assert float(p["temperature"]) == 1.0
    assert not np.allclose(p["mlp"]["w_hid"], t.params["mlp"]["w_hid"])


def test_frozen_names_must_be_leaves():
    with pytest.raises(InfwidthError, match="'nope'.*not leaves"):
        mup_transfer(_with_counter(64), _with_counter(32), frozen=["nope"])


def test_unknown_layout_is_refused():
    with pytest.raises(InfwidthError, match="unknown layout 'bogus'; choose one of auto, in_out"):
        mup_transfer(user_init(jr.PRNGKey(0), 64), user_init(jr.PRNGKey(0), 32), layout="bogus")


def test_one_width_asks_for_a_second():
    p = user_init(jr.PRNGKey(0), 64)
    with pytest.raises(InfwidthError, match="pass base_params at a second width"):
        mup_transfer(p, p)
    base = user_init(jr.PRNGKey(0), 32)
    with pytest.raises(InfwidthError, match="pass delta_params at a width other than"):
        mup_transfer(p, base, base)
