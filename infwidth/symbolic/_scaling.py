"""Width exponents of the quantities a training step produces (THEORY.md section 2).

Every quantity's typical coordinate scales like a power of the width ``n``; we track that power.
For a tensor with ``fan_in = C n^alpha``, ``fan_out = C' n^beta``, multiplier ``n^{-a}``,
init ``w ~ N(0, n^{-2b})``, learning rate ``eta n^{-c}``:

* the forward weight's entries have size ``n^{-theta}`` with ``theta = a + b``;
* the optimiser's effective step is ``n^{-lambda}`` with ``lambda = (1 + p) a + c + s b``
  (``p`` the gradient power, ``s = 1`` for parameter-scaled steps), see ``_optimizers.py``;
* a sum of ``n^alpha`` *independent* terms grows like ``n^{alpha/2}`` (central limit: random
  weights at init), a sum of *correlated* terms like ``n^alpha`` (law of large numbers: an
  update built from the activations it multiplies). ``alignment="full"`` assumes the latter for
  update-activation products ``Delta W x``; ``"none"`` the former (Everett et al. 2024).

Both ``theta`` and ``lambda`` are invariant under the parametrization symmetry, so every
desideratum below is too. This module is pure algebra on SymPy expressions: it is used with
symbols (derivation) and with numbers (classification) alike.
"""

from __future__ import annotations

from typing import Literal

import sympy as sp

from ..spec import TensorSpec, axis_exponent
from ._optimizers import Optimizer

Alignment = Literal["full", "none"]
ALIGNMENTS = ("full", "none")

HALF = sp.Rational(1, 2)


def kappa(alignment: Alignment) -> sp.Rational:
    """Exponent of an aligned sum: ``n^{kappa alpha}`` for ``n^alpha`` terms."""
    return sp.Integer(1) if alignment == "full" else HALF


