"""``infwidth dmft``: solve the infinite-width (DMFT) dynamics and measure finite widths against it.

Writes into ``--out`` the files of :func:`infwidth.dmft.write_report`: ``dmft.json``,
``kernels.npz``, ``loss.png``, ``phi_heatmap.png`` and, with ``--compare-widths``,
``deviation.png`` and the comparison (per width the deviations from the DMFT, diverged seeds
left out of the means, and their fitted exponents in N: about -1/2 until the Monte-Carlo
floor). With ``--compare-widths`` the solution and every finished width are saved under
``partial/`` (hash-keyed, :mod:`infwidth._store`): a re-run with the same ``--out`` resumes
an interrupted sweep, a longer width list computes only the new widths. One stderr line is
printed per finished width.

JAX is imported lazily inside :func:`run` (the CLI stays fast for other commands).
"""

from __future__ import annotations

import argparse
import sys

from .. import _validate as valid
from .._memory import add_memory_argument, refuse_if_over
from ..errors import InfwidthError

NAME = "dmft"
HELP = "solve the infinite-width feature-learning dynamics (DMFT) and compare finite widths"
ORDER = 50
USES_JAX = True

#: the solvers (infwidth.dmft.SOLVERS; not imported: that imports JAX)
SOLVERS = ("auto", "lazy", "particles", "linear", "mc", "gia")


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
    parser.add_argument("--solver", choices=SOLVERS, default="auto")
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


def _solved(sol, cached: bool) -> None:
    how = "(cached)" if cached else f"in {sol.wall_time:.1f} s"
    sys.stderr.write(f"  dmft ({sol.solver}) done {how}\n")


def _progress(row: dict, cached: bool) -> None:
    """One stderr line per finished width (as ``infwidth coord-check`` does)."""
    how = "(cached)" if cached else f"in {row['seconds']:.1f} s"
    line = f"  width {row['width']} done {how}"
    if row["n_diverged"]:
        line += f", {row['n_diverged']}/{len(row['seeds'])} seeds diverged"
    sys.stderr.write(line + "\n")


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
    from .. import dmft  # JAX is imported here, not at module level.

    X, y = dmft.load_data(args.data, args.n_points, args.seed, name="--data")
    solver = dmft.solver_name(
        args.solver, arch=args.arch, activation=args.activation, depth=args.depth
    )
    sites = args.sites if solver in ("particles", "mc", "gia") else 0
    need = estimate_bytes(args.depth, args.steps, len(X), X.shape[1], sites, widths, args.seeds)
    what = f"dmft with T={args.steps} steps, P={len(X)} points, L={args.depth}"
    refuse_if_over(
        need, args.max_memory_gb, what, "use fewer --steps, --n-points, --sites or widths"
    )
    fields = ("depth", "activation", "gamma0", "eta", "steps", "arch", "beta0")
    problem = dmft.DMFTProblem(X, y, **{k: getattr(args, k) for k in fields})
    budget = dict(sites=args.sites, response_sites=args.response_sites,
                  response_every=args.response_every)  # fmt: skip
    files = ("dmft.json", "kernels.npz", "loss.png", "phi_heatmap.png", "deviation.png")
    out = valid.out_dir(args.out, files, folders=("partial",))
    try:
        res = dmft.write_report(
            problem, dmft.make_solver(solver, **budget), out, widths=widths, seeds=args.seeds,
            seed=args.seed, max_sweeps=args.max_sweeps, figures=not args.no_figures,
            settings={"data": args.data, "quick": bool(args.quick)},
            on_solved=_solved, progress=_progress,
        )  # fmt: skip
    except dmft.DMFTError as exc:
        raise InfwidthError(str(exc).replace("Lower eta.", "Lower --eta.")) from None
    msg = f"dmft: {res['solver']}, final loss {res['loss'][-1]:.4g}"
    comparison = res["comparison"]
    if comparison and comparison["slopes"]:
        msg += ", slopes in N: " + ", ".join(
            f"{k} {v:.2f}" for k, v in comparison["slopes"].items()
        )
    print(msg + f"; wrote {out}")
    if not res["converged"]:
        sys.stderr.write(f"infwidth dmft: warning: not converged. {res['message']}\n")
        return 1
    return 0
