"""muTransfer (after TP5, Figure 1): the best learning rate moves with width under SP, not muP.

MLPs ``64 -> n -> n -> 10`` built from the derived SP and muP tables (constants fixed at base
width 64, where the two coincide), trained by full-batch SGD on the MSE to one-hot digits
(scikit-learn's digits, shipped with infwidth) for a fixed number of steps, over a grid of
base learning rates and several seeds: one :class:`~infwidth.sweep.SweepSpec` run by the sweep
engine (:func:`~infwidth.sweep.run_sweep`, one compiled program per width) and analysed by
:func:`~infwidth.sweep.analyse` (optimum refined by a parabola in log2 LR; shift and verdict).
The loss of a run is the mean training loss over its last quarter of steps; diverged runs
(:mod:`infwidth._divergence`) are recorded as diverged (``null``).

Writes ``mu_transfer.png`` and ``mu_transfer.json`` (loss per target, width, learning rate and
seed; the optimum log2 learning rate per target and width; the shift and verdict per target).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .._figure import save_png, subplots
from .._store import write_atomic

TARGETS = ("sp", "mup")


def spec(quick: bool = False):
    """The figure's sweep."""
    from ..sweep import SweepSpec

    widths = (64, 256, 512) if quick else (64, 256, 1024, 2048)
    grid = "-8:1:1" if quick else "-9:1:0.5"
    steps = 40 if quick else 50
    return SweepSpec(targets=TARGETS, widths=widths, log2_lrs=grid, seeds=2, steps=steps,
                     batch_size=256, n_train=256, loss="mse", base_width=64)  # fmt: skip


def compute(quick: bool = False) -> dict:
    from ..sweep import analyse, run_sweep

    s = spec(quick)
    run = run_sweep(s)
    result = analyse(run.records, s.log2_lrs, steps=s.steps)
    data: dict = {"widths": list(s.widths), "log2_lrs": list(s.log2_lrs), "steps": s.steps,
                  "seeds": s.seeds, "n_points": s.n_train, "runs": {}, "best_log2_lr": {},
                  "on_edge": {}, "transfer": result["transfer"]}  # fmt: skip
    index = {lr: i for i, lr in enumerate(s.log2_lrs)}
    for target in TARGETS:
        for width in s.widths:
            runs = [[None] * s.seeds for _ in s.log2_lrs]
            for r in run.records:
                if (r["target"], r["width"]) == (target, width):
                    runs[index[r["log2_lr"]]][r["seed"]] = r["loss"]
            data["runs"][f"{target}/{width}"] = runs
    for o in result["optima"]:
        data["best_log2_lr"][f"{o['target']}/{o['width']}"] = o["log2_lr"]
        data["on_edge"][f"{o['target']}/{o['width']}"] = o["on_edge"]
    return data


def plot(data: dict, path: Path) -> None:
    lr = np.asarray(data["log2_lrs"])
    fig, axes = subplots(1, len(TARGETS), figsize=(9, 3.5), sharey=True)
    for ax, target in zip(axes, TARGETS, strict=True):
        for i, width in enumerate(data["widths"]):
            runs = np.array(data["runs"][f"{target}/{width}"], dtype=float)
            with warnings.catch_warnings():  # all seeds diverged: a gap in the curve
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(runs, axis=1)
            ax.plot(lr, mean, "o-", ms=3, color=f"C{i}", label=f"n={width}")
            best = data["best_log2_lr"][f"{target}/{width}"]
            if best is not None:
                ax.axvline(best, color=f"C{i}", ls=":", lw=1)
        ax.set(title={"sp": "standard parametrization", "mup": "muP"}[target],
               xlabel="log2 base learning rate", yscale="log")  # fmt: skip
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"training loss, last quarter of {data['steps']} steps")
    fig.suptitle(
        "muTransfer: the optimal learning rate is stable across width under muP", fontsize=10
    )
    save_png(fig, path, dpi=120)


def make(out: Path, quick: bool = False) -> dict:
    data = compute(quick)
    write_atomic(out / "mu_transfer.json", json.dumps(data, indent=1) + "\n")
    plot(data, out / "mu_transfer.png")
    return data
