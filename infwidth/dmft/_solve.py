"""The single entry point :func:`solve_dmft` and the per-solver drivers."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ._common import (
    blowup_step,
    equal_time,
    euler_outputs,
    is_blown_up,
    min_threshold,
    solver_output,
    tile_time,
)
from ._lazy import gd_threshold, lazy_kernels
from ._linear import solve_linear
from ._mc_driver import monte_carlo as _monte_carlo
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


def _lazy(problem: DMFTProblem, lazy):
    Phi_l, G_l, K = lazy
    T, L, P = problem.steps, problem.depth, problem.n_train
    y, ntk = problem.y, np.broadcast_to(K, (T, *K.shape))
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
        f, delta = (
            np.asarray(a) for a in euler_outputs(jnp.asarray(ntk), jnp.asarray(y), problem.eta)
        )
    Phi = np.stack([tile_time(Phi_l[layer], T) for layer in range(1, L + 1)])
    G = np.stack([tile_time(G_l[layer], T) for layer in range(1, L + 1)])
    return solver_output(f, delta, Phi, G, ntk.copy())


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
    return solver_output(f, delta, Phi[None], G[None], ntk, floor=[floor])


def _deep_linear(problem, Kx):
    if problem.activation != "linear":
        raise InfwidthError(
            f"DeepLinear needs activation='linear', got {problem.activation!r}; use MonteCarlo"
        )
    state, ntk = solve_linear(
        Kx,
        problem.y,
        depth=problem.depth,
        eta=problem.eta,
        gamma0=problem.gamma0,
        steps=problem.steps,
    )
    T, P, L = problem.steps, Kx.shape[0], problem.depth
    Phi = np.stack([np.asarray(H).reshape(T, P, T, P) for H in state.H])
    G = np.stack(
        [np.broadcast_to(np.asarray(Gl)[:, None, :, None], (T, P, T, P)) for Gl in state.G]
    )
    # Collapsed responses: A^l[(t,mu), s] -> (T, P, T); B^l[t, (s,a)] -> (T, T, P).
    A = np.stack([np.asarray(a).reshape(T, P, T) for a in state.A]) if L > 1 else None
    B = np.stack([np.asarray(b).reshape(T, T, P) for b in state.B]) if L > 1 else None
    # A direct solve (no sweeps): non-finite numbers can only mean that GD blew up.
    finite = all(np.all(np.isfinite(x)) for x in (Phi, G, state.delta))
    result = RESULTS.successful if finite else RESULTS.diverged
    return solver_output(state.f, state.delta, Phi, G, ntk, A, B, result=result)


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
        tol: relative-change tolerance of the Monte-Carlo self-consistency loop (default
            1e-3; it also stops once two consecutive residuals are within ``floor_factor`` x
            the Monte-Carlo noise floor). DeepLinear is a direct causal solve: no sweeps.
        max_sweeps: budget of Monte-Carlo sweeps (default 40).
        min_sweeps: sweeps always done before the floor rule may stop the loop.
        throw: raise :class:`DMFTError` (an ``InfwidthError``) on divergence or non-convergence
            instead of returning the flagged solution.

    Divergence: if eta >= eta_max = 2 / lambda_max(K(0)) (K(0) is the lazy NTK exactly) or the
    error blows up later, the solution is flagged ``RESULTS.diverged`` and its arrays are NaN:
    divergent numbers are never returned.
    """
    if not isinstance(solver, AbstractDMFTSolver):
        raise InfwidthError(f"solver must be a DMFT solver object, got {solver!r}")
    seed = valid.seed("seed", seed)
    tol = 1e-3 if tol is None else float(valid.positive("tol", tol))
    max_sweeps = 40 if max_sweeps is None else int(valid.positive_int("max_sweeps", max_sweeps))
    min_sweeps = valid.nonnegative_int("min_sweeps", min_sweeps)
    floor_factor = valid.positive("floor_factor", floor_factor)
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
    rule = dict(tol=tol, floor_factor=floor_factor, min_sweeps=min_sweeps)
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
        elif isinstance(solver, Lazy):
            out = _lazy(problem, lazy)
        elif isinstance(solver, TwoLayerParticles):
            out = _two_layer(problem, solver, Kx, key)
        elif isinstance(solver, DeepLinear):
            out = _deep_linear(problem, Kx)
        elif isinstance(solver, MonteCarlo):
            drive = solve_resnet if problem.arch == "resmlp" else _monte_carlo
            out = drive(problem, solver, Kx, lazy, key, rule, max_sweeps)
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


