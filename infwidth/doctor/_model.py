"""What the doctor audits: a :class:`UserModel` per width, built-in or the user's own.

``make(width) -> UserModel`` is the contract (issue 15): the initial parameters, a scalar
loss, the optax optimiser the user trains with, some batches and, optionally, a ``features``
function returning named activations. The doctor only *runs* these (one forward, one
optimiser step, Jacobian-vector products); it never reads their source. A built-in network is
the same object, built by :func:`builtin_make` from a (possibly buggy) derived table through
:mod:`infwidth.sim`, so both paths are audited by one code path.

Feature conventions: the entry ``"output"`` is the network output; an entry whose name ends in
``logits`` (other than ``"output"``) is an attention-logit tensor ``(..., t, s)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.random as jr
import optax

from ..errors import InfwidthError

Features = Callable[[Any, Any], Mapping[str, jax.Array]]
OUTPUT = "output"


@dataclasses.dataclass(frozen=True)
class UserModel:
    """A model at one width, as the doctor sees it.

    Attributes:
        params: the initial parameter pytree.
        loss: ``(params, batch) -> scalar``.
        optimizer: the ``optax.GradientTransformation`` used for training.
        batches: a list of batches, an iterable, or a stacked pytree (leading axis = batch
            index; a tuple ``(x, y)`` of stacks is one stacked pytree).
        features: optional ``(params, batch) -> {name: activation}``, ordered input to
            output (the doctor reads a tensor's forward multiplier from the first feature
            that responds to it; ``"output"`` is the network output).
    """

    params: Any
    loss: Callable[[Any, Any], jax.Array]
    optimizer: optax.GradientTransformation
    batches: Any
    features: Features | None = None

    def first_batch(self) -> Any:
        """The first batch (see ``batches``)."""
        return batch_list(self, 1)[0]


def batch_list(model: UserModel, most: int = 64) -> list[Any]:
    """The model's batches as a list (at most ``most``; a stacked pytree is unstacked)."""
    b = model.batches
    leaves = jax.tree.leaves(b)
    if isinstance(b, list):
        out = b[:most]
    elif leaves and all(hasattr(a, "shape") and a.ndim >= 1 for a in leaves):
        n = min(most, int(leaves[0].shape[0]))
        out = [jax.tree.map(lambda a, i=i: a[i], b) for i in range(n)]
    elif isinstance(b, Iterable):
        out = [x for _, x in zip(range(most), iter(b), strict=False)]
    else:
        raise InfwidthError("batches must be a list, an iterable or a stacked array pytree")
    if not out:
        raise InfwidthError("the model's batches are empty")
    return out


def builtin_make(
    arch: str,
    table: Any,
    optimizer: str,
    *,
    base_width: int,
    depth: int = 1,
    lr: float = 1e-2,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    batch_size: int = 16,
    n_batches: int = 1,
    seed: int = 0,
) -> Callable[[int], UserModel]:
    """``make(width)`` for the built-in ``arch`` trained with ``table`` (a
    :class:`~infwidth.sim.Table`: the parametrization *as implemented*, bugs included)."""
    from ..sim import DEFAULT_DIMS, build_model, scale_table, table_optimizer

    dims = dict(DEFAULT_DIMS)

    def make(width: int) -> UserModel:
        s = scale_table(
            table,
            width=width,
            base_width=base_width,
            depth=depth,
            lr=lr,
            eps=eps,
            weight_decay=weight_decay,
            dims=dims,
        )
        tied = {t.name: t.tied_to for t in table.tensors if t.tied_to}
        model = build_model(arch, s, names=table.names, tied=tied, dims=dims)
        kp, kb = jr.split(jr.PRNGKey(seed))
        params = model.init(kp)
        opt = table_optimizer(optimizer, s, list(params), stacked=model.stacked)

        def loss(p: Any, batch: Any) -> jax.Array:
            return model.loss(model.apply(p, batch[0])[0], batch[1])

        def features(p: Any, batch: Any) -> dict[str, jax.Array]:
            f, feats = model.apply(p, batch[0])
            return {**feats, OUTPUT: f}

        batches = [model.batch(k, batch_size) for k in jr.split(kb, n_batches)]
        return UserModel(params, loss, opt, batches, features)

    return make


def build(make: Callable[[int], UserModel], width: int) -> UserModel:
    """``make(width)``, checked: a failing ``make`` or a wrong return type is one clear line."""
    try:
        model = make(width)
    except InfwidthError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's make(): one clear line
        raise InfwidthError(f"make({width}) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, UserModel):
        raise InfwidthError(
            f"make({width}) must return infwidth.doctor.UserModel, not {type(model).__name__}"
        )
    jax.tree.leaves(model.params)
    return model
