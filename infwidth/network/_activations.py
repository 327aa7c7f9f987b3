"""The one registry of activations: each is an :class:`Activation` carrying all three semantics.

An activation ``phi`` is used by

- the finite-width networks (:mod:`infwidth.sim`, the layers' ``apply``): ``phi`` itself;
- the DMFT single-site process (:mod:`infwidth.dmft`): ``phi``, ``phi'`` (gradients
  ``g = phi'(h) z``) and ``phi''`` (the equal-time response ``dg/du`` contains ``phi''(h) z``);
- the kernel engine (:mod:`infwidth.kernels`): Gaussian expectations over a centred pair
  ``(u, v)`` with covariance ``[[k11, k12], [k12, k22]]``, elementwise over arrays:

  - ``nngp(k12, k11, k22) = E[phi(u) phi(v)]`` (the NNGP map),
  - ``dot(k12, k11, k22)  = E[phi'(u) phi'(v)]`` (multiplies the NTK),
  - ``var(k) = E[phi(u)^2]``, ``u ~ N(0, k)`` (the diagonal of ``nngp``),
  - ``dvar(k) = E[phi'(u)^2]`` (the diagonal of ``dot``),
  - ``nngp_dot`` = ``(nngp, dot)`` together, sharing work.

Closed forms (Cho & Saul 2009 arc-cosine kernel; Williams 1997 for erf), with
``s = sqrt(k11 k22)``, ``c = k12 / s`` and ``theta = arccos(c)`` (evaluated as
``atan2(sqrt(k11 k22 - k12^2), k12)``):

.. math::

    \\text{linear:}\\quad E[\\phi\\phi] = k_{12},\\qquad E[\\phi'\\phi'] = 1;

    \\text{relu:}\\quad E[\\phi\\phi] = \\frac{s}{2\\pi}(\\sin\\theta + (\\pi - \\theta)c),\\qquad
    E[\\phi'\\phi'] = \\frac{\\pi - \\theta}{2\\pi},\\qquad E[\\phi^2] = k/2;

    \\text{erf:}\\quad E[\\phi\\phi] = \\frac{2}{\\pi}\\arcsin\\frac{2k_{12}}
    {\\sqrt{(1+2k_{11})(1+2k_{22})}},\\qquad
    E[\\phi'\\phi'] = \\frac{4}{\\pi}\\big((1+2k_{11})(1+2k_{22}) - 4k_{12}^2\\big)^{-1/2}.

``tanh``, ``gelu`` (exact, ``x Phi(x)``) and ``silu`` (``x sigmoid(x)``) have no elementary closed
form and use Gaussian quadrature (trapezoidal rule, accuracy ``1e-12``; see :mod:`._quadrature`).
ReLU's ``phi''`` is the zero function: the delta at 0 has measure zero under the Gaussian sources
and is dropped, as in every ReLU DMFT code.

**Adding an activation** is one entry in :data:`ACTIVATIONS` below: ``phi``, ``phi'``, ``phi''``
(and, optionally, closed-form maps; otherwise :func:`_quad` supplies them).

An :class:`Activation` is also a layer of :mod:`._layers` (``Activation("relu")`` looks the
name up): ``__call__`` is its kernel map, ``init``/``apply`` its finite-width semantics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from ..errors import InfwidthError
from ._layers import Elementwise, KernelState, pair_vars
from ._quadrature import DEFAULT_ORDER, gaussian_maps

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)

Fn = Callable[..., Any]


def _fn_field() -> Any:
    return field(default=None, repr=False)


@dataclass(frozen=True)
class Activation(Elementwise):
    """An elementwise nonlinearity with its derivatives and Gaussian expectation maps.

    ``Activation("tanh")`` is the registry entry (all fields filled in from :data:`ACTIVATIONS`;
    equal to it and with the same hash, so a tuple of layers stays a static ``jit`` argument).

    As a layer (neural-tangents' ``stax`` convention):

    - ``__call__(k)``: kernel map ``K' = E[phi(u) phi(v)]``, ``Theta' = Theta E[phi'(u) phi'(v)]``,
      ``(u, v) ~ N(0, [[K11, K12], [K12, K22]])``;
    - ``init(key, input_shape) -> (input_shape, ())`` (no parameters);
    - ``apply(params, x) = phi(x)``.
    """

    name: str
    phi: Fn = _fn_field()
    dphi: Fn = _fn_field()
    ddphi: Fn = _fn_field()
    nngp: Fn = _fn_field()
    dot: Fn = _fn_field()
    var: Fn = _fn_field()
    dvar: Fn = _fn_field()
    nngp_dot: Fn = _fn_field()
    exact: bool = False  # closed-form maps (True) or quadrature (False)
    phi_dphi: Fn = _fn_field()  # optional (phi(x), phi'(x)) sharing work, for quadrature

    def __post_init__(self) -> None:
        if self.phi is None:  # Activation("relu"): the registry entry
            entry = get_activation(self.name)
            for f in fields(self):
                object.__setattr__(self, f.name, getattr(entry, f.name))

    @property
    def fn(self) -> Fn:
        """``phi`` (the name the kernel engine used)."""
        return self.phi

    def __call__(self, k: KernelState) -> KernelState:
        k11, k22 = pair_vars(k)
        nngp, dot = self.nngp_dot(k.nngp, k11, k22)
        return KernelState(
            nngp, k.ntk * dot, self.var(k.var1), self.var(k.var2), k.ntk_diag * self.dvar(k.var1)
        )

    def apply(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        return self.phi(x)


# --- closed forms --------------------------------------------------------------------------


def _relu_nngp_dot(k12, k11, k22):
    # s sin(theta) = sqrt(k11 k22 - k12^2) and theta = atan2(s sin(theta), k12): one atan2, no
    # division and no arccos (the formulation neural-tangents uses; about 2x faster on CPU).
    root = jnp.sqrt(jnp.maximum(k11 * k22 - k12 * k12, 0.0))
    pi_minus_theta = jnp.pi - jnp.arctan2(root, k12)
    return (root + pi_minus_theta * k12) / (2 * jnp.pi), pi_minus_theta / (2 * jnp.pi)


def _erf_nngp(k12, k11, k22):
    arg = 2 * k12 / jnp.sqrt((1 + 2 * k11) * (1 + 2 * k22))
    return 2 / jnp.pi * jnp.arcsin(jnp.clip(arg, -1.0, 1.0))


def _erf_dot(k12, k11, k22):
    return 4 / jnp.pi / jnp.sqrt((1 + 2 * k11) * (1 + 2 * k22) - 4 * k12 * k12)


def _closed(name, phi, dphi, ddphi, nngp_dot, var, dvar, nngp=None, dot=None) -> Activation:
    nngp = nngp or (lambda k12, k11, k22: nngp_dot(k12, k11, k22)[0])
    dot = dot or (lambda k12, k11, k22: nngp_dot(k12, k11, k22)[1])
    return Activation(name, phi, dphi, ddphi, nngp, dot, var, dvar, nngp_dot, exact=True)


# --- phi, phi', phi'' ---------------------------------------------------------------------


def _zeros(x):
    return jnp.zeros_like(x)


def _relu_d(x):
    return (x > 0).astype(jnp.result_type(x, float))


def _erf_d(x):
    return (2.0 / math.sqrt(math.pi)) * jnp.exp(-(x**2))


def _erf_dd(x):
    return -2.0 * x * _erf_d(x)


def _tanh_d(x):
    return 1.0 - jnp.tanh(x) ** 2


def _tanh_dd(x):
    t = jnp.tanh(x)
    return -2.0 * t * (1.0 - t**2)


def _tanh_both(x):
    t = jnp.tanh(x)
    return t, 1 - t * t


def _gelu(x):
    # Exact GELU x * Phi(x) (Phi the standard normal CDF), not the tanh approximation.
    return 0.5 * x * (1.0 + erf(x / _SQRT2))


def _gelu_d(x):
    return 0.5 * (1.0 + erf(x / _SQRT2)) + x * _INV_SQRT2PI * jnp.exp(-0.5 * x**2)


def _gelu_dd(x):
    return _INV_SQRT2PI * jnp.exp(-0.5 * x**2) * (2.0 - x**2)


def _gelu_both(x):
    cdf = 0.5 * (1.0 + erf(x / _SQRT2))
    return x * cdf, cdf + x * _INV_SQRT2PI * jnp.exp(-0.5 * x**2)


def _silu(x):
    return x * jax.nn.sigmoid(x)


def _silu_d(x):
    # (x s)' = s + x s (1 - s), s = sigmoid(x)
    s = jax.nn.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _silu_dd(x):
    # (s + x s (1 - s))' = s (1 - s) (2 + x (1 - 2 s))
    s = jax.nn.sigmoid(x)
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))


def _silu_both(x):
    s = jax.nn.sigmoid(x)
    return x * s, s * (1.0 + x * (1.0 - s))


# name -> (phi, phi', phi'', phi_dphi or None); the maps come from _closed or _quad.
_FUNCTIONS: dict[str, tuple[Fn, Fn, Fn, Fn | None]] = {
    "linear": (lambda x: x, jnp.ones_like, _zeros, None),
    "relu": (jax.nn.relu, _relu_d, _zeros, None),
    "erf": (erf, _erf_d, _erf_dd, None),
    "tanh": (jnp.tanh, _tanh_d, _tanh_dd, _tanh_both),
    "gelu": (_gelu, _gelu_d, _gelu_dd, _gelu_both),
    "silu": (_silu, _silu_d, _silu_dd, _silu_both),
}


@functools.lru_cache(maxsize=64)
def _quad(name: str, order: int = DEFAULT_ORDER, rule: str = "trapezoid") -> Activation:
    """``name``'s Gaussian maps by ``order``-node quadrature (:func:`._quadrature.gaussian_maps`)."""
    phi, dphi, ddphi, both = _FUNCTIONS[name]
    nngp, dot, var, dvar, nngp_dot = gaussian_maps(phi, dphi, order, rule, both)
    return Activation(name, phi, dphi, ddphi, nngp, dot, var, dvar, nngp_dot, False, both)


ACTIVATIONS: dict[str, Activation] = {
    "linear": _closed(
        "linear",
        *_FUNCTIONS["linear"][:3],
        nngp_dot=lambda k12, k11, k22: (k12, jnp.ones_like(k12)),
        var=lambda k: k,
        dvar=lambda k: jnp.ones_like(k),
    ),
    "relu": _closed(
        "relu",
        *_FUNCTIONS["relu"][:3],
        nngp_dot=_relu_nngp_dot,
        var=lambda k: k / 2,
        dvar=lambda k: 0.5 + 0 * k,
    ),
    "erf": _closed(
        "erf",
        *_FUNCTIONS["erf"][:3],
        nngp_dot=lambda k12, k11, k22: (_erf_nngp(k12, k11, k22), _erf_dot(k12, k11, k22)),
        var=lambda k: 2 / jnp.pi * jnp.arcsin(2 * k / (1 + 2 * k)),
        dvar=lambda k: 4 / jnp.pi / jnp.sqrt(1 + 4 * k),
        nngp=_erf_nngp,
        dot=_erf_dot,
    ),
    "tanh": _quad("tanh"),
    "gelu": _quad("gelu"),
    "silu": _quad("silu"),
}


def get_activation(name: str, order: int | None = None, rule: str = "trapezoid") -> Activation:
    """Look up an activation by name (case-insensitive; ``linear``, ``relu``, ``erf``, ``tanh``,
    ``gelu``, ``silu``).

    ``order`` (number of nodes) forces quadrature with that ``rule`` (``"trapezoid"`` or
    ``"hermite"``, see :mod:`._quadrature`), for the closed-form activations too, which is how the
    closed forms are tested against quadrature. The same ``(name, order, rule)`` returns the same
    object (so layer stacks holding it hit ``jit``'s cache).

    Raises:
        InfwidthError: unknown name or rule.
    """
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise InfwidthError(
            f"unsupported activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        )
    if order is None:
        return ACTIVATIONS[key]
    if rule not in ("trapezoid", "hermite"):
        raise InfwidthError(f"unknown quadrature rule {rule!r}; choose 'trapezoid' or 'hermite'")
    return _quad(key, int(order), rule)
