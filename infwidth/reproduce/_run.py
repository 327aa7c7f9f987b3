"""Run a reproduction: its sweeps into one store, then ``data.json``, ``verdict.json``,
``figure.png`` and the verdict table.

Contracts (issue 13)::

    verdict.json = {"id", "quick", "pass", "criteria": [{"name", "value", "threshold",
                    "pass", "rule"}], "wall_s", "peak_memory_gb", "computed", "cached",
                    "stand_in", "report"}
    data.json    = {"id", "quick", "config": {sweep name: SweepSpec.to_json()},
                    "points": [{"sweep", "target", "width", "depth", "log2_lr", "seed",
                                "loss", "diverged", "loss0", "final", "step", ...}]}

A point's ``loss`` is the sweep engine's metric (mean training loss over the last
``metric_fraction`` of its ``step`` steps), ``loss0`` the loss before training and ``final``
the last step's; a diverged point has ``loss = null``. Each reproduction adds the fields its
figure varies (``alpha``, ``epoch``). ``pass`` is the conjunction of the criteria, each
computed from the points: a run that comes out differently reports FAIL.
"""

from __future__ import annotations

import json
import math
import operator
import resource
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .._store import write_atomic
from ._registry import get

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


class Criterion(NamedTuple):
    """One verdict criterion: ``value`` compared with ``threshold`` by ``rule``
    (``"<="``, ``">="``, ``"<"``, ``">"``); a missing value (``None`` or NaN) fails."""

    name: str
    value: float | None
    threshold: float
    rule: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if value is not None and not math.isfinite(value):
            value = str(value)  # "inf": valid JSON, unlike Infinity
        return {"name": self.name, "value": value, "threshold": self.threshold,
                "pass": self.passed, "rule": self.rule}  # fmt: skip


def criterion(name: str, value: float | None, rule: str, threshold: float) -> Criterion:
    """A :class:`Criterion`, judged here (the one place a verdict is decided)."""
    ok = value is not None and not math.isnan(value) and _OPS[rule](value, threshold)
    return Criterion(name, None if value is None else float(value), threshold, rule, bool(ok))


class Sweep(NamedTuple):
    """One sweep of a reproduction: a name (the points' ``sweep`` field), the spec, and the
    extra fields every point of it carries (``{"alpha": ...}`` per target, ``{"epoch": e}``)."""

    name: str
    spec: Any  # infwidth.sweep.SweepSpec
    extra: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda r: {}


class Result(NamedTuple):
    """A finished reproduction: its verdict (``verdict.json``), data (``data.json``), the
    output folder, and how many points were computed now (the rest came from the store)."""

    verdict: dict[str, Any]
    data: dict[str, Any]
    out: Path
    computed: int


def peak_memory_gb() -> float:
    """This process's peak resident memory (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def reproduce(
    rid: str, *, quick: bool = False, out: str | Path | None = None, progress=None
) -> Result:
    """Run reproduction ``rid`` (:func:`infwidth.reproduce.get`) into ``out`` (default
    ``reproduce_out/ID[-quick]``): every sweep into ``out/store.sqlite`` (points already
    there are not recomputed), then the criteria, ``data.json``, ``verdict.json`` and
    ``figure.png``. ``progress``: the sweep engine's chunk callback."""
    from ..sweep import run_sweep

    mod = get(rid)
    out = Path(out) if out is not None else Path("reproduce_out") / (rid + "-quick" * quick)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    points: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    computed = cached = 0
    if hasattr(mod, "compute"):  # a measurement that is not a learning-rate sweep
        config, points, computed, cached = mod.compute(quick, out)
    for sweep in mod.sweeps(quick) if not hasattr(mod, "compute") else ():
        run = run_sweep(sweep.spec, store=str(out / "store.sqlite"), progress=progress)
        computed, cached = computed + run.computed, cached + run.cached
        config[sweep.name] = run.spec.to_json()
        for r in run.records:
            points.append({"sweep": sweep.name, **r, "step": run.spec.steps, **sweep.extra(r)})
    crits = mod.criteria(points, quick)
    data = {"id": rid, "quick": quick, "config": config, "points": points}
    verdict = {
        "id": rid,
        "quick": quick,
        "pass": all(c.passed for c in crits),
        "criteria": [c.to_json() for c in crits],
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_memory_gb": round(peak_memory_gb(), 3),
        "computed": computed,
        "cached": cached,
        "title": mod.TITLE,
        "stand_in": mod.STAND_IN,
        "report": mod.report(points),
    }
    write_atomic(out / "data.json", json.dumps(data, indent=1) + "\n")
    write_atomic(out / "verdict.json", json.dumps(verdict, indent=1) + "\n")
    mod.plot(points, out / "figure.png", quick)
    return Result(verdict, data, out, computed)


def verdict_table(verdict: Mapping[str, Any]) -> str:
    """The verdict as text: one line per criterion, then the overall PASS/FAIL."""
    rows = [("criterion", "value", "rule", "result")]
    for c in verdict["criteria"]:
        v = c["value"]
        v = "n/a" if v is None else v if isinstance(v, str) else f"{v:.4g}"
        rows.append(
            (c["name"], v, f"{c['rule']} {c['threshold']:g}", "PASS" if c["pass"] else "FAIL")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    mode = "quick" if verdict["quick"] else "full"
    lines.append(
        f"{verdict['id']} ({mode}): {'PASS' if verdict['pass'] else 'FAIL'} in "
        f"{verdict['wall_s']:.1f} s, peak {verdict['peak_memory_gb']:.2f} GiB, "
        f"{verdict['computed']} points computed, {verdict['cached']} from the store"
    )
    return "\n".join(lines)


# --- helpers shared by the reproductions -------------------------------------------------


def select(points: Iterable[Mapping[str, Any]], **match: Any) -> list[Mapping[str, Any]]:
    """The points whose fields equal ``match``."""
    return [p for p in points if all(p.get(k) == v for k, v in match.items())]


def optima(points: Sequence[Mapping[str, Any]], **match: Any) -> dict[str, Any]:
    """:func:`infwidth.sweep.analyse` of the matching points over their own log2-LR grid."""
    from ..sweep import analyse

    rows = select(points, **match)
    grid = sorted({float(p["log2_lr"]) for p in rows})
    return analyse(rows, grid, steps=rows[0]["step"] if rows else None)


def seed_curve(points: Sequence[Mapping[str, Any]], **match: Any) -> tuple[list, list, list]:
    """``(log2 LRs, seed-mean metric, diverged)`` of the matching points; a grid point where
    any seed diverged has metric ``inf`` and ``diverged`` True."""
    rows = select(points, **match)
    grid = sorted({float(p["log2_lr"]) for p in rows})
    mean, bad = [], []
    for x in grid:
        at = [p for p in rows if float(p["log2_lr"]) == x]
        div = any(p["diverged"] or p["loss"] is None for p in at)
        bad.append(div)
        mean.append(math.inf if div else sum(p["loss"] for p in at) / len(at))
    return grid, mean, bad
