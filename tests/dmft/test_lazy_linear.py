"""Deterministic solvers: lazy limit, deep-linear closed form, two-layer whitened formulas."""

import numpy as np
import pytest

from infwidth.dmft import (
    DeepLinear,
    DMFTProblem,
    Lazy,
    TwoLayerParticles,
    lazy_kernels,
    solve_dmft,
)
from infwidth.dmft._lazy import lazy_error_trajectory
from infwidth.dmft._linear import solve_linear


def test_lazy_limit_deep_linear_equals_ntk_dynamics(small_data):
    # DMFT.md 6.1: at gamma0 = 1e-4 the full solver reproduces Delta(t) = (I - eta K)^t y,
    # K = (L+1) K^x for linear nets [reference 9e-9].
    X, y = small_data
    L, eta, T = 3, 0.05, 30
    prob = DMFTProblem(X, y, depth=L, activation="linear", gamma0=1e-4, eta=eta, steps=T)
    sol = solve_dmft(prob, DeepLinear())
    K = (L + 1) * (X @ X.T / X.shape[1])
    np.testing.assert_allclose(lazy_kernels(prob.Kx, L, "linear")[2], K, rtol=1e-12)
    ref = lazy_error_trajectory(K, y, eta, T)
    assert np.max(np.abs((y - sol.train_outputs) - ref)) < 1e-7
    assert sol.converged and sol.outputs[0].max() == 0.0


@pytest.mark.parametrize("activation", ["tanh", "relu", "erf", "gelu"])
def test_lazy_limit_two_layer_particles(small_data, activation):
    # Nonlinear lazy limit: the particle solver at gamma0 = 1e-4 follows the static-NTK dynamics
    # up to its Monte-Carlo error (S = 20000 sites: NTK error ~ S^{-1/2} ~ 7e-3 relative).
    X, y = small_data
    prob = DMFTProblem(X, y, depth=1, activation=activation, gamma0=1e-4, eta=0.05, steps=30)
    lazy = solve_dmft(prob, Lazy())
    part = solve_dmft(prob, TwoLayerParticles(n_sites=20000), seed=3)
    assert np.max(np.abs(lazy.outputs - part.outputs)) < 2e-2
    rel = np.linalg.norm(part.ntk[0] - lazy.ntk[0]) / np.linalg.norm(lazy.ntk[0])
    assert rel < 3e-2


def test_lazy_matches_kernel_engine(small_data):
    # The lazy NTK equals infwidth.kernels' NTK of serial([Dense, Act] * L, Dense(1)).
    kernels = pytest.importorskip("infwidth.kernels")
    if not hasattr(kernels, "mlp_kernels"):
        pytest.skip("infwidth.kernels.mlp_kernels not available yet")
    X, y = small_data
    Xt = np.random.default_rng(7).standard_normal((2, X.shape[1]))
    for act in ("relu", "tanh", "erf"):
        ref = np.asarray(kernels.mlp_kernels(X, depth=2, activation=act).ntk)
        ours = lazy_kernels(X @ X.T / X.shape[1], 2, act)[2]
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
    # Lazy dynamics on train and test points = the kernel engine's GD prediction. Its loss is
    # the mean 1/(2n) sum, so its learning rate is eta * n for our summed loss.
    eta, T = 0.05, 40
    prob = DMFTProblem(X, y, depth=2, activation="tanh", eta=eta, steps=T, X_test=Xt)
    sol = solve_dmft(prob, Lazy())
    ntk_tr = np.asarray(kernels.mlp_kernels(X, depth=2, activation="tanh").ntk)
    ntk_te = np.asarray(kernels.mlp_kernels(Xt, X, depth=2, activation="tanh").ntk)
    pred = kernels.lazy_predict(
        ntk_tr,
        y,
        np.arange(T),
        ntk_test_train=ntk_te,
        learning_rate=eta * len(y),
        discrete=True,
    )
    np.testing.assert_allclose(sol.train_outputs, np.asarray(pred.train).reshape(T, -1), atol=1e-5)
    np.testing.assert_allclose(sol.test_outputs, np.asarray(pred.test).reshape(T, -1), atol=1e-5)


