"""Run a sweep: chunks of equal static shape, one compiled program per chunk shape.

Points of one width (and depth) share every array shape, so they form the chunks. Inside
the compiled program the learning rate, the seed (as an index into initial weights and
batch orders drawn outside) and every per-tensor number of the target's table (init
standard deviation, forward multiplier, learning-rate and epsilon scaling, from
:func:`infwidth.sim.scale_table`) are traced, vmapped arguments: one compilation serves every
target, learning rate and seed of a width.

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
from ._data import TrainData, load_train_data
from ._db import SweepStore, point_key
from ._executors import Chunk, Executor, LocalExecutor
from ._spec import Point, SweepSpec

_NUMBERS = ("init_std", "multiplier", "learning_rate", "epsilon")


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


class ChunkReport(NamedTuple):
    """Progress of one chunk: its width, how many points, how many computed, seconds, and
    where it ran (the executor's node id, ``None`` in this process; the device count)."""

    index: int
    total: int
    width: int
    points: int
    computed: int
    seconds: float
    node: str | None = None
    devices: int = 1


class SweepRun(NamedTuple):
    """A finished sweep: the spec, one record per point (grid order), and what was computed."""

    spec: SweepSpec
    records: list[dict[str, Any]]
    computed: int
    cached: int


@functools.cache
def _table(arch: str, optimizer: str, target: str, depth: int) -> Table:
    return Table.derive(arch, optimizer, target=target, depth=depth)


def _scaling(spec: SweepSpec, target: str, width: int, dims: Mapping[str, int]) -> Scaling:
    table = _table(spec.arch, spec.optimizer, target, spec.depth)
    return scale_table(
        table, width=width, base_width=spec.resolved_base_width, depth=spec.depth, lr=1.0,
        dims=dims,
    )  # fmt: skip


def _loss_fn(kind: str, classes: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    if kind == "xent":
        return lambda f, y: optax.softmax_cross_entropy_with_integer_labels(f, y).mean()
    return lambda f, y: mse(f, jax.nn.one_hot(y, classes, dtype=f.dtype))


def _point_program(st: _Static):
    """``(units, seed_idx, numbers, lr, x, y, batches) -> scalars`` for one point."""
    loss_of = _loss_fn(st.loss, st.d_out)
    dims = {"d_in": st.d_in, "d_out": st.d_out}

    def one(units, seed_idx, numbers, lr, x, y, batches):
        s = Scaling(
            st.width, 0, st.depth, 0, weight_decay=dict.fromkeys(st.names, 0.0),
            branch_multiplier={}, operation_multiplier={}, **numbers,
        )  # fmt: skip
        model = build_model(st.arch, s, names=st.names, dims=dims, activation=st.activation)
        params = {k: units[k][seed_idx] * numbers["init_std"][k] for k in units}
        opt = table_optimizer(st.optimizer, s, st.names, stacked=model.stacked)
        order = batches[seed_idx]

        def loss(p, xb, yb):
            f, _ = model.apply(p, xb)
            return loss_of(f, yb), jnp.sqrt(jnp.mean(f**2))

        def step(carry, idx):
            p, state = carry
            (value, size), g = jax.value_and_grad(loss, has_aux=True)(p, x[idx], y[idx])
            upd, state = opt.update(g, state, p)
            upd = jax.tree.map(lambda u: lr * u, upd)
            return (optax.apply_updates(p, upd), state), (value, size)

        _, (losses, sizes) = jax.lax.scan(step, (params, opt.init(params)), order)
        return {
            "loss": jnp.mean(losses[-st.tail :]),
            "loss0": losses[0],
            "final": losses[-1],
            "size0": sizes[0],
            "size_max": jnp.max(sizes),  # NaN propagates: a non-finite run reads non-finite
            "finite": jnp.all(jnp.isfinite(losses)),
        }

    return one


#: the chunk program's arguments: per point (0) or shared (None)
IN_AXES = (None, 0, 0, 0, None, None, None)


@functools.partial(jax.jit, static_argnames=("st",))
def _chunk_program(units, seed_idx, numbers, lr, x, y, batches, *, st: _Static):
    """All points of a chunk at once: every per-point argument vmapped, shapes shared."""
    one = _point_program(st)
    return jax.vmap(one, in_axes=IN_AXES)(units, seed_idx, numbers, lr, x, y, batches)


def _unit_weights(shapes: Mapping[str, tuple[int, ...]], seeds: list[int]) -> dict:
    """Unit normals per seed and tensor (NumPy PCG64 stream ``(seed, tensor index)``)."""
    out = {}
    for i, name in enumerate(sorted(shapes)):
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


def point_config(spec: SweepSpec, p: Point) -> dict[str, Any]:
    """Everything a point's numbers depend on (the spec without its axes, plus the point)."""
    cfg = spec.to_json()
    for axis in ("targets", "widths", "log2_lrs", "seeds", "max_chunk", "max_memory_gb"):
        cfg.pop(axis)
    cfg.update(target=p.target, width=p.width, depth=p.depth, log2_lr=p.log2_lr, seed=p.seed)
    return cfg


def point_bytes(spec: SweepSpec, width: int, d_in: int, d_out: int) -> int:
    """Estimated bytes one point of a chunk holds at once (float32): its weights, gradients
    and optimiser state (SGD 3 copies of the weights, Adam 5) and one step's activations
    kept for the backward pass (4 numbers per unit and example)."""
    weights = d_in * width + (spec.depth - 1) * width**2 + width * d_out
    copies = 5 if spec.optimizer == "adam" else 3
    acts = 4 * spec.batch_size * (width * spec.depth + d_out)
    return 4 * (copies * weights + acts)


def memory_budget(spec: SweepSpec) -> float:
    """Bytes a chunk may use: ``max_memory_gb``, else half the machine's memory."""
    if spec.max_memory_gb is not None:
        return spec.max_memory_gb * 1e9
    try:
        return 0.5 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 4e9


def chunks(spec: SweepSpec, d_in: int, d_out: int) -> list[list[Point]]:
    """The points split into chunks of one width, each at most ``max_chunk`` points and
    within the memory budget, all chunks of a width of equal size (the last one padded when
    run). Raises :class:`InfwidthError` when one point alone exceeds the budget."""
    budget = memory_budget(spec)
    out = []
    for w in sorted(spec.widths):
        need = point_bytes(spec, w, d_in, d_out)
        cap = min(spec.max_chunk, int(budget // need))
        if cap < 1:
            raise InfwidthError(
                f"a point at width {w} needs about {need / 1e9:.3g} GB, above the memory "
                f"budget of {budget / 1e9:.3g} GB (max_memory_gb)"
            )
        pts = [p for p in spec.points() if p.width == w]
        n = math.ceil(len(pts) / cap)
        size = math.ceil(len(pts) / n)
        out += [pts[i : i + size] for i in range(0, len(pts), size)]
    return out


def _check_tables(spec: SweepSpec) -> tuple[str, ...]:
    names = {t: _table(spec.arch, spec.optimizer, t, spec.depth).names for t in spec.targets}
    first = next(iter(names.values()))
    if any(n != first for n in names.values()):
        raise InfwidthError("the targets' tables name different tensors; sweep them separately")
    return first


def run_chunk(
    spec: SweepSpec,
    data: TrainData,
    points: list[Point],
    size: int,
    *,
    place: Callable[[tuple, tuple], tuple] | None = None,
) -> list[dict[str, Any]]:
    """Train ``points`` (one width) as one vmapped program padded to ``size`` points.

    ``place(args, IN_AXES)``: puts the program's arguments on devices (sharding)."""
    width = points[0].width
    names = _check_tables(spec)
    dims = {"d_in": data.x.shape[1], "d_out": data.classes}
    st = _Static(
        spec.arch, names, dims["d_in"], dims["d_out"], width, spec.depth, spec.optimizer,
        spec.loss, spec.activation, spec.steps, max(1, round(spec.metric_fraction * spec.steps)),
    )  # fmt: skip
    padded = points + [points[-1]] * (size - len(points))
    scalings = {t: _scaling(spec, t, width, dims) for t in {p.target for p in points}}
    probe = build_model(spec.arch, next(iter(scalings.values())), names=names, dims=dims)
    shapes = {k: v.shape for k, v in jax.eval_shape(probe.init, jax.random.PRNGKey(0)).items()}
    seeds = sorted({p.seed for p in points})
    units = _unit_weights(shapes, seeds)
    batches = _batch_orders(len(data.x), spec.batch_size, spec.steps, seeds)
    numbers = {
        f: {
            k: np.asarray([getattr(scalings[p.target], f)[k] for p in padded], np.float32)
            for k in names
        }
        for f in _NUMBERS
    }
    seed_idx = np.asarray([seeds.index(p.seed) for p in padded], np.int32)
    lr = np.asarray([2.0**p.log2_lr for p in padded], np.float32)
    args = (units, seed_idx, numbers, lr, data.x, data.labels, batches)
    out = _chunk_program(*(args if place is None else place(args, IN_AXES)), st=st)
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


def run_sweep(
    spec: SweepSpec,
    *,
    store: str | None = None,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    progress: Callable[[ChunkReport], None] | None = None,
    executor: Executor | None = None,
) -> SweepRun:
    """Run every point of ``spec`` not already in ``store`` (a SQLite path; ``None``: keep
    results in memory), one transaction per chunk, and return all records.

    ``x``, ``labels``: the user's arrays when ``spec.data == "arrays"``.
    ``executor``: where chunks run (:mod:`._executors`; default this process, one device);
    whichever it is, this process alone writes the store, each chunk as it arrives.
    """
    from .. import __version__

    data = load_train_data(spec.data, spec.n_train, x=x, labels=labels)
    if spec.batch_size > len(data.x):
        raise InfwidthError(
            f"batch_size {spec.batch_size} exceeds the {len(data.x)} training points"
        )
    _check_tables(spec)
    parts = chunks(spec, data.x.shape[1], data.classes)
    computed = 0
    with SweepStore(store, __version__) as db:
        keys: dict[Point, str] = {}
        for p in spec.points():
            keys[p] = point_key(__version__, data.fingerprint, point_config(spec, p))
        tasks = []
        for i, chunk in enumerate(parts):
            stored = db.present(keys[p] for p in chunk)
            todo = tuple(p for p in chunk if keys[p] not in stored)
            if todo:
                size = max(len(c) for c in parts if c[0].width == chunk[0].width)
                tasks.append(Chunk(i, todo, size))
            elif progress is not None:
                progress(ChunkReport(i, len(parts), chunk[0].width, len(chunk), 0, 0.0))
        for done in (executor or LocalExecutor()).run(spec, data, tasks):
            todo = done.chunk.points
            db.write(
                {**r, "key": keys[p], "config": point_config(spec, p)}
                for p, r in zip(todo, done.records, strict=True)
            )
            computed += len(todo)
            if progress is not None:
                i = done.chunk.index
                progress(
                    ChunkReport(i, len(parts), todo[0].width, len(parts[i]), len(todo),
                                done.seconds, done.node, done.devices)
                )  # fmt: skip
        rows = db.rows(keys.values())
    records = []
    for p in spec.points():
        r = rows[keys[p]]
        r["diverged"] = bool(r["diverged"])
        records.append({**p._asdict(), **{k: r[k] for k in ("loss", "diverged", "loss0", "final")}})
    return SweepRun(spec, records, computed, len(records) - computed)
