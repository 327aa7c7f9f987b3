"""Peak memory of a coordinate check, estimated before it runs (no array is allocated)."""

from __future__ import annotations

import math

import jax
import jax.random as jr

from ._coord import CoordCheckConfig, model_at
from ._table import Table

#: Per-parameter copies alive during a step: w, w_0, gradient, update, new w (+ states).
_COPIES = {"sgd": 5, "signsgd": 5, "momentum": 6, "muon": 7, "adam": 7, "adamw": 7}


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
