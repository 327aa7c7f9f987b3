"""One layer, two semantics: the kernel maps of a layer stack match Monte Carlo over the finite
networks its own ``init``/``apply`` build (neural-tangents' test pattern, ``stax_test.py``).

NNGP: the readout is widened to ``N`` output units, ``K_emp = mean_draws f f^T / N``. NTK: the
empirical NTK ``J J^T`` of the scalar-output network (``jax.jacrev`` of ``apply``) averaged over
draws. Width 512, 96 draws: the sampling error is ~1 % and the 1/width bias ~0.2 %, so the
relative Frobenius error must be < 3 %.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.kernels import conv_kernels, mlp_kernels, mlp_layers
from infwidth.network import Conv, Dense, GlobalAvgPool, get_activation, serial

WIDTH, DRAWS, RTOL = 512, 96, 0.03
X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _monte_carlo(layers, x, draws=DRAWS, chunk=16):
    """(mean f f^T / N with the readout widened to N = WIDTH units, mean empirical NTK)."""
    wide = serial(*layers[:-1], dataclasses.replace(layers[-1], out_dim=WIDTH))
    net = serial(*layers)

    def one(key):
        _, p_wide = wide.init(key, x.shape)
        out = wide.apply(p_wide, x)
        _, params = net.init(key, x.shape)
        jac = jax.jacrev(lambda p: net.apply(p, x)[:, 0])(params)
        flat = jnp.concatenate([j.reshape(x.shape[0], -1) for j in jax.tree.leaves(jac)], 1)
        return out @ out.T / WIDTH, flat @ flat.T

    keys = jax.random.split(jax.random.PRNGKey(0), draws).reshape(-1, chunk, 2)
    f = jax.jit(jax.vmap(one))
    nngp, ntk = zip(*(f(k) for k in keys), strict=True)
    return np.mean(np.concatenate(nngp), 0), np.mean(np.concatenate(ntk), 0)


@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_mlp_kernels_match_finite_networks(activation):
    kw = dict(depth=2, activation=activation, W_std=1.5, b_std=0.3)
    layers = mlp_layers(X.shape[1], width=WIDTH, **kw)
    assert layers[1] is get_activation(activation)  # the network model's own object
    nngp_mc, ntk_mc = _monte_carlo(layers, X)
    exact = mlp_kernels(X, **kw)
    assert _rel(nngp_mc, exact.nngp) < RTOL
    assert _rel(ntk_mc, exact.ntk) < RTOL
    # The check resolves the activation: another one's kernels are far outside the tolerance.
    other = mlp_kernels(X, **{**kw, "activation": "gelu" if activation == "silu" else "erf"})
    assert _rel(nngp_mc, other.nngp) > 3 * RTOL and _rel(ntk_mc, other.ntk) > 3 * RTOL


def test_conv_kernels_match_finite_networks():
    x = np.random.default_rng(1).standard_normal((3, 5, 5, 2)).astype(np.float32)
    layers = (Conv((3, 3), 1.4, 0.2, out_chan=WIDTH), get_activation("silu"), GlobalAvgPool(),
              Dense(1.4, 0.2, out_dim=1))  # fmt: skip
    nngp_mc, ntk_mc = _monte_carlo(layers, x, draws=32)
    exact = conv_kernels(x, depth=1, activation="silu", W_std=1.4, b_std=0.2)
    assert _rel(nngp_mc, exact.nngp) < 2 * RTOL
    assert _rel(ntk_mc, exact.ntk) < 2 * RTOL


def test_finite_layer_conventions():
    # NTK parametrization: N(0, 1) parameters, multipliers W_std / sqrt(fan_in) and b_std.
    d = Dense(2.0, 0.5, out_dim=3)
    shape, (W, b) = d.init(jax.random.PRNGKey(1), (5, 4))
    x = jnp.ones((5, 4))
    assert shape == (5, 3)
    np.testing.assert_allclose(d.apply((W, b), x), x @ W + 0.5 * b, rtol=1e-6)  # 2/sqrt(4) = 1
    std = dataclasses.replace(d, parameterization="standard")
    _, (Ws, bs) = std.init(jax.random.PRNGKey(1), (5, 4))
    np.testing.assert_allclose(Ws, W, rtol=1e-6)  # W_std / sqrt(n) = 1 at init instead
    np.testing.assert_allclose(bs, 0.5 * b, rtol=1e-6)
    assert Dense(1.0, 0.0, out_dim=3).init(jax.random.PRNGKey(1), (5, 4))[1][1] is None
    with pytest.raises(InfwidthError, match="out_dim"):
        Dense().init(jax.random.PRNGKey(0), (5, 4))


def test_residual_and_layernorm_kernels_match_finite_networks():
    from infwidth.kernels import kernels_in_blocks
    from infwidth.network import LayerNorm, Residual

    w = WIDTH
    branch = (Dense(1.2, 0.1, out_dim=w), get_activation("relu"), Dense(1.0, 0.0, out_dim=w))
    layers = (Dense(1.3, 0.2, out_dim=w), LayerNorm(), get_activation("silu"),
              Residual(branch, 0.7), Dense(1.0, 0.1, out_dim=1))  # fmt: skip
    nngp_mc, ntk_mc = _monte_carlo(layers, X, draws=48)
    exact = kernels_in_blocks(layers, X)
    assert _rel(nngp_mc, exact.nngp) < RTOL
    assert _rel(ntk_mc, exact.ntk) < RTOL
