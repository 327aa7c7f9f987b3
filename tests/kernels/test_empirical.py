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
    """A width-8 net embedded in the leading units of 16 (the one-compilation trick used by the
    width sweeps) has the width-8 outputs and NTK, whatever the inactive units hold."""
    from infwidth.kernels._empirical import _ntk

    narrow, padded = MLPConfig(8, 2, "erf", NTP, 1.2, 0.1), MLPConfig(16, 2, "erf", NTP, 1.2, 0.1)
    rng = np.random.RandomState(4)
    shapes = [(4, 8), (8, 8), (8, 1)]
    p8 = [{"w": rng.randn(*s), "b": rng.randn(s[1])} for s in shapes]
    p16 = []
    for p, (fi, fo) in zip(p8, [(4, 16), (16, 16), (16, 1)], strict=True):
        w, b = rng.randn(fi, fo), rng.randn(fo)  # junk in the inactive units
        w[: p["w"].shape[0], : p["w"].shape[1]], b[: p["b"].shape[0]] = p["w"], p["b"]
        p16.append({"w": w, "b": b})

    @jax.jit
    def both(p8, p16, x):
        return (mlp_apply(narrow, p8, x), mlp_apply(padded, p16, x, 8.0),
                _ntk(narrow, p8, x, x), _ntk(padded, p16, x, x, 8.0))  # fmt: skip

    f8, f16, t8, t16 = both(p8, p16, jnp.asarray(X[:3]))
    np.testing.assert_allclose(f16, f8, rtol=1e-12)
    np.testing.assert_allclose(t16, t8, rtol=1e-12)


def test_empirical_ntk_converges_like_inverse_sqrt_width():
    """Slope of log ||Theta_n - Theta|| / ||Theta|| vs log n over widths 16..256, 24 seeds:
    -1/2 within 0.15 (the seed-to-seed spread of the fitted slope is ~0.05)."""
    fit = ntk_convergence(X, [16, 32, 64, 128, 256], range(24), depth=2)
    assert abs(fit.slope + 0.5) < 0.15, fit.slope


def test_mup_initial_kernels():
    """muP at init: the empirical NTK has the NTP limit, and the output variance vanishes like
    1/n (the analytic muP NNGP is 0)."""
    k = mlp_kernels(X, depth=1, activation="erf", parameterization="mup")
    np.testing.assert_array_equal(k.nngp, 0.0)
    np.testing.assert_allclose(k.ntk, mlp_kernels(X, depth=1, activation="erf").ntk, rtol=1e-14)
    var = []
    for n in (256, 4096):
        cfg = MLPConfig(n, 1, "erf", MUP)
        p0 = init_mlp(jax.random.PRNGKey(0), cfg, 4)
        emp = empirical_ntk(cfg, p0, jnp.asarray(X), jnp.asarray(X))
        assert np.linalg.norm(emp - k.ntk) / np.linalg.norm(k.ntk) < 5 / np.sqrt(n)
        var.append(np.mean(np.asarray(mlp_apply(cfg, p0, jnp.asarray(X))) ** 2))
    assert 4 < var[0] / var[1] < 64  # ~ 16 = 4096 / 256, within sampling noise


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
