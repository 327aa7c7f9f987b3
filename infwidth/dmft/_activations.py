"""Activations phi with their first two derivatives, as a registry validated once.

The DMFT single-site process needs phi (features), phi' (gradients g = phi'(h) z) and phi''
(the equal-time response dg/du contains phi''(h) z). All functions are elementwise ``jnp``
functions, so they work inside ``jit``/``vmap`` and on NumPy arrays alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.special import erf

from ..errors import InfwidthError

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity phi and its derivatives phi', phi''."""

    name: str
    phi: Callable
    dphi: Callable
    ddphi: Callable

    @property
    def is_linear(self) -> bool:
        return self.name == "linear"


def _tanh_d(x):
    return 1.0 - jnp.tanh(x) ** 2


def _tanh_dd(x):
    t = jnp.tanh(x)
    return -2.0 * t * (1.0 - t**2)


def _gelu(x):
    # Exact GELU x * Phi(x) (Phi the standard normal CDF), not the tanh approximation.
    return 0.5 * x * (1.0 + erf(x / _SQRT2))


def _gelu_d(x):
    return 0.5 * (1.0 + erf(x / _SQRT2)) + x * _INV_SQRT2PI * jnp.exp(-0.5 * x**2)


def _gelu_dd(x):
    return _INV_SQRT2PI * jnp.exp(-0.5 * x**2) * (2.0 - x**2)


def _erf_d(x):
    return (2.0 / math.sqrt(math.pi)) * jnp.exp(-(x**2))


def _erf_dd(x):
    return -2.0 * x * _erf_d(x)


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(
        "linear", lambda x: x, lambda x: jnp.ones_like(x), lambda x: jnp.zeros_like(x)
    ),
    "tanh": Activation("tanh", jnp.tanh, _tanh_d, _tanh_dd),
    # ReLU: phi'' = 0 almost everywhere; the delta at 0 has measure zero under the Gaussian
    # sources and is dropped, as in every ReLU DMFT code.
    "relu": Activation(
        "relu",
        lambda x: jnp.maximum(x, 0.0),
        lambda x: (x > 0).astype(jnp.result_type(x, float)),
        lambda x: jnp.zeros_like(x),
    ),
    "erf": Activation("erf", erf, _erf_d, _erf_dd),
    "gelu": Activation("gelu", _gelu, _gelu_d, _gelu_dd),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name (``linear``, ``tanh``, ``relu``, ``erf``, ``gelu``)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise InfwidthError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None
