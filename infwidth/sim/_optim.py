"""Optimisers with per-tensor width/depth scaling, as one ``optax.GradientTransformation``.

Each tensor ``W`` gets its own chain, selected by :func:`optax.multi_transform` with the tensor
name as label, with the numbers of :func:`~infwidth.sim._scaling.scale_table`:

=========  =================================================================================
sgd        :math:`\\Delta w = -\\eta_W (g + \\lambda_W w)`
momentum   :math:`m \\leftarrow \\mu m + g,\\ \\Delta w = -\\eta_W m`
adam       :math:`\\Delta w = -\\eta_W\\,\\hat m/(\\sqrt{\\hat v} + \\epsilon_W)`
adamw      :math:`\\Delta w = -\\eta_W\\,(\\hat m/(\\sqrt{\\hat v} + \\epsilon_W) + \\lambda_W w)`
signsgd    :math:`\\Delta w = -\\eta_W\\,\\mathrm{sign}(g)`
adafactor  factored second moment (:func:`optax.scale_by_factored_rms`, ``epsilon_W``), step
           relative to :math:`\\mathrm{RMS}(w)` (:func:`optax.scale_by_param_block_rms`)
muon       Nesterov momentum, then :math:`U V^\\top` of the (fan_in x fan_out) matrix by a
           quintic Newton-Schulz iteration (vectors: :math:`m/\\lVert m\\rVert`)
=========  =================================================================================

Decoupled weight decay multiplies the learning rate (optax's convention), so ``lambda_W`` is
the table's weight-decay scaling on top of ``eta_W``'s.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ..errors import InfwidthError
from ._scaling import Scaling

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "signsgd", "adafactor", "muon")


def newton_schulz(g: jax.Array, steps: int = 5) -> jax.Array:
    """Approximate :math:`U V^\\top` of ``g = U S V^T`` (last two axes), as in Muon.

    Quintic iteration :math:`X \\leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\\top`, with
    ``(a, b, c) = (3.4445, -4.7750, 2.0315)`` after normalising by the Frobenius norm.
    """
    a, b, c = 3.4445, -4.7750, 2.0315
    transpose = g.shape[-2] > g.shape[-1]
    x = jnp.swapaxes(g, -1, -2) if transpose else g
    x = x / (jnp.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-30)
    for _ in range(steps):
        A = x @ jnp.swapaxes(x, -1, -2)
        x = a * x + (b * A + c * A @ A) @ x
    return jnp.swapaxes(x, -1, -2) if transpose else x


def orthogonalize(stacked: bool) -> optax.GradientTransformation:
    """Replace each update by the orthogonal factor of its (fan_in x fan_out) matrix."""

    def f(u: jax.Array) -> jax.Array:
        lead = u.shape[:1] if stacked else ()
        rest = u.shape[len(lead) :]
        if len(rest) <= 1:
            return u / (jnp.linalg.norm(u, axis=-1, keepdims=True) + 1e-30)
        mat = u.reshape(*lead, -1, rest[-1])
        return newton_schulz(mat).reshape(u.shape)

    return optax.stateless(lambda updates, params=None: jax.tree.map(f, updates))


def _chain(kind: str, scaling: Scaling, name: str, stacked: bool, b1: float, b2: float):
    """``kind``'s chain for tensor ``name`` with its learning rate, epsilon and decay."""
    lr, eps = scaling.learning_rate[name], scaling.epsilon[name]
    wd = scaling.weight_decay[name]
    # wd may be a tracer (one compilation for every table): only a literal 0 drops the term.
    decay = [] if isinstance(wd, int | float) and wd == 0 else [optax.add_decayed_weights(wd)]
    if kind in ("sgd", "momentum"):
        parts = ([optax.trace(decay=b1)] if kind == "momentum" else []) + decay
    elif kind in ("adam", "adamw"):
        parts = [optax.scale_by_adam(b1=b1, b2=b2, eps=eps), *decay]
    elif kind == "signsgd":
        parts = [optax.scale_by_sign()]
    elif kind == "adafactor":
        parts = [
            optax.scale_by_factored_rms(epsilon=eps),
            optax.scale_by_param_block_rms(min_scale=1e-3),
        ]
    else:  # muon (table_optimizer has refused unknown names)
        parts = [optax.trace(decay=b1, nesterov=True), orthogonalize(stacked)]
    return optax.chain(*parts, optax.scale(-lr))


def frozen_updates() -> optax.GradientTransformation:
    """Zero updates in each parameter's own dtype (the updates' dtype without ``params``)."""

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if params is None:
            return jax.tree.map(jnp.zeros_like, updates), state
        return jax.tree.map(lambda _, p: jnp.zeros_like(p), updates, params), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def default_b1(optimizer: str) -> float:
    """Momentum / first-moment decay when none is given: 0.95 for Muon, else 0.9."""
    return 0.95 if optimizer == "muon" else 0.9


def table_optimizer(
    optimizer: str,
    scaling: Scaling,
    names: Collection[str],
    *,
    stacked: Collection[str] = (),
    b1: float | None = None,
    b2: float = 0.999,
    labels: Any = None,
    frozen: Collection[str] = (),
) -> optax.GradientTransformation:
    """One optax transformation applying ``optimizer`` with per-tensor scaled hyperparameters.

    Args:
        optimizer: one of :data:`OPTIMIZERS`.
        scaling: per-tensor learning rates, epsilons and weight decays.
        names: the parameter dict's keys (tensors absent from it, e.g. a tied unembedding,
            are skipped).
        stacked: tensors carrying a leading block axis (Muon orthogonalises per block).
        b1: momentum / first-moment decay (default 0.9; Muon 0.95).
        b2: Adam's second-moment decay.
        labels: a pytree of tensor names with the parameters' structure (default: the
            parameters are a flat dict keyed by name).
        frozen: names (among ``names``) that are not trained: their updates are zeros of
            the parameter's own dtype (an ``int32`` counter stays an exact ``int32``).
    """
    if optimizer not in OPTIMIZERS:
        raise InfwidthError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    if b1 is None:
        b1 = default_b1(optimizer)
    transforms = {
        name: _chain(optimizer, scaling, name, name in stacked, b1, b2)
        for name in names
        if name not in frozen
    }
    transforms.update({name: frozen_updates() for name in frozen})
    if labels is None:
        return optax.multi_transform(transforms, lambda params: {k: k for k in params})
    return optax.multi_transform(transforms, labels)
