"""Helpers shared by the solvers: the NTK/Euler output update, kernel diagnostics, divergence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._divergence import blown_up, first_divergence, rms_per_step
from ._types import RESULTS


@jax.jit
def euler_outputs(ntk: jnp.ndarray, y: jnp.ndarray, eta: float) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Outputs and train errors from the NTK update (DMFT.md 2.7, "NTK/Euler").

    ``ntk`` (T, P_tot, P_tot) is K(t, t); the first ``len(y)`` samples are training points::

        f(0) = 0,   f(t+1) = f(t) + eta K(t, t)[:, train] Delta(t),   Delta(t) = y - f_train(t)

    Test points have Delta = 0 and are simply carried along (DMFT.md 2.8).
    Returns ``(f, Delta)`` with shapes (T, P_tot), (T, P_train).
    """
    P = y.shape[0]

    def step(f, K):
        delta = y - f[:P]
        return f + eta * K[:, :P] @ delta, (f, delta)

    _, (f, delta) = jax.lax.scan(step, jnp.zeros(ntk.shape[1], ntk.dtype), ntk)
    return f, delta


def rel_change(new, old) -> float:
    """||new - old|| / ||old|| (Frobenius, over all leaves)."""
    num = sum(float(jnp.sum((a - b) ** 2)) for a, b in zip(new, old, strict=True))
    den = sum(float(jnp.sum(b**2)) for b in old)
    return float(np.sqrt(num / max(den, 1e-300)))


def is_blown_up(delta: np.ndarray, y: np.ndarray) -> bool:
    """True if the error trajectory ``delta`` (T, P) diverged: non-finite, or its RMS at some
    step beyond ``GROWTH_BOUND`` times the targets' (Delta(0) = y; :mod:`infwidth._divergence`)."""
    return blown_up(delta, y)


def blowup_step(delta: np.ndarray, y: np.ndarray) -> int:
    """First step at which the error trajectory diverged (:func:`is_blown_up`), or -1."""
    ref = float(np.sqrt(np.mean(np.square(np.asarray(y, dtype=np.float64)))))
    return first_divergence(rms_per_step(delta), initial=ref)


def min_threshold(ntk: np.ndarray, n_train: int) -> float:
    """min over t of 2 / lambda_max(K_train(t, t)), the tightest GD stability threshold seen
    (steps whose kernel is not finite are skipped)."""
    K = np.asarray(ntk)[:, :n_train, :n_train]
    K = K[np.isfinite(K).all(axis=(1, 2))]
    if not K.shape[0]:
        return float("inf")
    lam = np.linalg.eigvalsh(0.5 * (K + np.swapaxes(K, 1, 2)))[:, -1]
    lam = lam[lam > 0]
    return float(2.0 / lam.max()) if lam.size else float("inf")


def eig_root(M: jnp.ndarray) -> jnp.ndarray:
    """A square root R (R R^T = M) of a symmetric PSD M = V diag(w) V^T: V sqrt(max(w, 0))."""
    w, V = jnp.linalg.eigh(M)
    return V * jnp.sqrt(jnp.clip(w, 0))


def tile_time(K: np.ndarray, T: int) -> np.ndarray:
    """A P x P kernel constant in time, as a (T, P, T, P) two-time kernel."""
    P = K.shape[0]
    return np.broadcast_to(K[None, :, None, :], (T, P, T, P)).copy()


def equal_time(X: jnp.ndarray) -> jnp.ndarray:
    """Diagonal in time of a (T, P, T, P) kernel: X[t, :, t, :], shape (T, P, P)."""
    T = X.shape[0]
    idx = jnp.arange(T)
    return X[idx, :, idx, :]


def record_sweep(
    residuals: list, floors: list, res: float, floor: float, **rule: float
) -> str | None:
    """Append one sweep's residual and noise floor; return ``"diverged"`` (non-finite
    residual), the :func:`stop_reason` (``rule``: tol, floor_factor, min_sweeps), or None."""
    residuals.append(res)
    floors.append(floor)
    if not np.isfinite(res):
        return "diverged"
    return stop_reason(residuals, floors, **rule)


