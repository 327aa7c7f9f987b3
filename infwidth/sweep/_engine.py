"""Run a sweep: chunks of equal static shape, one compiled program per chunk shape.

Points of one width (and depth) share every array shape, so they form the chunks. Inside
the compiled program the learning rate, the seed (as an index into initial weights and
batch orders drawn outside) and every per-tensor number of the target's table (init
standard deviation, forward multiplier, learning-rate and epsilon scaling, from
:func:`infwidth.sim.scale_table`) are traced arguments (vmapped, or looped on CPU): one
compilation serves every target, learning rate and seed of a width. The scalar axes fold into the same numbers
(init std times the init-std multiplier, the readout's multiplier times the output
multiplier, per-tensor epsilon and weight decay times the point's base values), and the
schedule's per-step learning-rate factors are an argument too: none of them recompiles.
The ``transformer`` trains on token windows (:func:`~infwidth.sweep._data.token_windows`:
integer inputs and next-token targets, cross-entropy over every position), with heads of
fixed size ``head_dim`` (a constant logit scale ``1/head_dim``), optional global-norm
gradient clipping and Adam's ``b2`` as static settings; its LayerNorm gains start at ones.
A chunk is one width and one depth; a user's model (:mod:`infwidth.sweep._user`) gets
its per-leaf factors from :func:`infwidth.mup_transfer` the same way.

Each point trains the table's network (:func:`infwidth.sim.build_model`) with the table's
optimiser (:func:`infwidth.sim.table_optimizer`, per-tensor learning rates scaled by the base
rate :math:`\\eta = 2^{\\log_2\\eta}`) on minibatches for ``steps`` steps, and returns

* ``loss``: the mean training (minibatch) loss over the last ``metric_fraction`` of steps;
* ``loss0``, ``final``: the loss on the first batch before any update, and at the last step;
* whether it diverged (:mod:`infwidth._divergence`: a non-finite loss or output, or the
  output RMS grown beyond ``GROWTH_BOUND`` times its initial value, floored at 1). The
  program keeps the largest output RMS seen; the host applies the rule to it. A diverged
  point is stored with ``loss = None`` and never stops the sweep.

Initial weights are unit normals drawn with NumPy outside the program (a per-seed stream)
and scaled by the traced ``init_std`` inside it: no PRNG code in the hot program, whose
compile time it would dominate (``SWEEPS.md``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._divergence import grown_beyond
from ..errors import InfwidthError
from ..sim import Scaling, Table, build_model, scale_table, table_optimizer
from ..sim._model import mse
from ..sim._scaling import DEFAULT_DIMS, fan_size
from ._data import TrainData
from ._spec import SCALAR_AXES, Point, SweepSpec, lr_schedule
from ._user import leaf_factors, model_name, unit_params

_NUMBERS = ("init_std", "multiplier", "learning_rate", "epsilon", "weight_decay")


class _Static(NamedTuple):
    """What fixes the compiled program's structure (hashable)."""

    arch: str
    names: tuple[str, ...]
    d_in: int
    d_out: int
    width: int
    depth: int
    optimizer: str
    loss: str
    activation: str
    steps: int
    tail: int
    fans: tuple[tuple[str, int, int], ...] = ()
    user: Any = None  # (model, treedef) of a user's model
    head_dim: int = 0  # transformer: heads of this size
    clip: float = 0.0  # global-norm gradient clipping (0: off)
    b2: float = 0.999  # Adam's second-moment decay


def _spec_text(spec: SweepSpec) -> str | None:
    """The spec file's network, canonical JSON (what a point's key holds of it)."""
    if spec.spec_file is None:
        return None
    from .. import load_spec

    return json.dumps(load_spec(spec.spec_file).to_json(), sort_keys=True)


@functools.cache
def _cached_table(arch: str, optimizer: str, target: str, depth: int, spec_file, text) -> Table:
    if arch == "chain":
        from .. import derive, spec_from_dict

        return Table.from_json(derive(spec_from_dict(json.loads(text)), optimizer, target=target))
    kw = {"depth": depth} if arch == "mlp" else {}
    return Table.derive(arch, optimizer, target=target, **kw)


