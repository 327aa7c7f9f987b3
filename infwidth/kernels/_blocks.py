"""Evaluate a layer stack's kernels on all pairs of two input sets, in memory-bounded blocks.

**Memory bound.** The outputs (two ``n1 x n2`` float64 arrays, ``16 n1 n2`` bytes) are written
block by block into preallocated NumPy arrays; one block's working set is at most
``c * block_size^2 * 8`` bytes, with ``c ~ 12`` live temporaries for closed-form activations and
``c ~ 12 + q`` for quadrature with ``q`` nodes (the inner nodes are a vectorised axis, see
:mod:`infwidth.network._quadrature`). With the default ``block_size = 256`` that is about 6 MB (closed forms) or
75 MB (quadrature, ``q = 137``), independent of ``n1, n2``. Small blocks are also
*faster*: a 256 x 256 block's temporaries stay in cache (1000 x 1000 ReLU pairs: 2-3x faster
than one 1024-block). With ``x2=None`` only blocks on and above the diagonal are computed.
Every block has the same padded shape, so the jitted block function compiles once.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ..network import (
    Activation,
    Conv,
    Flatten,
    GlobalAvgPool,
    KernelState,
    LayerNorm,
    Residual,
    input_state,
    output_kernels,
    serial,
)

_dense_input = input_state  # kept: ``kernels_in_blocks`` has an ``input_state`` keyword

__all__ = ["Kernels", "check_inputs", "gram_kernels", "kernels_in_blocks", "validate_stack"]

DEFAULT_BLOCK = 256


class Kernels(NamedTuple):
    """Infinite-width NNGP and NTK matrices (float64, shape ``(n1, n2)``)."""

    nngp: np.ndarray
    ntk: np.ndarray


def check_inputs(x1, x2=None, ndim: int = 2) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate inputs: ``ndim``-D (``(n, d)`` dense, ``(n, *S, C)`` conv), non-empty, finite,
    matching trailing shapes. Returns float64 arrays."""
    out = []
    want = "(n, d)" if ndim == 2 else f"{ndim}-D (n, *spatial, channels)"
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            out.append(None)
            continue
        if np.ndim(x) == 1 and ndim == 2:
            x = np.asarray(x)[None, :]
        out.append(valid.data_array(name, x, ndim=ndim, shape=want))
    if out[1] is not None and out[1].shape[1:] != out[0].shape[1:]:
        raise InfwidthError(
            f"x1 and x2 have different feature dimensions: {out[0].shape[1:]} vs {out[1].shape[1:]}"
        )
    return out[0], out[1]


@partial(jax.jit, static_argnums=(0, 3, 4))
def _block(
    layers: tuple, x1: jnp.ndarray, x2: jnp.ndarray, same: bool, first=input_state
) -> tuple[jnp.ndarray, jnp.ndarray]:
    return output_kernels(serial(*layers)(first(x1, x2)), same)


@partial(jax.jit, static_argnums=0)
def _gram_block(layers: tuple, nngp: jnp.ndarray, ntk: jnp.ndarray) -> tuple:
    d, t = jnp.diagonal(nngp), jnp.diagonal(ntk)
    return output_kernels(serial(*layers)(KernelState(nngp, ntk, d, d, t)), True)


def gram_kernels(layers: tuple, nngp, ntk=None) -> Kernels:
    """NNGP and NTK of the dense layer stack ``layers`` applied to inputs whose kernels are given:
    ``nngp`` (``P x P``, symmetric PSD) and ``ntk`` (default ``0``, the raw inputs'). One block,
    float64, the diagonal exact (:func:`~infwidth.network.output_kernels`), symmetrised.

    E.g. ``gram_kernels((get_activation("tanh"),), K, ones)`` gives the pair
    ``(E[phi(u) phi(u)^T], E[phi'(u) phi'(u)^T])``, ``u ~ N(0, K)``.
    """
    validate_stack(layers, 0)
    with jax.enable_x64(True):
        nngp = np.asarray(nngp, dtype=np.float64)
        ntk = np.zeros_like(nngp) if ntk is None else np.asarray(ntk, dtype=np.float64)
        out = [_symmetrize(np.array(a)) for a in _gram_block(layers, nngp, ntk)]
    _check_finite(*out)
    return Kernels(*out)


