"""The DMFT solution of ``infwidth dmft --compare-widths``, saved and reloaded.

The solution is one :class:`infwidth._store.Store` entry, ``dmft.npz``, keyed by everything its
numbers depend on (:func:`problem_parts`, the solver, the seed and the sweep budget): a re-run
with the same settings loads it, any other settings (or a damaged file) solve again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._store import Store, settings_key
from ._types import RESULTS, AbstractDMFTSolver, DMFTProblem, DMFTSolution

_ARRAYS = ("loss", "outputs", "Phi", "G", "ntk", "A", "B", "residuals", "noise_floor")
_META = ("eta_max", "n_train", "settings", "seed", "solver", "approximation", "wall_time")
_META += ("stop_reason",)


def problem_parts(problem: DMFTProblem) -> tuple:
    """What a :class:`DMFTProblem` is made of, for :func:`~infwidth._store.settings_key`
    (settings, inputs, targets)."""
    return (problem.settings(), np.asarray(problem.X_all), np.asarray(problem.y))


def _solution_arrays(sol: DMFTSolution) -> tuple[dict[str, np.ndarray], dict]:
    arrays = {k: np.asarray(getattr(sol, k)) for k in _ARRAYS if getattr(sol, k) is not None}
    meta = {k: getattr(sol, k) for k in _META} | {"result": sol.result.name}
    return arrays, json.loads(json.dumps(meta, default=_plain))


def _plain(obj):
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot save a {type(obj).__name__} in the DMFT cache")


def _solution(arrays: dict, meta: dict) -> DMFTSolution:
    meta = dict(meta)
    result = RESULTS[meta.pop("result")]
    return DMFTSolution(result=result, **{k: arrays.get(k) for k in _ARRAYS}, **meta)


def cached_solve(
    problem: DMFTProblem,
    solver: AbstractDMFTSolver,
    *,
    seed: int,
    max_sweeps: int | None,
    cache_dir: Path | None,
) -> tuple[DMFTSolution, bool]:
    """``solve_dmft(problem, solver, seed=seed, max_sweeps=max_sweeps, throw=False)``, loaded
    from ``cache_dir/dmft.npz`` when a solve of the same problem, solver, seed and budget is
    saved there. Returns the solution and whether it came from the cache. Diverged solutions
    are not saved (they are cheap and the CLI stops on them)."""
    from ._solve import solve_dmft

    store = Store(cache_dir)
    key = settings_key("dmft solution", *problem_parts(problem), repr(solver), seed, max_sweeps)
    hit = store.load_arrays("dmft", key)
    if hit is not None:
        try:
            return _solution(hit.arrays, hit.meta), True
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # written by an incompatible version: solve again and overwrite
    sol = solve_dmft(problem, solver, seed=seed, max_sweeps=max_sweeps, throw=False)
    if sol.result is not RESULTS.diverged:
        store.save_arrays("dmft", key, *_solution_arrays(sol))
    return sol, False
