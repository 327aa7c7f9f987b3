"""Driver of the alternating Monte-Carlo solver for deep MLPs (DMFT.md 4.2): lazy initial
state, Euler error trajectory, Jacobi sweep over layers, mixing and the noise-floor stopping
rule. The per-layer work (sampling, time marching, kernels, responses) lives in ``_mc``."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._common import (
    equal_time,
    rel_change,
    response_budget,
    solver_output,
    sweep_loop,
    tile_time,
)
from ._lazy import lazy_error_trajectory
from ._mc import MCState, build_CD, layer_update, sample_gp, sample_input, sample_readout
from ._types import MonteCarlo


def mc_ntk(Phi, G, Kx):
    """K(t,t) = G^1 * K^x + sum_{l=1}^{L-1} G^{l+1} * Phi^l + Phi^L at equal times."""
    K = equal_time(G[0]) * Kx[None]
    for layer in range(1, len(Phi)):
        K = K + equal_time(G[layer]) * equal_time(Phi[layer - 1])
    return K + equal_time(Phi[-1])


def monte_carlo(problem, solver: MonteCarlo, Kx, lazy, key, rule: dict, max_sweeps: int):
    gia = solver.approximation is not None
    T, L, P, Ptr = problem.steps, problem.depth, Kx.shape[0], problem.n_train
    eg = problem.eta * problem.gamma0
    Kx = jnp.asarray(Kx)
    Phi_l, G_l, K = lazy
    zeros4 = jnp.zeros((T, P, T, P))
    state = MCState(
        Phi=tuple(jnp.asarray(tile_time(Phi_l[k], T)) for k in range(1, L + 1)),
        G=tuple(jnp.asarray(tile_time(G_l[k], T)) for k in range(1, L + 1)),
        A=(zeros4,) * (L - 1),
        B=(zeros4,) * (L - 1),
        f=jnp.zeros((T, P)),
        delta=jnp.asarray(lazy_error_trajectory(K[:Ptr, :Ptr], problem.y, problem.eta, T)),
    )
    S = solver.n_sites
    batch, n_resp = response_budget(solver)
    beta = solver.mixing
    Kx4 = jnp.asarray(tile_time(np.asarray(Kx), T))
    ones4 = jnp.ones((T, P, T, P))

    def one_sweep(state, sweep, f, delta):
        dpad = jnp.zeros((T, P)).at[:, :Ptr].set(delta)
        Phi_n, G_n, A_n, B_n = list(state.Phi), list(state.G), list(state.A), list(state.B)
        var_sum, norm_sum = 0.0, 0.0
        for layer in range(1, L + 1):
            Phi_prev = Kx4 if layer == 1 else state.Phi[layer - 2]
            A_prev = None if layer == 1 else state.A[layer - 2]
            G_next = ones4 if layer == L else state.G[layer]
            B_this = None if layer == L else state.B[layer - 1]
            C, D = build_CD(Phi_prev, A_prev, G_next, B_this, dpad, eg)
            ku, kr = jr.split(jr.fold_in(jr.fold_in(key, sweep), layer))
            if layer == 1:
                u = sample_input(ku, Kx, n_sites=S, steps=T)
            else:
                u = sample_gp(ku, Phi_prev, n_sites=S)
            if layer == L:
                r = sample_readout(kr, n_sites=S, steps=T, n_points=P)
            else:
                r = sample_gp(kr, G_next, n_sites=S)
            # Responses are re-estimated every `response_every` sweeps (the fixed point is the
            # same; the expensive Jacobians are amortised over several kernel updates).
            fresh = not gia and sweep % solver.response_every == 0
            need_A, need_B = (layer < L) and fresh, (layer > 1) and fresh
            Pt, Gt, At, Bt, (vp, vg) = layer_update(
                u,
                r,
                C,
                D,
                activation=problem.activation,
                need_A=need_A,
                need_B=need_B,
                batch=batch,
                n_resp=n_resp,
                response_dtype=solver.response_dtype,
            )
            var_sum += float(vp + vg)
            norm_sum += float(jnp.sum(Pt**2) + jnp.sum(Gt**2))
            Phi_n[layer - 1] = (1 - beta) * state.Phi[layer - 1] + beta * Pt
            G_n[layer - 1] = (1 - beta) * state.G[layer - 1] + beta * Gt
            if need_A:
                A_n[layer - 1] = (1 - beta) * state.A[layer - 1] + beta * At
            if need_B:
                B_n[layer - 2] = (1 - beta) * state.B[layer - 2] + beta * Bt
        new = MCState(tuple(Phi_n), tuple(G_n), tuple(A_n), tuple(B_n), f, delta)
        res = rel_change((*new.Phi, *new.G, new.delta), (*state.Phi, *state.G, state.delta))
        return new, res, float(np.sqrt(max(var_sum, 0.0) / max(norm_sum, 1e-300)))

    state, out = sweep_loop(
        state, lambda s: mc_ntk(s.Phi, s.G, Kx), one_sweep, problem, rule, max_sweeps
    )
    A, B = (jnp.stack(state.A), jnp.stack(state.B)) if L > 1 else (None, None)
    return solver_output(Phi=jnp.stack(state.Phi), G=jnp.stack(state.G), A=A, B=B, **out)
