"""``infwidth sweep``: a learning-rate x width x seed study with a transfer verdict.

Every finished chunk goes to a SQLite store; a rerun (after a crash, or with a larger grid)
computes only the points not stored. JAX is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
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
FIELDS += ("max_memory_gb", "depths", "base_depth", "spec_file", "init_mults", "output_mults")
FIELDS += ("weight_decays", "adam_eps", "warmup_steps", "schedule", "auto_extend")


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
    p.add_argument("--arch", help="built-in network: mlp | resmlp (mlp)")
    p.add_argument("--depth", type=int, help="hidden layers / residual blocks (2)")
    p.add_argument("--depths", help="comma-separated depth axis (--depth)")
    p.add_argument("--base-depth", type=int, help="depth where constants are fixed (smallest)")
    p.add_argument(
        "--spec",
        dest="spec_file",
        metavar="FILE",
        help="a network spec file (JSON/TOML), run as a sequential chain",
    )
    p.add_argument("--init-mults", help="init-std multiplier axis, comma-separated (1)")
    p.add_argument("--output-mults", help="output multiplier axis, comma-separated (1)")
    p.add_argument("--weight-decays", help="weight-decay axis, comma-separated (0)")
    p.add_argument("--adam-eps", help="Adam epsilon axis, comma-separated (1e-8)")
    p.add_argument("--warmup-steps", type=int, help="linear warmup steps (0)")
    p.add_argument("--schedule", help="constant | linear | cosine decay after warmup (constant)")
    p.add_argument(
        "--auto-extend",
        type=int,
        nargs="?",
        const=4,
        metavar="N",
        help="extend the LR grid while an optimum is on its edge, at most N times (4)",
    )
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--quick", action="store_true", help="a small grid (CI)")
    p.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="where chunks run: this process (local), or Ray tasks (ray; pip install "
        "'infwidth[ray]')",
    )  # fmt: skip
    p.add_argument(
        "--ray-address", metavar="ADDR",
        help="Ray cluster to use (HOST:PORT, auto); default: start a local one and stop it",
    )  # fmt: skip
    p.add_argument(
        "--devices", type=int, metavar="N",
        help="shard each chunk over N local devices (on CPU: N forced host devices, in a "
        "subprocess)",
    )  # fmt: skip


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
    if args.ray_address and args.executor != "ray":
        raise InfwidthError("--ray-address needs --executor ray")
    if args.devices is not None and args.devices < 1:
        raise InfwidthError(f"--devices must be a positive integer, got {args.devices}")
    if args.devices is not None and args.executor == "ray":
        raise InfwidthError("--devices shards over this host; Ray workers use their own devices")
    spec = build_spec(args)
    if args.devices is not None:
        code = _on_host_devices(args)
        if code is not None:
            return code
    from ..sweep import write_sweep

    with ProgressBar(disable=args.quiet, depths=len(spec.all_depths) > 1) as bar:
        result, doc, paths = write_sweep(
            spec, args.out, store=args.store, tolerance=args.tolerance,
            plot_png=not args.no_plot, executor=args.executor, ray_address=args.ray_address,
            devices=args.devices, progress=bar,
        )  # fmt: skip
    if result.extended:
        lo, hi = result.spec.log2_lrs[0], result.spec.log2_lrs[-1]
        sys.stdout.write(f"grid extended {result.extended} time(s) to {lo:g}..{hi:g}\n")
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


#: set in the subprocess that --devices starts, so it never starts another
CHILD = "INFWIDTH_SWEEP_DEVICES_CHILD"


def _on_host_devices(args: argparse.Namespace) -> int | None:
    """``None`` when JAX already sees ``--devices`` devices; else, on CPU, re-run this
    command in a subprocess whose JAX starts with that many host devices (XLA reads the
    device count once, at start-up) and return its exit code."""
    import jax

    from ..sweep._executors import host_device_env

    n, have, backend = args.devices, len(jax.devices()), jax.default_backend()
    if n <= have:
        return None
    if backend != "cpu" or os.environ.get(CHILD):
        raise InfwidthError(f"--devices {n}: JAX sees {have} {backend} device(s)")
    env = host_device_env(n)
    root = str(Path(__file__).resolve().parents[2])  # this infwidth, in the child too
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env[CHILD] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.run([sys.executable, "-m", "infwidth", *args._argv], env=env).returncode


class ProgressBar:
    """One tqdm bar on stderr: points done / total (stored ones count as done), the chunk,
    how many chunks came from the store, ETA. :func:`~infwidth.sweep.run_sweep` calls
    :meth:`start` before a pass over the grid's chunks (after every up-front check, so an
    error prints one line) and the bar with each finished chunk."""

    def __init__(self, *, disable: bool = False, depths: bool = False) -> None:
        self._bar, self._cached, self._disable, self._depths = None, 0, disable, depths

    def start(self, total: int, stored: int = 0) -> None:
        """A pass over ``total`` points of which ``stored`` are done: they count from the
        start, so the rate (and ETA) is that of computed points only."""
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="pt", disable=self._disable, file=sys.stderr)
        self._bar.reset(total=total)  # also another pass: auto_extend grew the grid
        # stored points done from the start, outside the rate's moving average
        self._bar.n = self._bar.last_print_n = self._bar.initial = stored
        self._bar.refresh()
        self._cached = 0

    def __call__(self, c) -> None:
        self._cached += c.computed == 0
        depth = f" depth {c.depth}" if self._depths else ""
        where = f" on {c.devices} devices" if c.devices > 1 else ""
        where += f" on node {c.node[:8]}" if c.node is not None else ""
        self._bar.set_postfix_str(
            f"chunk {c.index + 1}/{c.total} width {c.width}{depth}{where}, {self._cached} cached",
            refresh=False,
        )
        self._bar.update(c.computed)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


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
