"""What every architecture is made of: the :class:`Model` pair of pure functions, the
per-tensor normal init and the MSE loss (:mod:`infwidth.sim._model` builds models from them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from ._rng import normal
from ._scaling import Scaling

Params = dict[str, jax.Array]


class Model(NamedTuple):
    """A finite-width network from a table.

    Attributes:
        init: ``key -> params``.
        apply: ``(params, x) -> (f, features)``.
        loss: ``(f, y) -> scalar``.
        batch: ``(key, batch_size) -> (x, y)``: synthetic data of the right shape.
        scaling: the per-tensor numbers the model was built with.
        stacked: names of tensors stacked over the residual blocks (leading axis ``L``).
        output_tensors: names of the tensors that produce the output ``f``.
        arch: the architecture name.
    """

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]
    loss: Callable[[jax.Array, jax.Array], jax.Array]
    batch: Callable[[jax.Array, int], tuple[jax.Array, jax.Array]]
    scaling: Scaling
    stacked: frozenset[str]
    output_tensors: tuple[str, ...]
    arch: str


def normal_init(
    key: jax.Array, shapes: Mapping[str, tuple[int, ...]], std: Mapping[str, float], dtype: Any
) -> Params:
    """Draw ``w ~ N(0, std[name]^2)`` for every tensor, one key per tensor (sorted names),
    with XLA's native Threefry generator (:func:`infwidth.sim._rng.normal`)."""
    keys = jr.split(key, len(shapes))
    return {
        name: normal(k, shapes[name], dtype, std[name])
        for k, name in zip(keys, sorted(shapes), strict=True)
    }


def mse(f: jax.Array, y: jax.Array) -> jax.Array:
    """:math:`\\tfrac12\\,\\mathrm{mean}_{batch}\\lVert f - y\\rVert^2`."""
    return 0.5 * jnp.mean(jnp.sum((f - y) ** 2, axis=-1))
