"""On-disk cache for ``infwidth dmft --compare-widths``: the DMFT solution and finished widths.

Each cache file is an ``.npz`` of arrays plus a ``tag``, the sha256 of everything its numbers
depend on (:func:`digest`). A file whose tag differs from the one asked for is stale: it is
ignored, and overwritten by the next save. Saves write a temporary file and rename it into place,
so an interrupted save never leaves a truncated file behind; unreadable files count as misses.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._types import RESULTS, AbstractDMFTSolver, DMFTProblem, DMFTSolution

# Bump when the meaning or layout of cached numbers changes: older files then read as stale.
FORMAT = 1

_ARRAYS = ("loss", "outputs", "Phi", "G", "ntk", "A", "B", "residuals", "noise_floor")
_META = ("eta_max", "n_train", "settings", "seed", "solver", "approximation", "wall_time")
_META += ("stop_reason",)


def digest(*parts: Any) -> str:
    """sha256 over ``parts``: arrays by dtype, shape and bytes, anything else as sorted JSON."""
    h = hashlib.sha256(f"infwidth-dmft-cache/{FORMAT}".encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"array {a.dtype.str} {a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=repr).encode())
        h.update(b"\0")
    return h.hexdigest()


def problem_parts(problem: DMFTProblem) -> tuple:
    """What a :class:`DMFTProblem` is made of, for :func:`digest` (settings, inputs, targets)."""
    return (problem.settings(), problem.X_all, problem.y)


def load_tagged(path: Path, tag: str) -> dict[str, np.ndarray] | None:
    """The arrays saved at ``path`` under ``tag``; None if missing, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            if "tag" not in z.files or str(z["tag"]) != tag:
                return None
            return {k: z[k] for k in z.files if k != "tag"}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def save_tagged(path: Path, tag: str, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` with ``tag`` at ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, tag=np.asarray(tag), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _solution_arrays(sol: DMFTSolution) -> dict[str, np.ndarray]:
    arrays = {k: np.asarray(getattr(sol, k)) for k in _ARRAYS if getattr(sol, k) is not None}
    meta = {k: getattr(sol, k) for k in _META} | {"result": sol.result.name}
    return arrays | {"meta": np.asarray(json.dumps(meta))}


def _solution(arrays: dict[str, np.ndarray]) -> DMFTSolution:
    meta = json.loads(str(arrays["meta"]))
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

    if cache_dir is None:
        return solve_dmft(problem, solver, seed=seed, max_sweeps=max_sweeps, throw=False), False
    path = Path(cache_dir) / "dmft.npz"
    tag = digest("solution", *problem_parts(problem), repr(solver), seed, max_sweeps)
    hit = load_tagged(path, tag)
    if hit is not None:
        try:
            return _solution(hit), True
        except (KeyError, TypeError, ValueError):
            pass  # written by an incompatible version: solve again and overwrite
    sol = solve_dmft(problem, solver, seed=seed, max_sweeps=max_sweeps, throw=False)
    if sol.result is not RESULTS.diverged:
        save_tagged(path, tag, _solution_arrays(sol))
    return sol, False
