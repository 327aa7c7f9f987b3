"""The infinite-channel CNN kernels (``conv_kernels``) of the convolutional layers in
:mod:`infwidth.network._conv` (recursions there).

**Memory.** One pair costs ``|S|^2`` floats (8 x 8 digits: 4096; 28 x 28: 614656), so blocks
are ``b x b`` pairs with ``b^2 |S|^2 <= 2^20`` by default (about 100 MB of temporaries).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ..network import Conv, Dense, Flatten, GlobalAvgPool, get_activation
from ..network import spatial_input_state as spatial_input_state
from ._blocks import Kernels, kernels_in_blocks

__all__ = ["Conv", "Flatten", "GlobalAvgPool", "conv_kernels", "conv_layers"]


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
    body = [Conv(tuple(filter_shape), float(W_std), float(b_std)), get_activation(activation)]
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
    if parameterization != "ntk":
        raise InfwidthError("conv_kernels supports parameterization='ntk' only")
    get_activation(activation)
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
