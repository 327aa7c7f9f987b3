"""Finite networks at several widths against a DMFT solution: deviations and their slopes in N.

:func:`compare_widths` trains ``seeds`` networks per width (:func:`train_finite`), measures each
against the DMFT solution and fits the exponent of every deviation in N. With ``cache_dir``, each
finished width is saved as ``width_<n>.npz`` (an :class:`infwidth._store.Store` entry) keyed by
what its numbers depend on (the problem, the seeds, the DMFT reference and the width, not the
list of widths): a re-run loads finished widths instead of training them, so an interrupted
sweep resumes and a longer width list reuses the widths already done. A seed whose trajectory
diverges (NaN/inf, or outputs beyond ``GROWTH_BOUND`` x their initial RMS:
:mod:`infwidth._divergence`) is recorded as diverged (``diverged_at``: first bad step) and left
out of the means; it never stops the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import _validate as valid
from .._divergence import first_divergence, rms_per_step
from .._fit import fit_exponent
from .._store import Store, settings_key
from ._cache import problem_parts
from ._finite import FiniteRun, train_finite
from ._types import DMFTProblem, DMFTSolution

DEVIATIONS = ("rms_outputs", "loss", "Phi_L", "G_1", "alignment_Phi_L")
SLOPES = ("rms_outputs", "loss", "Phi_L", "G_1")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _measure(problem: DMFTProblem, sol: DMFTSolution, fin: FiniteRun) -> dict[str, np.ndarray]:
    """Per-seed deviations of ``fin`` from ``sol`` (NaN for diverged seeds) and their losses."""
    L, S = problem.depth, fin.loss.shape[0]
    dev = {k: np.full(S, np.nan) for k in DEVIATIONS}
    diverged_at = np.full(S, -1)
    for i in range(S):
        phi, g = fin.Phi[i, L - 1], fin.G[i, 0]
        # First step at which this network diverged, or -1 (:mod:`infwidth._divergence`:
        # non-finite, or output RMS beyond GROWTH_BOUND x its initial value, floored at the
        # targets' unit scale). Kernels are time first, (T, P, T, P): a bad step t spoils row t.
        diverged_at[i] = first_divergence(rms_per_step(fin.outputs[i]), fin.loss[i], phi, g)
        if diverged_at[i] >= 0:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            dev["rms_outputs"][i] = np.sqrt(np.mean((fin.outputs[i] - sol.outputs) ** 2))
            dev["loss"][i] = np.max(np.abs(fin.loss[i] - sol.loss))
            dev["Phi_L"][i] = _rel(phi, sol.Phi[L - 1])
            dev["G_1"][i] = _rel(g, sol.G[0])
            a, b = phi.ravel(), sol.Phi[L - 1].ravel()
            dev["alignment_Phi_L"][i] = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return {"loss": np.asarray(fin.loss, dtype=np.float64), "diverged_at": diverged_at} | {
        f"dev_{k}": v for k, v in dev.items()
    }


def _mean(values: np.ndarray) -> float | None:
    ok = values[np.isfinite(values)]
    return float(ok.mean()) if ok.size else None


def _row(width: int, rec: dict[str, np.ndarray]) -> dict:
    at = [int(t) for t in rec["diverged_at"]]
    good = rec["diverged_at"] < 0
    per_seed = {k: [None if np.isnan(v) else float(v) for v in rec[f"dev_{k}"]] for k in DEVIATIONS}
    return {
        "width": int(width),
        "seeds": list(range(len(at))),
        "loss_mean": rec["loss"][good].mean(0).tolist() if good.any() else None,
        "deviation": {k: _mean(rec[f"dev_{k}"]) for k in DEVIATIONS},
        "deviation_per_seed": per_seed,
        "n_diverged": int((~good).sum()),
        "diverged_at": [None if t < 0 else t for t in at],
    }


def _slopes(rows: list[dict]) -> dict[str, float]:
    """Fitted exponent in N of each seed-mean deviation (:func:`infwidth._fit.fit_exponent`),
    over the widths where it is finite and > 0."""
    widths = [r["width"] for r in rows]
    slopes = {}
    for k in SLOPES:
        dev = [np.nan if r["deviation"][k] is None else r["deviation"][k] for r in rows]
        fit = fit_exponent(widths, dev, n_boot=0)
        if fit is not None and len(set(fit.sizes)) >= 2:
            slopes[k] = fit.slope
    return slopes


def width_tag(problem: DMFTProblem, sol: DMFTSolution, seeds: int, width: int) -> str:
    """Hash of what a width's record depends on: the problem, the seeds, the width and the
    DMFT reference (by content, so any change in the solve invalidates the record)."""
    L = problem.depth
    ref = (sol.outputs, sol.loss, sol.Phi[L - 1], sol.G[0])
    parts = (*problem_parts(problem), *map(np.asarray, ref), seeds, int(width))
    return settings_key("dmft finite width", *parts)


def compare_widths(
    problem: DMFTProblem,
    sol: DMFTSolution,
    widths: Sequence[int],
    *,
    seeds: int = 4,
    progress: Callable[[dict, bool], None] | None = None,
    cache_dir: str | Path | None = None,
) -> dict:
    """Train ``seeds`` networks (seeds 0..seeds-1) at each width and measure them against ``sol``.

    Returns ``{"widths", "rows", "slopes"}``: per width the seed-mean loss, the deviations from
    the DMFT (rms outputs, max loss gap, relative two-time Phi^L and G^1 errors, cosine
    alignment of Phi^L; means over the seeds that did not diverge, None if all did), per-seed
    values, ``n_diverged`` and ``diverged_at``; ``slopes`` is the fitted exponent in N of each
    deviation. ``progress(row, cached)`` is called as each width finishes. With ``cache_dir``,
    finished widths are saved there and reloaded on a re-run (module docstring).
    """
    widths = list(valid.widths("widths", widths))
    seeds = valid.positive_int("seeds", seeds)
    store = Store(cache_dir)
    rows = []
    for width in widths:
        tag = width_tag(problem, sol, seeds, width) if store.folder is not None else ""
        hit = store.load_arrays(f"width_{width}", tag) if tag else None
        rec = None if hit is None else hit.arrays
        cached = rec is not None
        if rec is None:
            t0 = time.perf_counter()
            fin = train_finite(problem, width, seeds=tuple(range(seeds)))
            rec = _measure(problem, sol, fin) | {"seconds": np.asarray(time.perf_counter() - t0)}
            if tag:
                store.save_arrays(f"width_{width}", tag, rec)
        row = _row(width, rec)
        rows.append(row)
        if progress is not None:
            progress(row | {"seconds": float(rec["seconds"])}, cached)
    return {"widths": widths, "rows": rows, "slopes": _slopes(rows)}
