"""``infwidth tour``: derive, simulate and plot into a local output folder."""

from __future__ import annotations

import argparse

NAME = "tour"
HELP = "guided tour: derive muP, check it at finite width, plot; writes into --out"
ORDER = 1
USES_JAX = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="infwidth-out", help="output folder (default: infwidth-out)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds, used by tests)")


def run(args: argparse.Namespace) -> int:
    from .._validate import out_dir
    from ..tour import run_tour

    out_dir(args.out)

    run_tour(args.out, quick=args.quick)
    return 0
