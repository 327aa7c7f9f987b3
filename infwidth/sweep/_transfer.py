"""``infwidth transfer``: did the optimal learning rate found at the base width hold at the
target widths? A full log2-LR grid at the base width, a small bracket at each target width.

muTransfer's claim is about one number per width, the optimum :math:`x^*(n)` of the metric in
:math:`x = \\log_2\\eta`. The question needs a dense grid only where the optimum is unknown:

1. **Base width** :math:`n_0`: every grid point (:func:`~infwidth.sweep.run_sweep`), and the
   optimum :math:`x^*(n_0)` per target (:func:`~infwidth.sweep.analyse`).
2. **Prediction** at a target width :math:`n`: a learning rate scales every update linearly,
   so a target whose hidden features move like :math:`n^{-r}` in training (the derived
   ``r_per_tensor`` of its hidden tensors, :func:`lr_exponent`) moves them by
   :math:`\\Theta(1)` -- as at :math:`n_0`, where every target is the same network -- at
   :math:`\\eta \\propto n^{r}`:

   .. math:: \\hat x(n) = x^*(n_0) + r\\,\\log_2(n / n_0).

   muP has :math:`r = 0` (the same log2 LR); SP under SGD has :math:`r = -1` (the optimum
   falls one octave per doubling of the width); NTP :math:`r = 1/2`.
3. **Bracket**: ``bracket`` grid-spaced learning rates centred on the grid point nearest
   :math:`\\hat x(n)`. When the bracket's optimum lies on its edge (or every point
   diverged) the bracket is extended by one point on that side, at most
   ``max_extensions`` times.
4. **Verdict** per target, the rule of :func:`~infwidth.sweep.analyse`: ``transfers`` when the
   optima of all widths lie within ``tolerance`` octaves, ``does not transfer`` beyond it,
   ``inconclusive`` when an optimum is on an edge or missing; at the sweep's horizon only.

Every point goes through the same store and keys as ``infwidth sweep``: a later full sweep
reuses them. The compute is reported against a full grid at the target widths: points, and
seconds (measured when ``compare_full``, which runs that grid into an in-memory store and
reports its optima; otherwise estimated from the bracket's seconds per point).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InfwidthError
from ._analysis import TOLERANCE, analyse, judge
from ._engine import _cached_table, _table
from ._run import ChunkReport, run_sweep
from ._spec import SweepSpec

#: learning rates in a target width's first bracket
BRACKET = 3
#: points added on the edge side per extension, and the most extensions per width
EXTEND_BY, MAX_EXTENSIONS = 1, 4


def lr_exponent(arch: str, optimizer: str, target: str, depth: int) -> Fraction:
    """:math:`r` such that the target's optimal base learning rate scales like :math:`n^r`:
    the smallest derived training exponent ``r_per_tensor`` of its hidden tensors (of every
    trained tensor when there is no hidden one). muP: 0; SP (SGD): -1; NTP: 1/2."""
    return _training_exponent(_cached_table(arch, optimizer, target, depth, None, None), target)


def _training_exponent(table: Any, target: str) -> Fraction:
    per_tensor = (table.regime or {}).get("r_per_tensor") or {}
    hidden = [t.name for t in table.tensors if t.kind == "hidden" and t.name in per_tensor]
    names = hidden or list(per_tensor)
    if not names:
        raise InfwidthError(
            f"the table of {target!r} derives no training exponent r: cannot predict its optimum"
        )
    return min(Fraction(str(per_tensor[n])) for n in names)


def grid_step(grid: Sequence[float]) -> float:
    """The spacing of a uniform log2-LR grid (:class:`InfwidthError` if it is not uniform)."""
    if len(grid) < 3:
        raise InfwidthError("transfer needs a base log2-LR grid of at least 3 points")
    steps = np.diff(np.asarray(grid, float))
    if not np.allclose(steps, steps[0], atol=1e-9):
        raise InfwidthError(f"transfer needs a uniformly spaced log2-LR grid, got {list(grid)}")
    return float(steps[0])


def bracket_around(predicted: float, grid: Sequence[float], size: int = BRACKET) -> list[float]:
    """``size`` learning rates on the grid's lattice (its first point plus multiples of its
    step, beyond its ends if need be), centred on the lattice point nearest ``predicted``."""
    step = grid_step(grid)
    centre = round((predicted - grid[0]) / step)
    first = centre - size // 2
    return [round(grid[0] + (first + j) * step, 10) for j in range(size)]


def _optimum(records: list[dict], lrs: Sequence[float], tolerance: float, steps: int) -> dict:
    """The optimum row of one target and width, analysed on its own measured learning rates."""
    return analyse(records, sorted(lrs), tolerance=tolerance, steps=steps)["optima"][0]


def _timed_run(spec: SweepSpec, store, progress, **data) -> tuple[list[dict], int, float]:
    t0 = time.perf_counter()
    run = run_sweep(spec, store=store, progress=progress, **data)
    return run.records, run.computed, time.perf_counter() - t0


def run_transfer(
    spec: SweepSpec,
    target_widths: Sequence[int],
    *,
    bracket: int = BRACKET,
    tolerance: float = TOLERANCE,
    store: str | None = None,
    compare_full: bool = False,
    progress: Callable[[ChunkReport], None] | None = None,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``transfer.json`` document (module docstring): ``spec`` gives the network, data,
    horizon, targets, seeds and the base grid ``log2_lrs``; its ``base_width`` (default:
    the smallest of ``spec.widths``) is swept densely, ``target_widths`` by brackets."""
    if not isinstance(bracket, int) or isinstance(bracket, bool) or bracket < 3:
        raise InfwidthError(f"the bracket needs at least 3 learning rates, got {bracket!r}")
    if not tolerance > 0:
        raise InfwidthError(f"the tolerance must be positive, got {tolerance}")
    base = spec.resolved_base_width
    targets_w = sorted({int(w) for w in target_widths})
    if not targets_w or min(targets_w) < 1 or base in targets_w:
        raise InfwidthError(
            f"target widths must be positive and differ from the base width {base}, "
            f"got {list(target_widths)}"
        )
    grid = list(spec.log2_lrs)
    step = grid_step(grid)
    spec = spec.replace(widths=(base, *targets_w), base_width=base)
    data = {"x": x, "labels": labels}

    def sub(target: str, width: int, lrs: Sequence[float]) -> SweepSpec:
        return spec.replace(targets=(target,), widths=(width,), log2_lrs=tuple(sorted(lrs)))

    # 1. the full grid at the base width
    base_spec = spec.replace(widths=(base,))
    base_records, base_computed, base_seconds = _timed_run(base_spec, store, progress, **data)
    records = list(base_records)
    rows: dict[str, list[dict]] = {}
    exponents = {t: _training_exponent(_table(spec, t, spec.depth), t) for t in spec.targets}
    for t in spec.targets:
        mine = [r for r in base_records if r["target"] == t]
        rows[t] = [
            {**_optimum(mine, grid, tolerance, spec.steps), "predicted_log2_lr": None,
             "log2_lrs": grid, "extensions": 0}
        ]  # fmt: skip

    # 2-3. a bracket around the predicted optimum at every target width, extended off edges
    bracket_points = bracket_computed = 0
    bracket_seconds = 0.0
    for width in targets_w:
        for t in spec.targets:
            x0 = rows[t][0]["log2_lr"]
            if x0 is None:
                raise InfwidthError(f"every point of {t} diverged at the base width {base}")
            predicted = x0 + float(exponents[t]) * math.log2(width / base)
            lrs = bracket_around(predicted, grid, bracket)
            todo, mine, extensions = list(lrs), [], 0
            while todo:
                got, computed, seconds = _timed_run(sub(t, width, todo), store, progress, **data)
                mine += got
                bracket_points += len(got)
                bracket_computed += computed
                bracket_seconds += seconds
                opt = _optimum(mine, lrs, tolerance, spec.steps)
                todo = []
                if (opt["on_edge"] or opt["log2_lr"] is None) and extensions < MAX_EXTENSIONS:
                    extensions += 1
                    low = opt["log2_lr"] is None or opt["log2_lr"] == min(lrs)
                    side = min(lrs) if low else max(lrs)
                    sign = -1 if low else 1
                    todo = [round(side + sign * (k + 1) * step, 10) for k in range(EXTEND_BY)]
                    lrs = sorted(lrs + todo)
            records += mine
            rows[t].append(
                {**opt, "predicted_log2_lr": predicted, "log2_lrs": lrs, "extensions": extensions}
            )

    # 4. verdict per target, and the compute against a full grid at the target widths
    transfer = {t: _verdict(rows[t], tolerance, spec.steps, exponents[t], base) for t in rows}
    full_points = len(spec.targets) * len(grid) * spec.seeds * len(targets_w)
    per_point = bracket_seconds / bracket_computed if bracket_computed else None
    compute = {
        "base": {"points": len(base_records), "computed": base_computed,
                 "seconds": base_seconds},
        "bracket": {"points": bracket_points, "computed": bracket_computed,
                    "seconds": bracket_seconds},
        "full_grid": {"points": full_points, "seconds": None,
                      "seconds_estimated": None if per_point is None else per_point * full_points},
        "points_saved": full_points - bracket_points,  # at the target widths
        "points_ratio": full_points / bracket_points,
    }  # fmt: skip
    doc: dict[str, Any] = {
        "config": {**spec.to_json(), "base_width": base, "target_widths": targets_w,
                   "bracket": bracket, "tolerance": tolerance},
        "optima": [
            {"target": t, **{k: v for k, v in r.items() if k not in ("target", "depth")}}
            for t in rows for r in rows[t]
        ],
        "transfer": transfer,
        "compute": compute,
        "points": [
            {k: r[k] for k in ("target", "width", "depth", "log2_lr", "seed", "loss", "diverged")}
            for r in records
        ],
    }  # fmt: skip
    if compare_full:
        doc["full_grid"] = _full_grid(spec, targets_w, rows, tolerance, progress, data)
        compute["full_grid"]["seconds"] = doc["full_grid"]["seconds"]
    # the transfer's whole cost (base grid + brackets) against the full grid at the targets
    seconds = compute["full_grid"]["seconds"] or compute["full_grid"]["seconds_estimated"]
    spent = compute["seconds"] = base_seconds + bracket_seconds
    compute["seconds_ratio"] = None if not (seconds and spent) else seconds / spent
    return doc


