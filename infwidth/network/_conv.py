"""Convolutional layers of the network model (channels last, one or two spatial axes ``S``).

Finite width (neural-tangents' ``stax.Conv(out_chan, filter_shape, padding="SAME")``, NTK
parametrization): ``init`` draws ``W ~ N(0, 1)`` of shape ``(*F, C_in, out_chan)`` and
``b ~ N(0, 1)``; ``apply(x) = W_std / sqrt(C_in |F|) conv(x, W) + b_std b``, ``SAME`` zero
padding, stride 1. ``GlobalAvgPool`` averages the spatial axes, ``Flatten`` reshapes them into
the channel axis (the next ``Dense``'s ``1/sqrt(fan_in)`` supplies the normalisation).

Infinite width: the kernel state holds the full spatial covariance,
``nngp[i, j, p, q] = E[h_i(p) h_j(q)]`` of shape ``(b1, b2, *S, *S)`` and
``var1[i, p] = E[h_i(p)^2]`` of shape ``(b1, *S)``; activations and LayerNorm (over channels) act
elementwise on it exactly as for dense layers (:func:`._layers.pair_vars`). For a ``Conv`` with
filter ``F`` (``|F|`` offsets):

.. math::

    K'(p, q) = \\frac{W_{std}^2}{|F|}\\sum_{\\delta \\in F} K(p + \\delta, q + \\delta)
        + b_{std}^2, \\qquad
    \\Theta'(p, q) = K'(p, q) + \\frac{W_{std}^2}{|F|}\\sum_{\\delta\\in F}\\Theta(p+\\delta, q+\\delta),

with ``K = 0`` outside the image (zero padding; the ``1/|F|`` stays). Readouts: global average
pooling ``K' = mean_{p, q} K(p, q)`` (needs the full covariance), flatten
``K' = mean_p K(p, p)`` (only its diagonal).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..errors import InfwidthError
from ._layers import KernelState, Shape

__all__ = ["Conv", "Flatten", "GlobalAvgPool", "spatial_input_state"]


def _shift_sum(m: jnp.ndarray, filter_shape: tuple[int, ...], n_pairs: int) -> jnp.ndarray:
    """``sum_delta m[..., p + delta, ..., q + delta]`` over filter offsets, zero outside: ``m`` has
    ``n_pairs`` leading axes, then ``k`` groups of the ``s = len(filter_shape)`` spatial axes
    (``k = 2`` for a pair kernel, ``1`` for a variance), shifted together."""
    s = len(filter_shape)
    groups = (m.ndim - n_pairs) // s
    before = [(f - 1) // 2 for f in filter_shape]
    pads = [(0, 0)] * n_pairs + [
        (b, f - 1 - b) for b, f in zip(before, filter_shape, strict=True)
    ] * groups
    padded = jnp.pad(m, pads)
    size = m.shape[n_pairs : n_pairs + s]
    out = jnp.zeros_like(m)
    for delta in itertools.product(*(range(f) for f in filter_shape)):
        sl = tuple(slice(d, d + n) for d, n in zip(delta, size, strict=True))
        out = out + padded[(slice(None),) * n_pairs + sl * groups]
    return out


@dataclass(frozen=True)
class Conv:
    """Convolution, ``SAME`` padding, stride 1, NTK parametrization (module docstring)."""

    filter_shape: tuple[int, ...] = (3, 3)
    W_std: float = 1.0
    b_std: float = 0.0
    out_chan: int | None = None  # finite width only

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        if self.out_chan is None:
            raise InfwidthError("Conv needs out_chan to build a finite network")
        kw, kb = jr.split(key)
        W = jr.normal(kw, (*self.filter_shape, input_shape[-1], self.out_chan))
        b = jr.normal(kb, (self.out_chan,)) if self.b_std > 0 else None
        return tuple(input_shape[:-1]) + (self.out_chan,), (W, b)

    def apply(self, params: tuple, x: jax.Array) -> jax.Array:
        W, b = params
        W = W.astype(jnp.result_type(x, W))
        x = x.astype(W.dtype)
        s = "HWD"[: len(self.filter_shape)]
        dims = ("N" + s + "C", s + "IO", "N" + s + "C")
        y = jax.lax.conv_general_dilated(
            x, W, (1,) * len(self.filter_shape), "SAME", dimension_numbers=dims
        )
        y = (self.W_std / math.sqrt(x.shape[-1] * math.prod(self.filter_shape))) * y
        return y if b is None else y + self.b_std * b

    def __call__(self, k: KernelState) -> KernelState:
        w2, b2 = self.W_std**2 / np.prod(self.filter_shape), self.b_std**2

        def conv(m, n_pairs):
            return w2 * _shift_sum(m, self.filter_shape, n_pairs)

        nngp = conv(k.nngp, 2) + b2
        var1 = conv(k.var1, 1) + b2
        return KernelState(
            nngp,
            nngp + conv(k.ntk, 2),
            var1,
            conv(k.var2, 1) + b2,
            var1 + conv(k.ntk_diag, 1),
        )


def _nan_like(v: jnp.ndarray) -> jnp.ndarray:
    return jnp.full(v.shape[:1], jnp.nan, v.dtype)


@dataclass(frozen=True)
class GlobalAvgPool:
    """``K' = mean_{p,q} K(p, q)``, same for ``Theta``. The outputs' own variances would need
    each input's full self-covariance, which a pair block does not hold; they are set to nan, so
    only ``Dense`` layers may follow (the diagonal is then taken from the pair kernel).
    Finite width: the mean over the spatial axes."""

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        del key
        return (input_shape[0], input_shape[-1]), ()

    def apply(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))

    def __call__(self, k: KernelState) -> KernelState:
        axes = tuple(range(2, k.nngp.ndim))
        v1, v2 = _nan_like(k.var1), _nan_like(k.var2)
        return KernelState(k.nngp.mean(axes), k.ntk.mean(axes), v1, v2, v1)


@dataclass(frozen=True)
class Flatten:
    """``K' = mean_p K(p, p)`` (neural-tangents' ``Flatten`` normalisation), same for ``Theta``.
    Finite width: ``(n, *S, C) -> (n, |S| C)``."""

    def init(self, key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        del key
        return (input_shape[0], math.prod(input_shape[1:])), ()

    def apply(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        return x.reshape(x.shape[0], -1)

    def __call__(self, k: KernelState) -> KernelState:
        s = k.var1.ndim - 1
        size = int(np.prod(k.var1.shape[1:]))
        b1, b2 = k.nngp.shape[:2]

        def diag(m):
            flat = m.reshape(b1, b2, size, size)
            return jnp.diagonal(flat, axis1=2, axis2=3).mean(-1)

        def spatial_mean(v):
            return v.mean(tuple(range(1, 1 + s)))

        return KernelState(
            diag(k.nngp),
            diag(k.ntk),
            spatial_mean(k.var1),
            spatial_mean(k.var2),
            spatial_mean(k.ntk_diag),
        )


def spatial_input_state(x1: jnp.ndarray, x2: jnp.ndarray) -> KernelState:
    """``K0(p, q) = x_i(p) . x_j(q) / C`` over channels; ``Theta0 = 0``."""
    c = x1.shape[-1]
    s = x1.ndim - 2
    a, b = "hw"[:s], "kl"[:s]
    nngp = jnp.einsum(f"i{a}c,j{b}c->ij{a}{b}", x1, x2) / c
    var1, var2 = jnp.sum(x1 * x1, -1) / c, jnp.sum(x2 * x2, -1) / c
    return KernelState(nngp, jnp.zeros_like(nngp), var1, var2, jnp.zeros_like(var1))
