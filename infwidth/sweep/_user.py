"""A user's own JAX model in a sweep: ``init(width, key)``, ``loss(params, batch)``, scaled by
:func:`infwidth.mup_transfer`.

For each target, :func:`~infwidth.sim.mup_transfer` (no-multiplier gauge) reads the
parameters at the point's width ``n`` and at the base width ``n_0`` and gives, per leaf
``W`` with width ratio :math:`\\rho_W` and table exponents :math:`e`:

.. math:: w \\leftarrow w\\,\\rho_W^{(e_{\\rm var} - e_{SP})/2},\\quad
          \\eta_W = \\eta\\,\\rho_W^{e_{\\rm lr}},\\quad
          \\epsilon_W = \\epsilon\\,\\rho_W^{e_\\epsilon},\\quad
          \\lambda_W = \\lambda\\,\\rho_W^{e_{\\rm wd}},

the user's initialisation being standard (:math:`e_{SP} = -\\alpha_{\\rm in}`). The
engine takes these factors as *traced* per-leaf numbers, so one compiled program per width
serves every target, learning rate and seed; the initial weights ``init(width, key(seed))``
are drawn outside the program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from ..errors import InfwidthError


class UserModel(Protocol):
    """What :func:`~infwidth.sweep.run_sweep` needs of a user's model.

    ``init(width, key) -> params`` (any pytree of float arrays, standard initialisation);
    ``loss(params, batch) -> scalar`` with ``batch = (x, labels)``. Optional attributes:
    ``name`` (part of every stored point's key: give each model its own), ``layout``
    (``"auto"``, ``"in_out"``, ``"out_in"``: see :func:`~infwidth.sim.mup_transfer`).
    """

    init: Callable[[int, jax.Array], Any]
    loss: Callable[[Any, tuple[jax.Array, jax.Array]], jax.Array]


def model_name(model: Any) -> str:
    """The name a user model's points are stored under (``model.name``, else its ``init``'s
    qualified name)."""
    name = getattr(model, "name", None)
    if name:
        return str(name)
    init = model.init
    return f"{getattr(init, '__module__', '?')}.{getattr(init, '__qualname__', repr(init))}"


def check_model(model: Any) -> None:
    if not (callable(getattr(model, "init", None)) and callable(getattr(model, "loss", None))):
        raise InfwidthError("a sweep model needs init(width, key) and loss(params, batch)")


def seed_key(seed: int) -> jax.Array:
    """The key ``init`` is called with for seed ``seed``: ``jax.random.PRNGKey(seed)``."""
    return jax.random.PRNGKey(seed)


def leaf_factors(model: Any, optimizer: str, target: str, width: int, base_width: int) -> dict:
    """Per-leaf ``{"init", "learning_rate", "epsilon", "weight_decay"}`` factors (lists in
    ``tree_flatten`` order) of ``target`` at ``width`` (module docstring), and the leaf
    names."""
    from ..sim import mup_transfer
    from ..spec import make_tensor

    key = seed_key(0)
    # the delta (twice the base width) tells the infinite axes, also at the base width
    t = mup_transfer(
        model.init(width, key), model.init(base_width, key),
        model.init(2 * base_width, key), optimizer=optimizer,
        target=target, lr=1.0, eps=1.0, weight_decay=1.0,
        layout=getattr(model, "layout", "auto"),
    )  # fmt: skip
    frozen = [i.name for i in t.leaves if i.kind == "frozen"]
    if frozen:
        raise InfwidthError(f"a sweep model's leaves must all be float weights, not {frozen}")
    out: dict[str, list] = {k: [] for k in ("init", "learning_rate", "epsilon", "weight_decay")}
    for info in t.leaves:
        row = t.table.row(info.name)
        e_sp = -float(make_tensor(info.name, info.fan_in, info.fan_out).fan_in_exponent)
        out["init"].append(info.ratio ** ((float(row.w("init_variance")) - e_sp) / 2))
        for k in ("learning_rate", "epsilon", "weight_decay"):
            out[k].append(info.ratio ** float(row.w(k)))
    return {"names": tuple(i.name for i in t.leaves), **out}


def unit_params(model: Any, width: int, seeds: list[int]) -> tuple[list[np.ndarray], Any]:
    """The user's initial parameters per seed, leaves stacked over seeds, and the treedef."""
    trees = [model.init(width, seed_key(s)) for s in seeds]
    flat = [jax.tree_util.tree_flatten(t) for t in trees]
    treedef = flat[0][1]
    if any(f[1] != treedef for f in flat):
        raise InfwidthError("a sweep model's init gives different structures for different seeds")
    leaves = [
        np.stack([np.asarray(f[0][i], np.float32) for f in flat]) for i in range(len(flat[0][0]))
    ]
    return leaves, treedef