def _table(spec: SweepSpec, target: str, depth: int) -> Table:
    return _cached_table(spec.arch, spec.optimizer, target, depth, spec.spec_file, _spec_text(spec))


def _scaling(
    spec: SweepSpec, target: str, width: int, dims: Mapping[str, int], depth: int | None = None
) -> Scaling:
    """The target's numbers at ``width`` and ``depth`` with unit base lr, eps and decay."""
    depth = spec.depth if depth is None else depth
    return scale_table(
        _table(spec, target, depth), width=width, base_width=spec.resolved_base_width,
        depth=depth, base_depth=spec.resolved_base_depth, lr=1.0, eps=1.0, weight_decay=1.0,
        dims=dims,
    )  # fmt: skip


def _dims(arch: str, d_in: int, d_out: int, width: int, head_dim: int | None) -> dict[str, int]:
    """The network's finite dimensions: ``d_in``/``d_out``; for the transformer the
    vocabulary ``V`` (``d_out``), the context ``T`` (``d_in``, the block) and ``H`` heads."""
    if arch == "transformer":
        return {"V": d_out, "T": d_in, "H": width // int(head_dim or 1)}
    return {"d_in": d_in, "d_out": d_out}


def _loss_fn(kind: str, classes: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    if kind == "xent":
        return lambda f, y: optax.softmax_cross_entropy_with_integer_labels(f, y).mean()
    return lambda f, y: mse(f, jax.nn.one_hot(y, classes, dtype=f.dtype))


def _train(st: _Static, params, opt, loss, lr, x, y, order, sched):
    """Scan ``steps`` minibatch steps; the scalars every point returns (module docstring).
    ``loss(p, xb, yb) -> (value, output size)``."""

    def step(carry, inputs):
        idx, factor = inputs
        p, state = carry
        (value, size), g = jax.value_and_grad(loss, has_aux=True)(p, x[idx], y[idx])
        if st.clip:  # static: the mlp/resmlp programs are unchanged
            g, _ = optax.clip_by_global_norm(st.clip).update(g, optax.EmptyState())
        upd, state = opt.update(g, state, p)
        upd = jax.tree.map(lambda u: lr * factor * u, upd)
        return (optax.apply_updates(p, upd), state), (value, size)

    _, (losses, sizes) = jax.lax.scan(step, (params, opt.init(params)), (order, sched))
    return {
        "loss": jnp.mean(losses[-st.tail :]),
        "loss0": losses[0],
        "final": losses[-1],
        "size0": sizes[0],
        "size_max": jnp.max(sizes),  # NaN propagates: a non-finite run reads non-finite
        "finite": jnp.all(jnp.isfinite(losses)),
    }


def _point_program(st: _Static):
    """``(units, seed_idx, numbers, lr, x, y, batches, sched) -> scalars`` for one point."""
    if st.user is not None:
        return _user_program(st)
    loss_of = _loss_fn(st.loss, st.d_out)
    dims = _dims(st.arch, st.d_in, st.d_out, st.width, st.head_dim)
    fans = {name: (fi, fo) for name, fi, fo in st.fans}
    # heads of fixed size: the logits contract d_head, which does not grow with width, so
    # every target scales them by the same constant 1/d_head (nanoGPT-mup's choice)
    ops = {"block.attn_logits": 1.0 / st.head_dim} if st.head_dim else {}

    def one(units, seed_idx, numbers, lr, x, y, batches, sched):
        s = Scaling(st.width, 0, st.depth, 0, operation_multiplier=ops, **numbers)
        model = build_model(
            st.arch, s, names=st.names, dims=dims, activation=st.activation, fans=fans
        )
        params = {k: units[k][seed_idx] * numbers["init_std"][k] for k in units}
        opt = table_optimizer(st.optimizer, s, st.names, stacked=model.stacked, b2=st.b2)

        def loss(p, xb, yb):
            f, _ = model.apply(p, xb)
            return loss_of(f, yb), jnp.sqrt(jnp.mean(f**2))

        return _train(st, params, opt, loss, lr, x, y, batches[seed_idx], sched)

    return one


def _user_program(st: _Static):
    """A user's model (:mod:`infwidth.sweep._user`): leaves in ``tree_flatten`` order."""
    model, treedef = st.user
    names = st.names

    def one(units, seed_idx, numbers, lr, x, y, batches, sched):
        leaves = [u[seed_idx] * f for u, f in zip(units, numbers["init"], strict=True)]
        params = jax.tree_util.tree_unflatten(treedef, leaves)
        per = {k: dict(zip(names, numbers[k], strict=True)) for k in _NUMBERS[2:]}
        s = Scaling(st.width, 0, 1, 1, {}, {}, **per, branch_multiplier={},
                    operation_multiplier={})  # fmt: skip
        labels = jax.tree_util.tree_unflatten(treedef, list(names))
        opt = table_optimizer(st.optimizer, s, names, labels=labels)

        def loss(p, xb, yb):
            value = model.loss(p, (xb, yb))
            return value, jnp.sqrt(jnp.abs(value))  # a squared loss's size (_divergence)

        return _train(st, params, opt, loss, lr, x, y, batches[seed_idx], sched)

    return one


#: the chunk program's arguments: per point (0) or shared (None)
IN_AXES = (None, 0, 0, 0, None, None, None, None)


@functools.partial(jax.jit, static_argnames=("st", "sequential"))
def _chunk_program(
    units, seed_idx, numbers, lr, x, y, batches, sched, active, *, st: _Static, sequential: bool
):
    """All points of a chunk in one program, shapes shared: every per-point argument vmapped,
    or (``sequential``) the points one after the other in a ``lax.map`` loop that skips the
    padding (``active`` false), so that a chunk padded to any size costs its real points only.

    On CPU the loop is the faster of the two: a vmapped chunk multiplies batched matrices,
    which XLA's CPU backend runs at about half the rate of the plain products of one point
    (MNIST grid of ``bench_sweep.py``, 32 points, width 512: 80 against 46 GFLOP/s, width
    128: 72 against 43, measured in one run on loaded cores); accelerators keep the vmap."""
    one = _point_program(st)
    if not sequential:
        return jax.vmap(one, in_axes=IN_AXES)(units, seed_idx, numbers, lr, x, y, batches, sched)

    def point(args):
        *per, on = args

        def run():
            return one(units, *per, x, y, batches, sched)

        def skip():
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run))

        return jax.lax.cond(on, run, skip)

    return jax.lax.map(point, (seed_idx, numbers, lr, active))


