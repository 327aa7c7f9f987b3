"""The single entry point :func:`solve_dmft` and the per-solver drivers."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..errors import InfwidthError
from ._common import (
    equal_time,
    euler_outputs,
    is_blown_up,
    min_threshold,
    rel_change,
    stop_reason,
    tile_time,
)
from ._lazy import gd_threshold, lazy_error_trajectory, lazy_kernels
from ._linear import solve_linear
from ._mc import MCState, build_CD, layer_update, sample_gp, sample_input, sample_readout
from ._resnet import lazy_resnet_kernels, solve_resnet
from ._two_layer import particle_paths, path_kernel
from ._types import (
    RESULTS,
    AbstractDMFTSolver,
    DeepLinear,
    DMFTError,
    DMFTProblem,
    DMFTSolution,
    Lazy,
    MonteCarlo,
    TwoLayerParticles,
)


def _lazy(problem: DMFTProblem, Kx, lazy):
    Phi_l, G_l, K = lazy
    T, L, P = problem.steps, problem.depth, problem.n_train
    y = problem.y
    if problem.dynamics == "flow":
        # Gradient flow in tau = eta t: f(tau) = K_{:,X} V diag((1 - e^{-lam tau}) / lam) V^T y.
        lam, V = np.linalg.eigh(K[:P, :P])
        tau = problem.eta * np.arange(T)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(
                lam[None] > 1e-12 * lam.max(),
                -np.expm1(-lam[None] * tau[:, None]) / lam[None],
                tau[:, None],
            )
        coef = (gain * (V.T @ y)[None]) @ V.T  # (T, P): K^{-1}(I - e^{-K tau}) y
        f = coef @ K[:, :P].T
        delta = y[None] - f[:, :P]
    else:
        ntk = np.broadcast_to(K, (T, *K.shape))
        f, delta = (
            np.asarray(a) for a in euler_outputs(jnp.asarray(ntk), jnp.asarray(y), problem.eta)
        )
    Phi = np.stack([tile_time(Phi_l[layer], T) for layer in range(1, L + 1)])
    G = np.stack([tile_time(G_l[layer], T) for layer in range(1, L + 1)])
    ntk = np.broadcast_to(K, (T, *K.shape)).copy()
    return dict(
        f=f,
        delta=delta,
        Phi=Phi,
        G=G,
        ntk=ntk,
        A=None,
        B=None,
        residuals=np.zeros(0),
        floor=np.zeros(0),
        result=RESULTS.successful,
    )


def _two_layer(problem, solver: TwoLayerParticles, Kx, key):
    if problem.depth != 1:
        raise InfwidthError(
            f"TwoLayerParticles needs depth=1 (one hidden layer), got depth={problem.depth}; "
            "use MonteCarlo (nonlinear) or DeepLinear (linear) for deeper nets"
        )
    S = 2 * max(1, solver.n_sites // 2)
    phi, g, f, delta = particle_paths(
        key,
        jnp.asarray(Kx),
        jnp.asarray(problem.y),
        activation=problem.activation,
        gamma0=problem.gamma0,
        eta=problem.eta,
        steps=problem.steps,
        n_sites=S,
    )
    Phi = path_kernel(phi)
    G = path_kernel(g)
    ntk = equal_time(G) * jnp.asarray(Kx)[None] + equal_time(Phi)
    pf = jnp.swapaxes(phi, 0, 1).reshape(S, -1)
    floor = np.sqrt(max(float(jnp.mean(jnp.sum(pf**2, 1) ** 2) - jnp.sum(Phi**2)), 0) / S)
    floor /= float(jnp.linalg.norm(Phi))
    return dict(
        f=f,
        delta=delta,
        Phi=Phi[None],
        G=G[None],
        ntk=ntk,
        A=None,
        B=None,
        residuals=np.zeros(0),
        floor=np.array([floor]),
        result=RESULTS.successful,
    )


def _deep_linear(problem, Kx, lazy, tol, max_sweeps, gia=False):
    if problem.activation != "linear":
        raise InfwidthError(
            f"DeepLinear needs activation='linear', got {problem.activation!r}; use MonteCarlo"
        )
    delta0 = lazy_error_trajectory(
        lazy[2][: problem.n_train, : problem.n_train], problem.y, problem.eta, problem.steps
    )
    state, ntk, res = solve_linear(
        Kx,
        problem.y,
        depth=problem.depth,
        eta=problem.eta,
        gamma0=problem.gamma0,
        steps=problem.steps,
        delta0=delta0,
        tol=tol,
        max_sweeps=max_sweeps,
        gia=gia,
    )
    P, L = Kx.shape[0], problem.depth
    ok = res.size and np.isfinite(res[-1]) and res[-1] < tol
    if state.f.shape[0] != problem.steps or not ok:
        # The continuation stopped early: report non-convergence with the residual history.
        T = problem.steps
        nan = np.full((L, T, P, T, P), np.nan)
        return dict(
            f=np.full((T, P), np.nan),
            delta=np.full((T, problem.n_train), np.nan),
            Phi=nan,
            G=nan,
            ntk=np.full((T, P, P), np.nan),
            A=None,
            B=None,
            residuals=res,
            floor=np.zeros_like(res),
            result=RESULTS.max_sweeps_reached,
            stop=None,
        )
    T = problem.steps
    Phi = np.stack([np.asarray(H).reshape(T, P, T, P) for H in state.H])
    G = np.stack(
        [np.broadcast_to(np.asarray(Gl)[:, None, :, None], (T, P, T, P)) for Gl in state.G]
    )
    # Collapsed responses: A^l[(t,mu), s] -> (T, P, T); B^l[t, (s,a)] -> (T, T, P).
    A = np.stack([np.asarray(a).reshape(T, P, T) for a in state.A]) if L > 1 else None
    B = np.stack([np.asarray(b).reshape(T, T, P) for b in state.B]) if L > 1 else None
    ok = res.size and np.isfinite(res[-1]) and res[-1] < tol
    return dict(
        f=state.f,
        delta=state.delta,
        Phi=Phi,
        G=G,
        ntk=ntk,
        A=A,
        B=B,
        residuals=res,
        floor=np.zeros_like(res),
        result=RESULTS.successful if ok else RESULTS.max_sweeps_reached,
        stop="tolerance" if ok else None,
    )


def mc_ntk(Phi, G, Kx):
    """K(t,t) = G^1 * K^x + sum_{l=1}^{L-1} G^{l+1} * Phi^l + Phi^L at equal times."""
    K = equal_time(G[0]) * Kx[None]
    for layer in range(1, len(Phi)):
        K = K + equal_time(G[layer]) * equal_time(Phi[layer - 1])
    return K + equal_time(Phi[-1])


def _monte_carlo(
    problem, solver: MonteCarlo, Kx, lazy, key, tol, max_sweeps, floor_factor, min_sweeps
):
    gia = solver.approximation is not None
    T, L, P, Ptr = problem.steps, problem.depth, Kx.shape[0], problem.n_train
    eg = problem.eta * problem.gamma0
    Kx = jnp.asarray(Kx)
    y = jnp.asarray(problem.y)
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
    n_resp = min(solver.n_response_sites, S)
    batch = max(1, min(solver.batch, n_resp))
    n_resp = (n_resp // batch) * batch
    beta = solver.mixing
    Kx4 = jnp.asarray(tile_time(np.asarray(Kx), T))
    ones4 = jnp.ones((T, P, T, P))
    residuals, floors, result, reason = [], [], RESULTS.max_sweeps_reached, None
    for sweep in range(max_sweeps):
        f, delta = euler_outputs(mc_ntk(state.Phi, state.G, Kx), y, problem.eta)
        if is_blown_up(delta, problem.y):
            result = RESULTS.diverged
            break
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
                n_resp=max(n_resp, batch),
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
        floor = float(np.sqrt(max(var_sum, 0.0) / max(norm_sum, 1e-300)))
        residuals.append(res)
        floors.append(floor)
        state = new
        if not np.isfinite(res):
            result = RESULTS.diverged
            break
        reason = stop_reason(
            residuals, floors, tol=tol, floor_factor=floor_factor, min_sweeps=min_sweeps
        )
        if reason is not None:
            result = RESULTS.successful
            break
    ntk = mc_ntk(state.Phi, state.G, Kx)
    f, delta = euler_outputs(ntk, y, problem.eta)
    if is_blown_up(delta, problem.y):
        result = RESULTS.diverged
    return dict(
        f=f,
        delta=delta,
        Phi=jnp.stack(state.Phi),
        G=jnp.stack(state.G),
        ntk=ntk,
        A=jnp.stack(state.A) if L > 1 else None,
        B=jnp.stack(state.B) if L > 1 else None,
        residuals=np.asarray(residuals),
        floor=np.asarray(floors),
        result=result,
        stop=reason,
    )


def solve_dmft(
    problem: DMFTProblem,
    solver: AbstractDMFTSolver,
    *,
    seed: int = 0,
    tol: float | None = None,
    max_sweeps: int | None = None,
    min_sweeps: int = 3,
    floor_factor: float = 2.0,
    throw: bool = True,
) -> DMFTSolution:
    """Solve the infinite-width dynamics of ``problem`` with ``solver``.

    Main arguments:
        problem: the network, data and training rule (:class:`DMFTProblem`, DMFT.md section 1).
        solver: :class:`Lazy`, :class:`TwoLayerParticles`, :class:`DeepLinear`,
            :class:`MonteCarlo` or the labelled approximation :class:`GradientIndependence`.

    Other arguments:
        seed: PRNG seed of the Monte-Carlo solvers (recorded; same seed, same numbers).
        tol: relative-change tolerance of the self-consistency loop (default 1e-10 for
            DeepLinear, 1e-3 for Monte Carlo, where the loop also stops once two consecutive
            residuals are within ``floor_factor`` x the Monte-Carlo noise floor).
        max_sweeps: budget of sweeps (default 400 DeepLinear, 40 Monte Carlo).
        min_sweeps: sweeps always done before the floor rule may stop the loop.
        throw: raise :class:`DMFTError` (an ``InfwidthError``) on divergence or non-convergence
            instead of returning the flagged solution.

    Divergence: if eta >= eta_max = 2 / lambda_max(K(0)) (K(0) is the lazy NTK exactly) or the
    error blows up later, the solution is flagged ``RESULTS.diverged`` and its arrays are NaN:
    divergent numbers are never returned.
    """
    if not isinstance(solver, AbstractDMFTSolver):
        raise InfwidthError(f"solver must be a DMFT solver object, got {solver!r}")
    if problem.arch == "resmlp" and not isinstance(solver, MonteCarlo):
        raise NotImplementedError(
            "arch='resmlp' (DMFT.md 5.2) is solved by the MonteCarlo / GradientIndependence "
            f"stream solver only, got {type(solver).__name__}"
        )
    if problem.dynamics == "flow" and not isinstance(solver, Lazy):
        raise InfwidthError(
            "dynamics='flow' is implemented for the Lazy solver only; for feature learning use "
            "dynamics='gd' with a small eta (gradient-flow time tau = eta * t)"
        )
    linear = isinstance(solver, DeepLinear)
    tol = (1e-10 if linear else 1e-3) if tol is None else float(tol)
    max_sweeps = (400 if linear else 40) if max_sweeps is None else int(max_sweeps)
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        Kx = problem.Kx
        Ptr = problem.n_train
        if problem.arch == "resmlp":
            lazy = lazy_resnet_kernels(Kx, problem.depth, problem.activation, problem.beta0)
        else:
            lazy = lazy_kernels(Kx, problem.depth, problem.activation)
        eta_max = gd_threshold(lazy[2][:Ptr, :Ptr])
        key = jr.PRNGKey(seed)
        if problem.dynamics == "gd" and problem.eta >= eta_max:
            out = None
        elif problem.arch == "resmlp":
            out = solve_resnet(problem, solver, Kx, key, tol, max_sweeps, floor_factor, min_sweeps)
            out.pop("lazy_K")
        elif isinstance(solver, Lazy):
            out = _lazy(problem, Kx, lazy)
        elif isinstance(solver, TwoLayerParticles):
            out = _two_layer(problem, solver, Kx, key)
        elif linear:
            out = _deep_linear(problem, Kx, lazy, tol, max_sweeps)
        elif isinstance(solver, MonteCarlo):
            out = _monte_carlo(
                problem, solver, Kx, lazy, key, tol, max_sweeps, floor_factor, min_sweeps
            )
        else:
            raise InfwidthError(f"unknown solver {type(solver).__name__}")
        if out is not None:
            out = {
                k: (v if v is None or isinstance(v, RESULTS | str) else np.asarray(v))
                for k, v in out.items()
            }
            if out["result"] is not RESULTS.diverged and is_blown_up(out["delta"], problem.y):
                out["result"] = RESULTS.diverged
    return _finish(problem, solver, out, eta_max, seed, throw, time.perf_counter() - t0)


def _finish(problem, solver, out, eta_max, seed, throw, wall) -> DMFTSolution:
    T, L = problem.steps, problem.depth
    P = problem.X_all.shape[0]
    settings = (
        problem.settings()
        | {"solver": type(solver).__name__}
        | {k: v for k, v in vars(solver).items() if k != "approximation"}
    )
    if out is None or out["result"] is RESULTS.diverged:
        thr = eta_max if out is None else min(eta_max, min_threshold(out["ntk"], problem.n_train))
        nan = np.full
        sol = DMFTSolution(
            result=RESULTS.diverged,
            loss=nan(T, np.nan),
            outputs=nan((T, P), np.nan),
            Phi=nan((L, T, P, T, P), np.nan),
            G=nan((L, T, P, T, P), np.nan),
            ntk=nan((T, P, P), np.nan),
            A=None,
            B=None,
            residuals=np.zeros(0) if out is None else out["residuals"],
            noise_floor=np.zeros(0) if out is None else out["floor"],
            eta_max=thr,
            n_train=problem.n_train,
            settings=settings,
            seed=seed,
            solver=type(solver).__name__,
            approximation=solver.approximation,
            wall_time=wall,
        )
        if throw:
            if problem.eta >= eta_max:
                why = f"eta={problem.eta:g} is beyond the GD stability threshold at t=0"
            else:
                why = (
                    f"eta={problem.eta:g} is below the t=0 threshold, but feature learning grows "
                    "the NTK until eta exceeds 2/lambda_max(K(t)) (catapult / edge of stability; "
                    "finite networks become non-monotone there too)"
                )
            raise DMFTError(
                f"gradient descent diverges: {why}; eta_max = 2/lambda_max(K) = {thr:.6g} "
                f"(lazy NTK at t=0: {eta_max:.6g}). Lower eta.",
                sol,
            )
        return sol
    delta = out["delta"]
    sol = DMFTSolution(
        result=out["result"],
        loss=0.5 * np.sum(delta**2, axis=1),
        outputs=out["f"],
        Phi=out["Phi"],
        G=out["G"],
        ntk=out["ntk"],
        A=out["A"],
        B=out["B"],
        residuals=out["residuals"],
        noise_floor=out["floor"],
        eta_max=eta_max,
        n_train=problem.n_train,
        settings=settings,
        seed=seed,
        solver=type(solver).__name__,
        approximation=solver.approximation,
        wall_time=wall,
        stop_reason=out.get("stop"),
    )
    if throw and sol.result is RESULTS.max_sweeps_reached:
        last = sol.residuals[-1] if sol.residuals.size else float("nan")
        raise DMFTError(
            f"DMFT did not converge (last residual {last:.3g}). {sol.result.value}", sol
        )
    return sol
