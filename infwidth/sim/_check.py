"""A coordinate check from a flat set of options: table, config, memory guard, run, files.

The options ``args`` are any object with the attributes of ``infwidth coord-check``'s flags
(an :class:`argparse.Namespace`, a :class:`types.SimpleNamespace`): ``arch`` or ``spec``,
``target``, ``optimizer``, ``gauge``, ``alignment``, ``depth``, ``bias``, ``base_width``,
``steps``, ``seeds``, ``lr``, ``eps``, ``weight_decay``, ``base_depth``, ``input_dim``,
``output_dim``, ``batch_size``, ``activation``, ``float64``, ``spectral``, ``no_spectral``,
``no_factor_sgd``, ``seed``, ``tolerance``, ``max_memory_gb``, ``no_plot``, ``out``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import _validate as valid
from ..errors import InfwidthError
from ._coord import CoordCheckConfig
from ._peak import check_memory
from ._report import CoordCheckResult, coord_check
from ._table import Table


def load_table(args: Any) -> tuple[Table, str]:
    """Derive the table the options ``args`` check; returns it and the model's architecture
    (``chain`` for a custom ``spec``)."""
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


def build_config(args: Any, arch: str, table: Table, widths: tuple[int, ...]) -> CoordCheckConfig:
    """The :class:`CoordCheckConfig` of the options ``args`` (defaults: 3 steps, 3 seeds,
    batch 32, learning rate 0.1 under SGD/momentum and 0.01 else)."""
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


def run_coord_check(
    args: Any, widths: tuple[int, ...], *, progress: Callable[[int, bool], None] | None = None
) -> tuple[CoordCheckResult, list[Path]]:
    """Derive the table, build the config, refuse up front when over the memory limit, run
    the check at ``widths`` (finished widths saved under ``args.out/partial``: a re-run
    resumes) and write ``coord_check.json`` (and ``coord_check.png``) into ``args.out``.
    Returns the result and the paths written."""
    if args.float64:
        import jax

        jax.config.update("jax_enable_x64", True)
    table, arch = load_table(args)
    cfg = build_config(args, arch, table, widths)
    check_memory(table, cfg, args.max_memory_gb)
    valid.out_dir(args.out, ("coord_check.json", "coord_check.png"), folders=("partial",))
    partial = Path(args.out) / "partial"
    result = coord_check(table, cfg, tol=args.tolerance, progress=progress, cache_dir=partial)
    return result, result.write(args.out, plot=not args.no_plot)