def _unit_weights(
    shapes: Mapping[str, tuple[int, ...]], seeds: list[int], ones: frozenset[str] = frozenset()
) -> dict:
    """Unit normals per seed and tensor (NumPy PCG64 stream ``(seed, tensor index)``);
    the tensors in ``ones`` (LayerNorm gains, which start at their init std) are ones."""
    out = {}
    for i, name in enumerate(sorted(shapes)):
        if name in ones:
            out[name] = np.ones((len(seeds), *shapes[name]), np.float32)
            continue
        out[name] = np.stack(
            [
                np.random.default_rng([s, i, 0x5EED]).standard_normal(shapes[name], np.float32)
                for s in seeds
            ]
        )
    return out


def _batch_orders(n: int, batch: int, steps: int, seeds: list[int]) -> np.ndarray:
    """``(seeds, steps, batch)`` row indices: per seed, epochs of a fresh permutation."""
    per_epoch = n // batch
    epochs = math.ceil(steps / per_epoch)
    out = []
    for s in seeds:
        rng = np.random.default_rng([s, 0xBA7C])
        rows = np.concatenate([rng.permutation(n)[: per_epoch * batch] for _ in range(epochs)])
        out.append(rows[: steps * batch].reshape(steps, batch))
    return np.stack(out).astype(np.int32)


