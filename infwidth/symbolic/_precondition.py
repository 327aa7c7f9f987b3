"""Damping exponents of a matrix-preconditioned optimiser (K-FAC, Shampoo, FOOF, SOAP).

Each factor ``P`` of the update ``P_out^{-q} G P_in^{-q'}`` is damped, ``P + rho I``. In the
rank-one view ``G = g x^T`` (``_optimizers.py``) its non-zero eigenvalue is
``|g|^{2 k_g} |x|^{2 k_x}``, with

* ``g = n^{-a} delta``: the gradient on the tensor's output before its multiplier ``n^{-a}``,
  entries ``n^{-(a + w_t - tau)}`` over ``fan_out = n^beta`` coordinates (``w_t`` the backward
  signal reaching the tensor, ``0`` on readouts where ``dL/df = Theta(1)``; ``tau`` its token
  fraction), so ``|g|^2 = n^{beta - 2(a + w_t - tau)}``;
* ``x`` its input, Theta(1) entries over ``fan_in = n^alpha`` coordinates: ``|x|^2 = n^alpha``.

Both are dense vectors: a masked tensor's density thins the sums ``W x``, not ``|x|`` or ``|g|``,
so the fans here are taken without it (``_scaling.dense_exponents``).

Desideratum: the damping keeps a fixed ratio to that eigenvalue at every width. Far below it
the factor acts undamped (and a rank-deficient factor's inverse blows up); far above it the
factor drops out and the optimiser silently becomes another one (K-FAC -> FOOF -> SGD). So

.. math:: \\rho \\propto n^{k_g(\\beta - 2(a + w_t - \\tau)) + k_x \\alpha},

reported as ``damping_out`` (left factor) and ``damping_in`` (right factor). It depends on the
gauge through ``a`` (the factor is built from the trainable parameter's gradient). Ishikawa &
Karakida (ICLR 2024; the first author's ``classmup`` code, ``utils/damping.py``) set K-FAC's
``rho_A ~ fan_in`` (hidden and readout) and ``rho_B ~ 1/fan_out`` (input and hidden) without
multipliers, which this reproduces. SOAP's one damping is Adam's ``eps`` on the rotated
coordinates (``damping_eigen``), compared with ``sqrt(v) = |g||x|``: half Shampoo's exponent.
"""

from __future__ import annotations

import sympy as sp

from ..spec import NetworkSpec
from ._optimizers import Optimizer
from ._parametrization import TensorExponents, owner
from ._scaling import backward_exponents, dense_exponents, step_exponent, theta

FIELDS = {"out": "damping_out", "in": "damping_in", "eigen": "damping_eigen"}


def damping_exponents(
    net: NetworkSpec, exps: dict[str, TensorExponents], opt: Optimizer, w: sp.Rational
) -> dict[str, dict[str, sp.Rational]]:
    """Per trained tensor, ``{"damping_out": ..., "damping_in": ...}`` (powers of the axis)."""
    if not opt.preconditioner:
        return {}
    th = {t.name: theta(exps[t.name].a, exps[t.name].b) for t in net.tensors}
    lam = {t.name: step_exponent(opt, *_abc(exps[t.name])) for t in net.tensors}
    back = backward_exponents(net, opt, th, lam, w)
    out: dict[str, dict[str, sp.Rational]] = {}
    for t in net.tensors:
        if t.frozen:
            continue
        own = owner(net, t)
        signal = back[own.name] if own.role in ("input", "hidden") else 0
        x2, fan_out = dense_exponents(own)
        g2 = fan_out - 2 * (exps[own.name].a + signal - own.token_exponent)
        out[t.name] = {
            FIELDS[f.side]: sp.Rational(sp.expand(f.grad * g2 + f.inputs * x2))
            for f in opt.preconditioner
        }
    return out


def _abc(e: TensorExponents) -> tuple[sp.Rational, sp.Rational, sp.Rational]:
    return e.a, e.b, e.c
