"""Paper reproductions: ``infwidth reproduce ID [--quick] [--out DIR]``.

Each reproduction is data: its :class:`~infwidth.sweep.SweepSpec` s (exponents from the
derived tables, never typed in) and a criteria function computing every verdict criterion
from the stored points. :func:`reproduce` runs the sweeps through the sweep engine into one
crash-safe store (a rerun computes only missing points), then writes ``data.json``,
``verdict.json`` and ``figure.png``.
"""

from ._registry import REPRODUCTIONS, get, listing
from ._run import Criterion, Result, criterion, reproduce, verdict_table

__all__ = [
    "REPRODUCTIONS",
    "Criterion",
    "Result",
    "criterion",
    "get",
    "listing",
    "reproduce",
    "verdict_table",
]