def test_lazy_flow_is_small_eta_limit_of_gd(small_data):
    X, y = small_data
    gd = solve_dmft(DMFTProblem(X, y, depth=2, activation="tanh", eta=0.001, steps=400), Lazy())
    fl = solve_dmft(
        DMFTProblem(X, y, depth=2, activation="tanh", eta=0.001, steps=400, dynamics="flow"),
        Lazy(),
    )
    assert np.max(np.abs(gd.outputs - fl.outputs)) < 1e-3


def test_kernel_change_scales_as_gamma0_squared(small_data):
    # DMFT.md 6.2: |K(T) - K(0)| / |K(0)| / gamma0^2 is constant as gamma0 -> 0 (no odd orders)
    # [2.976, 2.980, 2.994, 3.051 in the reference run]. Deep linear L = 2.
    X, y = small_data
    ratios = []
    for g in (0.025, 0.05, 0.1):
        prob = DMFTProblem(X, y, depth=2, activation="linear", gamma0=g, eta=0.05, steps=40)
        sol = solve_dmft(prob, DeepLinear())
        ratios.append(np.linalg.norm(sol.ntk[-1] - sol.ntk[0]) / np.linalg.norm(sol.ntk[0]) / g**2)
    ratios = np.array(ratios)
    assert ratios.min() > 0.1
    # O(gamma0^2) corrections: relative drift 0.025 -> 0.05 much smaller than 0.05 -> 0.1.
    assert abs(ratios[1] / ratios[0] - 1) < 5e-3
    assert abs(ratios[2] / ratios[0] - 1) < 2e-2


def _whitened(gamma0, eta, steps):
    P = 3
    X = np.sqrt(P) * np.eye(P)  # K^x = I
    y = np.array([1.0, -0.5, 0.8])
    return DMFTProblem(X, y, depth=1, activation="linear", gamma0=gamma0, eta=eta, steps=steps), y


def test_two_layer_whitened_closed_form():
    # DMFT.md 3.2 / 6.4, with the verified factor-2 time convention: in our units (summed loss,
    # lazy NTK = 2I) the error obeys d|Delta|/dt = -2 sqrt(1 + g0^2 (|y| - |Delta|)^2) |Delta|,
    # NOT the printed -sqrt(...) (which is off by a time factor 2). H_y(t) = y^T H y / |y|^2
    # = sqrt(1 + g0^2 (|y| - |Delta|)^2) and H(inf) = I + [sqrt(1 + g0^2 |y|^2) - 1] yy^T/|y|^2
    # match the printed formulas. Reference numbers: 1.5e-3, 8e-3, 4e-3.
    g0, eta, T = 1.5, 0.01, 400
    prob, y = _whitened(g0, eta, T)
    sol = solve_dmft(prob, DeepLinear())
    ny = np.linalg.norm(y)
    d = np.linalg.norm(y[None] - sol.train_outputs, axis=1)
    # Integrate the corrected ODE with the same step.
    dd = np.empty(T)
    dd[0] = ny
    for t in range(T - 1):
        dd[t + 1] = dd[t] - eta * 2 * np.sqrt(1 + g0**2 * (ny - dd[t]) ** 2) * dd[t]
    assert np.max(np.abs(d - dd)) < 5e-3 * ny
    idx = np.arange(T)
    H = sol.Phi[0][idx, :, idx, :]  # (T, P, P)
    yh = y / ny
    Hy = np.einsum("m,tmn,n->t", yh, H, yh)
    np.testing.assert_allclose(Hy, np.sqrt(1 + g0**2 * (ny - d) ** 2), rtol=1e-2)
    # H changes only in the y y^T direction.
    Q = np.eye(3) - np.outer(yh, yh)
    assert np.max(np.abs(Q @ (H[-1] - np.eye(3)) @ Q)) < 1e-10
    Hinf = np.eye(3) + (np.sqrt(1 + g0**2 * ny**2) - 1) * np.outer(yh, yh)
    assert np.max(np.abs(H[-1] - Hinf)) < 1e-2
    # The printed (un-doubled) rate is clearly wrong in these units.
    slow = np.empty(T)
    slow[0] = ny
    for t in range(T - 1):
        slow[t + 1] = slow[t] - eta * np.sqrt(1 + g0**2 * (ny - slow[t]) ** 2) * slow[t]
    assert np.max(np.abs(d - slow)) > 0.2 * ny


