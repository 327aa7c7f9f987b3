"""``infwidth classify``: the regime of given abc(d) exponents (TP4 / TP4b)."""

from __future__ import annotations

import argparse
import json
import sys

from ._derive import add_network_arguments, network_from_args

NAME = "classify"
HELP = "classify abc(d) exponents: unstable, trivial, kernel regime, feature learning, muP"
ORDER = 11


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..symbolic._named import TARGETS
    from ..symbolic._optimizers import OPTIMIZERS

    add_network_arguments(p)
    p.add_argument("--optimizer", required=True, choices=list(OPTIMIZERS))
    p.add_argument(
        "--preset", default=None, choices=list(TARGETS),
        help="classify a named parametrization instead of the spec's exponents",
    )  # fmt: skip
    p.add_argument("--alignment", default="full", choices=["full", "none"])
    p.add_argument("--format", default="text", choices=["text", "json"])


def run(args: argparse.Namespace) -> int:
    from ..errors import InfwidthError
    from ..symbolic import classify

    if args.arch and not args.preset:
        raise InfwidthError("--arch needs --preset (a built-in network carries no exponents)")
    c = classify(
        network_from_args(args), args.optimizer, preset_name=args.preset, alignment=args.alignment
    )
    if args.format == "json":
        sys.stdout.write(json.dumps(c.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(c.summary() + "\n")
    return 0
