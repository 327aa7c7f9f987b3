"""The reproductions' figures: a headless figure, its saving, and the transfer figure's
panel: one curve per width (or depth) of seed-mean training loss against log2 learning rate,
diverged points as crosses on the top edge, optimum as a star (hollow when on the grid's
edge), as in TP5 Fig. 1/3."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._figure import save_png, subplots
from ._run import optima, seed_curve


def panel(ax, points: Sequence[Mapping[str, Any]], by: str, title: str, **match: Any) -> None:
    """Curves of the points matching ``match``, one per value of ``by`` (``width`` or
    ``depth``), coloured from narrow/shallow (light) to wide/deep (dark)."""
    import matplotlib.pyplot as plt

    values = sorted({p[by] for p in points if all(p.get(k) == v for k, v in match.items())})
    best = {o[by]: o for o in optima(points, **match)["optima"]}
    cmap = plt.get_cmap("viridis")
    top = max(
        (v for x in values for v in seed_curve(points, **match, **{by: x})[1] if math.isfinite(v)),
        default=1.0,
    )
    for i, x in enumerate(values):
        color = cmap(0.9 * (1 - i / max(len(values) - 1, 1)))
        grid, mean, bad = seed_curve(points, **match, **{by: x})
        ok = [(g, m) for g, m, b in zip(grid, mean, bad, strict=True) if not b]
        ax.plot([g for g, _ in ok], [m for _, m in ok], "-", color=color, lw=1.2,
                label=f"{'n' if by == 'width' else 'L'}={x}")  # fmt: skip
        div = [g for g, b in zip(grid, bad, strict=True) if b]
        ax.plot(div, [top * 1.05] * len(div), "x", color=color, ms=4)
        o = best.get(x)
        if o is not None and o["log2_lr"] is not None:
            y = o["loss"]
            ax.plot([o["log2_lr"]], [y], "*", ms=10, color=color,
                    mfc="none" if o["on_edge"] else color, mec="k", mew=0.5)  # fmt: skip
    ax.plot([], [], "x", color="gray", label="diverged")
    ax.plot([], [], "*", color="gray", mec="k", label="optimum (hollow: grid edge)")
    ax.set(title=title, xlabel="log2 learning rate", yscale="log")
    ax.legend(fontsize=6, loc="best", framealpha=0.6)


def save(fig, path, title: str, dpi: int = 120) -> None:
    """Give ``fig`` its suptitle, lay it out, write it to ``path`` and close it."""
    fig.suptitle(title, fontsize=9)
    save_png(fig, path, dpi)


def sp_mup_figure(
    points: Sequence[Mapping[str, Any]], path, title: str, ylabel: str, **match: Any
) -> None:
    """SP and muP side by side, one :func:`panel` each (TP5 Fig. 1/3)."""
    fig, axes = subplots(1, 2, figsize=(9, 3.6), sharey=True)
    names = {"sp": "standard parametrization", "mup": "muP"}
    for ax, t in zip(axes, ("sp", "mup"), strict=True):
        panel(ax, points, "width", names[t], target=t, **match)
    axes[0].set_ylabel(ylabel)
    save(fig, path, title)
