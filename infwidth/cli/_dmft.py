"""``infwidth dmft``: solve the infinite-width (DMFT) dynamics and measure finite widths against it.

Writes into ``--out``:

* ``dmft.json``: ``settings``, ``seed``, ``solver``, ``status``/``converged``, ``residuals`` and
  ``noise_floor`` per sweep, ``eta_max``, ``loss`` (list over the T steps), ``outputs`` (T x P
  train outputs), ``test_outputs`` (T x P_test, if any); with ``--compare-widths`` also
  ``comparison``: per width the seed-mean loss, the deviations from the DMFT (rms outputs, loss,
  relative two-time Phi^L and G^1 errors, cosine alignment of Phi^L), ``n_diverged`` and
  ``diverged_at`` (seeds whose run diverged, infwidth._divergence: left out of the means), and ``slopes``
  (fitted exponent of each deviation in N; about -1/2 is expected until the Monte-Carlo floor).
* ``kernels.npz``: ``Phi`` and ``G`` of shape (L, T, P, T, P) (layer l = 1..L first; P counts train
  then test points), ``ntk`` (T, P, P), ``A``/``B`` (responses) where the solver has them.
* ``loss.png`` (DMFT vs widths), ``phi_heatmap.png`` (sample-traced Phi^L(t, s)),
  ``deviation.png`` (deviations vs N, log-log; with ``--compare-widths``).
* ``partial/`` (with ``--compare-widths``): ``dmft.npz`` (the DMFT solution) and
  ``width_<n>.npz`` per finished width, each tagged with a hash of its configuration (minus the
  width list). A re-run with the same ``--out`` loads them instead of recomputing: an
  interrupted sweep resumes, a longer width list computes only the new widths, and a changed
  configuration (stale key) or a damaged file is recomputed (:mod:`infwidth._store`). One
  stderr line is printed per finished width.

JAX is imported lazily inside :func:`run` (the CLI stays fast for other commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import _validate as valid
from .._memory import add_memory_argument, refuse_if_over
from ..errors import InfwidthError

NAME = "dmft"
HELP = "solve the infinite-width feature-learning dynamics (DMFT) and compare finite widths"
ORDER = 50
USES_JAX = True

_SOLVERS = ("auto", "lazy", "particles", "linear", "mc", "gia")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=("mlp", "resmlp"), default="mlp")
    parser.add_argument("--depth", type=int, default=1, help="number of hidden layers L")
    parser.add_argument(
        "--beta0", type=float, default=1.0, help="resmlp branch scale beta0/sqrt(L)"
    )
    parser.add_argument("--activation", default="tanh", help="one of infwidth.network.ACTIVATIONS")
    parser.add_argument("--gamma0", type=float, default=1.0, help="feature-learning strength")
    parser.add_argument("--eta", type=float, default=0.05, help="GD rate (times gamma0^2 N)")
    parser.add_argument("--steps", type=int, default=50, help="number of GD steps T")
    parser.add_argument(
        "--data",
        default="synthetic",
        help="FILE.npz (X: P x D, y: P), 'digits' (+1 for 0-4, -1 for 5-9) or 'synthetic'",
    )
    parser.add_argument("--n-points", type=int, default=None, help="use the first P points")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--solver", choices=_SOLVERS, default="auto")
    parser.add_argument("--sites", type=int, default=2000, help="Monte-Carlo sites")
    parser.add_argument("--response-sites", type=int, default=128)
    parser.add_argument(
        "--response-every", type=int, default=1, help="re-estimate responses every k sweeps"
    )
    parser.add_argument("--max-sweeps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compare-widths", default=None, help="comma-separated widths N of finite networks"
    )
    parser.add_argument("--seeds", type=int, default=4, help="finite networks per width")
    parser.add_argument("--quick", action="store_true", help="small configuration (tests, CI)")
    parser.add_argument("--no-figures", action="store_true")
    add_memory_argument(parser)


def _load_data(args) -> tuple[np.ndarray, np.ndarray]:
    spec = args.data
    P = args.n_points
    if spec == "synthetic":
        rng = np.random.default_rng(args.seed)
        n = P or 8
        X = rng.standard_normal((n, 10))
        y = np.tanh(X @ rng.standard_normal(10) / np.sqrt(10))
        return X, y
    if spec == "digits":
        # Binary regression on scikit-learn's digits: y = +1 for digits 0-4, -1 for 5-9; inputs
        # centred over the chosen subset and scaled to |x|^2 = D (so K^x_{mu mu} = 1).
        from ..data import DataError, load_dataset

        try:
            d = load_dataset("digits", n_points=P or 20, seed=args.seed)
        except DataError as exc:
            raise InfwidthError(f"--data digits: {exc}") from None
        X = d.x - d.x.mean(0)
        X = X * np.sqrt(X.shape[1]) / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        y = np.where(d.labels < 5, 1.0, -1.0)
        return X, y
    if Path(spec).suffix != ".npz":
        raise InfwidthError(f"--data must be FILE.npz, digits or synthetic, got {spec!r}")
    z = valid.npz_file("--data", spec, ("X", "y"))
    X = valid.data_array(f"--data {spec}: X", z["X"])
    y = valid.data_array(f"--data {spec}: y", z["y"], ndim=(1, 2), inputs=False).reshape(-1)
    if y.shape[0] != X.shape[0]:
        raise InfwidthError(f"--data {spec}: X must be P x D and y have P entries")
    if P is not None:
        X, y = X[:P], y[:P]
    return X, y


def _solver_name(args) -> str:
    """``--solver``, with ``auto`` resolved."""
    if args.solver != "auto":
        return args.solver
    if args.arch == "resmlp":
        return "mc"
    if args.activation == "linear":
        return "linear"
    return "particles" if args.depth == 1 else "mc"


def estimate_bytes(
    depth: int,
    steps: int,
    n_points: int,
    n_features: int,
    sites: int,
    widths: list[int],
    seeds: int,
) -> int:
    """Peak memory of the command: seven float64 copies (measured 6.9 for the deep-linear and
    the Monte-Carlo solver) of the ``L`` two-time kernels, ``L (T P)^2`` numbers, and of the
    ``S`` sites' fields, ``S L T P``; with ``--compare-widths``, per seed of the widest
    network its parameters (four copies), its own kernels and fields (``N L T P``)."""
    tp = steps * n_points
    solve = 7 * (depth * tp**2 + sites * depth * tp)
    finite = 0
    if widths:
        n = max(widths)
        params = n_features * n + max(depth - 1, 0) * n**2 + n
        finite = seeds * (4 * params + 2 * depth * tp**2 + 4 * n * depth * tp)
    return 8 * (solve + finite)


def _solver(args, dmft):
    name = _solver_name(args)
    return {
        "lazy": lambda: dmft.Lazy(),
        "particles": lambda: dmft.TwoLayerParticles(n_sites=args.sites),
        "linear": lambda: dmft.DeepLinear(),
        "mc": lambda: dmft.MonteCarlo(
            n_sites=args.sites,
            n_response_sites=min(args.response_sites, args.sites),
            response_every=args.response_every,
        ),
        "gia": lambda: dmft.GradientIndependence(n_sites=args.sites),
    }[name]()


def _progress(row: dict, cached: bool) -> None:
    """One stderr line per finished width (as ``infwidth coord-check`` does)."""
    how = "(cached)" if cached else f"in {row['seconds']:.1f} s"
    line = f"  width {row['width']} done {how}"
    if row["n_diverged"]:
        line += f", {row['n_diverged']}/{len(row['seeds'])} seeds diverged"
    sys.stderr.write(line + "\n")


def _figures(out: Path, sol, comparison, L: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(sol.loss, "k-", lw=2, label="DMFT")
    for row in (comparison or {}).get("rows", []):
        if row["loss_mean"] is not None:  # None: every seed of this width diverged
            ax.semilogy(row["loss_mean"], "--", label=f"N = {row['width']}")
    ax.set_xlabel("GD step t")
    ax.set_ylabel("train loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)
    plt.close(fig)

    traced = np.einsum("tmsm->ts", sol.Phi[L - 1])
    fig, ax = plt.subplots(figsize=(4.2, 3.5))
    im = ax.imshow(traced, origin="lower", cmap="viridis")
    ax.set_xlabel("s")
    ax.set_ylabel("t")
    ax.set_title(f"sum_mu Phi^{L}_mu,mu(t, s)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "phi_heatmap.png", dpi=120)
    plt.close(fig)

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
        fig.tight_layout()
        fig.savefig(out / "deviation.png", dpi=120)
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    valid.check_args(
        args,
        positive_int=("depth", "steps", "n_points", "response_sites", "response_every",
                      "max_sweeps", "seeds"),
        positive=("beta0", "gamma0", "eta"),
        seed=("seed",),
    )  # fmt: skip
    valid.positive_int("--sites", args.sites, minimum=2)
    if args.quick:
        args.steps = min(args.steps, 20)
        args.sites = min(args.sites, 500)
        args.response_sites = min(args.response_sites, 32)
        args.seeds = min(args.seeds, 2)
        if args.n_points is None:
            args.n_points = 4
    widths: tuple[int, ...] = ()
    if args.compare_widths is not None:
        widths = valid.widths("--compare-widths", args.compare_widths)
    if args.arch == "resmlp" and args.solver not in ("auto", "mc", "gia"):
        raise InfwidthError(f"--arch resmlp is solved by --solver mc or gia, not {args.solver}")
    X, y = _load_data(args)
    sites = args.sites if _solver_name(args) in ("particles", "mc", "gia") else 0
    need = estimate_bytes(args.depth, args.steps, len(X), X.shape[1], sites, widths, args.seeds)
    what = f"dmft with T={args.steps} steps, P={len(X)} points, L={args.depth}"
    refuse_if_over(
        need, args.max_memory_gb, what, "use fewer --steps, --n-points, --sites or widths"
    )

    from .. import dmft  # JAX is imported here, not at module level.
    from ..dmft._cache import cached_solve

    problem = dmft.DMFTProblem(
        X,
        y,
        depth=args.depth,
        activation=args.activation,
        gamma0=args.gamma0,
        eta=args.eta,
        steps=args.steps,
        arch=args.arch,
        beta0=args.beta0,
    )
    solver = _solver(args, dmft)
    files = ("dmft.json", "kernels.npz", "loss.png", "phi_heatmap.png", "deviation.png")
    out = valid.out_dir(args.out, files, folders=("partial",))
    # With --compare-widths the DMFT solution and every finished width are saved under
    # out/partial (hash-tagged): an interrupted or extended sweep resumes from them.
    partial = out / "partial" if widths else None
    sol, cached = cached_solve(
        problem, solver, seed=args.seed, max_sweeps=args.max_sweeps, cache_dir=partial
    )
    if sol.result is dmft.RESULTS.diverged:
        why = dmft.divergence_message(args.eta, sol.eta_max)
        raise InfwidthError(why.replace("Lower eta.", "Lower --eta."))
    comparison = None
    if widths:
        how = "(cached)" if cached else f"in {sol.wall_time:.1f} s"
        sys.stderr.write(f"  dmft ({sol.solver}) done {how}\n")
        comparison = dmft.compare_widths(
            problem, sol, widths, seeds=args.seeds, progress=_progress, cache_dir=partial
        )
    payload = {
        "settings": sol.settings | {"data": args.data, "quick": bool(args.quick)},
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
    if not args.no_figures:
        _figures(out, sol, comparison, args.depth)
    msg = f"dmft: {sol.solver}, final loss {sol.loss[-1]:.4g}"
    if comparison and comparison["slopes"]:
        msg += ", slopes in N: " + ", ".join(
            f"{k} {v:.2f}" for k, v in comparison["slopes"].items()
        )
    print(msg + f"; wrote {out}")
    if not sol.converged:
        sys.stderr.write(f"infwidth dmft: warning: not converged. {sol.result.value}\n")
        return 1
    return 0
