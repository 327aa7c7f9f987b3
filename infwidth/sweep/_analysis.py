"""From a sweep's points to its answer: optima, edges of trainability, shift, verdict.

Per target and width, over the log2 learning-rate grid :math:`x_i`:

* the seed-mean metric :math:`\\bar\\ell_i` (:math:`+\\infty` where any seed diverged);
* the optimum: :math:`i^* = \\arg\\min_i \\bar\\ell_i`, refined by the parabola through
  :math:`(x_{i^*-1}, x_{i^*}, x_{i^*+1})`, whose vertex

  .. math:: x^* = x_1 - \\tfrac12\\,\\frac{(x_1-x_0)^2(\\ell_1-\\ell_2) - (x_1-x_2)^2(\\ell_1-\\ell_0)}
                                        {(x_1-x_0)(\\ell_1-\\ell_2) - (x_1-x_2)(\\ell_1-\\ell_0)}

  is clamped to half a grid step either side of :math:`x_{i^*}` (no refinement when a
  neighbour diverged or the three points are not convex). Through an argmin and its two
  neighbours the vertex never lies beyond the midpoints, so the clamp only guards
  round-off. An argmin on the first or last
  grid point is reported ``on_edge``: the grid does not bracket the optimum;
* the edge of trainability :math:`\\eta_{\\rm fail}`: the smallest grid point that fails (a
  seed diverged, or the metric above half the initial loss) above the smallest one that
  succeeds.

Across widths: the optimum's ``shift_octaves`` (widest minus narrowest width) and
``spread_octaves`` (largest minus smallest). Curves are grouped by target, width, depth and
every scalar axis (init-std and output multiplier, weight decay, Adam epsilon) whose value is
not its default; ``transfer`` is keyed by the target, followed by ``depth=...`` and the
non-default axes' ``name=value`` where the sweep has several (:func:`label`). With several
depths, ``depth_transfer`` gives the same numbers across depths at the narrowest width. The verdict is ``transfers`` when the spread is
within ``tolerance`` octaves, ``does not transfer`` when it is beyond, and ``inconclusive``
when an optimum is on the grid's edge or missing (every point diverged). It holds at the
sweep's training horizon only: the optimum moves with the number of steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._fit import fit_exponent

#: Default tolerance of the verdict, in octaves of the learning rate.
TOLERANCE = 1.0
#: The scalar axes' point fields and their default values (``_spec.SCALAR_AXES``).
AXES = {"init_mult": 1.0, "output_mult": 1.0, "weight_decay": 0.0, "eps": 1e-8}


def group_of(r: Mapping[str, Any]) -> tuple:
    """``(target, width, depth, *extras)``: ``extras`` the ``(field, value)`` pairs of the
    scalar axes whose value is not the default (none for a sweep without them)."""
    extras = tuple(
        (k, float(r[k])) for k, d in AXES.items() if r.get(k) is not None and float(r[k]) != d
    )
    return (r["target"], int(r["width"]), int(r["depth"]), *extras)


def label(target: str, depth: int | None, extras: Sequence[tuple[str, float]]) -> str:
    """``"mup"``, ``"mup depth=4"``, ``"mup depth=4 output_mult=0.5"`` (module docstring)."""
    parts = [target] + ([f"depth={depth}"] if depth is not None else [])
    return " ".join(parts + [f"{k}={v:g}" for k, v in extras])


def seed_mean(records: Sequence[Mapping[str, Any]], grid: Sequence[float], key: str = "loss"):
    """``{group: (metric, loss0)}`` (:func:`group_of`; ``(target, width, depth)`` without
    scalar axes), arrays over ``grid``; a grid point with a diverged seed has metric
    ``+inf``, one without records ``nan``."""
    index = {float(g): i for i, g in enumerate(grid)}
    acc: dict[tuple, list] = {}
    for r in records:
        group = group_of(r)
        sums = acc.setdefault(group, np.zeros((3, len(grid))))
        i = index[float(r["log2_lr"])]
        value = np.inf if r["diverged"] or r[key] is None else float(r[key])
        sums[0][i] += value
        sums[1][i] += np.nan if r.get("loss0") is None else float(r["loss0"])
        sums[2][i] += 1
    out = {}
    for group, (s, s0, n) in acc.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            out[group] = (s / n, s0 / n)
    return out


def refine(grid: Sequence[float], mean: Sequence[float]) -> tuple[float | None, bool]:
    """``(optimum log2 LR, on_edge)`` from a seed-mean curve (module docstring)."""
    x, y = np.asarray(grid, float), np.asarray(mean, float)
    finite = np.isfinite(y)
    if not finite.any():
        return None, False
    i = int(np.argmin(np.where(finite, y, np.inf)))
    if i == 0 or i == len(x) - 1:
        return float(x[i]), len(x) > 1
    (x0, x1, x2), (y0, y1, y2) = x[i - 1 : i + 2], y[i - 1 : i + 2]
    if not (np.isfinite(y0) and np.isfinite(y2)):
        return float(x1), False
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    if not den < 0:  # den < 0 exactly when the parabola opens upwards
        return float(x1), False
    v = x1 - 0.5 * num / den
    return float(np.clip(v, x1 - (x1 - x0) / 2, x1 + (x2 - x1) / 2)), False


def eta_fail(grid: Sequence[float], mean: Sequence[float], loss0: Sequence[float]) -> float | None:
    """Smallest failing grid log2 LR above the smallest succeeding one (module docstring)."""
    mean, loss0 = np.asarray(mean, float), np.asarray(loss0, float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(mean) & (mean <= 0.5 * loss0)
    if not ok.any():
        return None
    first = int(np.argmax(ok))
    fails = [i for i in range(first + 1, len(grid)) if not ok[i]]
    return float(grid[fails[0]]) if fails else None


def analyse(
    records: Sequence[Mapping[str, Any]],
    grid: Sequence[float],
    *,
    tolerance: float = TOLERANCE,
    steps: int | None = None,
) -> dict[str, Any]:
    """``{"optima": [...], "transfer": {target: {...}}}`` of a sweep (module docstring)."""
    curves = seed_mean(records, grid)
    optima = []
    order = {t: i for i, t in enumerate(dict.fromkeys(g[0] for g in curves))}
    for group, (mean, loss0) in sorted(
        curves.items(), key=lambda kv: (order[kv[0][0]], kv[0][2], kv[0][3:], kv[0][1])
    ):
        best, edge = refine(grid, mean)
        optima.append(
            {
                "target": group[0],
                "width": group[1],
                "depth": group[2],
                **dict(group[3:]),
                "log2_lr": best,
                "on_edge": edge,
                "eta_fail": eta_fail(grid, mean, loss0),
                "loss": None if best is None else float(np.nanmin(mean)),
                "group": group,
            }
        )
    several = len({o["depth"] for o in optima}) > 1
    transfer, by_depth = {}, {}
    for o in optima:
        name = label(o["group"][0], o["depth"] if several else None, o["group"][3:])
        transfer.setdefault(name, []).append(o)
        if several:
            by_depth.setdefault(label(o["group"][0], None, o["group"][3:]), []).append(o)
    transfer = {
        name: {**_across(rows, "width", tolerance, curves, grid), "steps": steps}
        for name, rows in transfer.items()
    }
    depth_transfer = {}
    for name, rows in by_depth.items():
        narrow = min(o["width"] for o in rows)
        at = [o for o in rows if o["width"] == narrow]
        depth_transfer[name] = {
            **_across(at, "depth", tolerance, curves, grid), "width": narrow, "steps": steps
        }  # fmt: skip
    for o in optima:
        del o["group"]
    out = {"optima": optima, "transfer": transfer}
    if depth_transfer:
        out["depth_transfer"] = depth_transfer
    return out


def judge(rows: Sequence[Mapping], tolerance: float) -> tuple[float | None, float | None, str]:
    """``(shift, spread, verdict)`` of optima ``rows`` in order: shift = last minus first
    optimum (octaves), spread = largest minus smallest; "transfers" when the spread is within
    ``tolerance``, "inconclusive" when an optimum is missing or on the grid's edge."""
    found = [o["log2_lr"] for o in rows if o["log2_lr"] is not None]
    if len(found) != len(rows) or len(rows) < 2:
        return None, None, "inconclusive"
    shift, spread = rows[-1]["log2_lr"] - rows[0]["log2_lr"], max(found) - min(found)
    if any(o["on_edge"] for o in rows):
        return shift, spread, "inconclusive"
    return shift, spread, "transfers" if spread <= tolerance else "does not transfer"


