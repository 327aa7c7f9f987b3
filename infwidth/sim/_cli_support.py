"""Helpers of ``infwidth coord-check``: table lookup, config, memory estimate, summary."""

from __future__ import annotations

import argparse
import math
import os

import jax
import jax.random as jr

from ..errors import InfwidthError
from ._coord import CoordCheckConfig, model_at
from ._report import VERDICT_QUANTITIES, CoordCheckResult
from ._table import Table

#: Per-parameter copies alive during a step: w, w_0, gradient, update, new w (+ states).
_COPIES = {"sgd": 5, "signsgd": 5, "momentum": 6, "muon": 7, "adam": 7, "adamw": 7}


def load_table(args: argparse.Namespace) -> tuple[Table, str]:
    """Derive the table the command checks; returns it and the model's architecture."""
    from .. import derive, load_spec

    kw = dict(target=args.target, gauge=args.gauge, alignment=args.alignment)
    if args.spec:
        return Table.from_json(derive(load_spec(args.spec), args.optimizer, **kw)), "chain"
    arch = args.arch or "mlp"
    arch_kw = {
        "mlp": {"depth": args.depth, "bias": args.bias},
        "resmlp": {"bias": args.bias},
        "cnn": {"depth": args.depth, "bias": args.bias},
        "transformer": {},
    }
    if arch not in arch_kw:
        raise InfwidthError(f"unknown architecture {arch!r}; choose one of {', '.join(arch_kw)}")
    return Table.derive(arch, args.optimizer, **kw, **arch_kw[arch]), arch


def build_config(
    args: argparse.Namespace, arch: str, table: Table, widths: tuple[int, ...]
) -> CoordCheckConfig:
    dims: dict[str, int] = {}
    if args.input_dim:
        dims["C" if arch == "cnn" else "d_in"] = args.input_dim
    if args.output_dim:
        dims["V" if arch == "transformer" else "d_out"] = args.output_dim
    lr = (
        args.lr if args.lr is not None else (0.1 if args.optimizer in ("sgd", "momentum") else 0.01)
    )
    return CoordCheckConfig(
        arch=arch,
        optimizer=args.optimizer,
        widths=widths,
        base_width=args.base_width,
        steps=args.steps or 3,
        seeds=args.seeds or 3,
        lr=lr,
        eps=args.eps,
        weight_decay=args.weight_decay,
        depth=args.depth,
        base_depth=args.base_depth,
        batch_size=args.batch_size or 32,
        dims=dims,
        activation=args.activation,
        dtype="float64" if args.float64 else "float32",
        spectral=not args.no_spectral,
        factor_sgd=not args.no_factor_sgd,
        seed=args.seed,
    )


def estimate_bytes(table: Table, cfg: CoordCheckConfig, width: int) -> int:
    """Peak memory of one width (all seeds at once): parameter copies plus activations."""
    model = model_at(table, cfg, width)
    key = jr.PRNGKey(0)
    params = jax.eval_shape(model.init, key)
    n_params = sum(math.prod(p.shape) for p in params.values())
    x, _ = model.batch(key, cfg.batch_size)
    f, feats = jax.eval_shape(model.apply, params, x)
    n_acts = f.size + sum(h.size for h in feats.values())
    itemsize = 8 if cfg.dtype == "float64" else 4
    per_seed = _COPIES.get(cfg.optimizer, 7) * n_params + 6 * n_acts
    return int(cfg.seeds * per_seed * itemsize)


def check_memory(table: Table, cfg: CoordCheckConfig, limit_gb: float | None) -> None:
    """Refuse up front when the largest width's estimate exceeds the limit (default: 80% of
    physical memory)."""
    if limit_gb is None:
        try:
            limit_gb = 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
            return
    need = estimate_bytes(table, cfg, max(cfg.widths)) / 2**30
    if need > limit_gb:
        raise InfwidthError(
            f"width {max(cfg.widths)} x {cfg.seeds} seeds needs about {need:.1f} GiB, more than "
            f"the {limit_gb:.1f} GiB allowed; use fewer seeds or smaller widths"
        )


def summary(result: CoordCheckResult) -> str:
    """A plain-text table of the last step's slopes and the overall verdict."""
    rows = [
        f"coord-check {result.config['arch']} target={result.config['target']} "
        f"optimizer={result.config['optimizer']} regime={result.config['regime']}",
        f"{'tensor':<16}{'quantity':<22}{'slope':>8}  {'95% CI':<18}{'pred':>6}  verdict",
    ]
    last = result.raw.steps
    for s in result.slopes:
        if s.step != last or s.quantity not in VERDICT_QUANTITIES:
            continue
        slope = "-" if s.slope is None else f"{s.slope:+.3f}"
        ci = "-" if s.ci_low is None else f"[{s.ci_low:+.2f}, {s.ci_high:+.2f}]"
        pred = "-" if s.predicted is None else str(s.predicted)
        why = f" ({s.reason})" if s.reason else ""
        rows.append(
            f"{s.tensor:<16}{s.quantity:<22}{slope:>8}  {ci:<18}{pred:>6}  {s.verdict}{why}"
        )
    n_div = int((result.raw.diverged >= 0).sum())
    verdict, reason = result.judgement
    rows.append(f"diverged runs: {n_div}; verdict: {verdict}" + (f" ({reason})" if reason else ""))
    return "\n".join(rows) + "\n"
