"""``infwidth reproduce ID [--quick] [--out DIR]`` and ``infwidth reproduce --list``: run a
paper reproduction (:mod:`infwidth.reproduce`), write ``figure.png``, ``data.json`` and
``verdict.json``, and print the verdict table. A rerun into the same ``--out`` resumes from
its sweep store. JAX is imported inside :func:`run` only."""

from __future__ import annotations

import argparse
import sys

from ..errors import InfwidthError

NAME = "reproduce"
HELP = "reproduce a paper figure with a machine-checked verdict (--list shows them)"
ORDER = 37
USES_JAX = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", nargs="?", help="reproduction id (see --list)")
    p.add_argument("--list", action="store_true", help="list the reproductions and exit")
    p.add_argument("--quick", action="store_true", help="the small version CI runs")
    p.add_argument("--out", help="output folder (reproduce_out/ID[-quick])")


def run(args: argparse.Namespace) -> int:
    from ..reproduce import get, listing, reproduce, verdict_table

    if args.list:
        for rid, title in listing():
            sys.stdout.write(f"{rid:16s} {title}\n")
        return 0
    if args.id is None:
        raise InfwidthError("name a reproduction id, or --list to see them")
    get(args.id)  # an unknown id: one line, before anything runs
    result = reproduce(args.id, quick=args.quick, out=args.out)
    sys.stdout.write(verdict_table(result.verdict) + "\n")
    sys.stdout.write(f"wrote {result.out}/figure.png, data.json, verdict.json\n")
    return 0 if result.verdict["pass"] else 1