def optimum_exponent(rows: Sequence[Mapping], axis: str) -> float | None:
    """The fitted exponent ``e`` of the optimal learning rate, ``eta* ~ axis^e`` (the one
    fitter, :func:`infwidth._fit.fit_exponent`, on ``2^log2_lr`` of the optima found); 0 is
    perfect transfer, -1 the SP hidden-layer drift under SGD. ``None`` below two optima."""
    found = [(o[axis], 2.0 ** o["log2_lr"]) for o in rows if o["log2_lr"] is not None]
    if len(found) < 2:
        return None
    fit = fit_exponent(*map(np.asarray, zip(*found, strict=True)), n_boot=0)
    return None if fit is None else round(fit.slope, 6)


def _across(rows: list, axis: str, tolerance: float, curves: Mapping, grid) -> dict[str, Any]:
    """Shift (largest minus smallest ``axis`` value), spread and verdict of the optima in
    ``rows`` (one group each, differing in ``axis``: ``width`` or ``depth``)."""
    rows = sorted(rows, key=lambda o: o[axis])
    shift, spread, verdict = judge(rows, tolerance)
    return {
        "shift_octaves": shift,
        "spread_octaves": spread,
        "lr_exponent": optimum_exponent(rows, axis),
        "verdict": verdict,
        "tolerance_octaves": tolerance,
        f"{axis}s": [o[axis] for o in rows],
        f"on_edge_{axis}s": [o[axis] for o in rows if o["on_edge"]],
        "wider_is_better" if axis == "width" else "deeper_is_better": _better(curves, rows, grid),
    }


def _better(curves: Mapping, rows: list, grid: Sequence[float]):
    """At the first row's best grid LR, does the metric fall (weakly) along the rows?"""
    base = curves[rows[0]["group"]][0]
    if not np.isfinite(base).any():
        return None
    i = int(np.argmin(np.where(np.isfinite(base), base, np.inf)))
    vals = [curves[o["group"]][0][i] for o in rows]
    return bool(np.all(np.isfinite(vals)) and np.all(np.diff(vals) <= 0))
