"""Training a :class:`~infwidth.doctor.UserModel` as implemented: its own optax chain, its own
batches (cycled), every update multiplied by :math:`2^x` (``x``: the log2 learning-rate
multiplier of a transfer bracket; 0 trains at the model's own rates).

.. math:: \\theta_{t+1} = \\theta_t + 2^{x}\\, u_t, \\qquad
          (u_t, s_{t+1}) = \\mathrm{opt.update}(\\nabla L(\\theta_t; B_{t \\bmod m}), s_t, \\theta_t)

For Adam the factor is the learning rate's (epsilon and decoupled decay keep their relation
to it), so a bracket over ``x`` is a bracket of the model's learning rate.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import InfwidthError
from ._model import UserModel, batch_list


def stepper(model: UserModel) -> Any:
    """The model's jitted step ``(params, state, batch, factor) -> (params, state, loss)``
    (one compilation serves every ``factor``)."""
    opt, loss = model.optimizer, model.loss

    @jax.jit
    def step(p, s, batch, factor):
        value, g = jax.value_and_grad(loss)(p, batch)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, jax.tree.map(lambda a: factor * a, u)), s, value

    return step


def train(
    model: UserModel,
    steps: int,
    *,
    log2_mult: float = 0.0,
    keep: tuple[int, ...] = (),
    step: Any = None,
) -> tuple[np.ndarray, dict[int, Any]]:
    """Losses of ``steps`` steps (``+inf`` from the first non-finite one) and the parameters
    after each step in ``keep`` (0: the initial ones); ``step``: a :func:`stepper` of the
    model to reuse."""
    batches = batch_list(model)
    step = stepper(model) if step is None else step
    factor = jnp.float32(2.0**log2_mult)
    params, state = model.params, model.optimizer.init(model.params)
    kept = {0: params} if 0 in keep else {}
    losses = np.full(steps, np.inf)
    try:
        for t in range(steps):
            params, state, value = step(params, state, batches[t % len(batches)], factor)
            losses[t] = float(value)
            if not np.isfinite(losses[t]):
                losses[t:] = np.inf
                break
            if t + 1 in keep:
                kept[t + 1] = params
    except Exception as exc:  # noqa: BLE001 - a user's model: one clear line
        raise InfwidthError(f"the model fails to train: {type(exc).__name__}: {exc}") from None
    return losses, kept
