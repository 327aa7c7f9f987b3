"""Infinite-width MLP kernels: recursions, finite-width Monte Carlo, PSD, blocks, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.kernels import mlp_kernels

RNG = np.random.RandomState(0)
X = RNG.randn(9, 6)
Y = RNG.randn(5, 6)


def test_depth_zero_is_linear_model():
    k = mlp_kernels(X, Y, depth=0, activation="relu", W_std=1.5, b_std=0.2)
    nngp = 1.5**2 * X @ Y.T / 6 + 0.2**2
    np.testing.assert_allclose(k.nngp, nngp, rtol=1e-14)
    np.testing.assert_allclose(k.ntk, nngp, rtol=1e-14)  # ntk parametrization: Theta = K


def test_one_hidden_relu_by_hand():
    """K1 = W^2 x.x'/d, K2 = W^2 E[relu relu], Theta2 = K2 + W^2 K1 (pi - theta) / (2 pi)."""
    w = 1.3
    k = mlp_kernels(X, Y, depth=1, activation="relu", W_std=w)
    k1 = w**2 * X @ Y.T / 6
    v1, v2 = w**2 * (X**2).sum(1) / 6, w**2 * (Y**2).sum(1) / 6
    s = np.sqrt(np.outer(v1, v2))
    th = np.arccos(np.clip(k1 / s, -1, 1))
    k2 = w**2 * s / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th))
    np.testing.assert_allclose(k.nngp, k2, rtol=1e-12)
    np.testing.assert_allclose(k.ntk, k2 + w**2 * k1 * (np.pi - th) / (2 * np.pi), rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
def test_hidden_features_monte_carlo(activation):
    """One finite layer of width n = 50000: the empirical feature covariance
    W_std^2 (1/n) sum_i phi_i(x) phi_i(x') + b_std^2 is the depth-1 NNGP up to O(n^-1/2)
    fluctuations; tolerance 5 sigma with sigma = sqrt(2/n) relative to sqrt(K(x,x) K(x',x'))."""
    n, w, b = 50_000, 1.4, 0.3
    act = {"relu": jax.nn.relu, "erf": jax.scipy.special.erf, "tanh": jnp.tanh,
           "gelu": lambda x: jax.nn.gelu(x, approximate=False)}[activation]  # fmt: skip
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    W, beta = jax.random.normal(k1, (X.shape[1], n)), jax.random.normal(k2, (n,))
    h = act(w / np.sqrt(X.shape[1]) * jnp.asarray(X) @ W + b * beta)
    emp = w**2 * np.asarray(h @ h.T) / n + b**2
    ana = mlp_kernels(X, depth=1, activation=activation, W_std=w, b_std=b).nngp
    scale = np.sqrt(np.outer(np.diag(ana), np.diag(ana)))
    assert np.max(np.abs(emp - ana) / scale) < 5 * np.sqrt(2.0 / n)


@pytest.mark.parametrize("activation", ["relu", "erf", "gelu"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_symmetric_psd(activation, parameterization):
    k = mlp_kernels(X, depth=3, activation=activation, b_std=0.1, parameterization=parameterization)
    for m in k:
        assert m.dtype == np.float64
        np.testing.assert_array_equal(m, m.T)
        ev = np.linalg.eigvalsh(m)
        assert ev.min() > -1e-12 * ev.max()


def test_blocks_do_not_change_the_result():
    full = mlp_kernels(X, depth=2, activation="erf", b_std=0.5)
    tiled = mlp_kernels(X, depth=2, activation="erf", b_std=0.5, block_size=4)
    for a, b in zip(full, tiled, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    cross = mlp_kernels(X, Y, depth=2, activation="erf", b_std=0.5, block_size=2)
    np.testing.assert_allclose(
        cross.ntk, mlp_kernels(X, Y, depth=2, activation="erf", b_std=0.5).ntk, rtol=1e-13
    )


def test_standard_ntk_per_width_limit():
    """Theta_std(width) / width -> the width=None kernel, with an O(1/width) gap."""
    lim = mlp_kernels(X, depth=2, activation="relu", b_std=0.1, parameterization="standard").ntk
    gaps = []
    for n in (100, 1000):
        k = mlp_kernels(
            X, depth=2, activation="relu", b_std=0.1, parameterization="standard", width=n
        ).ntk
        gaps.append(np.max(np.abs(k / n - lim)) / np.max(lim))
    assert gaps[1] < gaps[0] / 8 and gaps[1] < 1e-2


def test_docstring_example_runs():
    import doctest

    import infwidth.kernels

    assert doctest.testmod(infwidth.kernels).failed == 0


def test_float64_even_without_global_x64():
    with jax.enable_x64(False):
        k = mlp_kernels(X, depth=1, activation="relu")
    assert k.nngp.dtype == np.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x1": np.array([[1.0, np.nan]])}, "non-finite"),
        ({"x1": X, "x2": np.ones((2, 3))}, "feature dimensions"),
        ({"x1": X, "activation": "sigmoid"}, "unsupported activation"),
        ({"x1": X, "parameterization": "ntp"}, "parameterization"),
        ({"x1": X, "depth": -1}, "depth"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"depth": 1, "activation": "relu"} | kwargs
    with pytest.raises(InfwidthError, match=match):
        mlp_kernels(**args)
