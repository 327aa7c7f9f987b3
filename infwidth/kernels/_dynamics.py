"""Lazy (kernel-regime) dynamics: closed-form MSE training of an infinitely wide network.

For the loss ``L = (1 / 2n) sum_i ||f(x_i) - y_i||^2`` over ``n`` training points and a network
in its kernel regime, the outputs evolve linearly (Jacot et al. 2018; Lee et al. 2019):

.. math::

    \\dot f_{train} = -\\frac{\\eta}{n}\\Theta (f_{train} - y), \\qquad
    \\dot f_{test} = -\\frac{\\eta}{n}\\Theta_{*} (f_{train} - y),

with ``Theta = Theta(X, X)`` and ``Theta_* = Theta(X_test, X)``. With ``Theta = V diag(lam) V^T``
and ``r_t(lam)`` the residual factor (``exp(-eta lam t / n)`` for gradient flow,
``(1 - eta lam / n)^t`` for ``t`` steps of gradient descent):

.. math::

    f_{train}(t) = y + V r_t(\\Lambda) V^T (f_0 - y), \\qquad
    f_{test}(t) = f_{*,0} + \\Theta_* V \\frac{1 - r_t(\\Lambda)}{\\Lambda} V^T (y - f_0).

``(1 - r_t(lam)) / lam`` is evaluated stably (``-expm1`` for flow) and tends to ``eta t / n`` as
``lam -> 0``, so singular kernels are fine. The NNGP posterior mean and variance
(:func:`nngp_posterior`) are the Bayesian counterpart (Lee et al. 2018).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError

__all__ = [
    "LazyPrediction",
    "LearningCurves",
    "Posterior",
    "learning_curves",
    "lazy_predict",
    "nngp_posterior",
]


class LazyPrediction(NamedTuple):
    """Predicted outputs at each time: ``train`` (T, n, k), ``test`` (T, m, k) or ``None``."""

    times: np.ndarray
    train: np.ndarray
    test: np.ndarray | None


class Posterior(NamedTuple):
    """NNGP posterior on test points: ``mean`` (m, k), ``cov`` (m, m)."""

    mean: np.ndarray
    cov: np.ndarray


def _as_2d(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def lazy_predict(
    ntk_train: np.ndarray,
    y_train: np.ndarray,
    times,
    *,
    ntk_test_train: np.ndarray | None = None,
    learning_rate: float = 1.0,
    f_train_0: np.ndarray | None = None,
    f_test_0: np.ndarray | None = None,
    discrete: bool = False,
) -> LazyPrediction:
    """Outputs of MSE gradient flow (``discrete=False``) or gradient descent (``times`` are then
    step counts) in the kernel regime, on training and test points, at every time in ``times``.

    Args:
        ntk_train: ``Theta(X, X)``, shape (n, n), symmetric PSD.
        y_train: targets, shape (n,) or (n, k).
        times: scalar or 1-D array of times (flow) or step counts (descent).
        ntk_test_train: ``Theta(X_test, X)``, shape (m, n); omit for training points only.
        learning_rate: ``eta`` in the module docstring (loss normalised by ``1/(2n)``).
        f_train_0, f_test_0: outputs at initialisation (default 0: the mean over initialisations
            of an infinitely wide network; pass a finite network's own outputs to predict it).
        discrete: gradient descent instead of gradient flow; stable iff
            ``eta lam_max / n < 2``.

    Returns:
        :class:`LazyPrediction`.
    """
    theta = valid.data_array("ntk_train", ntk_train, inputs=False)
    y = _as_2d(valid.data_array("y_train", y_train, ndim=(1, 2), inputs=False))
    n = theta.shape[0]
    if theta.shape != (n, n) or y.shape[0] != n:
        raise InfwidthError(f"ntk_train must be (n, n) with n = len(y_train); got {theta.shape}")
    learning_rate = valid.positive("learning_rate", learning_rate)
    f0 = np.zeros_like(y) if f_train_0 is None else _as_2d(f_train_0)
    t = valid.data_array("times", np.atleast_1d(times), ndim=1, inputs=False)
    if np.any(t < 0):
        raise InfwidthError(f"times must be >= 0, got min {t.min():g}")
    lam, v = np.linalg.eigh((theta + theta.T) / 2)
    lam = np.clip(lam, 0.0, None)
    rate = learning_rate / n
    if discrete and rate * lam.max() >= 2:
        raise InfwidthError(
            f"gradient descent diverges: learning_rate * lam_max / n = {rate * lam.max():.3g} >= 2"
        )
    tl = t[:, None] * lam[None, :]  # (T, n)
    if discrete:
        resid = (1 - rate * lam)[None, :] ** t[:, None]
        small = rate * lam < 1e-12
        gain = np.where(small, rate * t[:, None], (1 - resid) / np.where(small, 1.0, lam))
    else:
        resid = np.exp(-rate * tl)
        gain = np.where(
            lam > 0, -np.expm1(-rate * tl) / np.where(lam > 0, lam, 1.0), rate * t[:, None]
        )
    proj = v.T @ (f0 - y)  # (n, k)
    train = y[None] + np.einsum("ij,tj,jk->tik", v, resid, proj)
    test = None
    if ntk_test_train is not None:
        ts = valid.data_array("ntk_test_train", ntk_test_train, inputs=False)
        if ts.shape[1] != n:
            raise InfwidthError(f"ntk_test_train must be (m, {n}), got {ts.shape}")
        ft0 = np.zeros((ts.shape[0], y.shape[1])) if f_test_0 is None else _as_2d(f_test_0)
        test = ft0[None] - np.einsum("ij,tj,jk->tik", ts @ v, gain, proj)
    return LazyPrediction(t, train, test)


def nngp_posterior(
    nngp_train: np.ndarray,
    y_train: np.ndarray,
    nngp_test_train: np.ndarray,
    nngp_test: np.ndarray,
    *,
    noise: float = 0.0,
) -> Posterior:
    """Gaussian-process posterior with the NNGP kernel ``K``:
    ``mean = K_* (K + s^2 I)^-1 y``, ``cov = K_** - K_* (K + s^2 I)^-1 K_*^T``.

    Solved by Cholesky; ``noise`` is the observation standard deviation ``s`` (a tiny jitter is
    added when ``noise = 0`` and ``K`` is singular)."""
    k = np.asarray(nngp_train, dtype=np.float64)
    y = _as_2d(y_train)
    n = k.shape[0]
    a = k + noise**2 * np.eye(n)
    try:
        chol = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        chol = np.linalg.cholesky(a + 1e-10 * np.trace(k) / n * np.eye(n))
    ks = np.asarray(nngp_test_train, dtype=np.float64)
    w = np.linalg.solve(chol, ks.T)  # L^-1 K_*^T
    alpha = np.linalg.solve(chol, y)
    return Posterior(w.T @ alpha, np.asarray(nngp_test, dtype=np.float64) - w.T @ w)


class LearningCurves(NamedTuple):
    """Mean squared errors ``(1/N) sum ||f - y||^2 / k`` at each time."""

    times: np.ndarray
    train_mse: np.ndarray
    test_mse: np.ndarray | None


def learning_curves(
    prediction: LazyPrediction, y_train: np.ndarray, y_test: np.ndarray | None = None
) -> LearningCurves:
    """Train and test MSE along a :class:`LazyPrediction`."""
    tr = np.mean((prediction.train - _as_2d(y_train)[None]) ** 2, axis=(1, 2))
    te = None
    if prediction.test is not None and y_test is not None:
        te = np.mean((prediction.test - _as_2d(y_test)[None]) ** 2, axis=(1, 2))
    return LearningCurves(prediction.times, tr, te)
