"""A model is an ``init``/``apply`` pair of pure functions built from a derived table.

``init(key) -> params`` draws every trainable tensor (a flat ``dict`` name -> array; tensors
on a residual branch are stacked over the ``L`` blocks along a leading axis) and
``apply(params, x) -> (f, features)`` returns the output and, per non-output tensor, the
pre-activation it produces (the *features* whose coordinates the coordinate check measures).
Every number in them (init standard deviation, forward multiplier, branch multiplier, logit
scale) comes from :func:`~infwidth.sim._scaling.scale_table`; no scaling rule is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp

from ..errors import InfwidthError
from ..network import ACTIVATIONS as ACTIVATIONS
from ..network import get_activation
from ._archs import chain_model, cnn_model, mlp_model, resmlp_model
from ._core import Model, Params, mse
from ._scaling import Scaling, fan_size
from ._transformer import transformer_model

__all__ = [
    "ACTIVATIONS",
    "Model",
    "Params",
    "build_model",
    "model_from_table",
    "mse",
    "table_fans",
]


def build_model(
    arch: str,
    scaling: Scaling,
    *,
    names: tuple[str, ...],
    tied: Mapping[str, str] | None = None,
    fans: Mapping[str, tuple[int, int]] | None = None,
    dims: Mapping[str, int],
    activation: str = "relu",
    dtype: Any = jnp.float32,
    random_biases: bool = False,
) -> Model:
    """The built-in architecture ``arch`` (``mlp``, ``resmlp``, ``cnn``, ``transformer``).

    ``names`` (the table's tensor names) fix which tensors exist (biases, the MLP depth);
    ``tied`` maps a tensor to the one whose entries it reuses (tied unembedding); ``scaling``
    gives the numbers at this width and depth. ``arch="chain"`` runs a custom spec as a
    sequential dense network and needs ``fans`` (numeric fan_in, fan_out per tensor). The numbers may be JAX arrays (tracers), so
    that one compiled function serves every parametrization of the same shapes.
    ``random_biases`` (``mlp``, ``resmlp``) draws biases ``N(0, init_std^2)`` instead of zeros.
    """
    makers = {
        "mlp": mlp_model,
        "resmlp": resmlp_model,
        "cnn": cnn_model,
        "transformer": transformer_model,
        "chain": chain_model,
    }
    if arch not in makers:
        raise InfwidthError(f"unknown architecture {arch!r}; choose one of {', '.join(makers)}")
    phi = get_activation(activation).phi
    kw: dict[str, Any] = dict(names=tuple(names), dims=dims, phi=phi)
    if arch == "transformer":
        kw["tied"] = dict(tied or {})
    if arch == "chain":
        kw["fans"] = dict(fans or {})
    if random_biases:
        if arch not in ("mlp", "resmlp"):
            raise InfwidthError(f"random biases are implemented for mlp and resmlp, not {arch!r}")
        kw["random_biases"] = True
    return makers[arch](scaling, dtype=dtype, **kw)


def model_from_table(
    arch: str,
    table: Any,
    scaling: Scaling,
    *,
    dims: Mapping[str, int],
    activation: str = "relu",
    dtype: Any = jnp.float32,
) -> Model:
    """:func:`build_model` with the tensor names and ties read from ``table``."""
    tied = {t.name: t.tied_to for t in table.tensors if t.tied_to}
    return build_model(
        arch,
        scaling,
        names=table.names,
        tied=tied,
        fans=table_fans(table, scaling.width, dims),
        dims=dims,
        activation=activation,
        dtype=dtype,
    )


def table_fans(table: Any, width: int, dims: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """``{name: (fan_in, fan_out)}`` of ``table``'s tensors at ``width`` (:func:`fan_size`)."""
    return {
        t.name: (fan_size(t.fan_in, width, dims), fan_size(t.fan_out, width, dims))
        for t in table.tensors
    }
