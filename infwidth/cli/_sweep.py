"""``infwidth sweep``: a learning-rate x width x seed study with a transfer verdict.

Every finished chunk goes to a SQLite store; a rerun (after a crash, or with a larger grid)
computes only the points not stored. JAX is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import InfwidthError

NAME = "sweep"
HELP = "learning-rate x width x seed sweeps of derived parametrizations, with a transfer verdict"
ORDER = 35
USES_JAX = True

# --quick: the digits study of tests/sweep/test_transfer_science.py with one seed (~5 s)
QUICK = {"widths": "64,256", "log2_lrs": "-7:1:1", "seeds": 1, "steps": 40, "n_train": 256}
QUICK |= {"batch_size": 256, "loss": "mse"}
#: flag -> SweepSpec field, for flags that override a --config file
FIELDS = ("arch", "depth", "data", "n_train", "loss", "optimizer", "targets", "widths")
FIELDS += ("log2_lrs", "seeds", "steps", "batch_size", "base_width", "max_chunk")
FIELDS += ("max_memory_gb",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", nargs="?", choices=("run", "export"), default="run",
        help="run the sweep (default), or export a store (--store, --format, --out FILE)",
    )  # fmt: skip
    p.add_argument("--format", default="csv", help="export: csv | json | parquet (csv)")
    add_spec_arguments(p)


def add_spec_arguments(p: argparse.ArgumentParser, *, widths: bool = True) -> None:
    """The flags of a :class:`~infwidth.sweep.SweepSpec` and its run (shared with
    ``infwidth transfer``, which passes ``widths=False``)."""
    # let "--log2-lrs -9:-2:1" read as a value, not an option (argparse only knows "-9", "-.5")
    p._negative_number_matcher = re.compile(r"^-\d*\.?\d+([:,]-?\d*\.?\d+)*$")
    p.add_argument("--config", metavar="FILE", help="TOML/JSON sweep config (flags override it)")
    p.add_argument("--arch", help="built-in network (mlp)")
    p.add_argument("--depth", type=int, help="hidden layers (2)")
    p.add_argument("--data", help="digits | mnist | fashion-mnist (digits)")
    p.add_argument("--n-train", type=int, help="training points, a seeded subset (all)")
    p.add_argument("--loss", help="xent | mse (xent)")
    p.add_argument("--optimizer", help="sgd | adam (sgd)")
    p.add_argument("--targets", help="comma-separated targets/presets (sp,mup)")
    if widths:
        p.add_argument("--widths", help="comma-separated widths (64,128,256)")
    p.add_argument("--log2-lrs", help="log2 base-LR grid lo:hi:step, inclusive (-6:0:1)")
    p.add_argument("--seeds", type=int, help="seeds per point (2)")
    p.add_argument("--steps", type=int, help="training steps (100)")
    p.add_argument("--batch-size", type=int, help="minibatch size (128)")
    p.add_argument("--base-width", type=int, help="width where constants are fixed (smallest)")
    p.add_argument("--max-chunk", type=int, help="most points per compiled program (32)")
    p.add_argument("--max-memory-gb", type=float, help="memory budget per chunk (half the RAM)")
    p.add_argument("--tolerance", type=float, default=1.0, help="verdict tolerance, octaves (1)")
    p.add_argument("--store", help="SQLite results store (OUT/sweep.sqlite)")
    p.add_argument("--out", default="sweep_out", help="output folder (sweep_out)")
    p.add_argument("--no-plot", action="store_true", help="write the JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--quick", action="store_true", help="a small grid (CI)")


def build_spec(args: argparse.Namespace):
    """The :class:`~infwidth.sweep.SweepSpec` of the flags (over ``--config`` if given)."""
    from ..sweep import SweepSpec
    from ..sweep._spec import read_config

    base = (
        {k.replace("-", "_"): v for k, v in read_config(args.config).items()} if args.config else {}
    )
    for key, value in QUICK.items() if args.quick else ():
        if getattr(args, key) is None:
            setattr(args, key, value)
    base.update({k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None})
    return SweepSpec.from_dict(base)


def run(args: argparse.Namespace) -> int:
    if args.action == "export":
        return _export(args)
    if args.tolerance is not None and not args.tolerance > 0:
        raise InfwidthError(f"--tolerance must be positive, got {args.tolerance}")
    spec = build_spec(args)
    from ..sweep import run_sweep, write
    from ..sweep._report import sweep_json

    out = Path(args.out)
    store = Path(args.store) if args.store else out / "sweep.sqlite"

    def progress(c) -> None:
        if args.quiet:
            return
        tag = " (cached)" if c.computed == 0 else f" {c.seconds:.1f} s"
        if 0 < c.computed < c.points:
            tag += f" ({c.points - c.computed} cached)"
        sys.stderr.write(
            f"  chunk {c.index + 1}/{c.total}: width {c.width}, {c.points} points{tag}\n"
        )

    result = run_sweep(spec, store=str(store), progress=progress)
    doc = sweep_json(result, tolerance=args.tolerance)
    paths = write(doc, out, plot_png=not args.no_plot)
    for target, t in doc["transfer"].items():
        shift = t["shift_octaves"]
        tail = (
            f"shift {shift:+.2f} octaves, spread {t['spread_octaves']:.2f}"
            if shift is not None
            else "no optimum"
        )
        sys.stdout.write(f"{target}: {t['verdict']} ({tail}; {spec.steps} steps)\n")
    sys.stdout.write(f"{result.computed} points computed, {result.cached} from the store\n")
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..sweep._export import export

    if not args.store:
        raise InfwidthError("sweep export needs --store FILE")
    out = Path(args.out)
    if out.is_dir():
        raise InfwidthError(f"--out must name the file to write, {out} is a folder")
    n = export(args.store, args.format, out)
    sys.stdout.write(f"wrote {out} ({n} points)\n")
    return 0