def point_config(spec: SweepSpec, p: Point, model: Any = None) -> dict[str, Any]:
    """Everything a point's numbers depend on (the spec without its axes, plus the point;
    a spec file's content, a user model's name)."""
    cfg = spec.to_json()
    for axis in ("targets", "widths", "log2_lrs", "seeds", "max_chunk", "max_memory_gb"):
        cfg.pop(axis)
    for axis in ("depths", "auto_extend", *SCALAR_AXES):
        cfg.pop(axis)
    cfg.update(p._asdict())
    # settings at their defaults are left out: a sweep without the newer axes and options
    # keeps the keys (and the stores) it had before they existed
    defaults = {"spec_file": None, "warmup_steps": 0, "schedule": "constant", "base_depth": p.depth}
    defaults.update(block=None, head_dim=None, grad_clip=0.0, adam_b2=0.999)
    defaults["lr_mults"] = {}
    defaults.update({field: value for field, value in SCALAR_AXES.values()})
    for name, value in defaults.items():
        if cfg.get(name) == value:
            cfg.pop(name)
    if spec.spec_file is not None:
        cfg["spec_file"] = hashlib.sha256(_spec_text(spec).encode()).hexdigest()
    if model is not None:
        cfg["arch"] = "user:" + model_name(model)
    elif spec.arch == "transformer":
        # the transformer's FFN nonlinearity is fixed (``activation`` does not apply); exact
        # GELU since 2026-12-07: points trained with the tanh approximation are not reused
        cfg.pop("activation", None)
        cfg["ffn"] = "gelu"
    return cfg


def point_bytes(
    spec: SweepSpec, width: int, d_in: int, d_out: int, *, depth: int | None = None,
    weights: int | None = None, layers: int | None = None,
) -> int:  # fmt: skip
    """Estimated bytes one point of a chunk holds at once (float32): its weights, gradients
    and optimiser state (SGD 3 copies of the weights, Adam 5) and one step's activations
    kept for the backward pass (4 numbers per unit and example). ``weights`` (number of
    trained numbers) and ``layers`` (width-sized activations per example) default to the
    MLP's with ``depth`` hidden layers."""
    depth = spec.depth if depth is None else depth
    if weights is None:
        weights = d_in * width + (depth - 1) * width**2 + width * d_out
    copies = 5 if spec.optimizer == "adam" else 3
    acts = 4 * spec.batch_size * (width * (depth if layers is None else layers) + d_out)
    return 4 * (copies * weights + acts)


def memory_budget(spec: SweepSpec) -> float:
    """Bytes a chunk may use: ``max_memory_gb``, else half the machine's memory."""
    if spec.max_memory_gb is not None:
        return spec.max_memory_gb * 1e9
    try:
        return 0.5 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 4e9


def _shapes(spec: SweepSpec, width: int, depth: int, dims: Mapping[str, int], model=None):
    """Parameter shapes of the network at ``width`` and ``depth`` (no arrays made)."""
    if model is not None:
        # called, not traced: a user's init may draw with NumPy
        tree = model.init(width, jax.random.PRNGKey(0))
        return {str(i): np.shape(leaf) for i, leaf in enumerate(jax.tree.leaves(tree))}
    probe = _build(spec, spec.targets[0], width, depth, dims)
    return {k: v.shape for k, v in jax.eval_shape(probe.init, jax.random.PRNGKey(0)).items()}


def _fans(spec: SweepSpec, table: Table, width: int, dims: Mapping[str, int]) -> tuple:
    if spec.arch != "chain":
        return ()
    d = {**DEFAULT_DIMS, **dims}
    return tuple(
        (t.name, fan_size(t.fan_in, width, d), fan_size(t.fan_out, width, d)) for t in table.tensors
    )


def _build(spec: SweepSpec, target: str, width: int, depth: int, dims: Mapping[str, int]):
    table = _table(spec, target, depth)
    fans = dict((n, (a, b)) for n, a, b in _fans(spec, table, width, dims))
    s = _scaling(spec, target, width, dims, depth)
    return build_model(spec.arch, s, names=table.names, dims=dims, activation=spec.activation,
                       fans=fans)  # fmt: skip


def _layers(spec: SweepSpec, depth: int, n_tensors: int) -> int:
    # transformer: per token and block about 20 width-sized activations (q, k, v, o, two
    # LayerNorms, the 4n FFN before and after GELU), times the block's tokens
    tokens = {"transformer": 20 * depth * (spec.block or 1)}
    return {"mlp": depth, "resmlp": 2 * depth + 1, **tokens}.get(spec.arch, n_tensors)


