"""``sweep.json`` (every number plotted) and ``sweep.png`` (the field's figure); :func:`write_sweep`
runs a sweep on the named executor and writes both (what ``infwidth sweep`` runs)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._store import write_atomic
from ._analysis import TOLERANCE, analyse, group_of, label, seed_mean
from ._run import ChunkReport, SweepRun, run_sweep
from ._spec import SweepSpec


def sweep_json(run: SweepRun, *, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The contract of ``sweep.json``: config, points, optima, transfer."""
    spec = run.spec
    result = analyse(run.records, spec.log2_lrs, tolerance=tolerance, steps=spec.steps)
    keys = ("target", "width", "depth", *spec.varying(), "log2_lr", "seed", "loss", "diverged")
    points = [{k: r[k] for k in dict.fromkeys(keys)} for r in run.records]
    config = spec.to_json()
    if run.model is not None:
        config["arch"] = f"user:{run.model}"
    return {"config": config, "points": points, **result}


def plot(doc: dict[str, Any], path: Path) -> None:
    """Loss vs log2 LR: a panel per target, a curve per width, seed spread shaded, optimum
    marked (hollow marker: on the grid's edge), diverged grid points marked with x."""
    from .._figure import save_png, subplots

    cfg = doc["config"]
    grid = np.asarray(cfg["log2_lrs"], float)
    widths = sorted(cfg["widths"])
    curves = seed_mean(doc["points"], grid)
    panels = list(dict.fromkeys((g[0], g[2], *g[3:]) for g in curves))
    several = len({p[1] for p in panels}) > 1
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig, axes = subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, panel in zip(axes.flat[: len(panels)], panels, strict=True):
        target, depth, extras = panel[0], panel[1], panel[2:]
        name = label(target, depth if several else None, extras)
        for c, width in enumerate(widths):
            group = (target, width, depth, *extras)
            if group not in curves:
                continue
            color = f"C{c % 10}"
            mean = curves[group][0]
            runs = np.full((cfg["seeds"], len(grid)), np.nan)
            for p in doc["points"]:
                if group_of(p) == group and p["loss"] is not None:
                    runs[p["seed"], list(grid).index(p["log2_lr"])] = p["loss"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanmin(runs, 0), np.nanmax(runs, 0)
            shown = np.where(np.isfinite(mean), mean, np.nan)
            ax.plot(grid, shown, "o-", ms=3, color=color, label=f"n={width}")
            ax.fill_between(grid, lo, hi, color=color, alpha=0.15, lw=0)
            bad = ~np.isfinite(mean)
            if bad.any():
                top = np.nanmax(np.where(np.isfinite(mean), mean, np.nan)) if (~bad).any() else 1
                ax.plot(grid[bad], np.full(bad.sum(), top), "x", color=color, ms=6)
            opt = next(o for o in doc["optima"] if group_of(o) == group)
            if opt["log2_lr"] is not None:
                face = "none" if opt["on_edge"] else color
                ax.plot([opt["log2_lr"]], [opt["loss"]], "*", ms=12, mfc=face, mec=color)
        t = doc["transfer"].get(name, {})
        shift = t.get("shift_octaves")
        extra = f"shift {shift:+.2f} oct, {t['verdict']}" if shift is not None else t.get("verdict")
        ax.set(xlabel="log2 base learning rate", yscale="log")
        ax.set_title(f"{name}: {extra}", fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"training loss ({cfg['loss']}), {cfg['steps']} steps")
    save_png(fig, path)


def write(
    doc: dict[str, Any],
    out: str | Path,
    *,
    plot_png: bool = True,
    name: str = "sweep",
    plotter: Callable[[dict[str, Any], Path], None] = plot,
) -> list[Path]:
    """Write ``doc`` (:func:`sweep_json`) as ``out/NAME.json`` and its figure (``plotter``)
    as ``out/NAME.png``; returns the paths written."""
    out = Path(out)
    paths = [write_atomic(out / f"{name}.json", json.dumps(doc, indent=1) + "\n")]
    if plot_png:
        plotter(doc, out / f"{name}.png")
        paths.append(out / f"{name}.png")
    return paths


def write_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    store: str | Path | None = None,
    tolerance: float = TOLERANCE,
    plot_png: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    devices: int | None = None,
    progress: Callable[[ChunkReport], None] | None = None,
) -> tuple[SweepRun, dict[str, Any], list[Path]]:
    """Run ``spec`` (:func:`run_sweep`) into ``store`` (default ``out/sweep.sqlite``) on
    ``executor``: ``"local"`` (this process; sharded over ``devices`` local devices when
    given) or ``"ray"`` (a cluster at ``ray_address``, default a local one, closed after);
    then write ``sweep.json`` and ``sweep.png`` (:func:`write`). Returns the run, the
    document and the paths written."""
    from ._executors import RayExecutor, ShardedExecutor

    out = Path(out)
    store = str(store if store else out / "sweep.sqlite")
    if executor == "ray":
        with RayExecutor(ray_address) as ex:
            run = run_sweep(spec, store=store, progress=progress, executor=ex)
    else:
        ex = ShardedExecutor(devices) if devices is not None else None
        run = run_sweep(spec, store=store, progress=progress, executor=ex)
    doc = sweep_json(run, tolerance=tolerance)
    return run, doc, write(doc, out, plot_png=plot_png)
