"""The lazy limit gamma0 -> 0 (DMFT.md 3.1): static NNGP / NTK kernels and linear dynamics.

Kernel recursion (Phi^0 = K^x, G^{L+1} = 1 1^T)::

    Phi^l = < phi(u) phi(u)^T >_{u ~ N(0, Phi^{l-1})}
    G^l   = G^{l+1} * < phi'(u) phi'(u)^T >_{u ~ N(0, Phi^{l-1})}
    K     = sum_{l=0}^{L} G^{l+1} * Phi^l

(``*`` elementwise). This is the neural-tangents NTK of ``serial(*[Dense(w, 1, 0), Act()] * L,
Dense(1, 1, 0))`` in NTK parameterization. The Gaussian expectations are the kernel engine's
(:func:`infwidth.kernels.gram_kernels` of the activation layer of :mod:`infwidth.network`:
closed forms for linear/relu/erf, quadrature with error ``< 1e-12`` for tanh/gelu/silu).
"""

from __future__ import annotations

import numpy as np

from ..kernels import gram_kernels
from ..network import get_activation


def gaussian_moments(cov: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """(<phi(u) phi(u)^T>, <phi'(u) phi'(u)^T>) for u ~ N(0, cov)."""
    cov = np.asarray(cov, dtype=np.float64)
    return tuple(gram_kernels((get_activation(activation),), cov, np.ones_like(cov)))


def lazy_kernels(
    Kx: np.ndarray, depth: int, activation: str
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Static kernels of the lazy limit.

    Returns ``(Phi, G, K)`` with ``Phi[l]`` for l = 0..L (``Phi[0] = K^x``), ``G[l]`` for
    l = 0..L+1 (``G[0]`` unused, ``G[L+1] = 1``) and the NTK ``K`` (all P x P).
    """
    Kx = np.asarray(Kx, dtype=np.float64)
    Phi = [Kx]
    dots = [None]
    for _ in range(depth):
        m, dm = gaussian_moments(Phi[-1], activation)
        Phi.append(m)
        dots.append(dm)
    G = [None] * (depth + 2)
    G[depth + 1] = np.ones_like(Kx)
    for layer in range(depth, 0, -1):
        G[layer] = G[layer + 1] * dots[layer]
    K = sum(G[layer + 1] * Phi[layer] for layer in range(depth + 1))
    return Phi, G, K


def lazy_ntk(Kx: np.ndarray, depth: int, activation: str) -> np.ndarray:
    """The NTK K = sum_l G^{l+1} * Phi^l of the lazy limit (P x P)."""
    return lazy_kernels(Kx, depth, activation)[2]


def gd_threshold(K: np.ndarray) -> float:
    """GD stability threshold eta_max = 2 / lambda_max(K) of the map Delta <- (I - eta K) Delta."""
    lam = float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
    return 2.0 / lam if lam > 0 else float("inf")


def lazy_error_trajectory(K: np.ndarray, y: np.ndarray, eta: float, steps: int) -> np.ndarray:
    """Delta(t) = (I - eta K)^t y for t = 0..steps-1 (train block of K), shape (steps, P)."""
    out = np.empty((steps, y.shape[0]))
    d = np.asarray(y, dtype=np.float64).copy()
    for t in range(steps):
        out[t] = d
        d = d - eta * K @ d
    return out