def chunks(spec: SweepSpec, d_in: int, d_out: int, model: Any = None) -> list[list[Point]]:
    """The points split into chunks of one width and depth, each at most ``max_chunk``
    points and within the memory budget, all chunks of a (width, depth) of equal size (the
    last one padded when run). Raises :class:`InfwidthError` when one point alone exceeds
    the budget."""
    budget = memory_budget(spec)
    out = []
    points = spec.points()
    for depth in sorted(spec.all_depths):
        for w in sorted(spec.widths):
            if spec.arch == "mlp" and model is None:
                need = point_bytes(spec, w, d_in, d_out, depth=depth)
            else:
                dims_w = _dims(spec.arch, d_in, d_out, w, spec.head_dim)
                shapes = _shapes(spec, w, depth, dims_w, model)
                weights = sum(math.prod(v) for v in shapes.values())
                layers = _layers(spec, depth, len(shapes))
                need = point_bytes(spec, w, d_in, d_out, weights=weights, layers=layers)
            cap = min(spec.max_chunk, int(budget // need))
            if cap < 1:
                raise InfwidthError(
                    f"a point at width {w} needs about {need / 1e9:.3g} GB, above the memory "
                    f"budget of {budget / 1e9:.3g} GB (max_memory_gb)"
                )
            pts = [p for p in points if p.width == w and p.depth == depth]
            n = math.ceil(len(pts) / cap)
            size = math.ceil(len(pts) / n)
            out += [pts[i : i + size] for i in range(0, len(pts), size)]
    return out


def _check_tables(spec: SweepSpec, depth: int | None = None) -> tuple[str, ...]:
    for d in spec.all_depths if depth is None else (depth,):
        names = {t: _table(spec, t, d).names for t in spec.targets}
        first = next(iter(names.values()))
        if any(n != first for n in names.values()):
            raise InfwidthError("the targets' tables name different tensors; sweep them separately")
        unknown = sorted(set(dict(spec.lr_mults)) - set(first))
        if unknown:
            raise InfwidthError(
                f"lr_mults names no tensor of the network: {', '.join(unknown)} "
                f"(tensors: {', '.join(first)})"
            )
    return first


def _point_numbers(spec: SweepSpec, points: list[Point], dims, names, outputs) -> dict:
    """Per point and tensor, the traced numbers: the table's at the point's width and depth
    times the point's scalar axes (init-std and output multiplier, base eps and decay)."""
    scalings = {
        t: _scaling(spec, t, points[0].width, dims, points[0].depth)
        for t in {p.target for p in points}
    }

    lr_mults = dict(spec.lr_mults)

    def value(p: Point, field: str, k: str) -> float:
        v = getattr(scalings[p.target], field)[k]
        if field == "learning_rate":
            return v * lr_mults.get(k, 1.0)
        if field == "init_std":
            return v * p.init_mult
        if field == "multiplier" and k in outputs:
            return v * p.output_mult
        return v * {"epsilon": p.eps, "weight_decay": p.weight_decay}.get(field, 1.0)

    numbers = {
        f: {k: np.asarray([value(p, f, k) for p in points], np.float32) for k in names}
        for f in _NUMBERS
    }
    branches = scalings[points[0].target].branch_multiplier
    numbers["branch_multiplier"] = {
        b: np.asarray([scalings[p.target].branch_multiplier[b] for p in points], np.float32)
        for b in branches
    }
    return numbers


def _user_numbers(spec: SweepSpec, points: list[Point], model: Any) -> tuple[tuple, dict]:
    if any(p.output_mult != 1.0 for p in points):
        raise InfwidthError("a user model has no output multiplier: drop output_mults")
    if spec.lr_mults:
        raise InfwidthError("a user model's tensors have no table names: drop lr_mults")
    w = points[0].width
    factors = {
        t: leaf_factors(model, spec.optimizer, t, w, spec.resolved_base_width)
        for t in {p.target for p in points}
    }
    names = next(iter(factors.values()))["names"]
    axis = {"init": "init_mult", "epsilon": "eps", "weight_decay": "weight_decay"}

    def column(k: str, i: int) -> np.ndarray:
        mult = [getattr(p, axis[k]) if k in axis else 1.0 for p in points]
        return np.asarray(
            [factors[p.target][k][i] * m for p, m in zip(points, mult, strict=True)], np.float32
        )

    keys = ("init", "learning_rate", "epsilon", "weight_decay")
    numbers = {k: [column(k, i) for i in range(len(names))] for k in keys}
    return names, numbers


def run_chunk(
    spec: SweepSpec,
    data: TrainData,
    points: list[Point],
    size: int,
    *,
    place: Callable[[tuple, tuple], tuple] | None = None,
    model: Any = None,
) -> list[dict[str, Any]]:
    """Train ``points`` (one width and depth) as one program padded to ``size`` points
    (on one CPU device: to at least ``max_chunk``); ``model``: a user's model
    (:mod:`infwidth.sweep._user`) instead of the spec's.

    ``place(args, IN_AXES)``: puts the program's arguments on devices (sharding)."""
    width, depth = points[0].width, points[0].depth
    dims = _dims(spec.arch, data.x.shape[1], data.classes, width, spec.head_dim)
    tail = max(1, round(spec.metric_fraction * spec.steps))
    # One device on CPU: the points in a loop (see _chunk_program), every chunk padded to
    # max_chunk points at no cost, so that one compiled program serves every chunk of a width
    # (a transfer's bracket rounds, an extended grid); sharded: vmapped, so that XLA
    # partitions the point axis over the devices.
    sequential = place is None and jax.default_backend() == "cpu"
    if sequential:
        size = max(size, spec.max_chunk)
    padded = points + [points[-1]] * (size - len(points))
    seeds = sorted({p.seed for p in points})
    if model is None:
        names = _check_tables(spec, depth)
        table = _table(spec, points[0].target, depth)
        probe = _build(spec, points[0].target, width, depth, dims)
        shapes = {k: v.shape for k, v in jax.eval_shape(probe.init, jax.random.PRNGKey(0)).items()}
        gains = {"block.ln1", "block.ln2", "ln_f"} if spec.arch == "transformer" else ()
        units = _unit_weights(shapes, seeds, frozenset(gains))
        numbers = _point_numbers(spec, padded, dims, names, probe.output_tensors)
        user = None
    else:
        names, numbers = _user_numbers(spec, padded, model)
        units, treedef = unit_params(model, width, seeds)
        user = (model, treedef)
    st = _Static(
        spec.arch, names, data.x.shape[1], data.classes, width, depth, spec.optimizer,
        spec.loss, spec.activation, spec.steps, tail,
        _fans(spec, table, width, dims) if model is None else (), user,
        spec.head_dim or 0, spec.grad_clip, spec.adam_b2,
    )  # fmt: skip
    batches = _batch_orders(len(data.x), spec.batch_size, spec.steps, seeds)
    sched = lr_schedule(spec.steps, spec.warmup_steps, spec.schedule)
    seed_idx = np.asarray([seeds.index(p.seed) for p in padded], np.int32)
    lr = np.asarray([2.0**p.log2_lr for p in padded], np.float32)
    args = (units, seed_idx, numbers, lr, data.x, data.labels, batches, sched)
    args = args if place is None else place(args, IN_AXES)
    active = np.arange(size) < len(points)
    out = _chunk_program(*args, active, st=st, sequential=sequential)
    out = {k: np.asarray(v, np.float64) for k, v in jax.device_get(out).items()}
    diverged = ~out["finite"].astype(bool) | grown_beyond(out["size_max"], out["size0"])
    diverged |= ~np.isfinite(out["loss"])
    records = []
    for i, p in enumerate(points):
        bad = bool(diverged[i])
        records.append(
            {
                **p._asdict(),
                "loss": None if bad else float(out["loss"][i]),
                "diverged": bad,
                "loss0": _finite(out["loss0"][i]),
                "final": None if bad else _finite(out["final"][i]),
            }
        )
    return records


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None
