"""The reproductions by id: each is a module of this package exposing ``ID``, ``TITLE``,
``PAPER``, ``STAND_IN``, ``sweeps(quick)``, ``criteria(points, quick)``, ``report(points)``
and ``plot(points, path, quick)`` (see :mod:`infwidth.reproduce._run`); a measurement
that is not a learning-rate sweep defines ``compute(quick, out) -> (config, points,
computed, cached)`` instead of ``sweeps`` and resumes through its own store."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InfwidthError

#: reproduction id -> module (relative to this package)
REPRODUCTIONS: dict[str, str] = {
    "tp5-fig3": "tp5_fig3",
    "depth-transfer": "depth_transfer",
    "completep-fig6": "completep_fig6",
    "bp22-gamma0": "bp22_gamma0",
    "bp22-alignment": "bp22_alignment",
    "mup-coord-check": "mup_coord_check",
    "super-consistency": "super_consistency",
    "tp5-fig1": "tp5_fig1",
}


def get(rid: str) -> ModuleType:
    """The module of reproduction ``rid``; an unknown id raises :class:`InfwidthError`."""
    if rid not in REPRODUCTIONS:
        raise InfwidthError(
            f"unknown reproduction {rid!r}; choose one of {', '.join(REPRODUCTIONS)} "
            "(infwidth reproduce --list)"
        )
    return importlib.import_module(f"{__package__}.{REPRODUCTIONS[rid]}")


def listing() -> list[tuple[str, str]]:
    """``(id, title)`` of every reproduction."""
    return [(rid, get(rid).TITLE) for rid in REPRODUCTIONS]
