"""The one training loop (infwidth.sim.train): GD semantics, held-out rows, feature gradients,
and the model options the kernel and DMFT engines train through it (random biases, a linear
model, the one-matrix residual net)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from infwidth.sim import Scaling, build_model, table_optimizer, train


def _scaling(names, width, *, lr=0.1, depth=1, std=0.7, branch=None):
    mult = {k: 0.9 for k in names}
    zeros = dict.fromkeys(names, 0.0)
    return Scaling(width, width, depth, depth, dict.fromkeys(names, std), mult,
                   dict.fromkeys(names, lr), zeros, zeros, branch or {}, {})  # fmt: skip


def _mlp(width=6, names=("W1", "W2", "W3", "b1", "b2"), **kw):
    s = _scaling(names, width)
    dims = {"d_in": 3, "d_out": 1}
    return build_model("mlp", s, names=names, dims=dims, activation="tanh", dtype=jnp.float64, **kw)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _data(rows=5):
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.standard_normal((rows, 3))), jnp.asarray(rng.standard_normal((3, 1)))


def test_train_is_gradient_descent_on_the_train_rows_only():
    """3 SGD steps equal p <- p - lr grad of the loss on the first n_train rows; the held-out
    rows change nothing but are recorded."""
    model, (x, y) = _mlp(random_biases=True), _data()
    opt = table_optimizer("sgd", model.scaling, model.scaling.learning_rate)
    p0 = model.init(jr.PRNGKey(0))
    state, f = train(model, opt, p0, x, y, steps=3, n_train=3, record=lambda s: s.f)

    def loss(p):
        return model.loss(model.apply(p, x[:3])[0], y)

    p = p0
    for t in range(3):
        np.testing.assert_allclose(f[t], model.apply(p, x)[0], rtol=1e-13)
        p = jax.tree.map(lambda a, g: a - 0.1 * g, p, jax.grad(loss)(p))
    for k in p:
        np.testing.assert_allclose(state.params[k], p[k], rtol=1e-12)
    assert f.shape == (3, 5, 1)


def test_feature_grads_are_df_dh_row_by_row():
    """Step.feature_grads[name][mu, i] = d f_mu / d h_{mu, i}, against a finite difference."""
    model, (x, y) = _mlp(), _data()
    p = model.init(jr.PRNGKey(1))
    _, recs = train(model, table_optimizer("sgd", model.scaling, p), p, x, y[:0], steps=1,
                    record=lambda s: s.feature_grads, feature_grads=True, n_train=0)  # fmt: skip
    feats = model.apply(p, x)[1]
    for name, (mu, i) in (("W1", (2, 4)), ("W2", (0, 1))):
        eps = 1e-6
        delta = {k: jnp.zeros_like(v) for k, v in feats.items()}
        delta[name] = delta[name].at[mu, i].set(eps)
        fd = (model.apply(p, x, delta)[0][mu, 0] - model.apply(p, x)[0][mu, 0]) / eps
        assert recs[name][0, mu, i] == pytest.approx(float(fd), rel=1e-5)


def test_random_biases_are_opt_in():
    zero = _mlp().init(jr.PRNGKey(0))
    rand = _mlp(random_biases=True).init(jr.PRNGKey(0))
    assert not np.any(zero["b1"]) and np.std(rand["b1"]) > 0.1


def test_a_single_tensor_mlp_is_a_linear_model():
    model = _mlp(names=("W1",))
    p = model.init(jr.PRNGKey(0))
    x, _ = _data()
    f, feats = model.apply(p, x)
    np.testing.assert_allclose(f, 0.9 * x @ p["W1"], rtol=1e-14)
    assert feats == {}


def test_one_matrix_residual_net():
    """Without block.fc2: h <- h + beta m phi(h) W per block, f = m phi(h) W_out; the block
    features are the stream."""
    names = ("W_in", "block.fc1", "W_out")
    s = _scaling(names, 4, depth=2, branch={"block": 0.5})
    dims = {"d_in": 3, "d_out": 1}
    model = build_model("resmlp", s, names=names, dims=dims, activation="tanh",
                        dtype=jnp.float64)  # fmt: skip
    p = model.init(jr.PRNGKey(0))
    assert p["block.fc1"].shape == (2, 4, 4) and "block.fc2" not in p
    x, _ = _data()
    f, feats = model.apply(p, x)
    h = 0.9 * x @ p["W_in"]
    for l in range(2):
        h = h + 0.5 * 0.9 * jnp.tanh(h) @ p["block.fc1"][l]
        np.testing.assert_allclose(feats["block.fc1"][l], h, rtol=1e-13)
    np.testing.assert_allclose(f, 0.9 * jnp.tanh(h) @ p["W_out"], rtol=1e-13)