def _threshold_before_blowup(problem: DMFTProblem, out: dict) -> float:
    """min over the steps before the error blew up of 2 / lambda_max(K(t, t)) (inf if none).
    The kernels at and after the blow-up are left out: they have grown with the error and
    their 2/lambda_max (down to ~1e-14) says nothing about the eta that started it."""
    t = blowup_step(out["delta"], problem.y)
    ntk = np.asarray(out["ntk"])
    return min_threshold(ntk if t < 0 else ntk[:t], problem.n_train)


def divergence_message(eta: float, thr: float, eta0: float | None = None) -> str:
    """Why GD diverged, with only thresholds that mean something: ``thr`` is the tightest
    2/lambda_max(K(t, t)) over the steps before the blow-up (:func:`_threshold_before_blowup`),
    ``eta0`` the lazy NTK's at t=0 (shown when given and different)."""
    at0 = "" if eta0 is None or eta0 == thr else f" (lazy NTK at t=0: {eta0:.6g})"
    if eta >= thr:
        return (
            f"gradient descent diverges: eta={eta:g} is beyond the GD stability threshold "
            f"eta_max = 2/lambda_max(K) = {thr:.6g}{at0}, the tightest over the steps before the "
            "blow-up (feature learning can grow the NTK: catapult / edge of stability). Lower eta."
        )
    return (
        f"the solve diverged at eta={eta:g}, below 2/lambda_max(K(t)) at every step it resolved "
        f"before the blow-up (t=0: {thr if eta0 is None else eta0:.6g}): no stability threshold "
        "explains it, so none is estimated. Lower eta."
    )


def _finish(problem, solver, out, eta_max, seed, throw, wall) -> DMFTSolution:
    T, L = problem.steps, problem.depth
    P = problem.X_all.shape[0]
    settings = (
        problem.settings()
        | {"solver": type(solver).__name__}
        | {k: v for k, v in vars(solver).items() if k != "approximation"}
    )
    common = dict(
        n_train=problem.n_train,
        settings=settings,
        seed=seed,
        solver=type(solver).__name__,
        approximation=solver.approximation,
        wall_time=wall,
    )
    diverged = out is None or out["result"] is RESULTS.diverged
    thr = eta_max
    if diverged:
        thr = eta_max if out is None else min(eta_max, _threshold_before_blowup(problem, out))
        nan = np.full
        history = {} if out is None else {k: out[k] for k in ("residuals", "floor")}
        out = solver_output(
            nan((T, P), np.nan),
            nan((T, problem.n_train), np.nan),
            nan((L, T, P, T, P), np.nan),
            nan((L, T, P, T, P), np.nan),
            nan((T, P, P), np.nan),
            result=RESULTS.diverged,
            **history,
        )
    sol = DMFTSolution(
        result=out["result"],
        loss=0.5 * np.sum(out["delta"] ** 2, axis=1),
        outputs=out["f"],
        Phi=out["Phi"],
        G=out["G"],
        ntk=out["ntk"],
        A=out["A"],
        B=out["B"],
        residuals=out["residuals"],
        noise_floor=out["floor"],
        eta_max=thr,
        stop_reason=out["stop"],
        **common,
    )
    if throw and diverged:
        raise DMFTError(divergence_message(problem.eta, thr, eta_max), sol)
    if throw and sol.result is RESULTS.max_sweeps_reached:
        last = sol.residuals[-1] if sol.residuals.size else float("nan")
        raise DMFTError(
            f"DMFT did not converge (last residual {last:.3g}). {sol.result.value}", sol
        )
    return sol
