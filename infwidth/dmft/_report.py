"""``infwidth dmft`` as a function: data, solver, solve (resumable), width comparison, files.

:func:`write_report` solves a :class:`DMFTProblem`, measures finite widths against it
(:func:`~infwidth.dmft.compare_widths`) and writes into ``out``:

* ``dmft.json``: ``settings``, ``seed``, ``solver``, ``status``/``converged``, ``residuals`` and
  ``noise_floor`` per sweep, ``eta_max``, ``loss`` (list over the T steps), ``outputs`` (T x P
  train outputs), ``targets``; with widths also ``comparison`` (:func:`compare_widths`);
* ``kernels.npz``: ``Phi`` and ``G`` of shape (L, T, P, T, P) (layer l = 1..L first; P counts
  train then test points), ``ntk`` (T, P, P), ``A``/``B`` (responses) where the solver has them;
* the figures of :func:`plot_report` (unless ``figures=False``);
* ``partial/`` (with widths): the solution and every finished width, each a hash-keyed
  :class:`infwidth._store.Store` entry, so that a re-run resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from . import _cache
from ._compare import compare_widths
from ._solve import divergence_message
from ._types import (
    RESULTS,
    AbstractDMFTSolver,
    DeepLinear,
    DMFTError,
    DMFTProblem,
    DMFTSolution,
    GradientIndependence,
    Lazy,
    MonteCarlo,
    TwoLayerParticles,
)

SOLVERS = ("auto", "lazy", "particles", "linear", "mc", "gia")


def load_data(
    data: str, n_points: int | None = None, seed: int = 0, *, name: str = "data"
) -> tuple[np.ndarray, np.ndarray]:
    """Regression data ``(X: P x D, y: P)``: ``FILE.npz`` (arrays ``X``, ``y``), ``"digits"``
    (+1 for 0-4, -1 for 5-9; a seeded subset, centred and scaled to :math:`|x|^2 = D`) or
    ``"synthetic"`` (seeded Gaussian inputs, ``y = tanh(X w / sqrt(10))``); the first
    ``n_points`` points. ``name`` labels the data in errors (:class:`InfwidthError`)."""
    spec, P = data, n_points
    if spec == "synthetic":
        rng = np.random.default_rng(seed)
        n = P or 8
        X = rng.standard_normal((n, 10))
        y = np.tanh(X @ rng.standard_normal(10) / np.sqrt(10))
        return X, y
    if spec == "digits":
        # Binary regression on scikit-learn's digits: y = +1 for digits 0-4, -1 for 5-9; inputs
        # centred over the chosen subset and scaled to |x|^2 = D (so K^x_{mu mu} = 1).
        from ..data import DataError, load_dataset

        try:
            d = load_dataset("digits", n_points=P or 20, seed=seed)
        except DataError as exc:
            raise InfwidthError(f"{name} digits: {exc}") from None
        X = d.x - d.x.mean(0)
        X = X * np.sqrt(X.shape[1]) / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        y = np.where(d.labels < 5, 1.0, -1.0)
        return X, y
    if Path(spec).suffix != ".npz":
        raise InfwidthError(f"{name} must be FILE.npz, digits or synthetic, got {spec!r}")
    z = valid.npz_file(name, spec, ("X", "y"))
    X = valid.data_array(f"{name} {spec}: X", z["X"])
    y = valid.data_array(f"{name} {spec}: y", z["y"], ndim=(1, 2), inputs=False).reshape(-1)
    if y.shape[0] != X.shape[0]:
        raise InfwidthError(f"{name} {spec}: X must be P x D and y have P entries")
    if P is not None:
        X, y = X[:P], y[:P]
    return X, y


def solver_name(solver: str, *, arch: str, activation: str, depth: int) -> str:
    """``solver`` (one of :data:`SOLVERS`), with ``"auto"`` resolved: ``mc`` for a residual
    network, ``linear`` for a linear one, ``particles`` for one hidden layer, else ``mc``."""
    if solver != "auto":
        return solver
    if arch == "resmlp":
        return "mc"
    if activation == "linear":
        return "linear"
    return "particles" if depth == 1 else "mc"


def make_solver(
    name: str, *, sites: int = 2000, response_sites: int = 128, response_every: int = 1
) -> AbstractDMFTSolver:
    """The solver called ``name`` (:func:`solver_name`) with its Monte-Carlo budget."""
    return {
        "lazy": lambda: Lazy(),
        "particles": lambda: TwoLayerParticles(n_sites=sites),
        "linear": lambda: DeepLinear(),
        "mc": lambda: MonteCarlo(
            n_sites=sites,
            n_response_sites=min(response_sites, sites),
            response_every=response_every,
        ),
        "gia": lambda: GradientIndependence(n_sites=sites),
    }[name]()


def write_report(
    problem: DMFTProblem,
    solver: AbstractDMFTSolver,
    out: str | Path,
    *,
    widths: Sequence[int] = (),
    seeds: int = 4,
    seed: int = 0,
    max_sweeps: int | None = None,
    figures: bool = True,
    settings: Mapping[str, Any] | None = None,
    on_solved: Callable[[DMFTSolution, bool], None] | None = None,
    progress: Callable[[dict, bool], None] | None = None,
) -> dict[str, Any]:
    """Solve ``problem`` with ``solver``, compare ``widths`` (``seeds`` networks each) and
    write the files of the module docstring into ``out``; returns the ``dmft.json`` document.

    With ``widths`` the solution and each finished width are saved under ``out/partial`` and
    reloaded by a re-run. ``settings`` are added to the solution's in ``dmft.json``;
    ``on_solved(solution, cached)`` is called after the solve when widths follow,
    ``progress(row, cached)`` as each width finishes. A diverged solve raises
    :class:`DMFTError` (nothing written but ``partial/``).
    """
    out = Path(out)
    partial = out / "partial" if widths else None
    sol, cached = _cache.cached_solve(
        problem, solver, seed=seed, max_sweeps=max_sweeps, cache_dir=partial
    )
    if sol.result is RESULTS.diverged:
        raise DMFTError(divergence_message(problem.eta, sol.eta_max))
    comparison = None
    if widths:
        if on_solved is not None:
            on_solved(sol, cached)
        comparison = compare_widths(
            problem, sol, widths, seeds=seeds, progress=progress, cache_dir=partial
        )
    payload = {
        "settings": sol.settings | dict(settings or {}),
        "seed": sol.seed,
        "solver": sol.solver,
        "approximation": sol.approximation,
        "status": sol.result.name,
        "converged": sol.converged,
        "stop_reason": sol.stop_reason,
        "message": sol.result.value,
        "residuals": sol.residuals.tolist(),
        "noise_floor": sol.noise_floor.tolist(),
        "eta_max": sol.eta_max,
        "wall_time_s": sol.wall_time,
        "loss": sol.loss.tolist(),
        "outputs": sol.train_outputs.tolist(),
        "targets": problem.y.tolist(),
        "comparison": comparison,
    }
    (out / "dmft.json").write_text(json.dumps(payload, indent=1))
    arrays = {"Phi": sol.Phi, "G": sol.G, "ntk": sol.ntk}
    if sol.A is not None:
        arrays |= {"A": sol.A, "B": sol.B}
    np.savez_compressed(out / "kernels.npz", **arrays)
    if figures:
        plot_report(out, sol, comparison, problem.depth)
    return payload


def plot_report(out: Path, sol: DMFTSolution, comparison: dict | None, L: int) -> None:
    """``loss.png`` (DMFT and the finite widths' seed-mean losses), ``phi_heatmap.png``
    (sample-traced :math:`\\Phi^L(t, s)`) and, with two widths or more, ``deviation.png``
    (deviations from the DMFT against N, log-log, with an :math:`N^{-1/2}` guide)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(sol.loss, "k-", lw=2, label="DMFT")
    for row in (comparison or {}).get("rows", []):
        if row["loss_mean"] is not None:  # None: every seed of this width diverged
            ax.semilogy(row["loss_mean"], "--", label=f"N = {row['width']}")
    ax.set_xlabel("GD step t")
    ax.set_ylabel("train loss")
    ax.legend(fontsize=8)
    save(fig, "loss.png")

    traced = np.einsum("tmsm->ts", sol.Phi[L - 1])
    fig, ax = plt.subplots(figsize=(4.2, 3.5))
    im = ax.imshow(traced, origin="lower", cmap="viridis")
    ax.set_xlabel("s")
    ax.set_ylabel("t")
    ax.set_title(f"sum_mu Phi^{L}_mu,mu(t, s)")
    fig.colorbar(im, ax=ax)
    save(fig, "phi_heatmap.png")

    if comparison and len(comparison["widths"]) >= 2:
        w = np.array(comparison["widths"], dtype=float)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        devs = [r["deviation"] for r in comparison["rows"]]  # None: all seeds diverged
        dev = {
            k: np.array([np.nan if d[k] is None else d[k] for d in devs], dtype=float)
            for k in ("rms_outputs", "Phi_L", "G_1")
        }
        for k, d in dev.items():
            ax.loglog(w, d, "o-", label=k)
        ok = np.flatnonzero(np.isfinite(dev["Phi_L"]))
        if ok.size:
            i = ok[0]
            ax.loglog(w, dev["Phi_L"][i] * (w / w[i]) ** -0.5, "k:", label="N^-1/2")
        ax.set_xlabel("width N")
        ax.set_ylabel("deviation from DMFT")
        ax.legend(fontsize=8)
        save(fig, "deviation.png")
