"""Convolutional layers' kernel maps and the infinite-channel CNN kernels (``conv_kernels``).

Inputs are ``(n, *S, C)`` (channels last, ``S`` = one or two spatial axes). The state then holds
the full spatial covariance: ``nngp[i, j, p, q] = E[h_i(p) h_j(q)]`` of shape ``(b1, b2, *S, *S)``,
``var1[i, p] = E[h_i(p)^2]`` of shape ``(b1, *S)``; activations and LayerNorm (over channels)
act elementwise on it exactly as for dense layers (:func:`._layers.pair_vars`).

A ``Conv`` with filter ``F`` (``|F|`` offsets), ``SAME`` zero padding, stride 1, NTK
parametrization (neural-tangents' ``stax.Conv(C, F, padding="SAME", W_std, b_std)``):

.. math::

    K'(p, q) = \\frac{W_{std}^2}{|F|}\\sum_{\\delta \\in F} K(p + \\delta, q + \\delta)
        + b_{std}^2, \\qquad
    \\Theta'(p, q) = K'(p, q) + \\frac{W_{std}^2}{|F|}\\sum_{\\delta\\in F}\\Theta(p+\\delta, q+\\delta),

with ``K = 0`` outside the image (zero padding; the ``1/|F|`` stays). Readouts: global average
pooling ``K' = mean_{p, q} K(p, q)`` (needs the full covariance), flatten
``K' = mean_p K(p, p)`` (only its diagonal).

**Memory.** One pair costs ``|S|^2`` floats (8 x 8 digits: 4096; 28 x 28: 614656), so blocks
are ``b x b`` pairs with ``b^2 |S|^2 <= 2^20`` by default (about 100 MB of temporaries).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ._blocks import Kernels, kernels_in_blocks
from ._layers import Activation, Dense, KernelState

__all__ = ["Conv", "Flatten", "GlobalAvgPool", "conv_kernels", "conv_layers"]


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
    only ``Dense`` layers may follow (the diagonal is then taken from the pair kernel)."""

    def __call__(self, k: KernelState) -> KernelState:
        axes = tuple(range(2, k.nngp.ndim))
        v1, v2 = _nan_like(k.var1), _nan_like(k.var2)
        return KernelState(k.nngp.mean(axes), k.ntk.mean(axes), v1, v2, v1)


@dataclass(frozen=True)
class Flatten:
    """``K' = mean_p K(p, p)`` (neural-tangents' ``Flatten`` normalisation), same for ``Theta``."""

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


def conv_layers(
    *,
    depth: int,
    activation: str,
    filter_shape: tuple[int, ...] = (3, 3),
    W_std: float = 1.0,
    b_std: float = 0.0,
    readout: str = "gap",
) -> tuple:
    """``[Conv, Act] * depth + [GlobalAvgPool | Flatten, Dense(1)]`` as kernel-map layers."""
    if readout not in ("gap", "flatten"):
        raise InfwidthError(f"readout must be 'gap' or 'flatten', got {readout!r}")
    depth = valid.nonnegative_int("depth", depth)
    filter_shape = tuple(valid.positive_int("filter_shape", f) for f in filter_shape)
    W_std, b_std = valid.positive("W_std", W_std), valid.nonnegative("b_std", b_std)
    body = [Conv(tuple(filter_shape), float(W_std), float(b_std)), Activation(activation.lower())]
    head = [GlobalAvgPool() if readout == "gap" else Flatten(), Dense(float(W_std), float(b_std))]
    return tuple(body * depth + head)


def conv_kernels(
    x1,
    x2=None,
    *,
    depth: int,
    activation: str,
    filter_shape: tuple[int, ...] = (3, 3),
    W_std: float = 1.0,
    b_std: float = 0.0,
    readout: str = "gap",
    parameterization: str = "ntk",
    block_size: int | None = None,
) -> Kernels:
    """Infinite-channel NNGP and NTK of a CNN, as neural-tangents computes them for

    ``stax.serial(*[Conv(C, filter_shape, padding="SAME", W_std=W_std, b_std=b_std), Act()]
    * depth, GlobalAvgPool() or Flatten(), Dense(1, W_std, b_std))``

    (recursions in the module docstring; activations as in :func:`mlp_kernels`).

    Args:
        x1, x2: inputs ``(n, *S, C)`` with one or two spatial axes ``S``; ``x2=None`` means ``x1``.
        readout: ``"gap"`` (global average pooling) or ``"flatten"``.
        parameterization: only ``"ntk"`` (the standard one raises).
        block_size: pairs per block side (default: ``b^2 |S|^2 <= 2^20``).

    Raises:
        InfwidthError: bad shapes or values, unsupported activation, readout or parametrization.
    """
    from ._activations import activation_maps

    if parameterization != "ntk":
        raise InfwidthError("conv_kernels supports parameterization='ntk' only")
    activation_maps(activation)
    a = valid.data_array("x1", x1, ndim=(3, 4), shape="(n, *S, C)")
    if a.ndim not in (3, 4) or len(filter_shape) != a.ndim - 2:
        raise InfwidthError(
            f"conv inputs must be (n, *S, C) with {len(filter_shape)} spatial axes matching "
            f"filter_shape {tuple(filter_shape)}; got shape {a.shape}"
        )
    layers = conv_layers(depth=depth, activation=activation, filter_shape=tuple(filter_shape),
                         W_std=W_std, b_std=b_std, readout=readout)  # fmt: skip
    if block_size is None:
        block_size = max(1, int(np.sqrt(2**20) / np.prod(a.shape[1:-1])))
    return kernels_in_blocks(layers, x1, x2, block_size, input_state=spatial_input_state)
