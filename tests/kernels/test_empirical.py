"""Finite-width NTKs against the analytic limit; NTK movement under NTP vs muP."""

import jax
import jax.numpy as jnp
import numpy as np

from infwidth.kernels import (
    MUP,
    NTP,
    MLPConfig,
    empirical_ntk,
    init_mlp,
    lazy_predict,
    mlp_apply,
    mlp_kernels,
    ntk_convergence,
    ntk_movement,
    train_mlp,
)

jax.config.update("jax_enable_x64", True)

RNG = np.random.RandomState(0)
X = RNG.randn(10, 4)
Y = np.tanh(X @ RNG.randn(4))


def test_linear_model_ntk_is_exact_at_any_width():
    """depth 0 (a linear model): Theta = W_std^2 x.x'/d + b_std^2 exactly, for one sample."""
    cfg = MLPConfig(3, 0, "relu", NTP, W_std=1.3, b_std=0.4)
    p = init_mlp(jax.random.PRNGKey(0), cfg, 4)
    emp = empirical_ntk(cfg, p, jnp.asarray(X), jnp.asarray(X))
    ref = mlp_kernels(X, depth=0, activation="relu", W_std=1.3, b_std=0.4).ntk
    np.testing.assert_allclose(emp, ref, rtol=1e-12)


def test_padded_network_equals_narrow_network():
    """A width-8 net padded to 16 units (the one-compilation trick) has the width-8 NTK."""
    narrow, padded = MLPConfig(8, 2, "erf", NTP, 1.2, 0.1), MLPConfig(16, 2, "erf", NTP, 1.2, 0.1)
    p8 = init_mlp(jax.random.PRNGKey(1), narrow, 4)
    p32 = init_mlp(jax.random.PRNGKey(2), padded, 4, n=8.0)  # 16 units, 8 active
    for l8, l32 in zip(p8, p32, strict=True):  # copy the narrow net into the leading units
        l32["w"] = l32["w"].at[: l8["w"].shape[0], : l8["w"].shape[1]].set(l8["w"])
        l32["b"] = l32["b"].at[: l8["b"].shape[0]].set(l8["b"])
    x = jnp.asarray(X[:3])
    np.testing.assert_allclose(mlp_apply(padded, p32, x, 8.0), mlp_apply(narrow, p8, x), rtol=1e-12)
    from infwidth.kernels._empirical import _ntk

    np.testing.assert_allclose(
        _ntk(padded, p32, x, x, 8.0), empirical_ntk(narrow, p8, x, x), rtol=1e-12
    )


def test_empirical_ntk_converges_like_inverse_sqrt_width():
    """Slope of log ||Theta_n - Theta|| / ||Theta|| vs log n over widths 16..256, 24 seeds:
    -1/2 within 0.15 (the seed-to-seed spread of the fitted slope is ~0.05)."""
    fit = ntk_convergence(X, [16, 32, 64, 128, 256], range(24), depth=2)
    assert abs(fit.slope + 0.5) < 0.15, fit.slope


def test_ntk_moves_lazily_under_ntp_but_not_under_mup():
    widths, seeds = [32, 64, 128, 256], range(4)
    ntp = ntk_movement(X, Y, widths, seeds, parametrization="ntp")
    mup = ntk_movement(X, Y, widths, seeds, parametrization="mup")
    assert ntp.slope < -0.4, ntp.slope  # at least the O(n^-1/2) of lazy training
    assert abs(mup.slope) < 0.2, mup.slope  # Theta(1): no decay with width
    assert np.exp(np.log(mup.errors).mean(1)).min() > 0.5


def test_wide_ntp_network_follows_lazy_prediction():
    """A width-2048 NTP net trained by gradient descent tracks the closed-form kernel
    prediction started from its own initial outputs (deviation O(n^-1/2))."""
    cfg = MLPConfig(2048, 1, "erf", NTP)
    x = jnp.asarray(X)
    p0 = init_mlp(jax.random.PRNGKey(3), cfg, 4)
    f0 = np.asarray(mlp_apply(cfg, p0, x))
    steps, lr = 40, 1.0
    p1 = train_mlp(cfg, p0, X, Y, steps=steps, learning_rate=lr)
    theta = mlp_kernels(X, depth=1, activation="erf").ntk
    pred = lazy_predict(theta, Y, steps, learning_rate=lr, f_train_0=f0, discrete=True)
    moved = np.linalg.norm(pred.train[0, :, 0] - f0)
    gap = np.linalg.norm(np.asarray(mlp_apply(cfg, p1, x)) - pred.train[0, :, 0])
    assert gap < 0.1 * moved
    assert MUP.a[0] == -0.5  # the muP exponents of THEORY.md section 3
