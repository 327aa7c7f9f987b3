"""The layers of the shared network model, in the style of neural-tangents' ``stax``: a layer is a
frozen (hashable) dataclass that carries both semantics of one layer,

- **finite width**: ``init(key, input_shape) -> (output_shape, params)`` and
  ``apply(params, x) -> y`` (neural-tangents' convention: in the ``"ntk"`` parametrization the
  parameters are drawn ``N(0, 1)`` and the multipliers ``W_std / sqrt(fan_in)``, ``b_std`` are
  applied in the forward pass);
- **infinite width**: ``__call__(k: KernelState) -> KernelState``, the map of the NNGP and NTK.

The state carried between kernel maps, for a block of ``b1 x b2`` input pairs, is
:class:`KernelState`: ``nngp[i, j] = E[h_i h_j]`` (per-neuron covariance of the layer's outputs),
``ntk[i, j]`` (the neural tangent kernel of those outputs w.r.t. all parameters below), and the
diagonals ``var1[i] = E[h_i^2]`` of the first inputs, ``var2[j]`` of the second ones.

Conventions are exactly those of neural-tangents 0.6.5 (``stax.Dense``, ``stax.LayerNorm``,
``FanOut/parallel/FanInSum`` residuals), so that ``tests/kernels/test_nt_compat.py`` can compare
numbers. Layers are hashable, so a tuple of them is a static argument of ``jax.jit``. The
elementwise nonlinearity layer is :class:`~infwidth.network.Activation` (:mod:`._activations`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from ..errors import InfwidthError

__all__ = [
    "Dense",
    "KernelState",
    "LayerNorm",
    "Residual",
    "Serial",
    "input_state",
    "output_kernels",
    "pair_vars",
    "serial",
]

Shape = tuple[int, ...]


class KernelState(NamedTuple):
    """Infinite-width kernels of one layer's outputs on a block of input pairs.

    ``ntk_diag[i] = Theta(x1_i, x1_i)`` is carried by the one-variable maps. Every layer map is
    elementwise in ``(K12, K11, K22)``, so off-diagonal entries never depend on diagonal ones:
    for ``x1 is x2`` the diagonal is overwritten at the end with ``var1`` and ``ntk_diag``,
    exact by construction (the pair formulas at ``c = 1`` are ill-conditioned: a 1-ulp error
    in ``c`` becomes a 1e-8 error through ``arccos``)."""

    nngp: jnp.ndarray  # (b1, b2)
    ntk: jnp.ndarray  # (b1, b2)
    var1: jnp.ndarray  # (b1,)
    var2: jnp.ndarray  # (b2,)
    ntk_diag: jnp.ndarray  # (b1,)


def input_state(x1: jnp.ndarray, x2: jnp.ndarray) -> KernelState:
    """Kernels of the raw inputs, normalised by the input dimension as neural-tangents does:
    ``K0(x, x') = x . x' / d``, ``Theta0 = 0``."""
    d = x1.shape[-1]
    nngp = x1 @ x2.T / d
    var1, var2 = jnp.sum(x1 * x1, -1) / d, jnp.sum(x2 * x2, -1) / d
    return KernelState(nngp, jnp.zeros_like(nngp), var1, var2, jnp.zeros_like(var1))


def output_kernels(k: KernelState, same: bool) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(nngp, ntk)``; with ``same`` (``x1 is x2``) the diagonal is set to the exact one-variable
    values. (An elementwise ``where``, not a transpose, so that XLA keeps one fused loop.)"""
    if not same or k.var1.ndim != 1:
        return k.nngp, k.ntk
    n = k.nngp.shape[0]
    # After a global average pool the one-variable values are unknown (nan): keep the pair ones.
    eye = (jnp.arange(n)[:, None] == jnp.arange(n)[None, :]) & jnp.isfinite(k.var1)[:, None]
    return jnp.where(eye, k.var1[:, None], k.nngp), jnp.where(eye, k.ntk_diag[:, None], k.ntk)


def pair_vars(k: KernelState) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``var1``, ``var2`` reshaped to broadcast against ``nngp``: ``(b1, 1)``, ``(1, b2)``; with
    ``s`` spatial axes ``(b1, 1, *S, 1...)`` and ``(1, b2, 1..., *S)``."""
    s = k.var1.ndim - 1
    v1 = k.var1.reshape(k.var1.shape[:1] + (1,) + k.var1.shape[1:] + (1,) * s)
    v2 = k.var2.reshape((1,) + k.var2.shape[:1] + (1,) * s + k.var2.shape[1:])
    return v1, v2


class Elementwise:
    """Base of the layers without parameters that keep the input shape (finite ``init``)."""

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        del key
        return tuple(input_shape), ()


@dataclass(frozen=True)
class Dense:
    """Fully connected layer ``h' = (W_std / sqrt(n)) W h + b_std b`` (NTK parametrization) or
    ``h' = W h + b`` with ``W ~ N(0, W_std^2 / n)``, ``b ~ N(0, b_std^2)`` (standard).

    Both give the same NNGP map ``K' = W_std^2 K + b_std^2``. The NTK maps differ:

    .. math::

        \\text{ntk:}\\quad \\Theta' = K' + W_{std}^2 \\Theta, \\qquad
        \\text{standard:}\\quad \\Theta' = \\texttt{fan\\_in}\\, K + W_{std}^2 \\Theta
            + \\texttt{bias\\_grad}.

    In the standard parametrization the gradient w.r.t. ``W`` is not scaled down, so the NTK grows
    with the fan-in ``n``; neural-tangents uses the actual ``n`` (input dimension for the first
    layer, the previous ``Dense``'s width after that) and ``bias_grad = 1`` when a bias exists.
    ``b_std = 0`` means no bias (neural-tangents' ``b_std=None``).

    Finite width: ``out_dim`` output units (needed by ``init`` only); ``init`` draws
    ``W ~ N(0, 1)`` of shape ``(n, out_dim)`` and ``b ~ N(0, 1)`` (``ntk``; the standard
    parametrization scales them by ``W_std / sqrt(n)`` and ``b_std`` at init instead); ``apply``
    acts on the last axis of ``x``. (``fan_in`` and ``bias_grad`` are the kernel map's; the finite
    layer reads ``n`` from ``x``.)
    """

    W_std: float = 1.0
    b_std: float = 0.0
    parameterization: str = "ntk"
    fan_in: float = 1.0  # standard parametrization only
    bias_grad: float = 0.0  # standard parametrization only
    out_dim: int | None = None  # finite width only

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        if self.out_dim is None:
            raise InfwidthError("Dense needs out_dim to build a finite network")
        n = input_shape[-1]
        kw, kb = jr.split(key)
        W = jr.normal(kw, (n, self.out_dim))
        b = jr.normal(kb, (self.out_dim,)) if self.b_std > 0 else None
        if self.parameterization != "ntk":
            W = W * (self.W_std / math.sqrt(n))
            b = None if b is None else b * self.b_std
        return tuple(input_shape[:-1]) + (self.out_dim,), (W, b)

    def apply(self, params: tuple, x: jax.Array) -> jax.Array:
        W, b = params
        if self.parameterization != "ntk":
            return x @ W if b is None else x @ W + b
        y = (self.W_std / math.sqrt(x.shape[-1])) * (x @ W)
        return y if b is None else y + self.b_std * b

    def __call__(self, k: KernelState) -> KernelState:
        w2, b2 = self.W_std**2, self.b_std**2

        def affine(m):
            return w2 * m + b2

        nngp, var1 = affine(k.nngp), affine(k.var1)
        if self.parameterization == "ntk":
            ntk, ntk_diag = nngp + w2 * k.ntk, var1 + w2 * k.ntk_diag
        else:
            ntk = self.fan_in * k.nngp + w2 * k.ntk + self.bias_grad
            ntk_diag = self.fan_in * k.var1 + w2 * k.ntk_diag + self.bias_grad
        return KernelState(nngp, ntk, var1, affine(k.var2), ntk_diag)


@dataclass(frozen=True)
class LayerNorm(Elementwise):
    """Layer normalisation over the (infinite) feature axis, no gain or bias.

    At infinite width the empirical mean of zero-mean features (the outputs of ``Dense``/``Conv``,
    where neural-tangents puts it) vanishes and their empirical variance is ``K(x, x)``, so
    ``h -> h / sqrt(K(x, x))``:
    ``K' = K / sqrt(K11 K22)``, ``Theta' = Theta / sqrt(K11 K22)``, ``var' = 1``. (The
    normalisation's own dependence on the parameters is ``O(1/n)`` per feature and drops out.)
    After a nonlinearity with ``E[phi] != 0`` the finite layer also removes that common mean and
    this map is not its limit (``tests/network/test_layers.py`` measured 13 % off).

    Finite width: ``(x - mean(x)) / sqrt(var(x) + eps)`` over the last axis (``eps = 1e-12``).
    """

    eps: float = 1e-12

    def apply(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + self.eps)

    def __call__(self, k: KernelState) -> KernelState:
        k11, k22 = pair_vars(k)
        norm = jnp.sqrt(k11 * k22)
        ones1, ones2 = jnp.ones_like(k.var1), jnp.ones_like(k.var2)
        return KernelState(k.nngp / norm, k.ntk / norm, ones1, ones2, k.ntk_diag / k.var1)


@dataclass(frozen=True)
class Residual:
    """Residual block ``h' = h + alpha * f(h)`` with branch ``f`` = ``layers`` in series.

    A branch that begins with a fresh ``Dense`` is uncorrelated with its input, so kernels add:
    ``K' = K + alpha^2 K_f``, ``Theta' = Theta + alpha^2 Theta_f`` (neural-tangents'
    ``FanOut(2) >> parallel(Identity(), f) >> FanInSum()`` with ``f`` ending in a scaling).
    """

    layers: tuple = ()
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if not self.layers or not isinstance(self.layers[0], Dense):
            raise InfwidthError(
                "a residual branch must start with a Dense layer (so that it is independent of "
                "its input at infinite width)"
            )

    def __call__(self, k: KernelState) -> KernelState:
        f = serial(*self.layers)(k)
        a2 = self.alpha**2
        return KernelState(*(s + a2 * t for s, t in zip(k, f, strict=True)))

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        out_shape, params = serial(*self.layers).init(key, input_shape)
        if tuple(out_shape) != tuple(input_shape):
            raise InfwidthError(
                f"a residual branch must keep the shape {tuple(input_shape)}, got {out_shape}"
            )
        return tuple(input_shape), params

    def apply(self, params: tuple, x: jax.Array) -> jax.Array:
        return x + self.alpha * serial(*self.layers).apply(params, x)


@dataclass(frozen=True)
class Serial:
    """Layers in series, left to right: kernel map, ``init`` (one key per layer) and ``apply``."""

    layers: tuple = ()

    def __call__(self, k: KernelState) -> KernelState:
        for layer in self.layers:
            k = layer(k)
        return k

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        params = []
        shape = tuple(input_shape)
        for layer, k in zip(self.layers, jr.split(key, max(len(self.layers), 1)), strict=False):
            shape, p = layer.init(k, shape)
            params.append(p)
        return shape, tuple(params)

    def apply(self, params: tuple, x: jax.Array) -> jax.Array:
        for layer, p in zip(self.layers, params, strict=True):
            x = layer.apply(p, x)
        return x


def serial(*layers) -> Serial:
    """Compose layers left to right (neural-tangents' ``stax.serial``)."""
    return Serial(tuple(layers))
