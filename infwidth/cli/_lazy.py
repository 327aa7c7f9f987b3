"""``infwidth lazy``: kernel-regime learning curves, predicted and measured.

Trains one finite MLP (width ``--width``; NTK parametrization, or muP with ``--param mup``) and
compares its train/test loss curves with the closed-form infinite-width predictions of the
analytic NTK; the engine is :func:`infwidth.kernels.lazy_experiment` (see there for the files
it writes). For image data sets the targets are the parity of the label as +-1. With
``--finite-width-report`` also ``ntk_finite_width.json`` and ``.png``
(:func:`infwidth.kernels.finite_width_report`). JAX is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import _validate as valid
from .._memory import add_memory_argument


def estimate_bytes(*args, **kwargs) -> int:
    """:func:`infwidth.kernels._lazy_experiment.estimate_bytes`, imported when called (the
    kernels package imports JAX, which ``infwidth derive`` must not pay for)."""
    from ..kernels._lazy_experiment import estimate_bytes as estimate

    return estimate(*args, **kwargs)


NAME = "lazy"
HELP = "predict kernel-regime learning curves and compare with a trained finite-width network"
ORDER = 41
USES_JAX = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, default=1, help="number of hidden layers L")
    parser.add_argument("--activation", default="erf", help="one of infwidth.network.ACTIVATIONS")
    parser.add_argument("--weight-std", type=float, default=1.0, help="neural-tangents' W_std")
    parser.add_argument("--bias-std", type=float, default=0.0, help="b_std; 0 means no bias")
    parser.add_argument("--width", type=int, default=1024, help="width of the trained network")
    parser.add_argument(
        "--param",
        choices=("ntp", "mup"),
        default="ntp",
        help="parametrization of the trained network: ntp (lazy: tracks the NTK prediction) or "
        "mup (same NTK at init, but features learn and the curves leave the prediction)",
    )
    parser.add_argument("--steps", type=int, default=200, help="gradient-descent steps")
    parser.add_argument("--lr", type=float, default=1.0, help="learning rate (loss 1/(2n) sum)")
    parser.add_argument(
        "--data", default="teacher", help="teacher | digits | mnist | fashion-mnist | FILE.npz"
    )
    parser.add_argument("--n-train", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument(
        "--finite-width-report",
        choices=("quick", "full"),
        default=None,
        help="also measure NTK convergence at init and NTK movement under NTP vs muP over widths "
        "(ntk_finite_width.json/png; quick: widths 16..256, seconds; full: 32..1024, minutes)",
    )
    add_memory_argument(parser)


def run(args: argparse.Namespace) -> int:
    valid.check_args(
        args,
        nonnegative_int=("depth",),
        positive_int=("width", "steps", "n_train", "n_test"),
        positive=("lr", "weight_std"),
        nonnegative=("bias_std",),
        seed=("seed",),
    )
    from ..kernels import lazy_experiment

    res = lazy_experiment(
        args.out, data=args.data, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
        width=args.width, depth=args.depth, activation=args.activation, W_std=args.weight_std,
        b_std=args.bias_std, param=args.param, steps=args.steps, learning_rate=args.lr,
        figures=not args.no_figures, finite_width_report=args.finite_width_report,
        max_memory_gb=args.max_memory_gb,
        settings={k: v for k, v in vars(args).items() if not k.startswith("_")},
    )  # fmt: skip
    out = Path(args.out)
    gap = res["max_relative_test_gap_network_vs_lazy_from_init"]
    print(f"wrote {out / 'lazy.json'}; max relative test-loss gap network vs lazy: {gap:.3g}")
    if "finite_width_report" in res:
        rep = res["finite_width_report"]
        slopes = ", ".join(f"{k} {rep[k]['slope']:+.2f}" for k in ("init", "ntp", "mup"))
        print(f"wrote {out / 'ntk_finite_width.json'}; fitted width exponents: {slopes}")
    return 0
