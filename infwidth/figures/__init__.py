"""Figures: each module computes its data, writes it as JSON/NPZ next to a PNG, and returns it.

Every figure module exposes ``make(out: Path, quick: bool = False) -> dict``; ``quick`` runs a
small version in seconds (tests and the tour use it). ``figures/make.py`` at the repository
root runs them from the command line.
"""

from __future__ import annotations

import importlib
from pathlib import Path

#: figure name -> module (relative to this package)
FIGURES: dict[str, str] = {
    "abc_phase_diagram": "abc_phase_diagram",
    "mu_transfer": "mu_transfer",
}


def make(name: str, out: str | Path, *, quick: bool = False) -> dict:
    """Run figure ``name`` into ``out`` and return its data."""
    from ..errors import InfwidthError

    if name not in FIGURES:
        raise InfwidthError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mod = importlib.import_module(f"{__name__}.{FIGURES[name]}")
    return mod.make(out, quick)
