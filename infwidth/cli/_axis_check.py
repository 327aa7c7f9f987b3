"""``infwidth axis-check``: a finite-size check along a scaling axis other than the width."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import _validate as valid

NAME = "axis-check"
HELP = (
    "train small networks along density/rank/experts/GQA groups/heads/vocabulary (or a "
    "second-order or SAM step along width) and judge the fitted slopes against the derivation"
)
ORDER = 31
USES_JAX = True
CHECKS = ("density", "rank", "experts", "gqa", "heads", "vocab", "precond", "sam")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("check", choices=CHECKS, help="which axis (see infwidth.sim._checks)")
    p.add_argument("--optimizer", help="the check's optimiser (default: the check's own)")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="the rule the derivation argues against (blind to the axis, fixed damping, "
        "standard SAM) instead of the derived one",
    )
    p.add_argument("--seeds", type=int, help="seeds per point (default: the check's)")
    p.add_argument("--json", help="also write the slopes to this JSON file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a verdict is FAIL")


def run(args: argparse.Namespace) -> int:
    valid.check_args(args, positive_int=("seeds",))
    if args.json is not None:
        valid.out_dir(Path(args.json).parent or Path("."), [Path(args.json).name], name="--json")
    from ..sim._checks import run_axis_check

    options = {} if args.seeds is None else {"seeds": args.seeds}
    check, rule, slopes = run_axis_check(
        args.check, optimizer=args.optimizer, baseline=args.baseline, **options
    )
    out = sys.stdout
    out.write(f"{args.check} check along {check.axis}, rule {rule}\n")
    out.write(
        f"{'tensor':<12} {'quantity':<22} {'predicted':>9} {'slope':>7}  {'CI':<17} verdict\n"
    )
    for s in slopes:
        tensor = getattr(s, "tensor", "") or ""
        slope = "-" if s.slope is None else f"{s.slope:+.3f}"
        ci = "-" if s.ci_low is None else f"[{s.ci_low:+.2f}, {s.ci_high:+.2f}]"
        out.write(f"{tensor:<12} {s.quantity:<22} {str(s.predicted):>9} {slope:>7}  {ci:<17} "
                  f"{s.verdict}{'' if not s.reason else f' ({s.reason})'}\n")  # fmt: skip
    if args.json is not None:
        doc = {"check": args.check, "axis": check.axis, "rule": rule,
               "slopes": [s.to_json() for s in slopes]}  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        out.write(f"wrote {args.json}\n")
    return 1 if args.strict and any(s.verdict == "FAIL" for s in slopes) else 0
