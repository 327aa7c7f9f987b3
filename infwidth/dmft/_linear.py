"""Deep linear networks (phi(h) = h): the closed-form DMFT of DMFT.md 3.2, no sampling.

For linear nets the backward fields do not depend on the sample index, so h-type objects live
on (t, mu) (length TP) and g-type objects on t (length T). With Delta padded by zeros on test
points, layer l = 1..L is updated from the previous iterate (Jacobi sweep)::

    C~[(t,mu), s] = A^{l-1}[(t,mu), s] + eta g0 1[s<t] sum_a H^{l-1}[(t,mu),(s,a)] Delta_a(s)
    D~[t, (s,a)]  = B^l[t, (s,a)]      + eta g0 1[s<t] G^{l+1}[t,s] Delta_a(s)
    M' = (I_T - D~ C~)^{-1},   M = (I_TP - C~ D~)^{-1} = I + C~ M' D~        (Woodbury)
    H^l = M (H^{l-1} + C~ G^{l+1} C~^T) M^T,   G^l = M' (G^{l+1} + D~ H^{l-1} D~^T) M'^T
    A^l = M C~ = C~ M',   B^{l-1} = M' D~

with H^0 = K^x, G^{L+1} = 1, A^0 = 0, B^L = 0 (g0 = gamma0). The Woodbury form keeps every
product at O(T^3 P^2) instead of O((TP)^3). Delta comes from the NTK/Euler update with
K(t) = G^1[t,t] K^x + sum_{l=1}^{L-1} G^{l+1}[t,t] H^l(t,t) + H^L(t,t).

Two printed formulas disagree with this (verified) solver, and the tests check the verified
behaviour (DMFT.md 3.2):

* two-layer whitened data (K^x = I): in our units (summed loss, lazy NTK 2I) the error norm obeys
  d|Delta|/dt = -2 sqrt(1 + gamma0^2 (|y| - |Delta|)^2) |Delta|, twice the printed rate (the
  printed H_y(t) and H(inf) are right);
* small-gamma0 expansion (printed eq. 13): Delta K(t,t) / gamma0^2 = c_L [(v^T K^x v) K^x +
  K^x v v^T K^x] holds with c_L = L(L+1) only for the gradient-independence ansatz
  (``gia=True``); the full DMFT (with responses) gives c_L = L(L+1)^2(L+2)/6.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._common import euler_outputs, rel_change


class LinearState(NamedTuple):
    """Iterate of the deep-linear sweep. Lists are indexed by layer as in the docstring."""

    H: tuple  # H[l], l = 1..L, each (TP, TP)
    G: tuple  # G[l], l = 1..L, each (T, T)
    A: tuple  # A[l], l = 1..L-1, each (TP, T)
    B: tuple  # B[l], l = 1..L-1, each (T, TP)
    f: jnp.ndarray  # (T, P_tot)
    delta: jnp.ndarray  # (T, P_train)


def linear_ntk(H: tuple, G: tuple, Kx: jnp.ndarray, T: int) -> jnp.ndarray:
    """K(t, t), shape (T, P, P), from collapsed linear kernels."""
    P = Kx.shape[0]
    idx = jnp.arange(T)
    L = len(H)
    K = G[0][idx, idx][:, None, None] * Kx[None]
    for layer in range(1, L):
        Hl = H[layer - 1].reshape(T, P, T, P)[idx, :, idx, :]
        K = K + G[layer][idx, idx][:, None, None] * Hl
    return K + H[L - 1].reshape(T, P, T, P)[idx, :, idx, :]


@partial(jax.jit, static_argnames=("gia",))
def linear_sweep(
    state: LinearState, Kx: jnp.ndarray, y: jnp.ndarray, eta: float, gamma0: float, gia: bool
) -> LinearState:
    """One Jacobi sweep of the closed-form equations (all layers read the previous iterate)."""
    T = state.f.shape[0]
    P = Kx.shape[0]
    L = len(state.H)
    TP = T * P
    ntk = linear_ntk(state.H, state.G, Kx, T)
    f, delta = euler_outputs(ntk, y, eta)
    dpad = jnp.zeros((T, P), Kx.dtype).at[:, : y.shape[0]].set(delta)
    strict = jnp.tril(jnp.ones((T, T), Kx.dtype), -1)  # 1[s < t] at [t, s]
    eg = eta * gamma0
    H0 = jnp.broadcast_to(Kx[None, :, None, :], (T, P, T, P)).reshape(TP, TP)
    Hs = (H0, *state.H)  # Hs[l] = H^l, l = 0..L
    Gs = (None, *state.G, jnp.ones((T, T), Kx.dtype))  # Gs[l] = G^l, l = 1..L+1
    zA = jnp.zeros((TP, T), Kx.dtype)
    zB = jnp.zeros((T, TP), Kx.dtype)
    As = (zA, *state.A)  # As[l] = A^l, l = 0..L-1
    Bs = (None, *state.B, zB)  # Bs[l] = B^l, l = 1..L
    newH, newG, newA, newB = [], [], [None] * (L - 1), [None] * (L - 1)
    for layer in range(1, L + 1):
        Hp = Hs[layer - 1]
        Gn = Gs[layer + 1]
        Ctil = jnp.einsum("tmsa,sa->tms", Hp.reshape(T, P, T, P), dpad) * strict[:, None, :]
        Ctil = eg * Ctil.reshape(TP, T)
        Dtil = eg * (Gn * strict)[:, :, None] * dpad[None, :, :]
        Dtil = Dtil.reshape(T, TP)
        if not gia:
            Ctil = Ctil + As[layer - 1]
            Dtil = Dtil + Bs[layer]
        Mp = jnp.linalg.inv(jnp.eye(T, dtype=Kx.dtype) - Dtil @ Ctil)
        R = Hp + Ctil @ Gn @ Ctil.T
        MR = R + Ctil @ (Mp @ (Dtil @ R))
        Hl = MR + ((MR @ Dtil.T) @ Mp.T) @ Ctil.T
        Gl = Mp @ (Gn + Dtil @ Hp @ Dtil.T) @ Mp.T
        newH.append(0.5 * (Hl + Hl.T))
        newG.append(0.5 * (Gl + Gl.T))
        if layer < L:
            newA[layer - 1] = Ctil @ Mp
        if layer > 1:
            newB[layer - 2] = Mp @ Dtil
    if gia:
        newA = [jnp.zeros((TP, T), Kx.dtype)] * (L - 1)
        newB = [jnp.zeros((T, TP), Kx.dtype)] * (L - 1)
    return LinearState(tuple(newH), tuple(newG), tuple(newA), tuple(newB), f, delta)


def _extend(state: LinearState, T_old: int, T_new: int, P: int) -> LinearState:
    """Initial guess on a longer horizon: kernels continued constant in time beyond T_old,
    responses zero-padded (they are causal, so the old block stays exact)."""
    idx = jnp.minimum(jnp.arange(T_new), T_old - 1)

    def ext_H(H):
        H4 = H.reshape(T_old, P, T_old, P)[idx][:, :, idx]
        return H4.reshape(T_new * P, T_new * P)

    def ext_A(A):
        out = jnp.zeros((T_new, P, T_new), A.dtype)
        return out.at[:T_old, :, :T_old].set(A.reshape(T_old, P, T_old)).reshape(T_new * P, T_new)

    def ext_B(B):
        out = jnp.zeros((T_new, T_new, P), B.dtype)
        return out.at[:T_old, :T_old].set(B.reshape(T_old, T_old, P)).reshape(T_new, T_new * P)

    return LinearState(
        H=tuple(ext_H(H) for H in state.H),
        G=tuple(G[idx][:, idx] for G in state.G),
        A=tuple(ext_A(A) for A in state.A),
        B=tuple(ext_B(B) for B in state.B),
        f=state.f[idx],
        delta=state.delta[idx],
    )


def _mix(old: LinearState, new: LinearState, beta: float) -> LinearState:
    """(1 - beta) old + beta new, leafwise."""
    return jax.tree_util.tree_map(lambda a, b: (1 - beta) * a + beta * b, old, new)


def _horizons(T: int) -> list[int]:
    """Doubling horizons ..., T/4, T/2, T, none shorter than 16 (short runs: one stage; each
    stage costs a compilation)."""
    hs = [T]
    while hs[0] >= 32 and len(hs) < 4:
        hs.insert(0, (hs[0] + 1) // 2)
    return hs


def solve_linear(
    Kx: np.ndarray,
    y: np.ndarray,
    *,
    depth: int,
    eta: float,
    gamma0: float,
    steps: int,
    delta0: np.ndarray,
    tol: float,
    max_sweeps: int,
    gia: bool = False,
):
    """Solve the closed-form equations by Jacobi sweeps until the relative change of
    (H, G, Delta) is below ``tol``. Returns ``(state, ntk, residuals)``.

    Causal continuation: the equations on [0, T') do not depend on later times, so the
    horizon is doubled (T/8, T/4, T/2, T), each stage starting from the converged shorter
    one. Sweeping the full horizon from the lazy guess at once makes late-time errors compound
    and, at strong coupling (e.g. L = 5, gamma0 = 1.5), lets an intermediate iterate cross a
    pole of (I - D~C~)^{-1} although the true solution (and finite networks) are fine.
    Within a stage, a sweep whose relative change is non-finite or > 100 is rejected: the
    iterate retreats halfway to the previous one and the mixing beta in X <- (1-beta) X +
    beta X~ is halved (adaptive damping; the fixed point is unchanged).
    ``residuals`` concatenates the stages (rejected sweeps included); ``max_sweeps`` applies
    per stage. If a stage fails, the returned state has that stage's (shorter) horizon.
    """
    P = Kx.shape[0]
    Kx = jnp.asarray(Kx)
    y = jnp.asarray(y)
    residuals = []
    state = None
    T_prev = None
    for T in _horizons(steps):
        TP = T * P
        if state is None:
            H0 = jnp.broadcast_to(Kx[None, :, None, :], (T, P, T, P)).reshape(TP, TP)
            state = LinearState(
                H=tuple([H0] * depth),
                G=tuple([jnp.ones((T, T))] * depth),
                A=tuple([jnp.zeros((TP, T))] * (depth - 1)),
                B=tuple([jnp.zeros((T, TP))] * (depth - 1)),
                f=jnp.zeros((T, P)),
                delta=jnp.asarray(delta0[:T]),
            )
        else:
            state = _extend(state, T_prev, T, P)
        beta, prev = 1.0, state
        for _ in range(max_sweeps):
            new = linear_sweep(state, Kx, y, eta, gamma0, gia)
            res = rel_change((*new.H, *new.G, new.delta), (*state.H, *state.G, state.delta))
            residuals.append(res)
            if not np.isfinite(res) or res > 1e2:
                # Adaptive damping: the iterate ran towards a pole of (I - D~C~)^{-1}. Retreat
                # halfway to the previous iterate and halve the mixing (same fixed point).
                beta /= 2
                if beta < 1 / 256:
                    break
                state = _mix(prev, state, 0.5)
                continue
            prev = state
            state = new if beta == 1.0 else _mix(state, new, beta)
            if res < tol:
                break
        if not np.isfinite(residuals[-1]) or residuals[-1] >= tol:
            break
        T_prev = T
    T = state.f.shape[0]
    ntk = linear_ntk(state.H, state.G, Kx, T)
    f, delta = euler_outputs(ntk, y, eta)
    state = state._replace(f=f, delta=delta)
    return state, ntk, np.asarray(residuals)
