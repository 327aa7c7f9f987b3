"""The deep-linear direct causal solve against the equations as written (DMFT.md 3.2).

``_jacobi_sweep`` is the previous solver's sweep, kept here as the test-only reference: it
evaluates the closed-form equations densely (TP x TP matrices), all layers reading the previous
iterate. Its fixed point is the DMFT solution; the causal march must be that fixed point.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infwidth.dmft import DeepLinear, DMFTProblem, solve_dmft
from infwidth.dmft._common import euler_outputs, rel_change
from infwidth.dmft._linear import LinearState, linear_ntk, solve_linear


@jax.jit
def _jacobi_sweep(state, Kx, y, eta, gamma0):
    """One Jacobi sweep of the closed-form equations (module docstring of _linear)."""
    T, P, L = state.f.shape[0], Kx.shape[0], len(state.H)
    TP = T * P
    ntk = linear_ntk(state.H, state.G, Kx, T)
    f, delta = euler_outputs(ntk, y, eta)
    dpad = jnp.zeros((T, P)).at[:, : y.shape[0]].set(delta)
    strict = jnp.tril(jnp.ones((T, T)), -1)  # 1[s < t] at [t, s]
    eg = eta * gamma0
    Hs = (jnp.broadcast_to(Kx[None, :, None, :], (T, P, T, P)).reshape(TP, TP), *state.H)
    Gs = (None, *state.G, jnp.ones((T, T)))
    As = (jnp.zeros((TP, T)), *state.A)
    Bs = (None, *state.B, jnp.zeros((T, TP)))
    H, G, A, B = [], [], [], []
    for layer in range(1, L + 1):
        Hp, Gn = Hs[layer - 1], Gs[layer + 1]
        C = jnp.einsum("tmsa,sa->tms", Hp.reshape(T, P, T, P), dpad) * strict[:, None, :]
        C = eg * C.reshape(TP, T) + As[layer - 1]
        D = (eg * (Gn * strict)[:, :, None] * dpad[None, :, :]).reshape(T, TP) + Bs[layer]
        Mp = jnp.linalg.inv(jnp.eye(T) - D @ C)
        M = jnp.eye(TP) + C @ Mp @ D
        H.append(M @ (Hp + C @ Gn @ C.T) @ M.T)
        G.append(Mp @ (Gn + D @ Hp @ D.T) @ Mp.T)
        if layer < L:
            A.append(C @ Mp)
        if layer > 1:
            B.append(Mp @ D)
    return LinearState(tuple(H), tuple(G), tuple(A), tuple(B), f, delta)


def _problem(P, L, gamma0, eta, T, n_test=0, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((P, 6)), rng.standard_normal(P)
    Xt = rng.standard_normal((n_test, 6)) if n_test else None
    return DMFTProblem(
        X, y, depth=L, activation="linear", gamma0=gamma0, eta=eta, steps=T, X_test=Xt
    )


@pytest.mark.parametrize(
    "P, L, gamma0, eta, T, n_test",
    [(4, 3, 1.5, 0.02, 20, 0), (5, 4, 1.0, 0.01, 16, 2)],
)
def test_march_equals_jacobi_fixed_point(P, L, gamma0, eta, T, n_test):
    # The previous solver iterated the sweep to its fixed point; the march must land on it:
    # loss, outputs (train and test), kernels, NTK and responses to 1e-9 relative.
    prob = _problem(P, L, gamma0, eta, T, n_test)
    sol = solve_dmft(prob, DeepLinear())
    assert sol.converged and sol.residuals.size == 0
    Kx, y = jnp.asarray(prob.Kx), jnp.asarray(prob.y)
    Pt, TP = Kx.shape[0], T * Kx.shape[0]
    H0 = jnp.broadcast_to(Kx[None, :, None, :], (T, Pt, T, Pt)).reshape(TP, TP)
    ref = LinearState(
        (H0,) * L, (jnp.ones((T, T)),) * L, (jnp.zeros((TP, T)),) * (L - 1),
        (jnp.zeros((T, TP)),) * (L - 1), jnp.zeros((T, Pt)), jnp.zeros((T, P)),
    )  # fmt: skip
    for _ in range(4 * T):
        new = _jacobi_sweep(ref, Kx, y, prob.eta, gamma0)
        done = rel_change((*new.H, *new.G), (*ref.H, *ref.G)) < 1e-14
        ref = new
        if done:
            break
    assert done
    ntk = linear_ntk(ref.H, ref.G, Kx, T)
    f, delta = euler_outputs(ntk, y, prob.eta)

    def close(a, b):
        a, b = np.asarray(a), np.asarray(b)
        assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(b))

    close(sol.loss, 0.5 * np.sum(np.asarray(delta) ** 2, axis=1))
    close(sol.outputs, f)
    close(sol.ntk, ntk)
    for i in range(L):
        close(sol.Phi[i], ref.H[i].reshape(T, Pt, T, Pt))
        close(sol.G[i][:, 0, :, 0], ref.G[i])
    for i in range(L - 1):
        close(sol.A[i], ref.A[i].reshape(T, Pt, T))
        close(sol.B[i], ref.B[i].reshape(T, T, Pt))


def test_march_is_a_fixed_point_at_strong_coupling():
    # The benchmark's regime (L = 5, gamma0 = 1.5), where sweeping from the lazy guess needed
    # horizon continuation and damping: one dense sweep from the march changes nothing.
    prob = _problem(6, 5, 1.5, 0.01, 40)
    sol = solve_dmft(prob, DeepLinear())
    assert sol.converged and sol.loss[-1] < 0.2 * sol.loss[0]
    Kx, y = jnp.asarray(prob.Kx), jnp.asarray(prob.y)
    T, P, L = 40, 6, 5
    TP = T * P
    state = LinearState(
        H=tuple(jnp.asarray(sol.Phi[i].reshape(TP, TP)) for i in range(L)),
        G=tuple(jnp.asarray(sol.G[i][:, 0, :, 0]) for i in range(L)),
        A=tuple(jnp.asarray(sol.A[i].reshape(TP, T)) for i in range(L - 1)),
        B=tuple(jnp.asarray(sol.B[i].reshape(T, TP)) for i in range(L - 1)),
        f=jnp.asarray(sol.outputs),
        delta=jnp.asarray(prob.y[None] - sol.train_outputs),
    )
    new = _jacobi_sweep(state, Kx, y, prob.eta, 1.5)
    leaves = lambda s: (*s.H, *s.G, *s.A, *s.B, s.f, s.delta)  # noqa: E731
    assert rel_change(leaves(new), leaves(state)) < 1e-12
    # Causality (DMFT.md 6.10): A(t, s) = 0 for s >= t, B(t, s) = 0 for s > t; for linear
    # nets B(t, t) = 0 too (phi'' = 0), but both are non-zero in the past.
    t, s = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    A = sol.A.transpose(0, 1, 3, 2)  # (L-1, T, T_s, P)
    assert np.all(A[:, t <= s] == 0) and np.all(sol.B[:, t < s] == 0)
    assert np.all(sol.B[:, t == s] == 0)
    assert np.abs(A[:, t > s]).min(axis=0).max() > 1e-3 and np.abs(sol.B[:, t > s]).max() > 1e-3


def test_gia_and_solve_linear_interface():
    # gia=True returns zero responses; solve_linear's NTK is the solution's.
    prob = _problem(4, 3, 1.0, 0.02, 12)
    state, ntk = solve_linear(
        prob.Kx, prob.y, depth=3, eta=prob.eta, gamma0=1.0, steps=12, gia=True
    )
    assert all(float(jnp.abs(a).max()) == 0 for a in (*state.A, *state.B))
    full, ntk_full = solve_linear(prob.Kx, prob.y, depth=3, eta=prob.eta, gamma0=1.0, steps=12)
    assert float(jnp.abs(ntk - ntk_full).max()) > 1e-6  # responses matter at gamma0 = 1


def test_late_blow_up_is_flagged_diverged():
    # Below the t = 0 threshold, feature learning grows the NTK until GD blows up (DMFT.md
    # 4.2): the direct solve reports it as diverged with NaN arrays, never as numbers.
    from infwidth.dmft import RESULTS, lazy_ntk

    prob = _problem(4, 3, 1.5, 1.0, 60)
    eta = 0.9 * 2 / np.linalg.eigvalsh(lazy_ntk(prob.Kx, 3, "linear"))[-1]
    prob = _problem(4, 3, 1.5, eta, 60)
    sol = solve_dmft(prob, DeepLinear(), throw=False)
    assert sol.result is RESULTS.diverged and np.all(np.isnan(sol.Phi))