def _verdict(rows: list[dict], tolerance: float, steps: int, r: Fraction, base: int) -> dict:
    """Shift, spread and verdict over ``rows`` (base width first), as in
    :func:`~infwidth.sweep.analyse`; plus the predicted shift and its error."""
    shift, spread, verdict = judge(rows, tolerance)
    predicted = float(r) * math.log2(rows[-1]["width"] / base)
    return {
        "shift_octaves": shift,
        "spread_octaves": spread,
        "verdict": verdict,
        "tolerance_octaves": tolerance,
        "lr_exponent": str(r),
        "predicted_shift_octaves": predicted,
        "prediction_error_octaves": None if shift is None else shift - predicted,
        "widths": [o["width"] for o in rows],
        "on_edge_widths": [o["width"] for o in rows if o["on_edge"]],
        "steps": steps,
    }


def _full_grid(spec, widths, rows, tolerance, progress, data) -> dict:
    """The full grid at the target widths (in-memory store, timed) and whether its optima
    agree with the brackets' within half a grid step."""
    records, _, seconds = _timed_run(spec.replace(widths=tuple(widths)), None, progress, **data)
    result = analyse(records, spec.log2_lrs, tolerance=tolerance, steps=spec.steps)
    half = grid_step(spec.log2_lrs) / 2
    agree = True
    for o in result["optima"]:
        mine = next(r for r in rows[o["target"]] if r["width"] == o["width"])
        if o["log2_lr"] is None or mine["log2_lr"] is None or o["on_edge"]:
            agree = agree and o["log2_lr"] == mine["log2_lr"]
        else:
            agree = agree and abs(o["log2_lr"] - mine["log2_lr"]) <= half + 1e-9
    keys = ("target", "width", "log2_lr", "on_edge")
    return {
        "points": len(records),
        "seconds": seconds,
        "optima": [{k: o[k] for k in keys} for o in result["optima"]],
        "same_answer": agree,
    }


