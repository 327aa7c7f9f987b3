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

from ._activations import get_activation


class MCState(NamedTuple):
    """Iterate of the alternating Monte-Carlo solver (kernels as (T, P, T, P) arrays)."""

    Phi: tuple  # l = 1..L
    G: tuple  # l = 1..L
    A: tuple  # l = 1..L-1
    B: tuple  # l = 1..L-1
    f: jnp.ndarray  # (T, P_tot)
    delta: jnp.ndarray  # (T, P_train)


def _site_paths(u, r, Cf, Df, act):
    """Time-march a batch of sites. u, r: (S, T, P); Cf, Df: (T, P, TP). Returns phi, g (S, T, P).

    Written for a whole batch (not vmapped) so that each step is one (S, TP) @ (TP, P) GEMM.
    History buffers are zero beyond the current step, so the full-row contraction with C(t, .)
    and D(t, .) only ever sees the causal part (C(t, s >= t) multiplies zeros).
    """
    S, T, P = u.shape

    def step(carry, xs):
        phist, ghist = carry
        t, Ct, Dt, ut, rt = xs
        h = ut + ghist @ Ct.T
        p = act.phi(h)
        phist = jax.lax.dynamic_update_slice(phist, p, (0, t * P))
        z = rt + phist @ Dt.T
        g = act.dphi(h) * z
        ghist = jax.lax.dynamic_update_slice(ghist, g, (0, t * P))
        return (phist, ghist), None

    zeros = jnp.zeros((S, T * P), u.dtype)
    xs = (jnp.arange(T), Cf, Df, jnp.swapaxes(u, 0, 1), jnp.swapaxes(r, 0, 1))
    (phist, ghist), _ = jax.lax.scan(step, (zeros, zeros), xs)
    return phist.reshape(S, T, P), ghist.reshape(S, T, P)


@partial(jax.jit, static_argnames=("n_sites", "steps"))
def sample_input(key, Kx, *, n_sites: int, steps: int):
    """u^1 ~ N(0, K^x): one P-vector per site, constant in time. Shape (S, T, P)."""
    w, V = jnp.linalg.eigh(Kx)
    x = jr.normal(key, (n_sites, Kx.shape[0]), Kx.dtype) @ (V * jnp.sqrt(jnp.clip(w, 0))).T
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

    def eig_root(_):
        w, V = jnp.linalg.eigh(M)
        return V * jnp.sqrt(jnp.clip(w, 0))

    return jax.lax.cond(jnp.all(jnp.isfinite(Lc)), lambda _: Lc, eig_root, None)


@partial(jax.jit, static_argnames=("n_sites",))
def sample_gp(key, cov, *, n_sites: int):
    """N(0, cov) for a (T, P, T, P) covariance. Shape (S, T, P)."""
    T, P = cov.shape[:2]
    x = jr.normal(key, (n_sites, T * P), cov.dtype) @ _root(cov).T
    return x.reshape(n_sites, T, P)


@partial(jax.jit, static_argnames=("activation", "need_A", "need_B", "batch", "n_resp"))
def layer_update(
    u, r, C, D, *, activation: str, need_A: bool, need_B: bool, batch: int, n_resp: int
):
    """Solve S sites of one layer; return kernel estimates, responses and floor statistics.

    Returns ``(Phi~, G~, A~ or None, B~ or None, stats)`` with ``stats = (sum var Phi~,
    sum var G~)`` (summed entrywise variances of the estimators, see module docstring).
    """
    act = get_activation(activation)
    T, P = u.shape[1:]
    Cf = C.reshape(T, P, T * P)
    Df = D.reshape(T, P, T * P)
    paths = _site_paths
    phi, g = paths(u, r, Cf, Df, act)
    S = phi.shape[0]
    pf = phi.reshape(S, -1)
    gf = g.reshape(S, -1)
    # Symmetrise explicitly: blocked BLAS products are symmetric only to ~1e-12.
    Phi = pf.T @ pf / S
    G = gf.T @ gf / S
    Phi = (0.5 * (Phi + Phi.T)).reshape(T, P, T, P)
    G = (0.5 * (G + G.T)).reshape(T, P, T, P)
    var_phi = (jnp.mean(jnp.sum(pf**2, 1) ** 2) - jnp.sum(Phi**2)) / S
    var_g = (jnp.mean(jnp.sum(gf**2, 1) ** 2) - jnp.sum(G**2)) / S

    nb = n_resp // batch
    ub = u[: nb * batch].reshape(nb, batch, T, P)
    rb = r[: nb * batch].reshape(nb, batch, T, P)
    zero = jnp.zeros((T, P), u.dtype)

    def jac_sum(which):
        def f_shift(eps, us, rs):
            if which == "A":
                ph, _ = paths(us, rs + eps, Cf, Df, act)
                return ph.sum(0)
            _, gg = paths(us + eps, rs, Cf, Df, act)
            return gg.sum(0)

        def body(acc, xs):
            return acc + jax.jacfwd(f_shift)(zero, *xs), None

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