def theta(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """Entry size exponent of ``W_eff = n^{-a} w`` at init: ``|W_eff| ~ n^{-(a+b)}``."""
    return a + b


def step_exponent(opt: Optimizer, a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """``lambda = (1 + p) a + c + s b``: the optimiser's step on ``W_eff`` is ``n^{-lambda}``
    times a function of the gradient homogeneous of degree ``p``."""
    return (1 + opt.gradient_power) * a + c + int(opt.param_scaled) * b


def update_gain(opt: Optimizer, t: TensorSpec, alignment: Alignment) -> sp.Expr:
    """``s_t``: exponent of ``(Delta W x)_i / (step * gradient scale)``.

    The update is ``|g|^{-u} |x|^{-v} g x^T`` (``Optimizer.norm_powers``): entrywise (SGD:
    ``g x^T`` itself; Adam's first step: ``sign(g) sign(x)^T``) has ``u = v = 0``;
    orthogonalised ``(g/|g|)(x/|x|)^T`` has ``u = v = 1``; K-FAC ``u = v = 2``, FOOF ``v = 2``.
    ``(Delta W x)_i = |g|^{-u} g_i |x|^{-v} (x . x)``: ``x . x`` sums ``fan_in`` aligned
    terms, ``n^{kappa alpha}``, ``|x| = n^{alpha/2}`` and ``|g|^{-u}`` contributes
    ``n^{-u beta/2}`` beyond the gradient's scale: ``s = kappa alpha - (u beta + v alpha)/2``
    (orthogonal: ``n^{alpha (kappa - 1/2) - beta/2}``).
    """
    al, be, k = t.fan_in_exponent, t.fan_out_exponent, kappa(alignment)
    if opt.structure == "orthogonal":
        return al * (k - HALF) - be / 2
    u, v = opt.norm_powers
    dense_in, dense_out = dense_exponents(t)
    return k * al - (u * dense_out + v * dense_in) / 2


def dense_exponents(t: TensorSpec) -> tuple[sp.Rational, sp.Rational]:
    """Exponents of ``fan_in`` and ``fan_out`` *without* the density: the norms ``|x|``, ``|g|``
    of the dense vectors a preconditioner's factors are built from (a mask thins the sums
    ``W x``, not the vectors)."""
    return axis_exponent(t.fan_in, t.axis), axis_exponent(t.fan_out, t.axis)


def update_entry_exponent(opt: Optimizer, t: TensorSpec, lam: sp.Expr, grad: sp.Expr) -> sp.Expr:
    """Entry size exponent (as ``n^{-e}``) of ``Delta W_eff`` given the gradient size
    ``n^{-grad}`` of ``dL/dh`` on the tensor's output (times the token fraction ``n^{tau}``
    the tensor's gradient sums over: a routed expert)."""
    e = lam + opt.gradient_power * (grad - t.token_exponent)
    if opt.structure == "orthogonal":
        e += (t.fan_in_exponent + t.fan_out_exponent) / 2
    elif opt.structure == "preconditioned":
        u, v = opt.norm_powers
        dense_in, dense_out = dense_exponents(t)
        e += (u * dense_out + v * dense_in) / 2
    return e


def feature_r(opt: Optimizer, t: TensorSpec, lam: sp.Expr, w: sp.Expr, alignment: Alignment):
    """``r_t``: the update of tensor ``t`` moves its output features by ``n^{-r_t}``.

    ``(Delta W_eff x)_i ~ n^{-lambda} (n^{-w})^p n^{s_t}``: ``w`` is the size exponent of the
    backward signal ``dL/dh`` reaching a feature layer. TP4 (SGD): ``r_l = 2a_l + c + w - alpha``;
    TP4b (Adam): ``r_l = a_l + c_l - alpha``. A routed expert's gradient sums a fraction
    ``n^{tau}`` of the tokens: ``w -> w - tau`` (it drops out for ``p = 0``).
    """
    return lam + opt.gradient_power * (w - t.token_exponent) - update_gain(opt, t, alignment)


def output_self_r(opt: Optimizer, t: TensorSpec, lam: sp.Expr, alignment: Alignment):
    """The readout's own update moves the output by ``n^{-r}`` (``dL/df = Theta(1)``).
    TP4: ``2 a_{L+1} + c - 1``; TP4b: ``a_{L+1} + c_{L+1} - 1``."""
    return lam - opt.gradient_power * t.token_exponent - update_gain(opt, t, alignment)


def output_from_features(t: TensorSpec, th: sp.Expr, r: sp.Expr) -> sp.Expr:
    """``W_0^{out} Delta x`` moves the output by ``n^{-(theta + r - alpha)}``.

    ``Delta x`` is correlated with ``W_0^{out}`` by back-propagation itself (the backward
    signal is ``W_0^{out T} dL/df``), so this sum is a law-of-large-numbers sum under either
    alignment assumption. TP4: ``a_{L+1} + b_{L+1} + r - 1``.
    """
    return th + r - t.fan_in_exponent


def fed_signal(opt: Optimizer, u: TensorSpec, th: sp.Expr, lam: sp.Expr, w_u: sp.Expr):
    """Size exponent of the backward signal ``u^T delta`` reaching a tensor that feeds ``u``.

    ``delta`` (on ``u``'s output) has size ``n^{-w_u}`` and the sum runs over ``u``'s
    ``fan_out = n^beta`` coordinates. A random ``u`` is independent of ``delta`` at init
    (central limit): ``theta_u + w_u - beta/2``. A zero-initialised ``u`` (LoRA's ``B``)
    holds only its updates, which are built from ``delta`` itself (law of large numbers):
    ``e_u + w_u - beta`` with ``e_u`` the update's entry exponent.
    """
    if u.init == "zero":
        return update_entry_exponent(opt, u, lam, w_u) + w_u - u.fan_out_exponent
    return th + w_u - u.fan_out_exponent / 2


def backward_exponents(net, opt: Optimizer, th: dict, lam: dict, w: sp.Expr) -> dict:
    """Backward signal exponent at every tensor's output: ``w`` (set by the readout) unless
    the tensor ``feeds`` another, then :func:`fed_signal` of the chain (numbers or symbols)."""
    out: dict = {}

    def of(t):
        if t.name not in out:
            if t.feeds is None:
                out[t.name] = w
            else:
                u = net.tensor(t.feeds)
                out[t.name] = fed_signal(opt, u, th[u.name], lam[u.name], of(u))
        return out[t.name]

    for t in net.tensors:
        of(t)
    return out
