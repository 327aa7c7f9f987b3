"""Helpers of ``infwidth coord-check``: table lookup, config, memory estimate, summary."""

from __future__ import annotations

import argparse
import math

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
        spectral=args.spectral and not args.no_spectral,
        factor_sgd=not args.no_factor_sgd,
        seed=args.seed,
    )


#: Host bytes per recorded number: its JSON record (a dict, then its text), its share of the
#: per-step slope fits; measured (tests/test_memory.py): 3.4 kB at 2000 steps, 5.9 at 1000.
_RECORD_BYTES = 5000


def estimate_bytes(table: Table, cfg: CoordCheckConfig, width: int) -> int:
    """Peak memory of the check, its largest width's training (all seeds at once) plus the
    records of every width.

    Training: ``c`` copies of the parameters (``c`` per optimizer, :data:`_COPIES`), six of
    the activations; a matrix trained factored (SGD) costs two copies of ``W_0`` plus its
    columns ``U, V``, ``(fan_in + fan_out) T R`` numbers, twice (the scan's carry in and
    out); the spectral ratio three more copies of each matrix (measured). Records:
    ``widths x seeds x (T + 1) x q`` numbers for ``q`` recorded quantities, each
    :data:`_RECORD_BYTES` on the host (the JSON records grow with ``--steps``).
    """
    from ._lowrank import worth_factoring
    from ._measure import matrix_tensors

    model = model_at(table, cfg, width)

    def shapes():  # traced only: nothing is compiled or allocated
        key = jr.PRNGKey(0)
        params = model.init(key)
        x, _ = model.batch(key, cfg.batch_size)
        return params, x, model.apply(params, x)

    params, x, (f, feats) = jax.eval_shape(shapes)
    n_acts = f.size + sum(h.size for h in feats.values())
    itemsize = 8 if cfg.dtype == "float64" else 4
    rows, steps = x.shape[0], cfg.steps
    factor = cfg.factor_sgd and cfg.optimizer in ("sgd", "momentum")
    matrices = matrix_tensors(params, model.stacked)
    per_seed = 6 * n_acts
    for k, v in params.items():
        size, shape = math.prod(v.shape), v.shape[k in model.stacked :]
        if factor and worth_factoring(shape, rows, steps):  # W_0 and its draw, U and V
            per_seed += 2 * size + 2 * (sum(shape) + 2) * steps * rows * (size // math.prod(shape))
        else:
            per_seed += _COPIES.get(cfg.optimizer, 7) * size
        if cfg.spectral and k in matrices:  # the power iteration's views of W_0
            per_seed += 3 * size
    n_q = 3 * len(feats) + 2 + (len(matrices) if cfg.spectral else 0)
    records = len(cfg.widths) * cfg.seeds * (steps + 1) * n_q
    return int(cfg.seeds * per_seed * itemsize + records * _RECORD_BYTES)


def check_memory(table: Table, cfg: CoordCheckConfig, limit_gb: float | None) -> None:
    """Refuse up front when the estimate (:func:`estimate_bytes`) exceeds the limit (default:
    80% of physical memory)."""
    from .._memory import refuse_if_over

    refuse_if_over(
        estimate_bytes(table, cfg, max(cfg.widths)),
        limit_gb,
        f"width {max(cfg.widths)} x {cfg.seeds} seeds x {cfg.steps} steps",
        "use fewer seeds, steps or smaller widths",
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