def validate_stack(layers: tuple, spatial: bool) -> None:
    """Raise :class:`InfwidthError` for layer orders the kernel maps cannot compute exactly:
    convolutions or readouts without spatial axes, and nonlinearities or LayerNorm after a
    global average pool (they would need each input's full self-covariance, which a pair block
    does not carry; use ``Flatten`` there, or pool last)."""
    pooled = False
    for layer in layers:
        name = type(layer).__name__
        if isinstance(layer, Conv | Flatten | GlobalAvgPool) and not spatial:
            raise InfwidthError(f"{name} needs inputs with spatial axes (n, *S, C)")
        if isinstance(layer, Conv) and len(layer.filter_shape) != spatial:
            raise InfwidthError(f"Conv filter {layer.filter_shape} does not match the input's "
                                f"{spatial} spatial axes")  # fmt: skip
        if isinstance(layer, Activation | LayerNorm) and pooled:
            raise InfwidthError(f"{name} after GlobalAvgPool is not supported (its kernel needs "
                                f"the pooled self-covariance); use Flatten, or pool last")  # fmt: skip
        if isinstance(layer, Residual):
            validate_stack(layer.layers, spatial)
        if isinstance(layer, Flatten | GlobalAvgPool):
            pooled, spatial = isinstance(layer, GlobalAvgPool), 0


def _symmetrize(m: np.ndarray) -> np.ndarray:
    """``(m + m^T) / 2``: exactly symmetric (XLA does not promise bitwise-equal ``(i, j)`` and
    ``(j, i)`` entries: fused loops may contract to FMAs differently along the two axes)."""
    out = m + m.T
    out *= 0.5
    return out


def _check_finite(*arrays: np.ndarray) -> None:
    if not all(np.isfinite(a).all() for a in arrays):
        raise InfwidthError("kernel computation produced non-finite values (inputs too large?)")


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    # Pad with copies of the first row: zero rows would have zero variance and produce nan.
    if x.shape[0] == size:
        return x
    return np.concatenate([x, np.repeat(x[:1], size - x.shape[0], axis=0)])


def kernels_in_blocks(
    layers: tuple,
    x1: np.ndarray,
    x2: np.ndarray | None = None,
    block_size: int = DEFAULT_BLOCK,
    *,
    input_state=input_state,
) -> Kernels:
    """NNGP and NTK of the layer stack ``layers`` on all pairs ``(x1[i], x2[j])``.

    ``x2=None`` means ``x2 = x1``; the result is then symmetrised exactly. Computed in float64
    in blocks of ``block_size x block_size`` pairs (memory bound in the module docstring).
    ``input_state`` maps raw inputs to the first kernels (dense by default; spatial for convs).
    """
    block_size = valid.positive_int("block_size", block_size)
    x1, x2 = check_inputs(x1, x2, np.ndim(x1) if input_state is not _dense_input else 2)
    validate_stack(layers, x1.ndim - 2)
    same = x2 is None
    x2 = x1 if same else x2
    n1, n2 = x1.shape[0], x2.shape[0]
    b1, b2 = min(block_size, n1), min(block_size, n2)
    with jax.enable_x64(True):
        nngp, ntk = np.empty((n1, n2)), np.empty((n1, n2))
        for i in range(0, n1, b1):
            xa = _pad(x1[i : i + b1], b1)
            ri = min(b1, n1 - i)
            for j in range(0, n2, b2):
                rj = min(b2, n2 - j)
                if same and j < i:  # strictly lower block: the transpose of one already done
                    nngp[i : i + ri, j : j + rj] = nngp[j : j + rj, i : i + ri].T
                    ntk[i : i + ri, j : j + rj] = ntk[j : j + rj, i : i + ri].T
                    continue
                xb = _pad(x2[j : j + b2], b2)
                blocks = [
                    np.asarray(b)[:ri, :rj]
                    for b in _block(layers, xa, xb, same and i == j, input_state)
                ]
                _check_finite(*blocks)
                if same and i == j:
                    blocks = [_symmetrize(b) for b in blocks]
                nngp[i : i + ri, j : j + rj], ntk[i : i + ri, j : j + rj] = blocks
    return Kernels(nngp, ntk)
