"""Gaussian expectations of activations: the maps an infinite-width nonlinearity applies to kernels.

For a centred Gaussian pair ``(u, v)`` with covariance ``[[k11, k12], [k12, k22]]`` every
activation ``phi`` supplies three functions, all elementwise over arrays:

- ``nngp(k12, k11, k22) = E[phi(u) phi(v)]``      (the NNGP map),
- ``dot(k12, k11, k22)  = E[phi'(u) phi'(v)]``    (multiplies the NTK),
- ``var(k)             = E[phi(u)^2]``, ``u ~ N(0, k)`` (the diagonal of the NNGP map),
- ``dvar(k)            = E[phi'(u)^2]`` (the diagonal of ``dot``).

Closed forms (Cho & Saul 2009 arc-cosine kernel; Williams 1997 for erf), with
``s = sqrt(k11 k22)``, ``c = k12 / s`` and ``theta = arccos(c)`` (evaluated as
``atan2(sqrt(k11 k22 - k12^2), k12)``):

.. math::

    \\text{relu:}\\quad E[\\phi\\phi] = \\frac{s}{2\\pi}(\\sin\\theta + (\\pi - \\theta)c),\\qquad
    E[\\phi'\\phi'] = \\frac{\\pi - \\theta}{2\\pi},\\qquad E[\\phi^2] = k/2;

    \\text{erf:}\\quad E[\\phi\\phi] = \\frac{2}{\\pi}\\arcsin\\frac{2k_{12}}
    {\\sqrt{(1+2k_{11})(1+2k_{22})}},\\qquad
    E[\\phi'\\phi'] = \\frac{4}{\\pi}\\big((1+2k_{11})(1+2k_{22}) - 4k_{12}^2\\big)^{-1/2}.

``tanh`` and ``gelu`` (exact, ``x Phi(x)``) have no elementary closed form and use Gaussian
quadrature (trapezoidal rule, accuracy ``1e-12``; see :mod:`._quadrature`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import jax.scipy.special as jss

from ..errors import InfwidthError
from ._quadrature import DEFAULT_ORDER, gaussian_maps

__all__ = ["ACTIVATIONS", "ActivationMaps", "activation_maps"]

Fn2 = Callable[..., jnp.ndarray]


class ActivationMaps(NamedTuple):
    """The three Gaussian expectations of one activation (see module docstring)."""

    name: str
    fn: Callable[[jnp.ndarray], jnp.ndarray]
    nngp: Fn2
    dot: Fn2
    var: Callable[[jnp.ndarray], jnp.ndarray]
    dvar: Callable[[jnp.ndarray], jnp.ndarray]
    nngp_dot: Fn2  # (nngp, dot) together, sharing work
    exact: bool  # closed form (True) or quadrature (False)


def _relu_nngp_dot(k12, k11, k22):
    # s sin(theta) = sqrt(k11 k22 - k12^2) and theta = atan2(s sin(theta), k12): one atan2, no
    # division and no arccos (the formulation neural-tangents uses; about 2x faster on CPU).
    root = jnp.sqrt(jnp.maximum(k11 * k22 - k12 * k12, 0.0))
    pi_minus_theta = jnp.pi - jnp.arctan2(root, k12)
    return (root + pi_minus_theta * k12) / (2 * jnp.pi), pi_minus_theta / (2 * jnp.pi)


def _relu_nngp(k12, k11, k22):
    return _relu_nngp_dot(k12, k11, k22)[0]


def _relu_dot(k12, k11, k22):
    return _relu_nngp_dot(k12, k11, k22)[1]


def _erf_nngp(k12, k11, k22):
    arg = 2 * k12 / jnp.sqrt((1 + 2 * k11) * (1 + 2 * k22))
    return 2 / jnp.pi * jnp.arcsin(jnp.clip(arg, -1.0, 1.0))


def _erf_dot(k12, k11, k22):
    return 4 / jnp.pi / jnp.sqrt((1 + 2 * k11) * (1 + 2 * k22) - 4 * k12 * k12)


def _erf_var(k):
    return 2 / jnp.pi * jnp.arcsin(2 * k / (1 + 2 * k))


def _gelu(x):
    return x * 0.5 * (1 + jss.erf(x / jnp.sqrt(2.0)))


def _gelu_grad(x):
    return 0.5 * (1 + jss.erf(x / jnp.sqrt(2.0))) + x * jnp.exp(-0.5 * x * x) / jnp.sqrt(2 * jnp.pi)


def _quadrature(
    name: str, fn, grad, order: int, rule: str = "trapezoid", both=None
) -> ActivationMaps:
    nngp, dot, var, dvar, nngp_dot = gaussian_maps(fn, grad, order, rule, both)
    return ActivationMaps(name, fn, nngp, dot, var, dvar, nngp_dot, exact=False)


def _tanh_both(x):
    t = jnp.tanh(x)
    return t, 1 - t * t


def _gelu_both(x):
    cdf = 0.5 * (1 + jss.erf(x / jnp.sqrt(2.0)))
    return x * cdf, cdf + x * jnp.exp(-0.5 * x * x) / jnp.sqrt(2 * jnp.pi)


def _erf_nngp_dot(k12, k11, k22):
    return _erf_nngp(k12, k11, k22), _erf_dot(k12, k11, k22)


def _relu(x):
    return jnp.maximum(x, 0.0)


ACTIVATIONS: dict[str, ActivationMaps] = {
    "relu": ActivationMaps(
        "relu",
        _relu,
        _relu_nngp,
        _relu_dot,
        lambda k: k / 2,
        lambda k: 0.5 + 0 * k,
        _relu_nngp_dot,
        exact=True,
    ),
    "erf": ActivationMaps(
        "erf",
        jss.erf,
        _erf_nngp,
        _erf_dot,
        _erf_var,
        lambda k: 4 / jnp.pi / jnp.sqrt(1 + 4 * k),
        _erf_nngp_dot,
        exact=True,
    ),
    "tanh": _quadrature(
        "tanh", jnp.tanh, lambda x: 1 - jnp.tanh(x) ** 2, DEFAULT_ORDER, both=_tanh_both
    ),
    "gelu": _quadrature("gelu", _gelu, _gelu_grad, DEFAULT_ORDER, both=_gelu_both),
}


def activation_maps(name: str, order: int | None = None, rule: str = "trapezoid") -> ActivationMaps:
    """Look up an activation by name. ``order`` (number of nodes) forces quadrature with that
    ``rule`` (``"trapezoid"`` or ``"hermite"``, see :mod:`._quadrature`), for tanh and gelu and
    for the closed-form ones too, which is how the closed forms are tested against quadrature."""
    key = name.lower()
    if key not in ACTIVATIONS:
        raise InfwidthError(
            f"unsupported activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        )
    act = ACTIVATIONS[key]
    if order is None:
        return act
    grads = {
        "relu": lambda x: (x > 0).astype(x.dtype),
        "erf": lambda x: 2 / jnp.sqrt(jnp.pi) * jnp.exp(-x * x),
        "tanh": lambda x: 1 - jnp.tanh(x) ** 2,
        "gelu": _gelu_grad,
    }
    both = {"tanh": _tanh_both, "gelu": _gelu_both}.get(key)
    return _quadrature(key, act.fn, grads[key], order, rule, both)
