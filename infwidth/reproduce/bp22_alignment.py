"""Bordelon & Pehlevan 2022: kernel alignment of finite deep tanh networks with the DMFT,
per layer, against width.

Setup of the authors' notebook (``deep_nonlinear_DMFT.ipynb`` in
Pehlevan-Group/dmft_wide_networks): three hidden layers, :math:`\\phi(h) =
\\tanh(\\beta h)/\\beta` with :math:`\\beta = 0.8`, :math:`P = 10` Gaussian inputs in
:math:`D = 25`, :math:`y = \\pm 1` halves, :math:`T = 100` GD steps, :math:`\\eta = 0.1` on
:math:`\\tfrac12 \\mathrm{mean}(f - y)^2` (rate :math:`\\eta\\gamma_0^2 N`),
:math:`\\gamma_0 = 1`, centred output :math:`f - f(\\theta_0)`; widths
:math:`N \\in \\{25, \\dots, 2000\\}` with several trials. For every layer :math:`\\ell` the
alignment over the whole two-time tensor

.. math::

    A(\\Phi^\\ell_{DMFT}, \\Phi^\\ell_N) = \\frac{\\langle \\Phi_{DMFT}, \\Phi_N \\rangle_F}
    {\\|\\Phi_{DMFT}\\|_F \\|\\Phi_N\\|_F}, \\qquad
    \\Phi^\\ell_N[t,\\mu,s,\\alpha] = \\phi(h^\\ell_\\mu(t)) \\cdot \\phi(h^\\ell_\\alpha(s))/N.

Theory: the finite-width kernel is the limit plus an :math:`O(N^{-1/2})` fluctuation (and an
:math:`O(N^{-1})` bias); a cosine misalignment is quadratic in the fluctuation, so
:math:`1 - A \\propto N^{-1}` until the DMFT's own Monte-Carlo error (``n_sites``) sets a
floor. The slope is fitted (:func:`infwidth._fit.fit_exponent`) over
``FIT_MIN <= N <= n_sites / 4``: from N = 100 on, where 1 - A is small enough for the
quadratic expansion (at N = 25 it is 0.1-0.3), up to a quarter of the DMFT's sites, where
its own sampling error (that of a width-``n_sites`` network) is still a small part of 1 - A.
(Measured at T = 100 with the paper's 1000 sites: slopes -0.93/-0.95/-1.07 over N =
100..250, but -0.83/-0.90/-0.69 over 100..1000.)

**The scaled tanh without a new activation.** With :math:`h' = \\beta h` the network with
:math:`\\phi(h) = \\tanh(\\beta h)/\\beta` on inputs :math:`x` is *the same function of the
same weights* as the plain-tanh network on inputs :math:`\\beta x` with :math:`\\gamma_0' =
\\beta \\gamma_0` (each hidden layer's :math:`1/\\beta` cancels the next layer's
:math:`\\beta`; the readout's :math:`1/\\beta` goes into :math:`1/\\gamma_0`), and GD with rate
:math:`\\eta'\\gamma_0'^2 N` is the same update when :math:`\\eta' = \\eta/\\beta^2`. Features
are :math:`\\beta` times larger, so :math:`\\Phi' = \\beta^2 \\Phi`: cosine alignments are
unchanged. Both the DMFT (:class:`~infwidth.dmft.MonteCarlo`, with response functions) and
the finite networks (:func:`~infwidth.dmft.train_finite`) run this equivalent problem.

Centring: training :math:`f - f(\\theta_0)` on :math:`y` is training :math:`f` on
:math:`y + f(\\theta_0)`, done per trial. A point of ``data.json`` is one (width, trial):
``alignment`` per layer, ``loss`` the final mean :math:`(f - y)^2` of the centred output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._run import Criterion, criterion

ID = "bp22-alignment"
TITLE = "Bordelon & Pehlevan 2022: deep tanh, kernel alignment A(Phi_DMFT, Phi_N) per layer vs N"
PAPER = (
    "Bordelon & Pehlevan 2022 (NeurIPS), arXiv 2205.09653, Fig. 1 alignment panel; "
    "Pehlevan-Group/dmft_wide_networks deep_nonlinear_DMFT.ipynb"
)
STAND_IN = (
    "full: the authors' T = 100 and 1000 DMFT sites, but 64 response sites (256), 6 sweeps "
    "(20 iterations), 3 trials (10) and N up to 1000 (2000): the authors' sizes need an "
    "estimated 1-2 h on 2 CPU cores; quick: T = 20 steps, fewer widths, trials and DMFT sites"
)

D, P, DEPTH, ETA, GAMMA0, BETA = 25, 10, 3, 0.1, 1.0, 0.8
#: the paper's read-off, per width: (low, high) over the layers
PAPER_READ = {100: (0.94, 0.97), 250: (0.985, 0.99), 1000: (0.995, 0.995), 2000: (0.997, 0.997)}
SIZES = {
    True: {"steps": 20, "widths": (25, 50, 100, 200, 400, 800), "trials": 3, "n_sites": 4000,
           "n_response_sites": 128, "sweeps": 8},
    False: {"steps": 100, "widths": (25, 50, 100, 150, 250, 500, 1000), "trials": 3,
            "n_sites": 1000, "n_response_sites": 64, "sweeps": 6},
}  # fmt: skip
MIXING = 0.7
#: smallest width of the slope fit (module docstring); the largest is n_sites / 4
FIT_MIN = 100
DATA_SEED = 0


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: P x D standard Gaussian inputs, y = +1 for the first P // 2, -1 after."""
    X = np.random.default_rng(DATA_SEED).standard_normal((P, D))
    return X, np.where(np.arange(P) < P // 2, 1.0, -1.0)


def problem(steps: int, y_shift: np.ndarray | None = None):
    """The equivalent plain-tanh :class:`~infwidth.dmft.DMFTProblem` (module docstring):
    inputs ``BETA x``, ``gamma0 = BETA GAMMA0``, ``eta = ETA / (P BETA^2)`` (the summed loss
    and the rescaled rate); targets ``y + y_shift`` (centring)."""
    from ..dmft import DMFTProblem

    X, y = dataset()
    y = y if y_shift is None else y + y_shift
    return DMFTProblem(BETA * X, y, depth=DEPTH, activation="tanh", gamma0=BETA * GAMMA0,
                       eta=ETA / (P * BETA**2), steps=steps)  # fmt: skip


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two kernels in the Frobenius inner product (over every entry)."""
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def initial_output(width: int, seed: int) -> np.ndarray:
    """f(theta_0) on the train points of the width-``width`` network of trial ``seed`` (the
    weights :func:`~infwidth.dmft.train_finite` draws for that seed)."""
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    from ..dmft._finite import forward_backward, init_params

    pb = problem(1)
    with jax.enable_x64(True):
        params = init_params(jr.PRNGKey(seed), width=width, depth=DEPTH, input_dim=D)
        f0 = forward_backward(params, jnp.asarray(pb.X), activation="tanh", gamma0=pb.gamma0)[2]
    return np.asarray(f0)


def centred_run(width: int, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """One trial, centred: ``(Phi (L, T, P, T, P), loss curve mean (f - f0 - y)^2 (T,))``."""
    from ..dmft import train_finite

    f0 = initial_output(width, seed)
    fin = train_finite(problem(steps, f0), width, seeds=(seed,))
    _, y = dataset()
    loss = np.mean((fin.outputs[0] - f0[None] - y[None]) ** 2, axis=1)
    return fin.Phi[0], loss


def dmft(quick: bool, store) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The DMFT reference, ``(Phi (L, T, P, T, P), outputs (T, P), info)``: the Monte-Carlo
    solver with responses for exactly ``sweeps`` sweeps (as the authors' 20 iterations; the
    noise-floor rule could stop a causal solve before late times have converged), saved in
    ``store`` under everything it depends on."""
    from .._store import settings_key
    from ..dmft import MonteCarlo, solve_dmft
    from ..dmft._cache import problem_parts

    z = SIZES[quick]
    pb = problem(z["steps"])
    solver = MonteCarlo(n_sites=z["n_sites"], n_response_sites=z["n_response_sites"],
                        mixing=MIXING, response_dtype="float32")  # fmt: skip
    key = settings_key("bp22 dmft", *problem_parts(pb), repr(solver), z["sweeps"])
    hit = store.load_arrays("dmft", key)
    if hit is not None:
        return hit.arrays["Phi"], hit.arrays["outputs"], hit.meta
    n = z["sweeps"]
    sol = solve_dmft(pb, solver, seed=0, max_sweeps=n, min_sweeps=n, tol=1e-12, throw=False)
    info = {"sweeps_run": int(sol.residuals.size), "result": sol.result.name,
            "wall_s": round(sol.wall_time, 1),
            "residuals": [float(r) for r in sol.residuals],
            "noise_floor": [float(r) for r in sol.noise_floor]}  # fmt: skip
    store.save_arrays("dmft", key, {"Phi": sol.Phi, "outputs": sol.outputs}, info)
    return np.asarray(sol.Phi), np.asarray(sol.outputs), info


def compute(quick: bool, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int, int]:
    """The DMFT solution (:func:`dmft`) and every (width, trial), resumed per width from
    ``out/partial``."""
    from .._store import Store, settings_key

    z = SIZES[quick]
    T = z["steps"]
    store = Store(out / "partial")
    ref, outputs, info = dmft(quick, store)  # ref: Phi (L, T, P, T, P)
    if info["result"] == "diverged":
        from ..errors import InfwidthError

        raise InfwidthError(f"{ID}: the DMFT solve diverged; nothing to compare with")
    _, y = dataset()
    dmft_loss = np.mean((outputs[:, :P] - y[None]) ** 2, axis=1)
    config = {"D": D, "P": P, "depth": DEPTH, "eta": ETA, "gamma0": GAMMA0, "beta": BETA,
              "mixing": MIXING, **{k: list(v) if isinstance(v, tuple) else v
                                  for k, v in z.items()},
              "dmft": info | {"final_loss": float(dmft_loss[-1])}}  # fmt: skip
    points: list[dict[str, Any]] = []
    computed = cached = 0
    for width in z["widths"]:
        key = settings_key(ID, width, T, z["trials"], np.asarray(ref))
        rows = store.load_json(f"width_{width}", key)
        fresh = rows is None
        if fresh:
            rows = []
            for seed in range(z["trials"]):
                Phi, loss = centred_run(width, seed, T)
                ok = bool(np.all(np.isfinite(Phi)))
                al = [alignment(ref[k], Phi[k]) if ok else None for k in range(DEPTH)]
                rows.append({"sweep": "alignment", "target": "finite", "width": width,
                             "depth": DEPTH, "log2_lr": math.log2(ETA), "seed": seed,
                             "loss": float(loss[-1]) if ok else None, "diverged": not ok,
                             "step": T, "alignment": al, "n_sites": z["n_sites"],
                             "loss_gap_dmft": float(np.max(np.abs(loss - dmft_loss)))
                             if ok else None})  # fmt: skip
            store.save_json(f"width_{width}", key, rows)
        computed, cached = computed + len(rows) * fresh, cached + len(rows) * (not fresh)
        points.extend(rows)
    return config, points, computed, cached


# --- analysis ------------------------------------------------------------------------------


def _by_width(points) -> dict[int, np.ndarray]:
    """width -> (trials, layers) alignments of the trials that did not diverge."""
    out: dict[int, list] = {}
    for p in points:
        if not p["diverged"]:
            out.setdefault(p["width"], []).append(p["alignment"])
    return {w: np.asarray(v, dtype=np.float64) for w, v in sorted(out.items())}


def _fits(points, fit: tuple[int, int]) -> list[dict[str, Any]]:
    """Per layer: the fitted exponent of the trial-mean 1 - A against N over ``fit``."""
    from .._fit import fit_exponent

    al = _by_width(points)
    widths = [w for w in al if fit[0] <= w <= fit[1]]
    out = []
    for k in range(DEPTH):
        mis = [float(np.mean(1 - al[w][:, k])) for w in widths]
        fit = fit_exponent(widths, mis, n_boot=0)
        out.append({"layer": k + 1, "slope": None if fit is None else float(fit.slope),
                    "widths": widths, "one_minus_A": mis})  # fmt: skip
    return out


def _fit_range(points) -> tuple[int, int]:
    """``(FIT_MIN, n_sites // 4)`` (module docstring)."""
    return FIT_MIN, points[0]["n_sites"] // 4 if points else 0


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per width: mean and std of A per layer (and the paper's read-off); per layer the
    fitted slope of 1 - A."""
    rows = []
    for w, a in _by_width(points).items():
        gaps = [p["loss_gap_dmft"] for p in points if p["width"] == w and not p["diverged"]]
        rows.append({"width": w, "mean": a.mean(0).tolist(), "std": a.std(0).tolist(),
                     "paper": PAPER_READ.get(w), "max_loss_gap_dmft": float(np.mean(gaps))})  # fmt: skip
    return {"by_width": rows, "fits": _fits(points, _fit_range(points)), "note": (
        "A over the full (T, P, T, P) feature kernel of each hidden layer, trial means; "
        "slope: fitted exponent of 1 - A in N over 100 <= N <= n_sites/4 (theory -1 until the "
        "DMFT's Monte-Carlo floor). Paper read-off (all layers): A = 0.94-0.97 at N = 100, "
        "0.985-0.99 at 250, 0.995 at 1000, 0.997 at 2000; max_loss_gap_dmft is the trial-"
        "mean largest |mean (f-y)^2 (finite) - DMFT| over t.")}  # fmt: skip


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    """1 - A falls like N^-1 in every layer; A at the widest width is near 1 and at N = 100
    is within the paper's band (full run)."""
    rep = report(points)
    slopes = [f["slope"] for f in rep["fits"]]
    worst = None if None in slopes else max(abs(s + 1) for s in slopes)
    rows = {r["width"]: r for r in rep["by_width"]}
    widest = max(rows)
    crits = [
        criterion(
            "|fitted slope of 1 - A in N + 1|, worst layer (theory: N^-1)", worst, "<=", 0.25
        ),  # fmt: skip
        criterion(
            f"smallest layer-mean A at the widest width N = {widest}",
            min(rows[widest]["mean"]),
            ">=",
            0.97 if quick else 0.99,
        ),  # fmt: skip
        criterion(
            "1 - A at N = 100 over 1 - A at the widest width, smallest layer",
            min(
                (1 - a) / (1 - b)
                for a, b in zip(rows[100]["mean"], rows[widest]["mean"], strict=True)
            ),
            ">=",
            2.0,
        ),  # fmt: skip
    ]
    if not quick:  # the paper's numbers are for T = 100
        lo, hi = PAPER_READ[100]
        a100 = rows[100]["mean"]
        crits.append(criterion("N = 100: largest distance of a layer's A from the paper's band "
                               "0.94-0.97", max(max(lo - a, a - hi, 0) for a in a100), "<=",
                               0.02))  # fmt: skip
    return crits


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    from ._plot import save, subplots

    rep = report(points)
    al = _by_width(points)
    widths = np.array(list(al))
    fig, axes = subplots(1, 2, figsize=(10, 3.8))
    for k in range(DEPTH):
        mean = np.array([al[w][:, k].mean() for w in widths])
        std = np.array([al[w][:, k].std() for w in widths])
        axes[0].errorbar(widths, mean, yerr=std, fmt="o-", ms=3, capsize=2,
                         label=f"layer {k + 1}")  # fmt: skip
        f = rep["fits"][k]
        axes[1].plot(widths, 1 - mean, "o-", ms=3, color=f"C{k}",
                     label=f"layer {k + 1}: slope {f['slope']:.2f}")  # fmt: skip
    for w, (lo, hi) in PAPER_READ.items():
        axes[0].plot([w, w], [lo, hi], "k-", lw=4, alpha=0.4)
        axes[1].plot([w, w], [1 - hi, 1 - lo], "k-", lw=4, alpha=0.4)
    axes[0].plot([], [], "k-", lw=4, alpha=0.4, label="paper (read off)")
    ref = np.mean([1 - al[widths[0]][:, k].mean() for k in range(DEPTH)])
    axes[1].plot(widths, ref * widths[0] / widths, "k--", lw=1, label="N^-1")
    axes[0].set(xscale="log", xlabel="width N", ylabel="A(Phi_DMFT, Phi_N)",
                title="alignment with the DMFT kernel")  # fmt: skip
    axes[1].set(xscale="log", yscale="log", xlabel="width N", ylabel="1 - A",
                title="misalignment vs width")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=7)
    save(fig, path, TITLE + " (quick: T = 20)" * quick)
