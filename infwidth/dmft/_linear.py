"""Deep linear networks (phi(h) = h): the closed-form DMFT of DMFT.md 3.2, no sampling.

For linear nets the backward fields do not depend on the sample index, so h-type objects live
on (t, mu) (length TP) and g-type objects on t (length T). With Delta padded by zeros on test
points, layer l = 1..L satisfies (g0 = gamma0)::

    C~[(t,mu), s] = A^{l-1}[(t,mu), s] + eta g0 1[s<t] sum_a H^{l-1}[(t,mu),(s,a)] Delta_a(s)
    D~[t, (s,a)]  = B^l[t, (s,a)]      + eta g0 1[s<t] G^{l+1}[t,s] Delta_a(s)
    M' = (I_T - D~ C~)^{-1},   M = (I_TP - C~ D~)^{-1} = I + C~ M' D~        (Woodbury)
    H^l = M (H^{l-1} + C~ G^{l+1} C~^T) M^T,   G^l = M' (G^{l+1} + D~ H^{l-1} D~^T) M'^T
    A^l = M C~ = C~ M',   B^{l-1} = M' D~

with H^0 = K^x, G^{L+1} = 1, A^0 = 0, B^L = 0. Delta comes from the NTK/Euler update with
K(t) = G^1[t,t] K^x + sum_{l=1}^{L-1} G^{l+1}[t,t] H^l(t,t) + H^L(t,t).

Direct causal solve (no sweeps). C~ is strictly causal and D~ causal, so M' is unit lower
triangular and every time-t row is fixed by earlier rows and by Delta(s < t). With
E = D~ H^{l-1} (T x TP) and Q = D~ H^{l-1} D~^T + G^{l+1} (T x T) the equations read::

    H^l = H^{l-1} + A E + E^T A^T + A Q A^T,   G^l = M' Q M'^T,
    M'[t, :] = e_t + D~[t, :] A,               B^{l-1}[t, :] = M'[t, :] D~

so one pass t = 0..T-1 solves them exactly: at each t a forward pass in depth gives the rows t
of H^l, A^l (they need G, B, D~ only at times < t), a backward pass the rows t of G^l, B^{l-1},
M', and then K(t, t) gives Delta(t + 1). Row t of E needs D~[t, :] H^{l-1}, which the
recursion above supplies from the layers below without forming H. Cost O(L T^3 P^2) in P x T
by T x TP products, i.e. about one Jacobi sweep of the equations; the fixed point of the
sweeps (tests/dmft) is reproduced to round-off.

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
from jax import lax

from ._common import euler_outputs


class LinearState(NamedTuple):
    """Solution of the deep-linear equations. Tuples are indexed by layer as in the docstring."""

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


def _put(X: jnp.ndarray, v: jnp.ndarray, t, axis: int) -> jnp.ndarray:
    """X with index ``t`` along ``axis`` replaced by ``v``."""
    return lax.dynamic_update_index_in_dim(X, v, t, axis)


@partial(jax.jit, static_argnames=("depth", "steps", "gia"))
def _march(Kx, y, eta, gamma0, *, depth: int, steps: int, gia: bool):
    """Rows t = 0..T-1 of every kernel, in causal order (module docstring).

    Per layer (stacked on axis 0): G (T, T); EA (2T, T, P) holds E = D~ H^{l-1} on its first
    T rows and A^T on the last T (EA[T + b, s, x] = A[(s, x), b]), so that the products with
    [E; A^T] read one array; B = M' D~ and D~ as (T, T, P); M' and F = D~ H^{l-1} D~^T as
    (T, T). Rows and columns not yet reached are zero, which keeps every product causal
    without masks on the operands.
    Returns ``(LinearState, ntk)``, the outputs and errors from the NTK/Euler update.
    """
    L, T = depth, steps
    P, Ptr, dt = Kx.shape[0], y.shape[0], Kx.dtype
    TP = T * P
    eg = eta * gamma0
    ts = jnp.arange(T)

    def zeros(*shape):
        return jnp.zeros(shape, dt)

    ones = jnp.ones((1, T, T), dt)  # G^{L+1}

    def step(carry, t):
        G, EA, B, D, Mp, F, delta, f = carry
        before = (ts < t).astype(dt)
        upto = (ts <= t).astype(dt)
        Q = F + jnp.concatenate([G[1:], ones])  # D~ H^{l-1} D~^T + G^{l+1}, final at times < t

        def forward(c, xs):  # layer l: rows t of A^l and H^l from row t of layer l-1
            Hp_row, Ap_row = c  # H^{l-1}[(t, .), (s, x)] as (P, T, P); A^{l-1}[(t, .), s]
            EA_l, D_l, Mp_l, Q_l = xs
            C_t = Ap_row + eg * jnp.einsum("msa,sa->ms", Hp_row, delta) * before
            A_t = C_t @ Mp_l
            E_col = D_l.reshape(T, TP) @ Hp_row.reshape(P, TP).T  # E[:, (t, .)]
            EA_col = jnp.concatenate([E_col, A_t.T])
            EA_l = _put(EA_l, EA_col, t, 1)
            # H row t = H^{l-1} row t + A_t E + (E[:, t]^T + A_t Q) A^T
            lhs = jnp.concatenate([A_t, E_col.T + A_t @ Q_l], 1)
            row = Hp_row + (lhs @ EA_l.reshape(2 * T, TP)).reshape(P, T, P)
            row = row * upto[None, :, None]
            blk = lax.dynamic_index_in_dim(row, t, 1, keepdims=False)
            row = _put(row, 0.5 * (blk + blk.T), t, 1)
            return (row, jnp.zeros_like(A_t) if gia else A_t), (EA_col, row)

        H0_row = jnp.broadcast_to(Kx[:, None, :], (P, T, P)) * upto[None, :, None]
        _, (EA_col, rows) = lax.scan(forward, (H0_row, zeros(P, T)), (EA, D, Mp, Q))
        EA = _put(EA, EA_col, t, 2)

        def e_row(layer, D_t):
            """D_t H^{l-1}: H^k = H^{k-1} + A E + E^T A^T + A Q A^T from H^0 = K^x, k < l."""
            v = D_t.reshape(TP)

            def level(k, w):
                EA_k = EA[k].reshape(2 * T, TP)
                vE, vA = jnp.split(EA_k @ v, 2)
                return w + jnp.concatenate([vA, vE + vA @ Q[k]]) @ EA_k

            w0 = jnp.broadcast_to((D_t.sum(0) @ Kx)[None, :], (T, P)).reshape(TP)
            return lax.fori_loop(0, layer, level, w0).reshape(T, P) * upto[:, None]

        def backward(c, xs):  # layer l: rows t of D~^l, M'^l, B^{l-1}, E^l, F^l, G^l
            Gn, Bn_row = c  # G^{l+1} (row t done), B^l[t, :]
            layer, EA_l, D_l, Mp_l, F_l, G_l = xs
            Gn_row = lax.dynamic_index_in_dim(Gn, t, 0, keepdims=False)
            D_t = Bn_row + eg * (Gn_row * before)[:, None] * delta
            D_l = _put(D_l, D_t, t, 0)
            Mp_t = (ts == t).astype(dt) + (EA_l.reshape(2 * T, TP) @ D_t.reshape(TP))[T:]
            Mp_l = _put(Mp_l, Mp_t, t, 0)
            B_t = (Mp_t @ D_l.reshape(T, TP)).reshape(T, P)
            E_t = e_row(layer, D_t)
            F_t = D_l.reshape(T, TP) @ E_t.reshape(TP)
            F_l = _put(_put(F_l, F_t, t, 0), F_t, t, 1)
            G_t = (Mp_t @ (F_l + Gn)) @ Mp_l.T
            G_l = _put(_put(G_l, G_t, t, 0), G_t, t, 1)
            return (G_l, jnp.zeros_like(B_t) if gia else B_t), (D_t, Mp_t, B_t, E_t, F_t, G_t)

        xs = (jnp.arange(L), EA, D, Mp, F, G)
        _, out = lax.scan(backward, (ones[0], zeros(T, P)), xs, reverse=True)
        D_t, Mp_t, B_t, E_t, F_t, G_t = out
        D, Mp, B, EA = (
            _put(D, D_t, t, 1),
            _put(Mp, Mp_t, t, 1),
            _put(B, B_t, t, 1),
            _put(EA, E_t, t, 1),
        )
        F = _put(_put(F, F_t, t, 1), F_t, t, 2)
        G = _put(_put(G, G_t, t, 1), G_t, t, 2)
        # K(t, t) and the Euler step of the outputs.
        H_tt = lax.dynamic_index_in_dim(rows, t, 2, keepdims=False)  # (L, P, P)
        coef = jnp.concatenate([G[1:, t, t], jnp.ones(1, dt)])
        K = G[0, t, t] * Kx + jnp.einsum("l,lmn->mn", coef, H_tt)
        d_t = y - f[:Ptr]
        delta = _put(delta, jnp.zeros(P, dt).at[:Ptr].set(d_t), t, 0)
        f = f + eta * K[:, :Ptr] @ d_t
        return (G, EA, B, D, Mp, F, delta, f), rows

    z3, z4 = zeros(L, T, T), zeros(L, T, T, P)
    init = (z3, zeros(L, 2 * T, T, P), z4, z4, z3, z3, zeros(T, P), zeros(P))
    carry, rows = lax.scan(step, init, ts)
    # rows[t, l] = H^l[(t, .), (s, .)] for s <= t: mirror into the symmetric kernel.
    R = rows.transpose(1, 0, 2, 3, 4)
    H = R + R.transpose(0, 3, 4, 1, 2) * (1 - jnp.eye(T, dtype=dt))[:, None, :, None]
    H = tuple(H[layer].reshape(TP, TP) for layer in range(L))
    G, AT, B = carry[0], carry[1][:, T:], carry[2]
    if gia:
        AT, B = jnp.zeros_like(AT), jnp.zeros_like(B)
    ntk = linear_ntk(H, tuple(G), Kx, T)
    f, delta = euler_outputs(ntk, y, eta)
    state = LinearState(
        H=H,
        G=tuple(G),
        A=tuple(AT[layer].transpose(1, 2, 0).reshape(TP, T) for layer in range(L - 1)),
        B=tuple(B[layer].reshape(T, TP) for layer in range(1, L)),
        f=f,
        delta=delta,
    )
    return state, ntk


def solve_linear(
    Kx: np.ndarray,
    y: np.ndarray,
    *,
    depth: int,
    eta: float,
    gamma0: float,
    steps: int,
    gia: bool = False,
) -> tuple[LinearState, jnp.ndarray]:
    """Solve the closed-form equations exactly by one causal pass in time (module docstring).

    ``gia=True`` is the gradient-independence ansatz: A and B are not fed to the next layer
    (and returned as zeros). Returns ``(state, ntk)`` with the NTK K(t, t) (T, P, P);
    non-finite entries mean gradient descent blew up (the caller flags it).
    """
    Kx, y = jnp.asarray(Kx), jnp.asarray(y)
    return _march(Kx, y, eta, gamma0, depth=depth, steps=steps, gia=gia)
