"""One memory guard for every command: refuse, before anything is allocated, work whose
estimated peak exceeds the limit (``--max-memory-gb``; default 80% of physical memory).

Each command owns its estimate (a pure function of its settings, in bytes: coord-check in
:mod:`infwidth.sim._peak`, kernel, lazy and dmft in their CLI modules); this module only
compares and words the refusal, so every refusal reads the same. No JAX is imported here: a
refusal costs no compilation.
"""

from __future__ import annotations

import argparse
import os

from .errors import InfwidthError

GIB = 2**30

#: Fraction of physical memory allowed when ``--max-memory-gb`` is not given.
DEFAULT_FRACTION = 0.8


def add_memory_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--max-memory-gb`` flag, the same for every command."""
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="refuse work whose estimated peak memory exceeds this (default: 80%% of RAM)",
    )


def memory_limit_gb(limit_gb: float | None = None) -> float | None:
    """``limit_gb``, or 80% of physical memory (None where the platform cannot tell)."""
    if limit_gb is not None:
        from ._validate import positive  # NaN/inf/negative never switch the guard off

        return positive("--max-memory-gb", limit_gb)
    try:
        return DEFAULT_FRACTION * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return None


def refuse_if_over(need_bytes: float, limit_gb: float | None, what: str, hint: str) -> None:
    """Raise :class:`InfwidthError` (one line: the estimate and the limit) when
    ``need_bytes`` exceeds the limit; ``what`` names the work, ``hint`` what to reduce."""
    limit = memory_limit_gb(limit_gb)
    need = need_bytes / GIB
    if limit is not None and need > limit:
        source = "--max-memory-gb" if limit_gb is not None else "80% of physical memory"
        raise InfwidthError(
            f"{what} needs about {need:.3g} GiB, more than the {limit:.3g} GiB allowed "
            f"({source}); {hint}"
        )
