"""Residual networks with 1/sqrt(L) branches: the "stream" DMFT of DMFT.md 5.2 (derived there,
checked numerically against finite ResNets, NOT against the 2023 paper's text).

Network: h^1 = W^0 x / sqrt(D),  h^{l+1} = h^l + b W^l phi(h^l) / sqrt(N)  (l = 1..L-1,
b = beta0 / sqrt(L)),  f = w^L . phi(h^L) / (gamma0 N), GD with rate eta gamma0^2 N. Backward:
g^L = phi'(h^L) z^L,  g^l = g^{l+1} + b phi'(h^l) z^l. The residual stream ties the layers of one
neuron together, so a site is the whole stream (h^1..h^L, g^1..g^L), marched jointly in time
(forward in depth for h, backward for g, at each t)::

    h^1(t)     = u^1 + sum_{s<t} eta g0 Delta(s) K^x g^1(s)
    h^{l+1}(t) = h^l(t) + b [ u^{l+1}(t) + sum_{s<t} (A^l(t,s) + eta g0 b Delta(s) Phi^l(t,s)) g^{l+1}(s) ]
    z^l(t)     = r^l(t) + sum_{s<=t} B^l(t,s) phi(h^l(s)) + sum_{s<t} eta g0 b Delta(s) G^{l+1}(t,s) phi(h^l(s))
    z^L(t)     = r^L + sum_{s<t} eta g0 Delta(s) phi(h^L(s))

with u^{l+1} ~ GP(0, Phi^l), r^l ~ GP(0, G^{l+1}) independent, A^l = <d phi(h^l) / d r^l>,
B^l = <d g^{l+1} / d u^{l+1}> (Jacobians through the whole stream, u un-multiplied by b), and
NTK K = G^1 * K^x + b^2 sum_{l=1}^{L-1} G^{l+1} * Phi^l + Phi^L.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..network import get_activation
from ._common import equal_time, rel_change, response_budget, solver_output, sweep_loop, tile_time
from ._lazy import gaussian_moments, lazy_error_trajectory
from ._mc import sample_gp, sample_input, sample_readout


def _stream_paths(u, r, C, D, b, act):
    """March S streams. u, r: (L, S, T, P); C, D: (L, T, P, TP). Returns phi, g: (L, S, T, P).

    C[0] acts on g^1 in h^1; C[k] (k >= 1) on g^{k+1} in the branch into h^{k+1};
    D[k] on phi(h^{k+1}) in z^{k+1}.
    """
    L, S, T, P = u.shape

    def step(carry, xs):
        phist, ghist = carry  # (L, S, TP)
        t, Ct, Dt, ut, rt = xs  # Ct, Dt: (L, P, TP); ut, rt: (L, S, P)
        hs = [ut[0] + ghist[0] @ Ct[0].T]
        for k in range(1, L):
            hs.append(hs[-1] + b * (ut[k] + ghist[k] @ Ct[k].T))
        ps = jnp.stack([act.phi(h) for h in hs])
        phist = jax.lax.dynamic_update_slice(phist, ps, (0, 0, t * P))
        gs = [None] * L
        z = rt[L - 1] + phist[L - 1] @ Dt[L - 1].T
        gs[L - 1] = act.dphi(hs[L - 1]) * z
        for k in range(L - 2, -1, -1):
            z = rt[k] + phist[k] @ Dt[k].T
            gs[k] = gs[k + 1] + b * act.dphi(hs[k]) * z
        ghist = jax.lax.dynamic_update_slice(ghist, jnp.stack(gs), (0, 0, t * P))
        return (phist, ghist), None

    zeros = jnp.zeros((L, S, T * P), u.dtype)
    xs = (
        jnp.arange(T),
        jnp.swapaxes(C, 0, 1),
        jnp.swapaxes(D, 0, 1),
        jnp.moveaxis(u, 2, 0),
        jnp.moveaxis(r, 2, 0),
    )
    (phist, ghist), _ = jax.lax.scan(step, (zeros, zeros), xs)
    return phist.reshape(L, S, T, P), ghist.reshape(L, S, T, P)


@partial(jax.jit, static_argnames=("activation", "responses", "batch", "n_resp"))
def stream_update(u, r, C, D, b, *, activation: str, responses: bool, batch: int, n_resp: int):
    """Solve S streams; kernels Phi~, G~ (L, T, P, T, P), responses A~, B~ (L-1, T, P, T, P)
    (zeros if ``responses`` is False) and the summed estimator variances (floor statistics)."""
    act = get_activation(activation)
    L, S, T, P = u.shape
    phi, g = _stream_paths(u, r, C, D, b, act)
    pf = phi.reshape(L, S, T * P)
    gf = g.reshape(L, S, T * P)
    Phi = jnp.einsum("lia,lib->lab", pf, pf) / S
    G = jnp.einsum("lia,lib->lab", gf, gf) / S
    Phi = 0.5 * (Phi + jnp.swapaxes(Phi, 1, 2))
    G = 0.5 * (G + jnp.swapaxes(G, 1, 2))
    var = (
        jnp.sum(jnp.mean(jnp.sum(pf**2, 2) ** 2, 1))
        - jnp.sum(Phi**2)
        + jnp.sum(jnp.mean(jnp.sum(gf**2, 2) ** 2, 1))
        - jnp.sum(G**2)
    ) / S
    Phi = Phi.reshape(L, T, P, T, P)
    G = G.reshape(L, T, P, T, P)
    zeros = jnp.zeros((max(L - 1, 1), T, P, T, P), u.dtype)
    if not responses or L == 1:
        return Phi, G, zeros, zeros, var
    nb = n_resp // batch
    ub = jnp.swapaxes(u[:, : nb * batch].reshape(L, nb, batch, T, P), 0, 1)
    rb = jnp.swapaxes(r[:, : nb * batch].reshape(L, nb, batch, T, P), 0, 1)
    zero = jnp.zeros((L - 1, T, P), u.dtype)

    def shifted(eps_u, eps_r, us, rs):
        # eps_u shifts u^{l+1} (l = 1..L-1), eps_r shifts r^l (l = 1..L-1).
        us = us.at[1:].add(eps_u[:, None])
        rs = rs.at[:-1].add(eps_r[:, None])
        ph, gg = _stream_paths(us, rs, C, D, b, act)
        return ph[:-1].sum(1), gg[1:].sum(1)  # phi(h^l), g^{l+1} for l = 1..L-1

    def body(acc, xs):
        # Only the diagonal blocks (layer l w.r.t. its own source) are responses of the theory.
        Ja = jax.jacfwd(lambda e: shifted(zero, e, *xs)[0])(zero)  # (L-1,T,P, L-1,T,P)
        Jb = jax.jacfwd(lambda e: shifted(e, zero, *xs)[1])(zero)
        idx = jnp.arange(L - 1)
        return (acc[0] + Ja[idx, :, :, idx], acc[1] + Jb[idx, :, :, idx]), None

    (A, B), _ = jax.lax.scan(body, (zeros, zeros), (ub, rb))
    return Phi, G, A / (nb * batch), B / (nb * batch), var


def lazy_resnet_kernels(Kx, depth: int, activation: str, beta0: float):
    """Static kernels of the residual net at gamma0 -> 0.

    Preactivation covariance H^1 = K^x, H^{l+1} = H^l + b^2 Phi^l, Phi^l = <phi phi>_{H^l};
    G^L = <phi' phi'>_{H^L}, G^l = G^{l+1} * (1 + b^2 <phi' phi'>_{H^l}); NTK as in the module
    docstring. Returns ``(Phi, G, K)`` with Phi[l-1] = Phi^l, G[l-1] = G^l (P x P).
    """
    b2 = beta0**2 / depth
    H = np.asarray(Kx, dtype=np.float64)
    Phi, dots = [], []
    for _ in range(depth):
        m, dm = gaussian_moments(H, activation)
        Phi.append(m)
        dots.append(dm)
        H = H + b2 * m
    G = [None] * depth
    G[depth - 1] = dots[depth - 1]
    for layer in range(depth - 2, -1, -1):
        G[layer] = G[layer + 1] * (1 + b2 * dots[layer])
    K = G[0] * Kx + Phi[-1] + b2 * sum(G[k + 1] * Phi[k] for k in range(depth - 1))
    return Phi, G, K


def resnet_ntk(Phi, G, Kx, b):
    """K(t,t) = G^1 * K^x + b^2 sum_{l<L} G^{l+1} * Phi^l + Phi^L (equal times)."""
    K = equal_time(G[0]) * Kx[None] + equal_time(Phi[-1])
    for k in range(len(Phi) - 1):
        K = K + b**2 * equal_time(G[k + 1]) * equal_time(Phi[k])
    return K


def solve_resnet(problem, solver, Kx, lazy, key, rule: dict, max_sweeps: int):
    """Alternating Monte Carlo for the stream DMFT (same loop as the MLP solver); ``lazy`` is
    :func:`lazy_resnet_kernels`' ``(Phi, G, K)``."""
    gia = solver.approximation is not None
    T, L, P, Ptr = problem.steps, problem.depth, Kx.shape[0], problem.n_train
    b = problem.beta0 / np.sqrt(L)
    eg = problem.eta * problem.gamma0
    Phi_l, G_l, K = lazy
    Kx = jnp.asarray(Kx)
    Phi = jnp.stack([jnp.asarray(tile_time(p, T)) for p in Phi_l])
    G = jnp.stack([jnp.asarray(tile_time(g, T)) for g in G_l])
    A = jnp.zeros((max(L - 1, 1), T, P, T, P))
    delta = jnp.asarray(lazy_error_trajectory(K[:Ptr, :Ptr], problem.y, problem.eta, T))
    S = solver.n_sites
    batch, n_resp = response_budget(solver)
    strict = jnp.tril(jnp.ones((T, T)), -1)
    Kx4 = jnp.asarray(tile_time(np.asarray(Kx), T))
    beta = solver.mixing

    def one_sweep(state, sweep, f, delta_new):
        Phi, G, A, B, delta = state
        dpad = jnp.zeros((T, P)).at[:, :Ptr].set(delta_new)
        w = eg * strict[:, None, :, None] * dpad[None, None]
        C = [Kx4 * w] + [A[k - 1] + b * Phi[k - 1] * w for k in range(1, L)]
        D = [B[k] + b * G[k + 1] * w for k in range(L - 1)] + [w + 0.0 * Kx4]
        C = jnp.stack(C).reshape(L, T, P, T * P)
        D = jnp.stack(D).reshape(L, T, P, T * P)
        keys = jr.split(jr.fold_in(key, sweep), 2 * L)
        u = [sample_input(keys[0], Kx, n_sites=S, steps=T)]
        u += [sample_gp(keys[k], Phi[k - 1], n_sites=S) for k in range(1, L)]
        r = [sample_gp(keys[L + k], G[k + 1], n_sites=S) for k in range(L - 1)]
        r += [sample_readout(keys[2 * L - 1], n_sites=S, steps=T, n_points=P)]
        Pt, Gt, At, Bt, var = stream_update(
            jnp.stack(u),
            jnp.stack(r),
            C,
            D,
            b,
            activation=problem.activation,
            responses=not gia,
            batch=batch,
            n_resp=n_resp,
        )
        new = (
            (1 - beta) * Phi + beta * Pt,
            (1 - beta) * G + beta * Gt,
            A if gia else (1 - beta) * A + beta * At,
            B if gia else (1 - beta) * B + beta * Bt,
        )
        res = rel_change((new[0], new[1], delta_new), (Phi, G, delta))
        floor = float(np.sqrt(max(float(var), 0.0) / float(jnp.sum(Pt**2) + jnp.sum(Gt**2))))
        return (*new, delta_new), res, floor

    state = (Phi, G, A, jnp.zeros_like(A), delta)
    ntk_of = lambda s: resnet_ntk(s[0], s[1], Kx, b)  # noqa: E731
    (Phi, G, A, B, _), out = sweep_loop(state, ntk_of, one_sweep, problem, rule, max_sweeps)
    return solver_output(Phi=Phi, G=G, A=A if L > 1 else None, B=B if L > 1 else None, **out)