def sweep_outcome(stop: str) -> tuple[str, str | None]:
    """``(result, reason)`` of a loop that :func:`record_sweep` stopped with ``stop``."""
    if stop == "diverged":
        return RESULTS.diverged, None
    return RESULTS.successful, stop


def stop_reason(
    residuals: list, floors: list, *, tol: float, floor_factor: float, min_sweeps: int
) -> str | None:
    """Stopping rule of the Monte-Carlo loops, tied to the Monte-Carlo noise floor.

    Returns why to stop, or None to continue (never before ``min_sweeps`` sweeps):

    * ``"tolerance"``: the last two residuals are <= max(tol, floor_factor * floor), where floor
      is the estimated relative standard error of the kernel estimates of that sweep;
    * ``"plateau"``: after at least 6 sweeps the median of the last three residuals is no
      longer below 0.9 x the median of the three before. The sweep-to-sweep change has then
      reached its own noise level, which also contains the response-function noise that the
      kernel floor estimate does not see; more sweeps only resample the noise.
    """
    k = len(residuals)
    if k < min_sweeps:
        return None
    lim = [max(tol, floor_factor * f) for f in floors[-2:]]
    if k >= 2 and all(r <= m for r, m in zip(residuals[-2:], lim, strict=True)):
        return "tolerance"
    if k >= max(6, min_sweeps):
        if np.median(residuals[-3:]) >= 0.9 * np.median(residuals[-6:-3]):
            return "plateau"
    return None


def solver_output(
    f, delta, Phi, G, ntk, A=None, B=None, *, residuals=(), floor=(), result=None, stop=None
) -> dict:
    """What a solver driver hands to :func:`~infwidth.dmft.solve_dmft`: outputs ``f``, errors
    ``delta``, kernels, responses (None where the solver has none), the residual and noise-floor
    history (empty for the direct solvers), the status (default successful) and stop reason."""
    return dict(
        f=f,
        delta=delta,
        Phi=Phi,
        G=G,
        ntk=ntk,
        A=A,
        B=B,
        residuals=np.asarray(residuals, dtype=np.float64),
        floor=np.asarray(floor, dtype=np.float64),
        result=RESULTS.successful if result is None else result,
        stop=stop,
    )


def response_budget(solver) -> tuple[int, int]:
    """``(batch, n_resp)`` of a :class:`MonteCarlo` solver: response sites in whole batches,
    at least one batch, at most ``n_sites``."""
    n_resp = min(solver.n_response_sites, solver.n_sites)
    batch = max(1, min(solver.batch, n_resp))
    return batch, max(batch, (n_resp // batch) * batch)


def sweep_loop(state, ntk_of, sweep, problem, rule: dict, max_sweeps: int):
    """The alternating Monte-Carlo loop of the MLP and residual solvers (DMFT.md 4.2).

    Each sweep takes the outputs ``f`` and errors ``delta`` of the NTK/Euler update with
    ``ntk_of(state)`` (stopping if they blew up), then ``sweep(state, k, f, delta) ->
    (state, residual, floor)`` and the stopping rule ``rule`` (:func:`record_sweep`). Returns
    the last iterate and :func:`solver_output`'s fields but the kernels: the outputs of the
    last iterate's NTK, the residuals and floors, status and stop reason."""
    y = jnp.asarray(problem.y)
    residuals, floors, result, reason = [], [], RESULTS.max_sweeps_reached, None
    for k in range(max_sweeps):
        f, delta = euler_outputs(ntk_of(state), y, problem.eta)
        if is_blown_up(delta, problem.y):
            result = RESULTS.diverged
            break
        state, res, floor = sweep(state, k, f, delta)
        stop = record_sweep(residuals, floors, res, floor, **rule)
        if stop is not None:
            result, reason = sweep_outcome(stop)
            break
    ntk = ntk_of(state)
    f, delta = euler_outputs(ntk, y, problem.eta)
    if is_blown_up(delta, problem.y):
        result = RESULTS.diverged
    out = dict(residuals=residuals, floor=floors, result=result, stop=reason)
    return state, dict(f=f, delta=delta, ntk=ntk) | out
