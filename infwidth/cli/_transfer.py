"""``infwidth transfer``: sweep the base width densely, bracket the predicted optimum at the
target widths, and answer "did the optimal learning rate transfer, within what tolerance".

Takes the network, data, horizon and axis flags of ``infwidth sweep`` (the same code), with
``--base-width`` and ``--target-widths`` in place of ``--widths``. Points go to the same SQLite
store as ``infwidth sweep``. JAX is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InfwidthError
from . import _sweep

NAME = "transfer"
HELP = "did the optimal learning rate transfer? a dense sweep at the base width, brackets above"
ORDER = 36
USES_JAX = True

#: --quick: the digits study of tests/sweep/test_transfer.py (~5 s)
QUICK_WIDTHS = {"base_width": 64, "target_widths": "256"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    _sweep.add_spec_arguments(p, widths=False)
    p.add_argument("--target-widths", help="comma-separated widths to bracket (required)")
    p.add_argument("--bracket", type=int, default=3, help="learning rates per bracket (3)")
    p.add_argument(
        "--compare-full", action="store_true",
        help="also run the full grid at the target widths (in memory) and time it",
    )  # fmt: skip
    p.set_defaults(out="transfer_out")


def run(args: argparse.Namespace) -> int:
    from ..sweep._spec import _ints

    for key, value in QUICK_WIDTHS.items() if args.quick else ():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.target_widths is None:
        raise InfwidthError("transfer needs --target-widths (and --base-width, or the smallest)")
    targets = _ints(args.target_widths, "target widths")
    if args.tolerance is None or not args.tolerance > 0:
        raise InfwidthError(f"--tolerance must be positive, got {args.tolerance}")
    if args.base_width is None:
        args.base_width = min(targets)
        targets = tuple(w for w in targets if w != args.base_width)
    args.widths = str(args.base_width)
    spec = _sweep.build_spec(args)

    from ..sweep import write_transfer

    def progress(c) -> None:
        if not args.quiet:
            tag = " (cached)" if c.computed == 0 else f" {c.seconds:.1f} s"
            sys.stderr.write(f"  width {c.width}: {c.points} points{tag}\n")

    doc, paths = write_transfer(
        spec, targets, args.out, store=args.store, plot_png=not args.no_plot,
        bracket=args.bracket, tolerance=args.tolerance, compare_full=args.compare_full,
        progress=progress,
    )  # fmt: skip
    for target, t in doc["transfer"].items():
        shift = t["shift_octaves"]
        tail = (
            f"shift {shift:+.2f} octaves (predicted {t['predicted_shift_octaves']:+.2f}), "
            f"spread {t['spread_octaves']:.2f} vs tolerance {t['tolerance_octaves']:g}"
            if shift is not None
            else "no optimum"
        )
        sys.stdout.write(f"{target}: {t['verdict']} ({tail}; {spec.steps} steps)\n")
    c = doc["compute"]
    full = c["full_grid"]
    secs = full["seconds"] if full["seconds"] is not None else full["seconds_estimated"]
    how = "measured" if full["seconds"] is not None else "estimated"
    secs = "n/a (every point from the store)" if secs is None else f"{secs:.1f} s ({how})"
    sys.stdout.write(
        f"target widths: {c['bracket']['points']} points vs {full['points']} for the full grid "
        f"({c['points_ratio']:.2f}x fewer); {c['seconds']:.1f} s in all vs {secs} for the "
        "full grid\n"
    )
    if "full_grid" in doc:
        same = doc["full_grid"]["same_answer"]
        sys.stdout.write(f"the full grid {'agrees' if same else 'DISAGREES'} with the brackets\n")
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0