def test_two_layer_particles_linear_match_closed_form():
    # The particle solver (any activation, L = 1) on the linear whitened problem.
    prob, y = _whitened(1.0, 0.02, 100)
    exact = solve_dmft(prob, DeepLinear())
    part = solve_dmft(prob, TwoLayerParticles(n_sites=20000), seed=1)
    assert np.max(np.abs(exact.outputs - part.outputs)) < 2e-2
    rel = np.linalg.norm(exact.Phi - part.Phi) / np.linalg.norm(exact.Phi)
    assert rel < 3e-2


def _perturbative_c(L, gia):
    # DMFT.md 3.2 / 6.5: Delta K(t,t) / g0^2 = c [(v^T Kx v) Kx + Kx v v^T Kx], v = eta sum Delta0.
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 5)), rng.standard_normal(3)
    g0, eta, T = 0.02, 0.02, 40
    Kx = X @ X.T / 5
    d0 = lazy_error_trajectory((L + 1) * Kx, y, eta, T)
    _, ntk = solve_linear(Kx, y, depth=L, eta=eta, gamma0=g0, steps=T, gia=gia)
    ntk = np.asarray(ntk)
    v = eta * d0[:-1].sum(0)
    basis = (v @ Kx @ v) * Kx + np.outer(Kx @ v, Kx @ v)
    dK = (ntk[-1] - ntk[0]) / g0**2
    return float(np.sum(dK * basis) / np.sum(basis * basis))


@pytest.mark.parametrize("L", [1, 2, 3])
def test_perturbative_ntk_coefficient(L):
    # Printed eq. 13 gives c_L = L(L+1); we verified (against finite nets) that the FULL DMFT
    # gives c_L ~ L(L+1)^2(L+2)/6 and only the gradient-independence ansatz gives L(L+1).
    # The two agree for L = 1. Tolerance covers the O(eta) discretisation.
    full = _perturbative_c(L, gia=False)
    gia = _perturbative_c(L, gia=True)
    assert full == pytest.approx(L * (L + 1) ** 2 * (L + 2) / 6, rel=0.05)
    assert gia == pytest.approx(L * (L + 1), rel=0.05)


def test_monotone_loss_and_psd_kernels(small_data):
    # DMFT.md 6.8 / 6.9: loss non-increasing for small eta; Phi, G symmetric PSD (TP x TP).
    X, y = small_data
    prob = DMFTProblem(X, y, depth=3, activation="linear", gamma0=1.5, eta=0.02, steps=40)
    sol = solve_dmft(prob, DeepLinear())
    assert np.all(np.diff(sol.loss) <= 1e-12)
    T, P = 40, 4
    for K in (*sol.Phi, *sol.G):
        M = K.reshape(T * P, T * P)
        assert np.max(np.abs(M - M.T)) < 1e-10 * np.max(np.abs(M))
        assert np.linalg.eigvalsh(M).min() > -1e-9 * np.max(np.abs(M))
    for K in sol.ntk:
        assert np.linalg.eigvalsh(K).min() > -1e-10


def test_stop_rule():
    from infwidth.dmft._common import stop_reason

    kw = dict(tol=1e-3, floor_factor=2.0, min_sweeps=3)
    assert stop_reason([1.0, 0.5], [0.01, 0.01], **kw) is None  # before min_sweeps
    assert stop_reason([1.0, 0.015, 0.018], [0.01] * 3, **kw) == "tolerance"
    assert stop_reason([1.0, 0.5, 0.3, 0.2], [0.01] * 4, **kw) is None  # still decreasing
    noisy = [1.0, 0.5, 0.1, 0.08, 0.1, 0.09, 0.1, 0.08, 0.09]
    assert stop_reason(noisy, [0.01] * 9, **kw) == "plateau"


def test_float64_even_when_x64_is_off(small_data):
    # solve_dmft runs in float64 regardless of the global flag (ill-conditioned inverses).
    import jax

    X, y = small_data
    prob = DMFTProblem(X, y, depth=2, activation="linear", gamma0=1.0, eta=0.05, steps=10)
    with jax.enable_x64(False):
        sol = solve_dmft(prob, DeepLinear())
    assert sol.Phi.dtype == np.float64 and sol.converged
