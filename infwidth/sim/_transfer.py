"""muP (or any derived parametrization) for a user's own JAX model.

Given the model's parameter pytree at the target width and the same model's parameters at a
base width (and optionally at a third "delta" width, as the PyTorch ``mup`` package does, to
tell which dimensions are infinite when a finite one also changed), :func:`mup_transfer`

1. finds the infinite axes of every leaf (those whose size differs between base and delta,
   or between base and target when no delta is given) and the width ratio
   :math:`\\rho = n / n_0` along them;
2. reads each leaf as a tensor with ``fan_in`` / ``fan_out`` (layout ``"in_out"``: last axis
   is fan_out, as Flax ``kernel`` and HWIO convolutions; ``"out_in"``: first axis, as
   Equinox/PyTorch ``weight``; ``"auto"`` picks by the leaf's name), so that the symbolic
   engine classifies it (input / hidden / output / bias / scalar) and derives its exponents
   in the no-multiplier gauge (the user's forward pass has no multipliers to change);
3. rescales the given initialisation, assumed standard (:math:`\\mathrm{Var} \\propto
   1/\\mathrm{fan\\_in}`, exponent :math:`e_{SP} = -\\alpha_{in}`), to the derived variance:
   :math:`w \\leftarrow w\\,\\rho^{(e_{\\rm var} - e_{SP})/2}` (muTransfer: at the base width the
   model is unchanged);
4. returns an optax transformation with :math:`\\eta_W = \\eta\\rho^{e_{\\rm lr}}`,
   :math:`\\epsilon_W = \\epsilon\\rho^{e_\\epsilon}`, :math:`\\lambda_W = \\lambda\\rho^{e_{\\rm wd}}`.

Only floating-point leaves are weights. Any other leaf (an ``int32`` step counter, a boolean
mask) and the float leaves named in ``frozen`` are left alone: kind ``"frozen"``, no row in
the table, not rescaled, and their updates are zeros of the leaf's own dtype, so
``optax.apply_updates`` returns them unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Collection
from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
import optax

from .. import _validate as valid
from ..errors import InfwidthError
from ._optim import table_optimizer
from ._scaling import Scaling
from ._table import Table

Layout = Literal["auto", "in_out", "out_in"]


@dataclasses.dataclass(frozen=True)
class LeafInfo:
    """What was inferred about one leaf."""

    name: str
    shape: tuple[int, ...]
    infinite_axes: tuple[int, ...]
    ratio: float
    fan_in: str
    fan_out: str
    kind: str = ""


@dataclasses.dataclass(frozen=True)
class Transfer:
    """Result of :func:`mup_transfer`.

    Attributes:
        params: the rescaled initial parameters (same structure as the input).
        optimizer: per-tensor scaled ``optax.GradientTransformation``.
        table: the derived table (one row per leaf, named by its path).
        leaves: per leaf, the inferred infinite axes, width ratio, fans and kind.
        labels: pytree of leaf names with the parameters' structure.
    """

    params: Any
    optimizer: optax.GradientTransformation
    table: Table
    leaves: tuple[LeafInfo, ...]
    labels: Any


def _path_name(path: tuple) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _flatten(tree: Any) -> tuple[list[str], list]:
    """Leaf names and leaves, in ``tree_flatten`` order.

    A Flax NNX ``State`` holds ``nnx.Variable`` nodes (``nnx.Param``) whose array sits under an
    attribute ``value``; the leaf is named by the variable (``l1/kernel``, not
    ``l1/kernel/value``), so that names match Linen's and the ``weight`` rule of ``layout="auto"``
    sees the variable's name.
    """
    var = getattr(sys.modules.get("flax.nnx"), "Variable", ())  # (): nothing is a Variable
    names, leaves = [], []
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, var))[0]
    for path, node in flat:
        # a Variable's leaves (its value); any other node is a leaf: itself, at sub-path ()
        for sub, leaf in jax.tree_util.tree_flatten_with_path(node)[0]:
            is_value = len(sub) == 1 and getattr(sub[0], "name", None) == "value"
            names.append(_path_name(path if is_value else path + sub))
            leaves.append(leaf)
    return names, leaves


def _fan_axes(name: str, ndim: int, layout: Layout) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if ndim == 0:
        return (), ()
    if ndim == 1:
        return (), (0,)
    if layout == "auto":
        layout = "out_in" if name.rsplit("/", 1)[-1] == "weight" else "in_out"
    if layout == "out_in":
        return tuple(range(1, ndim)), (0,)
    return tuple(range(ndim - 1)), (ndim - 1,)


def _is_weight(leaf: Any) -> bool:
    """Floating-point leaves are weights; ints, bools (and complex) are left alone."""
    return bool(jnp.issubdtype(jnp.result_type(leaf), jnp.floating))


def _fan(shape: tuple[int, ...], axes: tuple[int, ...], infinite: tuple[int, ...]) -> str:
    finite = math.prod(shape[a] for a in axes if a not in infinite)
    k = sum(a in infinite for a in axes)
    return str(finite) if k == 0 else f"{finite}*n" + (f"**{k}" if k > 1 else "")


def infer_leaves(
    params: Any,
    base: Any,
    delta: Any = None,
    *,
    layout: Layout = "auto",
    frozen: Collection[str] = (),
) -> list[LeafInfo]:
    """One :class:`LeafInfo` per leaf (see the module docstring, steps 1-2).

    Non-floating leaves and those named in ``frozen`` get kind ``"frozen"`` and no fans.
    """
    if layout not in get_args(Layout):
        raise InfwidthError(
            f"unknown layout {layout!r}; choose one of {', '.join(get_args(Layout))}"
        )
    names, leaves = _flatten(params)
    unknown = sorted(set(frozen) - set(names))
    if unknown:
        raise InfwidthError(f"frozen names {unknown} are not leaves; the leaves are {names}")
    shapes = []  # per leaf: its shapes at the base width and at the delta (else target) width
    for other, what in ((base, "base"), (params if delta is None else delta, "delta")):
        o_names, o_leaves = _flatten(other)
        # Compare leaf paths, not treedefs: Equinox modules keep their sizes (static fields)
        # in the treedef, which differ between widths by construction.
        if o_names != names:
            raise InfwidthError(f"the {what} parameters do not have the target's tree structure")
        shapes.append([tuple(getattr(x, "shape", ())) for x in o_leaves])
    infos = []
    for i, (name, leaf) in enumerate(zip(names, leaves, strict=True)):
        shape = tuple(getattr(leaf, "shape", ()))
        if name in frozen or not _is_weight(leaf):
            infos.append(LeafInfo(name, shape, (), 1.0, "1", "1", "frozen"))
            continue
        s0, ref = shapes[0][i], shapes[1][i]
        if len(s0) != len(shape) or len(ref) != len(shape):
            raise InfwidthError(f"leaf {name!r} has different ranks at different widths")
        infinite = tuple(a for a in range(len(shape)) if s0[a] != ref[a])
        ratios = {shape[a] / s0[a] for a in infinite}
        if len(ratios) > 1 and max(ratios) / min(ratios) > 1 + 1e-9:
            raise InfwidthError(f"leaf {name!r} grows by different ratios along its axes")
        ins, outs = _fan_axes(name, len(shape), layout)
        infos.append(
            LeafInfo(
                name,
                shape,
                infinite,
                ratios.pop() if ratios else 1.0,
                "1" if not ins else _fan(shape, ins, infinite),
                "1" if not outs else _fan(shape, outs, infinite),
            )
        )
    return infos


def _check_widths_differ(infos: list[LeafInfo], delta: Any) -> None:
    """Some weight must grow with the width, or there is nothing to transfer."""
    weights = [i for i in infos if i.kind != "frozen"]
    if not weights:
        raise InfwidthError("no leaf is a floating-point weight: there is nothing to train")
    if not any(i.infinite_axes for i in weights):
        other = (
            "delta_params at a width other than base_params'"
            if delta is not None
            else "base_params at a second width (the same model built smaller)"
        )
        raise InfwidthError(
            f"no weight's shape changes between the widths given, so no dimension is "
            f"infinite: pass {other}"
        )


def mup_transfer(
    params: Any,
    base_params: Any,
    delta_params: Any = None,
    *,
    optimizer: str = "adam",
    target: str = "mup",
    lr: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    layout: Layout = "auto",
    frozen: Collection[str] = (),
) -> Transfer:
    """Bring ``target`` (muP by default) to a user's parameter pytree; see the module docs.

    ``layout`` is ``"auto"``, ``"in_out"`` or ``"out_in"`` (step 2). Leaves that are not
    floating point (an ``int32`` step counter) and the leaves named in ``frozen`` (path names
    as in :attr:`Transfer.leaves`, e.g. ``"head/kernel"``) are not weights: returned as given,
    and the optimizer's updates for them are zeros of their own dtype.

    Example (a plain-dict MLP; ``init(width)`` is the user's own standard initialisation)::

        t = mup_transfer(init(1024), init(64), optimizer="adam", lr=3e-3)
        params, opt = t.params, t.optimizer   # train with these as usual
    """
    from .. import derive
    from ..spec import NetworkSpec, make_tensor

    lr = valid.positive("lr", lr)
    eps = valid.nonnegative("eps", eps)
    weight_decay = valid.nonnegative("weight_decay", weight_decay)
    infos = infer_leaves(params, base_params, delta_params, layout=layout, frozen=frozen)
    _check_widths_differ(infos, delta_params)
    tensors = [make_tensor(i.name, i.fan_in, i.fan_out) for i in infos if i.kind != "frozen"]
    try:
        spec = NetworkSpec("user", tuple(tensors))
    except InfwidthError as exc:
        raise InfwidthError(f"cannot read the parameters as a network: {exc}") from None
    table = Table.from_json(derive(spec, optimizer, target=target, gauge="no-multipliers"))
    kinds = {t.name: t.kind for t in tensors}
    infos = [dataclasses.replace(i, kind=kinds.get(i.name, i.kind)) for i in infos]
    weights = [i for i in infos if i.kind != "frozen"]
    for row in table.tensors:
        if row.w("multiplier") != 0:
            raise InfwidthError(
                f"{target} needs a forward multiplier on {row.name!r} even in the no-multiplier "
                "gauge; a user model cannot be rescaled into it"
            )

    def factor(info: LeafInfo, key: str, default: float = 0.0) -> float:
        return info.ratio ** (float(table.row(info.name).w(key)) - default)

    lr_eps_wd = (
        {i.name: base * factor(i, key) for i in weights}
        for base, key in ((lr, "learning_rate"), (eps, "epsilon"), (weight_decay, "weight_decay"))
    )
    scal = Scaling(0, 0, 1, 1, {}, {}, *lr_eps_wd, {}, {})
    e_sp = {t.name: -float(t.fan_in_exponent) for t in tensors}
    flat, treedef = jax.tree_util.tree_flatten(params)
    rescaled = [
        leaf if i.kind == "frozen" else leaf * factor(i, "init_variance", e_sp[i.name]) ** 0.5
        for leaf, i in zip(flat, infos, strict=True)
    ]
    names = [i.name for i in infos]
    labels = jax.tree_util.tree_unflatten(treedef, names)

    def label_tree(tree: Any) -> Any:
        # The labels in the structure optax is handed: flax.nnx.Optimizer initialises on a
        # State of nnx.Param but updates on its pure-array form (nnx.as_pure). A callable,
        # always: an Equinox label tree is itself callable and optax would call it.
        td = jax.tree_util.tree_structure(tree)
        return jax.tree_util.tree_unflatten(td, names) if td.num_leaves == len(names) else labels

    still = [i.name for i in infos if i.kind == "frozen"]
    opt = table_optimizer(optimizer, scal, names, labels=label_tree, frozen=still)
    return Transfer(
        jax.tree_util.tree_unflatten(treedef, rescaled), opt, table, tuple(infos), labels
    )
