"""The one training loop: a :class:`~infwidth.sim._model.Model` and an optax optimiser, scanned.

Each step ``t = 0..T-1`` runs the forward pass on the inputs with the weights of step ``t``,
hands a :class:`Step` to the caller's ``record`` and then updates the weights with the gradient
of the model's loss. Full batch: the loss reads the first ``n_train`` rows of the outputs (the
other rows are held-out points whose outputs and features are recorded too); minibatches:
``batches[t]`` indexes the rows of step ``t``.

With ``feature_grads`` the record also sees :math:`\\partial f_\\mu / \\partial h_\\mu` for
every feature ``h`` (pre-activation) of the model, row by row: the vector-Jacobian product of
the outputs (cotangent 1 on every output) with respect to a zero perturbation added to the
features (the ``delta`` argument of the MLP and residual-MLP ``apply``). Everything is pure and
jittable; the caller jits (and vmaps over seeds) what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ._model import Model, Params


class TrainState(NamedTuple):
    """The weights and the optimiser's state."""

    params: Params
    opt_state: Any


class Step(NamedTuple):
    """What ``record`` sees at a step, before that step's update.

    Attributes:
        params: the weights.
        f: outputs on the step's rows.
        features: the model's features on those rows.
        grads: gradient of the loss with respect to ``params``.
        feature_grads: ``df/dh`` per row for every feature ``h`` (None unless requested).
        loss: the loss.
    """

    params: Params
    f: jax.Array
    features: dict[str, jax.Array]
    grads: Params
    feature_grads: dict[str, jax.Array] | None
    loss: jax.Array


def forward_backward(
    model: Model,
    params: Params,
    x: jax.Array,
    y: jax.Array | None,
    *,
    n_train: int | None = None,
    feature_grads: bool = False,
) -> Step:
    """One forward pass on ``x`` and the backward passes of :func:`train` (see module doc);
    ``y=None``: no loss (``Step.loss`` and ``Step.grads`` are None)."""
    n = x.shape[0] if n_train is None else n_train
    if feature_grads:
        feats = jax.eval_shape(model.apply, params, x)[1]
        delta = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), feats)
        (f, pull, feats) = jax.vjp(lambda p, d: model.apply(p, x, d), params, delta, has_aux=True)
    else:
        (f, pull, feats) = jax.vjp(lambda p: model.apply(p, x), params, has_aux=True)
    loss = grads = None
    if y is not None:
        loss, dloss = jax.value_and_grad(lambda f: model.loss(f[:n], y))(f)
        grads = pull(dloss)[0]
    dfdh = pull(jnp.ones_like(f))[1] if feature_grads else None
    return Step(params, f, feats, grads, dfdh, loss)


def train(
    model: Model,
    optimizer: optax.GradientTransformation,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    *,
    steps: int,
    record: Callable[[Step], Any] | None = None,
    n_train: int | None = None,
    batches: jax.Array | None = None,
    feature_grads: bool = False,
) -> tuple[TrainState, Any]:
    """``steps`` optimiser steps on ``model.loss``; returns the final state and the records.

    Args:
        model: the network.
        optimizer: e.g. :func:`~infwidth.sim._optim.table_optimizer` of the model's scaling.
        params: initial weights.
        x, y: inputs and targets; ``y`` matches the first ``n_train`` rows (full batch) or
            all rows (``batches``).
        steps: number of updates.
        record: ``Step -> pytree``; its values are stacked over the steps (leading axis).
        n_train: full batch: the loss reads outputs ``f[:n_train]`` (default: all rows).
        batches: ``(steps, batch)`` row indices of each step's minibatch.
        feature_grads: also compute ``Step.feature_grads``.
    """

    def step(state: TrainState, idx):
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        kw = dict(n_train=n_train, feature_grads=feature_grads, record=record)
        return train_step(model, optimizer, state, xb, yb, **kw)

    state = TrainState(params, optimizer.init(params))
    return jax.lax.scan(step, state, batches, length=steps)


def train_step(
    model: Model,
    optimizer: optax.GradientTransformation,
    state: TrainState,
    x: jax.Array,
    y: jax.Array,
    *,
    record: Callable[[Step], Any] | None = None,
    n_train: int | None = None,
    feature_grads: bool = False,
) -> tuple[TrainState, Any]:
    """One step of :func:`train` on the rows ``x``: ``(new state, record(step))``."""
    s = forward_backward(model, state.params, x, y, n_train=n_train, feature_grads=feature_grads)
    out = None if record is None else record(s)
    upd, opt_state = optimizer.update(s.grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, upd), opt_state), out
