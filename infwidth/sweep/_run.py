"""Run a sweep: every point of a spec not yet in the store, chunk by chunk, resumable.

:func:`run_sweep` keys each point (:func:`infwidth.sweep._db.point_key`), hands the chunks
with missing points to an executor (:mod:`infwidth.sweep._executors`, which trains each
with :func:`infwidth.sweep._engine.run_chunk`), writes each finished chunk to the store in
one transaction and, with ``auto_extend``, widens the grid off an edge optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..errors import InfwidthError
from ._analysis import analyse
from ._data import load_train_data
from ._db import SweepStore, point_key
from ._engine import _check_tables, chunks, point_config
from ._executors import Chunk, Executor, LocalExecutor
from ._spec import Point, SweepSpec
from ._user import check_model, model_name


class ChunkReport(NamedTuple):
    """Progress of one chunk: its width, how many points, how many computed, seconds, and
    where it ran (the executor's node id, ``None`` in this process; the device count); its
    depth and the sweep's number of points (which ``auto_extend`` may grow)."""

    index: int
    total: int
    width: int
    points: int
    computed: int
    seconds: float
    node: str | None = None
    devices: int = 1
    depth: int = 0
    sweep_points: int = 0


class SweepRun(NamedTuple):
    """A finished sweep: the spec, one record per point (grid order), and what was computed;
    ``extended``: how many times ``auto_extend`` widened the log2-LR grid (``spec`` holds
    the final grid); ``model``: a user model's name."""

    spec: SweepSpec
    records: list[dict[str, Any]]
    computed: int
    cached: int
    extended: int = 0
    model: str | None = None


def run_sweep(
    spec: SweepSpec,
    *,
    store: str | None = None,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    progress: Callable[[ChunkReport], None] | None = None,
    executor: Executor | None = None,
    model: Any = None,
) -> SweepRun:
    """Run every point of ``spec`` not already in ``store`` (a SQLite path; ``None``: keep
    results in memory), one transaction per chunk, and return all records.

    ``x``, ``labels``: the user's arrays when ``spec.data == "arrays"``.
    ``executor``: where chunks run (:mod:`._executors`; default this process, one device);
    whichever it is, this process alone writes the store, each chunk as it arrives.
    ``model``: a user's
    own model (``init(width, key)``, ``loss(params, batch)``; :mod:`infwidth.sweep._user`),
    scaled per target by :func:`infwidth.mup_transfer`, instead of the spec's network.
    ``progress`` is called with a :class:`ChunkReport` after each chunk (and, where it has
    one, its ``start(points, stored)`` before each pass over the grid). With ``spec.auto_extend``, a grid whose optimum lies on its edge is extended (two grid
    steps that way, at most ``auto_extend`` times; :func:`extend_grid`).
    """
    from .. import __version__

    if model is not None:
        check_model(model)
        if len(spec.all_depths) > 1:
            raise InfwidthError("a user model has no depth axis: drop depths")
    data = load_train_data(spec.data, spec.n_train, x=x, labels=labels, block=spec.block)
    if spec.batch_size > len(data.x):
        raise InfwidthError(
            f"batch_size {spec.batch_size} exceeds the {len(data.x)} training points"
        )
    if model is None:
        _check_tables(spec)
    computed, extended = 0, 0
    with SweepStore(store, __version__) as db:
        while True:
            records, n = _run_grid(spec, data, db, __version__, progress, executor, model)
            computed += n
            wider = extend_grid(spec, records) if extended < spec.auto_extend else None
            if wider is None:
                break
            spec, extended = wider, extended + 1
    name = None if model is None else model_name(model)
    return SweepRun(spec, records, computed, len(records) - computed, extended, name)


def _run_grid(spec, data, db, version, progress, executor, model) -> tuple[list[dict], int]:
    parts = chunks(spec, data.x.shape[1], data.classes, model)
    computed = 0
    keys: dict[Point, str] = {}
    for p in spec.points():
        keys[p] = point_key(version, data.fingerprint, point_config(spec, p, model))
    if hasattr(progress, "start"):
        progress.start(len(keys), len(db.present(keys.values())))

    def report(i: int, computed: int, seconds: float, node=None, devices: int = 1) -> None:
        if progress is not None:
            c = parts[i][0]
            progress(
                ChunkReport(i, len(parts), c.width, len(parts[i]), computed, seconds, node,
                            devices, c.depth, len(keys))
            )  # fmt: skip

    tasks = []
    for i, chunk in enumerate(parts):
        stored = db.present(keys[p] for p in chunk)
        todo = tuple(p for p in chunk if keys[p] not in stored)
        if todo:
            size = max(len(c) for c in parts if c[0][1:3] == chunk[0][1:3])
            tasks.append(Chunk(i, todo, size))
        else:
            report(i, 0, 0.0)
    for done in (executor or LocalExecutor()).run(spec, data, tasks, model=model):
        todo = done.chunk.points
        db.write(
            {**r, "key": keys[p], "config": point_config(spec, p, model)}
            for p, r in zip(todo, done.records, strict=True)
        )
        computed += len(todo)
        report(done.chunk.index, len(todo), done.seconds, done.node, done.devices)
    rows = db.rows(keys.values())
    records = []
    for p in spec.points():
        r = rows[keys[p]]
        r["diverged"] = bool(r["diverged"])
        records.append({**p._asdict(), **{k: r[k] for k in ("loss", "diverged", "loss0", "final")}})
    return records, computed


def extend_grid(spec: SweepSpec, records: list[dict[str, Any]]) -> SweepSpec | None:
    """``spec`` with two more grid steps below (above) its log2-LR grid when some optimum
    lies on the grid's lower (upper) edge; ``None`` when none does."""
    grid = spec.log2_lrs
    step = grid[1] - grid[0] if len(grid) > 1 else 1.0
    edges = {o["log2_lr"] for o in analyse(records, grid)["optima"] if o["on_edge"]}
    lo = [round(grid[0] - k * step, 10) for k in (2, 1)] if grid[0] in edges else []
    hi = [round(grid[-1] + k * step, 10) for k in (1, 2)] if grid[-1] in edges else []
    if not lo and not hi:
        return None
    return spec.replace(log2_lrs=(*lo, *grid, *hi))
