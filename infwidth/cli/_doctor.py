"""``infwidth doctor``: audit a built-in network's or a user's model's effective
parametrization against the derived table and name the guilty tensor and knob.

``--model FILE.py:make`` imports and runs the user's file (the one place code is run by
design: the user names it on the command line). JAX is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import sys

from .. import _validate as valid

NAME = "doctor"
HELP = "audit a model's effective parametrization (init, multipliers, lr, eps, decay) vs muP"
ORDER = 35
USES_JAX = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--arch", choices=["mlp", "resmlp", "transformer"], help="built-in network")
    g.add_argument("--model", metavar="FILE.py:make", help="make(width) -> doctor.UserModel")
    p.add_argument("--target", default="mup", help="derived target (mup)")
    p.add_argument("--optimizer", default="adam", help="adam | adamw | sgd | ... (adam)")
    p.add_argument("--widths", default="64,128,256", help="comma-separated widths (64,128,256)")
    p.add_argument("--base-width", type=int, default=None, help="base width (smallest width)")
    p.add_argument("--tied", action="store_true", help="transformer: tie the unembedding")
    p.add_argument("--lr", type=float, default=1e-2, help="built-ins: base learning rate")
    p.add_argument("--eps", type=float, default=1e-8, help="built-ins: base Adam epsilon")
    p.add_argument("--weight-decay", type=float, default=0.0, help="built-ins: weight decay")
    p.add_argument(
        "--transfer-steps", type=int, default=60, help="transfer test: steps per LR (0 skips)"
    )
    p.add_argument(
        "--bracket", default="-2,-1,0,1,2", help="transfer test: log2 LR multipliers (5 points)"
    )
    p.add_argument("--alignment-steps", type=int, default=16, help="alignment run: steps (0 skips)")
    p.add_argument("--out", default="doctor_out", help="output folder")


def run(args: argparse.Namespace) -> int:
    from ..doctor import run_doctor

    widths = valid.widths("--widths", args.widths, min_count=2)
    if args.base_width is not None:
        valid.positive_int("--base-width", args.base_width)
    builtin = {}
    if args.arch:
        builtin = {
            "lr": valid.positive("--lr", args.lr),
            "eps": valid.nonnegative("--eps", args.eps),
            "weight_decay": valid.nonnegative("--weight-decay", args.weight_decay),
            "tied": args.tied,
        }
    from ..sweep import parse_grid

    valid.nonnegative_int("--transfer-steps", args.transfer_steps)
    valid.nonnegative_int("--alignment-steps", args.alignment_steps)
    bracket = parse_grid(args.bracket)
    rep = run_doctor(
        widths=widths,
        out=args.out,
        optimizer=args.optimizer,
        target=args.target,
        arch=args.arch,
        model=args.model,
        base_width=args.base_width,
        transfer_steps=args.transfer_steps,
        bracket=bracket,
        alignment_steps=args.alignment_steps,
        **builtin,
    )
    fails = len(rep.failures())
    verdict = "PASS" if rep.passed else f"{fails} finding(s) fail"
    if rep.transfer:
        verdict += f"; transfer: {rep.transfer['verdict']}"
    sys.stdout.write(f"doctor: {verdict}; report in {args.out}/report.md\n")
    return 0
