"""Load network specifications from JSON or TOML files (or plain dicts).

The minimal spec every version accepts::

    {"tensors": [{"name": "conv2", "fan_in": "9*n", "fan_out": "n"}, ...]}

or in TOML::

    [[tensors]]
    name = "conv2"
    fan_in = "9*n"
    fan_out = "n"

Optional per-tensor fields: ``kind``, ``branch``, ``tied_to``, and the exponents ``a``,
``b``, ``c``, ``d`` (given for ``classify``, pinned for ``derive``). Exponents may also be
given the way ``derive`` reports them, as ``{"width": {"init_variance": ..., "multiplier":
..., "learning_rate": ..., "epsilon": ...}}`` (then a = -multiplier, b = -init_variance/2,
c = -learning_rate, d = -epsilon), so a derived JSON can be fed back to ``classify``.
Optional top level: ``name``, ``operations`` (``[{"name", "kind": "attention_logits",
"contracted": "n/H"}]``) and ``axes``: scaling axes besides the width, each with the limit it
is taken in (``{"rho": "shrinks", "r": "grows"}``); fans are then monomials over ``n`` and the
axes. Per tensor, ``density`` (a masked tensor's fraction of non-zero entries, ``"rho"``) and
``tokens`` (the fraction of tokens a routed expert sees, ``"1/E"``) may only use declared axes;
``init`` (``"zero"`` for LoRA's B), ``frozen`` (a base weight) and ``feeds`` (LoRA's A feeds B)
describe a low-rank adapter.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ._fans import parse_fan
from ._network import (
    EXPONENT_NAMES,
    OPERATION_KINDS,
    NetworkSpec,
    OperationSpec,
    make_tensor,
    parse_rational,
)

_TENSOR_KEYS = {
    "name",
    "fan_in",
    "fan_out",
    "kind",
    "branch",
    "tied_to",
    *EXPONENT_NAMES,
    "width",
    "depth",
    "role",
    "density",
    "tokens",
    "init",
    "frozen",
    "feeds",
}
#: Words a derived JSON writes where an exponent is a placeholder (read back as 0).
_PLACEHOLDERS = {"init_variance": ("zero",), "learning_rate": ("frozen",)}
#: Damping fields of a derived JSON (one per preconditioner side), read back and checked.
_DAMPING = ("damping_out", "damping_in", "damping_eigen")

_WIDTH_TO_ABCD = {
    "multiplier": ("a", -1),
    "init_variance": ("b", -2),
    "learning_rate": ("c", -1),
    "epsilon": ("d", -1),
}


def load_spec(path: str | Path) -> NetworkSpec:
    """Read a network specification from a ``.json`` or ``.toml`` file.

    The file is data: it is parsed as JSON/TOML, capped at :data:`MAX_SPEC_BYTES`, and every
    field is validated; nothing in it is evaluated.
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"spec file {str(p)!r} does not exist")
    try:
        if p.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"spec file {p.name!r} is larger than {MAX_SPEC_BYTES // 2**20} MiB")
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"spec file {p.name!r} is not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"spec file {p.name!r} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"spec file {p.name!r} is not valid: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        raise SpecError(f"spec file {p.name!r} is not valid: {type(exc).__name__}") from None
    return spec_from_dict(data, default_name=p.stem)


#: Largest spec file read (bytes); real specs are a few kB.
MAX_SPEC_BYTES = 4 * 2**20


def spec_from_dict(data: Any, *, default_name: str = "custom") -> NetworkSpec:
    """Build a :class:`NetworkSpec` from plain data (the parsed JSON/TOML)."""
    if not isinstance(data, Mapping):
        raise SpecError("a spec must be an object with a 'tensors' list")
    tensors = data.get("tensors")
    if not isinstance(tensors, list) or not tensors:
        raise SpecError("a spec needs a non-empty 'tensors' list")
    axes = data.get("axes", {}) or {}
    if not isinstance(axes, Mapping):
        raise SpecError('axes must be an object such as {"rho": "shrinks", "r": "grows"}')
    allowed = _TENSOR_KEYS | {str(a) for a in axes}  # a derived JSON's per-axis sections
    built = []
    for i, entry in enumerate(tensors):
        if not isinstance(entry, Mapping):
            raise SpecError(f"tensors[{i}] must be an object")
        unknown = set(entry) - allowed
        if unknown:
            raise SpecError(f"tensors[{i}] has unknown field(s): {', '.join(sorted(unknown))}")
        for key in ("name", "fan_in", "fan_out"):
            if key not in entry:
                raise SpecError(f"tensors[{i}] is missing {key!r}")
        _names(entry, ("name", "kind", "branch", "tied_to", "feeds", "init"), f"tensors[{i}]")
        exps = {k: entry[k] for k in EXPONENT_NAMES if k in entry}
        width = entry.get("width")
        damping: list[str] = []
        if width is not None:
            if not isinstance(width, Mapping):
                raise SpecError(f"tensors[{i}].width must be an object")
            for key, value in width.items():
                what = f"tensors[{i}].width.{key}"
                if key in _DAMPING:  # checked against the optimiser
                    parse_rational(value, what=what)
                    damping.append(key.removeprefix("damping_"))
                elif key in _WIDTH_TO_ABCD:  # weight_decay and others: consequences, not inputs
                    name, factor = _WIDTH_TO_ABCD[key]
                    zero = value in _PLACEHOLDERS.get(key, ())  # zero init / frozen: no exponent
                    exps.setdefault(name, 0 if zero else parse_rational(value, what=what) / factor)
        built.append(
            make_tensor(
                *(entry.get(k) for k in ("name", "fan_in", "fan_out", "kind")),
                **{k: entry.get(k) for k in ("branch", "tied_to", "density", "tokens", "feeds")},
                exponents=exps,
                init=entry.get("init", "random"),
                frozen=entry.get("frozen", False),
                damping=tuple(damping),
            )
        )
    ops = []
    for i, entry in enumerate(data.get("operations", []) or []):
        if not isinstance(entry, Mapping) or "kind" not in entry or "contracted" not in entry:
            raise SpecError(f"operations[{i}] needs 'kind' and 'contracted'")
        _names(entry, ("name", "kind", "branch"), f"operations[{i}]")
        if entry["kind"] not in OPERATION_KINDS:
            raise SpecError(
                f"operations[{i}] has unknown kind {entry['kind']!r}; "
                f"known: {', '.join(OPERATION_KINDS)}"
            )
        ops.append(
            OperationSpec(
                str(entry.get("name", f"op{i}")),
                entry["kind"],
                parse_fan(entry["contracted"], what=f"operations[{i}].contracted"),
                entry.get("branch"),
            )
        )
    _names(data, ("name",), "the spec")
    return NetworkSpec(
        str(data.get("name", default_name)), tuple(built), tuple(ops), tuple(axes.items())
    )


#: Longest name (tensor, kind, branch) a spec may use.
MAX_NAME = 200


def _names(entry: Mapping, keys: tuple[str, ...], where: str) -> None:
    """Names in a spec are short strings: anything else is refused before it is used."""
    for key in keys:
        value = entry.get(key)
        if value is None and key != "name":
            continue
        if key in entry and (not isinstance(value, str) or not value or len(value) > MAX_NAME):
            raise SpecError(
                f"{where}.{key} must be a non-empty string of at most {MAX_NAME} characters"
            )
