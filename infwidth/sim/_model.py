"""A model is an ``init``/``apply`` pair of pure functions built from a derived table.

``init(key) -> params`` draws every trainable tensor (a flat ``dict`` name -> array; tensors
on a residual branch are stacked over the ``L`` blocks along a leading axis) and
``apply(params, x) -> (f, features)`` returns the output and, per non-output tensor, the
pre-activation it produces (the *features* whose coordinates the coordinate check measures).
Every number in them (init standard deviation, forward multiplier, branch multiplier, logit
scale) comes from :func:`~infwidth.sim._scaling.scale_table`; no scaling rule is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from ._rng import normal
from ._scaling import Scaling

Params = dict[str, jax.Array]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "erf": jax.scipy.special.erf,
    "linear": lambda x: x,
}


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
    from ..errors import InfwidthError
    from ._archs import chain_model, cnn_model, mlp_model, resmlp_model
    from ._transformer import transformer_model

    makers = {
        "mlp": mlp_model,
        "resmlp": resmlp_model,
        "cnn": cnn_model,
        "transformer": transformer_model,
        "chain": chain_model,
    }
    if arch not in makers:
        raise InfwidthError(f"unknown architecture {arch!r}; choose one of {', '.join(makers)}")
    if activation not in ACTIVATIONS:
        known = ", ".join(ACTIVATIONS)
        raise InfwidthError(f"unknown activation {activation!r}; choose one of {known}")
    kw: dict[str, Any] = dict(names=tuple(names), dims=dims, phi=ACTIVATIONS[activation])
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
    from ._scaling import fan_size

    tied = {t.name: t.tied_to for t in table.tensors if t.tied_to}
    w = scaling.width
    fans = {
        t.name: (fan_size(t.fan_in, w, dims), fan_size(t.fan_out, w, dims)) for t in table.tensors
    }
    return build_model(
        arch,
        scaling,
        names=table.names,
        tied=tied,
        fans=fans,
        dims=dims,
        activation=activation,
        dtype=dtype,
    )
