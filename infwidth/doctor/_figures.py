"""The report's figures (PNG, matplotlib, drawn from ``report.json`` alone):

* ``exponents.png``: per tensor and quantity, the measured width exponent against the
  expected one (a correct model lies on the diagonal; failures in red);
* ``alignment.png``: per layer, :math:`\\kappa_{\\Delta W x}, \\kappa_{W \\Delta x},
  \\kappa_{\\Delta W \\Delta x}` against the step, with the full (1) and no (1/2) alignment lines;
* ``transfer.png``: the training loss against the log2 learning-rate multiplier per width,
  optima starred.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .._figure import save_png, subplots


def plot_exponents(doc: dict[str, Any], path: Path) -> Path:
    rows = [f for f in doc["findings"] if f["measured"] is not None and f["expected"] is not None]
    fig, ax = subplots(figsize=(5.2, 4.4))
    marks = {"init_variance": "o", "multiplier": "s", "learning_rate": "^", "epsilon": "D",
             "weight_decay": "v", "attention_logit_scale": "P"}  # fmt: skip
    for q, m in marks.items():
        for verdict, color in (("pass", "C0"), ("fail", "C3")):
            pts = [f for f in rows if f["quantity"] == q and f["verdict"] == verdict]
            if pts:
                e = [float(Fraction(f["expected"])) for f in pts]
                ax.scatter(e, [f["measured"] for f in pts], marker=m, color=color,
                           label=f"{q} ({verdict})", s=30)  # fmt: skip
            for f in pts if verdict == "fail" else []:
                ax.annotate(f["tensor"], (float(Fraction(f["expected"])), f["measured"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    lo = min(
        [-2.0] + [f["measured"] for f in rows] + [float(Fraction(f["expected"])) for f in rows]
    )
    hi = max([1.0] + [f["measured"] for f in rows] + [float(Fraction(f["expected"])) for f in rows])
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set(xlabel="expected width exponent", ylabel="measured width exponent",
           title=f"{doc['target']} with {doc['optimizer']}: measured vs expected")  # fmt: skip
    ax.legend(fontsize=6, loc="upper left")
    return save_png(fig, path)


def plot_alignment(doc: dict[str, Any], path: Path) -> Path:
    rows = doc["alignment"]
    fig, axes = subplots(1, len(rows), figsize=(3.6 * len(rows), 3.3), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=True):
        for term, label in (("dW_x", "ΔW x"), ("W_dx", "W Δx"), ("dW_dx", "ΔW Δx")):
            k = np.array([np.nan if v is None else v for v in r["kappa"][term]], float)
            ax.plot(r["steps"], k, "o-", ms=3, label=label)
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.axhline(0.5, color="k", ls="--", lw=1)
        ax.set(xscale="log", xlabel="step", title=f"{r['tensor']}", ylim=(0, 1.4))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("alignment exponent κ (full 1, none 1/2)")
    return save_png(fig, path)


def plot_transfer(doc: dict[str, Any], path: Path) -> Path:
    t = doc["transfer"]
    fig, ax = subplots(figsize=(4.8, 3.6))
    for c, w in enumerate(t["widths"]):
        pts = sorted((p for p in t["points"] if p["width"] == w), key=lambda p: p["log2_lr"])
        y = [np.nan if p["loss"] is None else p["loss"] for p in pts]
        ax.plot([p["log2_lr"] for p in pts], y, "o-", ms=3, color=f"C{c}", label=f"n={w}")
        o = next(o for o in t["optima"] if o["width"] == w)
        if o["log2_lr"] is not None:
            ax.plot([o["log2_lr"]], [o["loss"]], "*", ms=11, color=f"C{c}",
                    mfc="none" if o["on_edge"] else f"C{c}")  # fmt: skip
    s = t["shift_octaves"]
    title = t["verdict"] + ("" if s is None else f", shift {s:+.2f} oct")
    ax.set(xlabel="log2 learning-rate multiplier", ylabel=f"train loss, {t['steps']} steps",
           yscale="log", title=title)  # fmt: skip
    ax.legend(fontsize=7)
    return save_png(fig, path)


def write_figures(doc: dict[str, Any], out: str | Path) -> list[Path]:
    """Every figure the report ``doc`` has data for, into ``out``."""
    out = Path(out)
    paths = [plot_exponents(doc, out / "exponents.png")]
    if doc.get("alignment"):
        paths.append(plot_alignment(doc, out / "alignment.png"))
    if doc.get("transfer"):
        paths.append(plot_transfer(doc, out / "transfer.png"))
    return paths