def plot(doc: dict[str, Any], path) -> None:
    """Loss vs log2 LR per target: the base width's full curve, each target width's bracket,
    optima (stars; hollow on an edge) and predicted optima (dotted lines)."""
    from .._figure import save_png, subplots
    from ._analysis import seed_mean

    cfg = doc["config"]
    targets = cfg["targets"]
    widths = [cfg["base_width"], *cfg["target_widths"]]
    fig, axes = subplots(1, len(targets), figsize=(4.2 * len(targets), 3.6), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        for c, width in enumerate(widths):
            color = f"C{c % 10}"
            row = next(o for o in doc["optima"] if o["target"] == target and o["width"] == width)
            lrs = np.asarray(row["log2_lrs"], float)
            pts = [p for p in doc["points"] if p["target"] == target and p["width"] == width]
            mean = seed_mean(pts, lrs)[(target, width, cfg["depth"])][0]
            ax.plot(lrs, np.where(np.isfinite(mean), mean, np.nan), "o-", ms=3, color=color,
                    label=f"n={width}" + (" (base)" if width == widths[0] else ""))  # fmt: skip
            if row["log2_lr"] is not None:
                face = "none" if row["on_edge"] else color
                ax.plot([row["log2_lr"]], [row["loss"]], "*", ms=12, mfc=face, mec=color)
            if row["predicted_log2_lr"] is not None:
                ax.axvline(row["predicted_log2_lr"], color=color, ls=":", lw=1)
        t = doc["transfer"][target]
        shift = t["shift_octaves"]
        tail = f"shift {shift:+.2f} oct, {t['verdict']}" if shift is not None else t["verdict"]
        ax.set(title=f"{target}: {tail}", xlabel="log2 base learning rate", yscale="log")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"training loss ({cfg['loss']}), {cfg['steps']} steps")
    save_png(fig, path)


def write_transfer(
    spec: SweepSpec,
    target_widths: Sequence[int],
    out: str | Path,
    *,
    store: str | Path | None = None,
    plot_png: bool = True,
    **kw: Any,
) -> tuple[dict[str, Any], list[Path]]:
    """:func:`run_transfer` (``kw``: its options) with its store at ``store`` (default
    ``out/sweep.sqlite``), written as ``out/transfer.json`` and ``out/transfer.png``; returns
    the document and the paths written (what ``infwidth transfer`` runs)."""
    from ._report import write

    store = str(store if store else Path(out) / "sweep.sqlite")
    doc = run_transfer(spec, target_widths, store=store, **kw)
    return doc, write(doc, out, plot_png=plot_png, name="transfer", plotter=plot)
