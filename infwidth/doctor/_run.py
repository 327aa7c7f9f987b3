"""Entry points: a built-in network, a user's ``make``, and the command's one function."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InfwidthError
from ._alignment import alignment_report
from ._audit import audit
from ._model import UserModel, build, builtin_make
from ._report import Report
from ._transfer import BRACKET, check, transfer_test

#: default horizon of the transfer test (steps per learning rate)
TRANSFER_STEPS = 60
#: default horizon of the alignment run (checkpoints 1, 2, 4, ...)
ALIGNMENT_STEPS = 16


def _audited(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    expected: Any,
    transfer_steps: int,
    bracket: Sequence[float],
    alignment_steps: int,
    rederive: Callable[[str], Any],
    **audit_kw: Any,
) -> Report:
    """The report of :func:`._audit.audit` (``make``, ``widths``, ``expected`` and
    ``audit_kw``) with alignment over ``alignment_steps`` steps and the transfer test
    (``transfer_steps`` steps per learning rate); 0 skips either. ``rederive(alignment)``:
    the expected table derived under that alignment."""
    import dataclasses

    rep = audit(make, widths, expected, **audit_kw)
    if alignment_steps:

        def lr_exponents(a: str) -> dict[str, Fraction]:
            return {r.name: r.w("learning_rate") for r in rederive(a).tensors}

        rows = alignment_report(
            make, widths, rep.layers, steps=alignment_steps, lr_exponents=lr_exponents
        )
        rep = dataclasses.replace(rep, alignment=tuple(rows))
    if transfer_steps:
        doc = transfer_test(make, widths, steps=transfer_steps, bracket=bracket)
        rep = dataclasses.replace(rep, transfer=doc)
    return rep


def _attention(optimizer: str, target: str) -> Any:
    from ..sim import Table

    return Table.derive("transformer", optimizer, target=target).operation("attention_logits")


def audit_builtin(
    arch: str,
    optimizer: str,
    widths: Sequence[int],
    *,
    target: str = "mup",
    base_width: int | None = None,
    implemented: Any = None,
    tied: bool = False,
    depth: int = 1,
    transfer_steps: int = 0,
    bracket: Sequence[float] = BRACKET,
    alignment_steps: int = 0,
    **make_kwargs: Any,
) -> Report:
    """Audit the built-in ``arch`` trained with the table ``implemented`` (default: the
    derived one, which must pass) against the derived ``target`` table, then train it
    (:mod:`._transfer`: ``transfer_steps`` steps per point of ``bracket``; 0 skips)."""
    from ..sim import Table

    kw = {"tied": True} if tied else {}
    expected = Table.derive(arch, optimizer, target=target, **kw)
    table = expected if implemented is None else implemented
    base = min(widths) if base_width is None else base_width
    make_kwargs = {"n_batches": 8, "batch_size": 32, **make_kwargs}
    make = builtin_make(arch, table, optimizer, base_width=base, depth=depth, **make_kwargs)
    names = sorted(t.name for t in table.tensors if not t.tied_to)
    return _audited(
        make, widths, expected, transfer_steps, bracket, alignment_steps,
        lambda a: Table.derive(arch, optimizer, target=target, alignment=a, **kw),
        leaf_names=names, base_width=base, target=target, optimizer=optimizer,
        attention=expected.operation("attention_logits"),
    )  # fmt: skip


def user_table(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    optimizer: str,
    target: str,
    alignment: str = "full",
) -> tuple[Any, list[str]]:
    """The derived table of a user's parameters (leaves read as tensors by their growing
    axes, :func:`infwidth.sim.infer_leaves`) and the leaf names."""
    from .. import derive
    from ..sim import Table, infer_leaves
    from ..spec import NetworkSpec, make_tensor

    lo, hi = build(make, min(widths)).params, build(make, max(widths)).params
    infos = infer_leaves(hi, lo)
    if not any(i.infinite_axes for i in infos if i.kind != "frozen"):
        raise InfwidthError(
            f"no parameter shape grows with the width ({min(widths)} to {max(widths)})"
        )
    tensors = [make_tensor(i.name, i.fan_in, i.fan_out) for i in infos if i.kind != "frozen"]
    try:
        spec = NetworkSpec("user", tuple(tensors))
    except InfwidthError as exc:
        raise InfwidthError(f"cannot read the parameters as a network: {exc}") from None
    table = Table.from_json(
        derive(spec, optimizer, target=target, gauge="no-multipliers", alignment=alignment)
    )
    return table, [i.name for i in infos]


def audit_user(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    *,
    optimizer: str,
    target: str = "mup",
    base_width: int | None = None,
    transfer_steps: int = 0,
    bracket: Sequence[float] = BRACKET,
    alignment_steps: int = 0,
) -> Report:
    """Audit a user's ``make(width) -> UserModel`` against the derived ``target`` table,
    then train it (:mod:`._transfer`; ``transfer_steps`` 0 skips)."""
    table, names = user_table(make, widths, optimizer, target)
    base = min(widths) if base_width is None else base_width
    return _audited(
        make, widths, table, transfer_steps, bracket, alignment_steps,
        lambda a: user_table(make, widths, optimizer, target, alignment=a)[0],
        leaf_names=names, base_width=base, target=target, optimizer=optimizer,
        attention=_attention(optimizer, target),
    )  # fmt: skip


def load_make(ref: str) -> Callable[[int], UserModel]:
    """``FILE.py:make`` -> the function. This runs the user's file: the one place the doctor
    executes code, because the user named it on the command line."""
    path, _, attr = ref.rpartition(":")
    if not path or not attr or not path.endswith(".py"):
        raise InfwidthError(f"--model must be FILE.py:FUNCTION, got {ref!r}")
    if not Path(path).is_file():
        raise InfwidthError(f"--model: no file {path!r}")
    spec = importlib.util.spec_from_file_location(f"_infwidth_user_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file: one clear line
        raise InfwidthError(
            f"--model: {path} fails to import: {type(exc).__name__}: {exc}"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InfwidthError(f"--model: {path} has no function {attr!r}")
    return fn


def run_doctor(
    *,
    widths: Sequence[int],
    out: str | Path,
    optimizer: str,
    target: str = "mup",
    arch: str | None = None,
    model: str | None = None,
    base_width: int | None = None,
    transfer_steps: int = TRANSFER_STEPS,
    bracket: Sequence[float] = BRACKET,
    alignment_steps: int = ALIGNMENT_STEPS,
    **builtin: Any,
) -> Report:
    """The command: audit a built-in ``arch`` or the user's ``model`` (``FILE.py:make``) and
    write ``out/report.json`` and ``out/report.md``."""
    if (arch is None) == (model is None):
        raise InfwidthError("give exactly one of --arch and --model")
    if transfer_steps:
        check(bracket, transfer_steps)
    if model is not None:
        rep = audit_user(
            load_make(model), widths, optimizer=optimizer, target=target,
            base_width=base_width, transfer_steps=transfer_steps, bracket=bracket,
            alignment_steps=alignment_steps,
        )  # fmt: skip
    else:
        rep = audit_builtin(
            arch, optimizer, widths, target=target, base_width=base_width,
            transfer_steps=transfer_steps, bracket=bracket,
            alignment_steps=alignment_steps, **builtin,
        )  # fmt: skip
    rep.write(out)
    return rep
