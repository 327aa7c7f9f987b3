"""Deep networks, any activation: alternating Monte Carlo with response functions (DMFT.md 4.2).

Discrete-time single-site process of layer l (DMFT.md 2.7), g0 = gamma0::

    h(t) = u(t) + sum_{s<t}  C(t,s) g(s),    C = A^{l-1} + eta g0 1[s<t] Delta(s) Phi^{l-1}(t,s)
    z(t) = r(t) + sum_{s<=t} D(t,s) phi(h(s)), D = B^l     + eta g0 1[s<t] Delta(s) G^{l+1}(t,s)
    g(t) = phi'(h(t)) z(t),      u ~ GP(0, Phi^{l-1}),  r ~ GP(0, G^{l+1})

(sums over the sample index implied). Note the equal-time B(t,t) term in z: the response of g
to u has an instantaneous part, so z(t) reads phi(h(s <= t)). Fields are solved by causal time
marching (``lax.scan`` over t, ``vmap`` over sites). Kernels are site averages; responses are
Jacobians of the site-averaged paths w.r.t. a common shift of the Gaussian input::

    A^l(t,s)     = d/d eps(s) < phi(h^l(t)) >   with r -> r + eps
    B^{l-1}(t,s) = d/d eps(s) < g^l(t) >        with u -> u + eps

(``jax.jacfwd``, batched over sites). One sweep updates every layer from the previous iterate
(Jacobi), then mixes X <- (1 - beta) X + beta X~ for X in {Phi, G, A, B}.

Monte-Carlo floor: for a kernel estimate Phi~ = mean_i v_i v_i^T the summed entrywise variance is
(mean_i |v_i|^4 - |Phi|_F^2) / S, so the relative standard error is
sqrt(sum var) / |Phi|_F; the sweep stops once the relative change is within a small multiple of
this floor.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from ..network import get_activation
from ._common import eig_root


class MCState(NamedTuple):
    """Iterate of the alternating Monte-Carlo solver (kernels as (T, P, T, P) arrays)."""

    Phi: tuple  # l = 1..L
    G: tuple  # l = 1..L
    A: tuple  # l = 1..L-1
    B: tuple  # l = 1..L-1
    f: jnp.ndarray  # (T, P_tot)
    delta: jnp.ndarray  # (T, P_train)


def _n_chunks(T: int) -> int:
    # Chunks trade compile time (one scan each) for reading less history; worth it from T ~ 20.
    return max(1, min(8, T // 10))


def _march(u, r, Cf, Df, act, hist, start: int):
    """Time-march a batch of sites from step ``start`` to T (all static).

    u, r: (S, T - start, P) sources for steps start..T-1; Cf, Df: (T, P, TP); ``hist`` =
    (phiT, gT), histories stored transposed as (TP, S) with zeros from step ``start`` on.
    Returns the completed histories.

    Why transposed and chunked: the step is memory-bound (P is small), so the cost is reading
    the history. Splitting the time loop into static chunks lets each chunk read only the
    prefix of the history that can be non-zero (rows < chunk_end * P, a contiguous block of
    the transposed buffer), which halves the traffic relative to reading all of it.
    """
    T, P = Cf.shape[0], Cf.shape[1]
    phiT, gT = hist
    size = -(-T // _n_chunks(T))
    bounds = list(range(0, T, size)) + [T]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b <= start:
            continue
        a = max(a, start)
        w = b * P

        def step(carry, xs, w=w):
            phiT, gT = carry
            t, Ct, Dt, ut, rt = xs
            h = ut + (Ct[:, :w] @ gT[:w]).T
            p = act.phi(h)
            phiT = jax.lax.dynamic_update_slice(phiT, p.T, (t * P, 0))
            z = rt + (Dt[:, :w] @ phiT[:w]).T
            g = act.dphi(h) * z
            gT = jax.lax.dynamic_update_slice(gT, g.T, (t * P, 0))
            return (phiT, gT), None

        xs = (
            jnp.arange(a, b),
            Cf[a:b],
            Df[a:b],
            jnp.swapaxes(u[:, a - start : b - start], 0, 1),
            jnp.swapaxes(r[:, a - start : b - start], 0, 1),
        )
        (phiT, gT), _ = jax.lax.scan(step, (phiT, gT), xs)
    return phiT, gT


def _site_paths(u, r, Cf, Df, act):
    """Time-march a batch of sites. u, r: (S, T, P); Cf, Df: (T, P, TP). Returns phi, g (S, T, P).

    Each step is one (P, TP) @ (TP, S) GEMM over the causal prefix. History buffers are zero
    beyond the current step, so C(t, s >= t) only ever multiplies zeros.
    """
    S, T, P = u.shape
    zeros = jnp.zeros((T * P, S), u.dtype)
    phiT, gT = _march(u, r, Cf, Df, act, (zeros, zeros), 0)
    return phiT.T.reshape(S, T, P), gT.T.reshape(S, T, P)


def _mean_jacobian(u, r, Cf, Df, act, phiT, gT, which: str):
    """Sum over the sites of d phi(h(t)) / d r(s) (``which="A"``) or d g(t) / d u(s) ("B").

    Block-causal forward mode: the tangents for inputs in time block [a, b) vanish before a,
    so each block is differentiated by re-marching only steps a..T-1 from the (known) primal
    histories masked to steps < a. Returns (T, P, T, P), zero for s > t by construction.
    """
    S, T, P = u.shape
    size = -(-T // _n_chunks(T))
    J = jnp.zeros((T, P, T, P), jnp.float64 if u.dtype == jnp.float64 else u.dtype)
    rows = jnp.arange(T * P)[:, None]
    for a in range(0, T, size):
        b = min(a + size, T)
        keep = rows < a * P
        hist = (jnp.where(keep, phiT, 0.0), jnp.where(keep, gT, 0.0))

        def f(eps, a=a, b=b, hist=hist):
            pad = jnp.zeros((T - a, P), u.dtype).at[: b - a].set(eps)
            us, rs = u[:, a:], r[:, a:]
            if which == "A":
                rs = rs + pad
            else:
                us = us + pad
            ph, gg = _march(us, rs, Cf, Df, act, hist, a)
            out = ph if which == "A" else gg
            return out[a * P :].sum(1).reshape(T - a, P)

        Jb = jax.jacfwd(f)(jnp.zeros((b - a, P), u.dtype))  # (T - a, P, b - a, P)
        J = J.at[a:, :, a:b, :].add(Jb.astype(J.dtype))
    return J


@partial(jax.jit, static_argnames=("n_sites", "steps"))
def sample_input(key, Kx, *, n_sites: int, steps: int):
    """u^1 ~ N(0, K^x): one P-vector per site, constant in time. Shape (S, T, P)."""
    x = jr.normal(key, (n_sites, Kx.shape[0]), Kx.dtype) @ eig_root(Kx).T
    return jnp.broadcast_to(x[:, None, :], (n_sites, steps, Kx.shape[0]))


@partial(jax.jit, static_argnames=("n_sites", "steps", "n_points"))
def sample_readout(key, *, n_sites: int, steps: int, n_points: int):
    """r^L ~ N(0, 1): the initial readout weight, one scalar per site. Shape (S, T, P)."""
    r = jr.normal(key, (n_sites,))
    return jnp.broadcast_to(r[:, None, None], (n_sites, steps, n_points))


@jax.jit
def _root(cov):
    """A square root R (R R^T = cov) of a PSD (T, P, T, P) covariance, as (TP, TP).

    Cholesky with a relative jitter 1e-10 (rank-deficient covariances are the rule here,
    DMFT.md 4.3; the jitter perturbs samples by ~1e-5 relative, far below Monte-Carlo error),
    falling back to a clipped eigendecomposition if the factorisation fails.
    """
    T, P = cov.shape[:2]
    M = cov.reshape(T * P, T * P)
    M = 0.5 * (M + M.T)
    jitter = 1e-10 * jnp.mean(jnp.diag(M)) + 1e-300
    Lc = jnp.linalg.cholesky(M + jitter * jnp.eye(T * P, dtype=M.dtype))
    return jax.lax.cond(jnp.all(jnp.isfinite(Lc)), lambda _: Lc, lambda _: eig_root(M), None)


@partial(jax.jit, static_argnames=("n_sites",))
def sample_gp(key, cov, *, n_sites: int):
    """N(0, cov) for a (T, P, T, P) covariance. Shape (S, T, P)."""
    T, P = cov.shape[:2]
    x = jr.normal(key, (n_sites, T * P), cov.dtype) @ _root(cov).T
    return x.reshape(n_sites, T, P)


@partial(
    jax.jit,
    static_argnames=("activation", "need_A", "need_B", "batch", "n_resp", "response_dtype"),
)
def layer_update(
    u,
    r,
    C,
    D,
    *,
    activation: str,
    need_A: bool,
    need_B: bool,
    batch: int,
    n_resp: int,
    response_dtype: str = "float64",
):
    """Solve S sites of one layer; return kernel estimates, responses and floor statistics.

    Returns ``(Phi~, G~, A~ or None, B~ or None, stats)`` with ``stats = (sum var Phi~,
    sum var G~)`` (summed entrywise variances of the estimators, see module docstring).
    """
    act = get_activation(activation)
    T, P = u.shape[1:]
    Cf = C.reshape(T, P, T * P)
    Df = D.reshape(T, P, T * P)
    phi, g = _site_paths(u, r, Cf, Df, act)
    S = phi.shape[0]

    def estimate(paths):  # the kernel <x x^T> over sites and its estimator's summed variance
        x = paths.reshape(S, -1)
        K = x.T @ x / S
        # Symmetrise explicitly: blocked BLAS products are symmetric only to ~1e-12.
        K = (0.5 * (K + K.T)).reshape(T, P, T, P)
        return K, (jnp.mean(jnp.sum(x**2, 1) ** 2) - jnp.sum(K**2)) / S

    (Phi, var_phi), (G, var_g) = estimate(phi), estimate(g)

    nb = n_resp // batch
    ub = u[: nb * batch].reshape(nb, batch, T, P)
    rb = r[: nb * batch].reshape(nb, batch, T, P)

    # Responses may be propagated in float32 (response_dtype): the forward-mode pass is
    # memory-bound, halving the bytes halves its time, and its ~1e-7 roundoff is far below the
    # Monte-Carlo error of an average over n_resp sites. Accumulation stays in float64.
    rdt = jnp.dtype(response_dtype)
    Cr, Dr = Cf.astype(rdt), Df.astype(rdt)

    def jac_sum(which):
        def body(acc, xs):
            us, rs = (x.astype(rdt) for x in xs)
            z0 = jnp.zeros((T * P, batch), rdt)
            phiT, gT = _march(us, rs, Cr, Dr, act, (z0, z0), 0)
            J = _mean_jacobian(us, rs, Cr, Dr, act, phiT, gT, which)
            return acc + J.astype(acc.dtype), None

        acc0 = jnp.zeros((T, P, T, P), u.dtype)
        tot, _ = jax.lax.scan(body, acc0, (ub, rb))
        return tot / (nb * batch)

    A = jac_sum("A") if need_A else None
    B = jac_sum("B") if need_B else None
    return Phi, G, A, B, (var_phi, var_g)


def build_CD(Phi_prev, A_prev, G_next, B_this, dpad, eg):
    """C, D of DMFT.md 2.7 as (T, P, T, P) arrays (A_prev / B_this may be None = 0)."""
    T = dpad.shape[0]
    strict = jnp.tril(jnp.ones((T, T), dpad.dtype), -1)
    w = eg * strict[:, None, :, None] * dpad[None, None, :, :]
    C = Phi_prev * w
    D = G_next * w
    if A_prev is not None:
        C = C + A_prev
    if B_this is not None:
        D = D + B_this
    return C, D
