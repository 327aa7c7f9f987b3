"""The coordinate-check figure, in the familiar style of the ``mup`` package.

One column per step, width on a log2 axis, one line per layer (mean over seeds); the top row
is the coordinate size (``activation_rms``, and ``output_rms`` for the output), the bottom row
the movement (``feature_movement_rms``, ``output_movement_rms``). The predicted slope of each
line is drawn dashed through its first point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._figure import save_png, subplots
from .._fit import Slope
from ._coord import RawRecords

ROWS = (("activation_rms", "output_rms"), ("feature_movement_rms", "output_movement_rms"))


def plot_measured(
    ax, widths: np.ndarray, y: np.ndarray, predicted, color, label: str, **dashed
) -> None:
    """``y`` against ``widths`` (points joined) and, when ``predicted`` is given, the line
    :math:`y_0 (n / n_0)^{\\rm predicted}` dashed through the first point (``dashed``: its
    extra line options)."""
    ax.plot(widths, y, "o-", color=color, label=label, ms=3)
    if predicted is not None and np.isfinite(y[0]):
        ax.plot(widths, y[0] * (widths / widths[0]) ** float(predicted), "--", c=color, **dashed)


def plot_coord_check(
    raw: RawRecords, slopes: Sequence[Slope], config: Mapping, path: str | Path
) -> Path:
    """Draw a coordinate check (its records, fitted ``slopes`` and ``config``, as in
    :class:`~infwidth.sim.CoordCheckResult`) into ``path`` (PNG) and return the path."""
    widths = np.asarray(raw.widths, float)
    steps = list(range(1, raw.steps + 1))
    fig, axes = subplots(2, len(steps), figsize=(3.2 * len(steps), 6), squeeze=False, sharex=True)
    import matplotlib.pyplot as plt

    tensors = sorted({t for t, _ in raw.values})
    colors = {t: plt.cm.viridis(i / max(len(tensors) - 1, 1)) for i, t in enumerate(tensors)}
    preds = {(s.tensor, s.quantity, s.step): s for s in slopes}
    for r, quantities in enumerate(ROWS):
        for c, t in enumerate(steps):
            ax = axes[r, c]
            for (tensor, q), v in sorted(raw.values.items()):
                if q not in quantities:
                    continue
                with np.errstate(invalid="ignore"):
                    y = np.nanmean(np.where(np.isfinite(v[:, :, t]), v[:, :, t], np.nan), axis=1)
                pred = getattr(preds.get((tensor, q, t)), "predicted", None)
                plot_measured(ax, widths, y, pred, colors[tensor], tensor, lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"step {t}", fontsize=9)
            if c == 0:
                ax.set_ylabel(" / ".join(quantities), fontsize=8)
            if r == 1:
                ax.set_xlabel("width")
    axes[0, 0].legend(fontsize=7)
    cfg = config
    fig.suptitle(
        f"coordinate check: {cfg.get('arch')} {cfg.get('target')} {cfg.get('optimizer')} "
        f"lr={cfg.get('lr')} (dashed: predicted slopes)",
        fontsize=10,
    )
    return save_png(fig, path, dpi=100)
