"""``infwidth derive``: width/depth exponents of a parametrization, derived from the desiderata."""

from __future__ import annotations

import argparse
import sys

NAME = "derive"
HELP = "derive a parametrization's width/depth exponents from the abc(d) desiderata"
ORDER = 10


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """``--arch``/``--spec`` and the built-ins' shape options (shared with ``classify``)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--arch",
        choices=["mlp", "resmlp", "transformer", "cnn", "sparse-mlp", "sparse-transformer"]
        + ["lora-mlp", "lora-transformer", "moe", "moe-growing", "gqa", "mha-heads"]
        + ["large-vocab"],
    )
    src.add_argument("--spec", metavar="FILE", help="network spec (.json or .toml)")
    p.add_argument("--depth", type=int, default=None, help="mlp: hidden layers; cnn: convs")
    p.add_argument("--bias", action="store_true", help="built-ins: add biases")
    p.add_argument("--tied", action="store_true", help="transformer: tie the unembedding")


def network_from_args(args: argparse.Namespace):
    from .._validate import check_args
    from ..spec import builtin, load_spec

    check_args(args, positive_int=("depth",))
    if args.spec:
        return load_spec(args.spec)
    kwargs = {}
    if args.arch in ("mlp", "cnn") and args.depth is not None:
        kwargs["depth"] = args.depth
    if args.bias and args.arch != "transformer":
        kwargs["bias"] = True
    if args.tied and args.arch == "transformer":
        kwargs["tied"] = True
    return builtin(args.arch, **kwargs)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..symbolic._named import TARGETS
    from ..symbolic._optimizers import OPTIMIZERS
    from ..symbolic._parametrization import GAUGES

    add_network_arguments(p)
    p.add_argument("--optimizer", required=True, choices=list(OPTIMIZERS))
    p.add_argument("--target", default="mup", choices=list(TARGETS))
    p.add_argument("--gauge", default=None, choices=list(GAUGES))
    p.add_argument("--alignment", default="full", choices=["full", "none"])
    p.add_argument(
        "--perturbation",
        choices=["sam"],
        default=None,
        help="also derive SAM's radius and per-layer perturbation scaling (muP²)",
    )
    p.add_argument(
        "--weight-decay",
        choices=["timescale", "equilibrium"],
        default=None,
        help="desideratum weight decay is derived from (adamw; default timescale)",
    )
    p.add_argument("--format", default="table", choices=["table", "markdown", "latex", "json"])
    p.add_argument("--explain", action="store_true", help="print the step-by-step derivation")
    p.add_argument(
        "--export",
        choices=["megatron", "hf", "olmo-core", "nanogpt-mup"],
        help="print the framework's muP settings at --width/--base-width (JSON)",
    )
    p.add_argument("--width", type=int, default=None, help="--export: target width")
    p.add_argument("--base-width", type=int, default=None, help="--export: base width")


def run(args: argparse.Namespace) -> int:
    from ..symbolic import derive
    from ..symbolic._explain import explain
    from ..symbolic._render import render

    d = derive(
        network_from_args(args),
        args.optimizer,
        target=args.target,
        gauge=args.gauge,
        alignment=args.alignment,
        perturbation=args.perturbation,
        weight_decay=args.weight_decay,
    )
    if args.export:
        import json

        from ..symbolic._export import export

        w = args.width or args.base_width or 1
        e = export(d.to_json(), args.export, width=w, base_width=args.base_width or w)
        sys.stdout.write(json.dumps(e, indent=2) + "\n")
        return 0
    sys.stdout.write((explain(d) if args.explain else render(d, args.format)).rstrip() + "\n")
    return 0
