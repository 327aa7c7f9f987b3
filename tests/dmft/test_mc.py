"""Alternating Monte-Carlo solver: agreement with the closed form, causality, Stein identity,
the role of the response functions, reproducibility and failure reporting.

Monte-Carlo tolerances follow from the site counts below: kernel errors ~ S^{-1/2} relative
(S = 3000 -> ~2-3 %; the solver's own floor estimate is ~2.7 % for these problems).
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from infwidth.dmft import (
    RESULTS,
    DeepLinear,
    DMFTError,
    DMFTProblem,
    GradientIndependence,
    MonteCarlo,
    solve_dmft,
    train_finite,
)
from infwidth.dmft._mc import _site_paths, build_CD, layer_update, sample_gp, sample_input
from infwidth.network import get_activation

S_SITES = 3000
S_RESP = 256


@pytest.fixture(scope="module")
def tanh_problem():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 6)), rng.standard_normal(3)
    return DMFTProblem(X, y, depth=2, activation="tanh", gamma0=1.5, eta=0.1, steps=15)


@pytest.fixture(scope="module")
def tanh_full(tanh_problem):
    return solve_dmft(tanh_problem, MonteCarlo(n_sites=S_SITES, n_response_sites=S_RESP), seed=0)


def test_linear_mc_matches_closed_form():
    # DMFT.md 6.3 [L = 2, g0 = 1, P = 3, T = 20, S = 4000: H^L 1.3 %, G^1 3.7 %, |dDelta| 3e-3].
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((3, 5)), rng.standard_normal(3)
    prob = DMFTProblem(X, y, depth=2, activation="linear", gamma0=1.0, eta=0.05, steps=20)
    exact = solve_dmft(prob, DeepLinear())
    mc = solve_dmft(prob, MonteCarlo(n_sites=4000, n_response_sites=S_RESP), seed=0)
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    floor = mc.noise_floor[-1]  # the solver's own relative MC standard error (~0.025 here)
    assert 0.005 < floor < 0.05
    assert rel(mc.Phi[-1], exact.Phi[-1]) < 3 * floor
    assert rel(mc.G[0], exact.G[0]) < 4 * floor
    assert np.max(np.abs(mc.outputs - exact.outputs)) < 1.5e-2


def test_kernels_symmetric_psd_and_boundaries(tanh_full):
    T, P = 15, 3
    for K in (*tanh_full.Phi, *tanh_full.G):
        M = K.reshape(T * P, T * P)
        assert np.max(np.abs(M - M.T)) < 1e-12 * np.abs(M).max()
        assert np.linalg.eigvalsh(M).min() > -1e-10 * np.abs(M).max()
    assert np.all(np.diff(tanh_full.loss) <= 0)
    assert tanh_full.converged and tanh_full.stop_reason in ("tolerance", "plateau")
    assert tanh_full.outputs[0].max() == 0.0


def test_responses_are_causal(tanh_full):
    # DMFT.md 6.10: A(t,s) = 0 for s >= t exactly; B(t,s) = 0 for s > t, equal time non-zero.
    A, B = tanh_full.A[0], tanh_full.B[0]
    T = A.shape[0]
    for ti in range(T):
        assert np.all(A[ti, :, ti:, :] == 0.0)
        assert np.all(B[ti, :, ti + 1 :, :] == 0.0)
    eq = np.abs(B[np.arange(T), :, np.arange(T), :]).max()
    assert eq > 1e-2  # the instantaneous part of dg/du (phi'' z) is O(1), not O(eta)
    assert np.abs(A).max() > 1e-3


def test_stein_identity(tanh_problem, tanh_full):
    # DMFT.md 6.11: r ~ N(0, G^2) Gaussian => <phi(h^1) r^T> = A^1 G^2 (Gaussian integration by
    # parts), within Monte-Carlo error [3.4 % at S = 6000]. Fresh samples, same kernels.
    sol, prob = tanh_full, tanh_problem
    T, P, S = prob.steps, 3, 6000
    Kx = jnp.asarray(prob.Kx)
    dpad = jnp.asarray(prob.y[None] - sol.outputs)  # no test points: Delta on all rows
    Kx4 = jnp.broadcast_to(Kx[None, :, None, :], (T, P, T, P))
    C, D = build_CD(Kx4, None, jnp.asarray(sol.G[1]), jnp.asarray(sol.B[0]), dpad, 0.15)
    ku, kr = jr.split(jr.PRNGKey(11))
    u = sample_input(ku, Kx, n_sites=S, steps=T)
    r = sample_gp(kr, jnp.asarray(sol.G[1]), n_sites=S)
    _, _, A, _, _ = layer_update(
        u, r, C, D, activation="tanh", need_A=True, need_B=False, batch=32, n_resp=2048
    )
    act = get_activation("tanh")
    phi, _ = _site_paths(u, r, C.reshape(T, P, T * P), D.reshape(T, P, T * P), act)
    lhs = np.einsum("itm,isa->tmsa", phi, r) / S
    rhs = np.einsum("tmsa,sacb->tmcb", np.asarray(A), sol.G[1])
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(rhs) < 0.08


def test_gradient_independence_does_not_converge(tanh_problem, tanh_full):
    # DMFT.md 6.7: at gamma0 = O(1) the ansatz A = B = 0 stays off finite networks (G^1 error
    # flat at ~0.4 here) while the full DMFT error shrinks ~N^{-1/2} [ref: 32 % vs 2 %].
    gia = solve_dmft(tanh_problem, GradientIndependence(n_sites=S_SITES), seed=0)
    assert gia.approximation == "gradient-independence ansatz"
    assert tanh_full.approximation is None
    fin = train_finite(tanh_problem, 1024, seeds=(0, 1, 2, 3))
    err = lambda s: np.mean(  # noqa: E731
        [np.linalg.norm(fin.G[i, 0] - s.G[0]) / np.linalg.norm(s.G[0]) for i in range(4)]
    )
    e_full, e_gia = err(tanh_full), err(gia)
    assert e_full < 0.08
    assert e_gia > 0.25
    assert e_gia > 4 * e_full


def test_same_seed_same_numbers(tanh_problem):
    solver = MonteCarlo(n_sites=500, n_response_sites=16)
    a = solve_dmft(tanh_problem, solver, seed=5, max_sweeps=2, throw=False)
    b = solve_dmft(tanh_problem, solver, seed=5, max_sweeps=2, throw=False)
    c = solve_dmft(tanh_problem, solver, seed=6, max_sweeps=2, throw=False)
    np.testing.assert_array_equal(a.Phi, b.Phi)
    assert not np.array_equal(a.Phi, c.Phi)
    assert a.seed == 5 and a.settings["n_sites"] == 500 and a.settings["gamma0"] == 1.5


def test_non_convergence_is_flagged(tanh_problem):
    solver = MonteCarlo(n_sites=500, n_response_sites=16)
    sol = solve_dmft(tanh_problem, solver, seed=0, max_sweeps=1, throw=False)
    assert sol.result is RESULTS.max_sweeps_reached and not sol.converged
    assert sol.residuals.shape == (1,) and sol.noise_floor.shape == (1,)
    assert sol.stop_reason is None
    with pytest.raises(DMFTError, match="did not converge"):
        solve_dmft(tanh_problem, solver, seed=0, max_sweeps=1)


def test_divergence_is_reported_with_threshold(tanh_problem):
    # eta beyond 2 / lambda_max(K(0)): flagged, NaN arrays, threshold in the message.
    thr = solve_dmft(
        tanh_problem, GradientIndependence(n_sites=100), max_sweeps=1, throw=False
    ).eta_max
    bad = DMFTProblem(
        tanh_problem.X,
        tanh_problem.y,
        depth=2,
        activation="tanh",
        gamma0=1.5,
        eta=1.2 * thr,
        steps=15,
    )
    with pytest.raises(DMFTError, match=f"{thr:.6g}"):
        solve_dmft(bad, MonteCarlo(n_sites=100, n_response_sites=16))
    sol = solve_dmft(bad, MonteCarlo(n_sites=100, n_response_sites=16), throw=False)
    assert sol.result is RESULTS.diverged and np.all(np.isnan(sol.loss))
    assert sol.eta_max == pytest.approx(thr)


def test_block_causal_jacobian_equals_dense_jacobian():
    # The block-causal forward-mode responses equal jax.jacfwd of the site-averaged paths
    # w.r.t. a common input shift (DMFT.md 4.5), in float64 and (to roundoff) in float32.
    T, P, S = 21, 2, 12  # T >= 20: two time chunks, so the block-causal path is exercised
    k1, k2, k3 = jr.split(jr.PRNGKey(3), 3)
    M = jr.normal(k1, (T * P, T * P)) / np.sqrt(T * P)
    cov = (M @ M.T).reshape(T, P, T, P)
    strict = jnp.tril(jnp.ones((T, T)), -1)[:, None, :, None]
    C, D = 0.3 * cov * strict, 0.3 * cov * strict + 0.2 * jnp.eye(T)[:, None, :, None]
    u, r = sample_gp(k2, cov, n_sites=S), sample_gp(k3, cov, n_sites=S)
    out = layer_update(u, r, C, D, activation="tanh", need_A=True, need_B=True, batch=4, n_resp=S)
    act = get_activation("tanh")
    Cf, Df = C.reshape(T, P, T * P), D.reshape(T, P, T * P)
    JA = jax.jacfwd(lambda e: _site_paths(u, r + e, Cf, Df, act)[0].mean(0))(jnp.zeros((T, P)))
    JB = jax.jacfwd(lambda e: _site_paths(u + e, r, Cf, Df, act)[1].mean(0))(jnp.zeros((T, P)))
    np.testing.assert_allclose(out[2], JA, atol=1e-12)
    np.testing.assert_allclose(out[3], JB, atol=1e-12)
    out32 = layer_update(
        u, r, C, D, activation="tanh", need_A=True, need_B=True, batch=4, n_resp=S,
        response_dtype="float32",
    )  # fmt: skip
    assert np.linalg.norm(out32[2] - JA) < 1e-5 * np.linalg.norm(JA)
