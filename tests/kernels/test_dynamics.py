"""Closed-form lazy dynamics against explicit integration and kernel regression."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from infwidth.errors import InfwidthError
from infwidth.kernels import lazy_predict, learning_curves, mlp_kernels, nngp_posterior

RNG = np.random.RandomState(7)
XTR, XTE = RNG.randn(10, 4), RNG.randn(5, 4)
Y = np.sin(XTR @ np.array([1.0, -0.5, 0.3, 0.2]))[:, None]
YTE = np.sin(XTE @ np.array([1.0, -0.5, 0.3, 0.2]))[:, None]
THETA = mlp_kernels(XTR, depth=2, activation="relu", b_std=0.1).ntk
THETA_TE = mlp_kernels(XTE, XTR, depth=2, activation="relu", b_std=0.1).ntk
F0, FT0 = 0.3 * RNG.randn(10, 1), 0.3 * RNG.randn(5, 1)


def test_gradient_flow_matches_ode_solution():
    eta, n = 2.0, 10

    def rhs(t, f):
        ftr = f[:n].reshape(n, 1)
        return np.concatenate(
            [-eta / n * THETA @ (ftr - Y), -eta / n * THETA_TE @ (ftr - Y)]
        ).ravel()

    times = np.array([0.0, 0.5, 3.0, 20.0])
    sol = solve_ivp(
        rhs, (0, 20), np.concatenate([F0, FT0]).ravel(), t_eval=times, rtol=1e-11, atol=1e-12
    )
    pred = lazy_predict(
        THETA, Y, times, ntk_test_train=THETA_TE, learning_rate=eta, f_train_0=F0, f_test_0=FT0
    )
    np.testing.assert_allclose(pred.train[..., 0], sol.y[:n].T, atol=1e-8)
    np.testing.assert_allclose(pred.test[..., 0], sol.y[n:].T, atol=1e-8)


def test_gradient_descent_matches_iteration():
    eta, n, steps = 1.5, 10, 25
    f, ft = F0.copy(), FT0.copy()
    for _ in range(steps):
        f, ft = f - eta / n * THETA @ (f - Y), ft - eta / n * THETA_TE @ (f - Y)
    pred = lazy_predict(
        THETA,
        Y,
        steps,
        ntk_test_train=THETA_TE,
        learning_rate=eta,
        f_train_0=F0,
        f_test_0=FT0,
        discrete=True,
    )
    np.testing.assert_allclose(pred.train[0], f, atol=1e-12)
    np.testing.assert_allclose(pred.test[0], ft, atol=1e-12)


def test_infinite_time_is_kernel_regression():
    pred = lazy_predict(THETA, Y, 1e9, ntk_test_train=THETA_TE)
    np.testing.assert_allclose(pred.train[0], Y, atol=1e-8)
    np.testing.assert_allclose(pred.test[0], THETA_TE @ np.linalg.solve(THETA, Y), atol=1e-7)
    curves = learning_curves(
        lazy_predict(THETA, Y, [0, 1, 10, 100], ntk_test_train=THETA_TE), Y, YTE
    )
    assert np.all(np.diff(curves.train_mse) < 0)  # flow decreases the training loss
    assert curves.test_mse.shape == (4,)


def test_nngp_posterior_interpolates_and_is_psd():
    k = mlp_kernels(XTR, depth=2, activation="erf")
    k_te = mlp_kernels(XTE, XTR, depth=2, activation="erf").nngp
    k_tt = mlp_kernels(XTE, depth=2, activation="erf").nngp
    post = nngp_posterior(k.nngp, Y, k.nngp, k.nngp)
    np.testing.assert_allclose(post.mean, Y, atol=1e-6)
    assert np.max(np.abs(post.cov)) < 1e-6
    post = nngp_posterior(k.nngp, Y, k_te, k_tt, noise=0.1)
    assert np.linalg.eigvalsh(post.cov).min() > -1e-10
    ref = k_te @ np.linalg.solve(k.nngp + 0.01 * np.eye(10), Y)
    np.testing.assert_allclose(post.mean, ref, rtol=1e-8)


def test_divergent_learning_rate_raises():
    with pytest.raises(InfwidthError, match="diverges"):
        lazy_predict(THETA, Y, 10, learning_rate=1e4, discrete=True)
