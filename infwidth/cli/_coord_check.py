"""``infwidth coord-check``: train a derived parametrization at several widths and check that
activations, feature movement and outputs scale with the exponents the theory predicts.

JAX is imported inside :func:`run` only (the dispatcher imports every command module).
"""

from __future__ import annotations

import argparse
import sys

from .. import _validate as valid
from .._memory import add_memory_argument

NAME = "coord-check"
HELP = "measure width exponents of features/outputs in finite JAX networks vs the derivation"
ORDER = 30
USES_JAX = True

QUICK = {"widths": "64,128,256", "steps": 2, "seeds": 2, "batch_size": 16}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--arch", default=None, help="mlp | resmlp | cnn | transformer (default mlp)")
    g.add_argument("--spec", default=None, metavar="FILE", help="custom sequential network spec")
    p.add_argument("--target", default="mup", help="mup | sp | ntp | mfp | umup | ... (mup)")
    p.add_argument("--optimizer", default="sgd", help="sgd | momentum | adam | adamw | ... (sgd)")
    p.add_argument("--gauge", default=None, help="gauge of the derived table (engine default)")
    p.add_argument("--alignment", default="full", help="full | none (full)")
    p.add_argument("--widths", default=None, help="comma-separated widths (64,128,256,512)")
    p.add_argument(
        "--base-width",
        type=int,
        default=None,
        help="width where constants are fixed (min(16, widths))",
    )
    p.add_argument("--steps", type=int, default=None, help="training steps (3)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per width (3)")
    p.add_argument("--lr", type=float, default=None, help="base learning rate (0.1 SGD, 0.01 else)")
    p.add_argument("--eps", type=float, default=1e-8, help="base Adam epsilon (1e-8)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="base decoupled weight decay")
    p.add_argument("--depth", type=int, default=2, help="hidden layers / residual blocks (2)")
    p.add_argument("--base-depth", type=int, default=None, help="depth where constants are fixed")
    p.add_argument("--input-dim", type=int, default=None, help="d_in (mlp) / channels C (cnn)")
    p.add_argument("--output-dim", type=int, default=None, help="d_out / vocabulary V")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (32)")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--activation", default="relu", help="one of infwidth.network.ACTIVATIONS")
    p.add_argument("--float64", action="store_true", help="run in double precision")
    p.add_argument("--tolerance", type=float, default=0.2, help="slope tolerance (0.2)")
    p.add_argument(
        "--spectral",
        action="store_true",
        help="also record ||dW||/||W|| (a power iteration on every seed's W_0: slow and "
        "memory-hungry at large widths)",
    )
    p.add_argument(
        "--no-spectral",
        action="store_true",
        help="deprecated: ||dW||/||W|| is now off unless --spectral is given",
    )
    p.add_argument(
        "--no-factor-sgd",
        action="store_true",
        help="under SGD, update wide matrices densely instead of as W0 + U V^T (same numbers)",
    )
    p.add_argument("--no-plot", action="store_true", help="write the JSON only")
    p.add_argument("--seed", type=int, default=0, help="master seed (0)")
    add_memory_argument(p)
    p.add_argument("--quick", action="store_true", help="small widths/steps/seeds (CI)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the verdict is FAIL (not when INCONCLUSIVE: too few or too small "
        "widths, unfittable slopes or diverged runs leave the exit status 0)",
    )
    p.add_argument("--out", default="coord_check_out", help="output folder")


def run(args: argparse.Namespace) -> int:
    for key, value in QUICK.items() if args.quick else ():
        if getattr(args, key) is None:
            setattr(args, key, value)
    valid.check_args(
        args,
        positive_int=("steps", "seeds", "depth", "batch_size", "input_dim", "output_dim",
                      "base_width", "base_depth"),
        positive=("lr", "tolerance", "max_memory_gb"),
        nonnegative=("eps", "weight_decay"),
        seed=("seed",),
    )  # fmt: skip
    text = "64,128,256,512" if args.widths is None else args.widths
    widths = valid.widths("--widths", text, min_count=2)
    if args.no_spectral:
        sys.stderr.write("infwidth coord-check: --no-spectral is deprecated (now the default)\n")
    from ..sim import run_coord_check

    def progress(w: int, cached: bool) -> None:
        sys.stderr.write(f"  width {w} done{' (cached)' if cached else ''}\n")

    result, paths = run_coord_check(args, widths, progress=progress)
    sys.stdout.write(result.summary())
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 1 if (args.strict and result.verdict == "FAIL") else 0
