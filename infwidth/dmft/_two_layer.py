"""One hidden layer, any activation: exact single-site particle dynamics (DMFT.md 3.3).

With L = 1 there are no response functions; each neuron (site) carries (h_mu, z) and the sites
couple only through the shared error Delta(t). Discrete GD (DMFT.md 1.5) gives exactly::

    u ~ N(0, K^x),  r ~ N(0, 1),   h(0) = u,  z(0) = r
    f_mu(t)       = gamma0^{-1} < z(t) phi(h_mu(t)) >,       Delta(t) = y - f_train(t)
    h_mu(t+1)     = h_mu(t) + eta gamma0 z(t) sum_a K^x_{mu a} Delta_a(t) phi'(h_a(t))
    z(t+1)        = z(t)    + eta gamma0 sum_a Delta_a(t) phi(h_a(t))

so no self-consistency loop is needed. Sites are drawn in antithetic pairs (u, r), (u, -r), which
makes f(0) = 0 exactly (the infinite-width value) without changing the law of each site.
Kernels: Phi(t,s) = <phi(h(t)) phi(h(s))>, G(t,s) = <g(t) g(s)> with g = phi'(h) z, and
K(t) = G(t,t) * K^x + Phi(t,t).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr

from ..network import get_activation
from ._common import eig_root


@partial(jax.jit, static_argnames=("activation", "steps", "n_sites"))
def particle_paths(
    key, Kx, y, *, activation: str, gamma0: float, eta: float, steps: int, n_sites: int
):
    """Propagate the particle population; returns (phi paths, g paths, f, Delta).

    Shapes: (T, S, P_tot), (T, S, P_tot), (T, P_tot), (T, P_train).
    """
    act = get_activation(activation)
    P = y.shape[0]
    half = n_sites // 2
    ku, kr = jr.split(key)
    u = jr.normal(ku, (half, Kx.shape[0]), Kx.dtype) @ eig_root(Kx).T
    r = jr.normal(kr, (half,), Kx.dtype)
    h0 = jnp.concatenate([u, u])
    z0 = jnp.concatenate([r, -r])
    eg = eta * gamma0

    def step(carry, _):
        h, z = carry
        ph = act.phi(h)
        g = act.dphi(h) * z[:, None]
        f = jnp.mean(z[:, None] * ph, axis=0) / gamma0
        delta = y - f[:P]
        h_new = h + eg * (g[:, :P] * delta) @ Kx[:, :P].T
        z_new = z + eg * ph[:, :P] @ delta
        return (h_new, z_new), (ph, g, f, delta)

    _, out = jax.lax.scan(step, (h0, z0), None, length=steps)
    return out


@jax.jit
def path_kernel(paths: jnp.ndarray) -> jnp.ndarray:
    """<x(t) x(s)^T> over sites for paths (T, S, P): a (T, P, T, P) two-time kernel."""
    return jnp.einsum("tim,sia->tmsa", paths, paths) / paths.shape[1]
