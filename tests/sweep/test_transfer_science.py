"""A real digits sweep: muP's optimal learning rate holds across width, SP's moves down.

MLP 64 -> n -> n -> 10 (ReLU, no biases), MSE to one-hot digits, 256 training points, full
batch, 40 SGD steps, widths 64 and 256 (constants fixed at 64), 2 seeds. Measured: muP's
optimum moves +0.12 octaves, SP's -2.26 (SGD under SP: the stable rate falls like 1/n, 2
octaves for 4x the width). Runs in about 5 s on 2 cores.
"""

import pytest

from infwidth.sweep import SweepSpec, run_sweep, sweep_json


def test_mup_optimum_transfers_sp_optimum_shifts_down():
    spec = SweepSpec(targets="sp,mup", widths=(64, 256), log2_lrs="-7:1:1", seeds=2, steps=40,
                     batch_size=256, n_train=256, loss="mse")  # fmt: skip
    doc = sweep_json(run_sweep(spec), tolerance=1.0)
    opt = {(o["target"], o["width"]): o for o in doc["optima"]}
    assert not any(o["on_edge"] for o in doc["optima"])
    # same network at the base width
    assert opt[("sp", 64)]["log2_lr"] == opt[("mup", 64)]["log2_lr"]
    mup, sp = doc["transfer"]["mup"], doc["transfer"]["sp"]
    assert abs(mup["shift_octaves"]) < 0.5 and mup["verdict"] == "transfers"
    assert sp["shift_octaves"] < -1.5 and sp["verdict"] == "does not transfer"
    assert sp["shift_octaves"] == pytest.approx(-2.26, abs=0.3)
    # SP's edge of trainability at width 256 lies below muP's
    assert opt[("sp", 256)]["eta_fail"] < opt[("mup", 256)]["eta_fail"]
    # wider is better at the base optimum under muP, not under SP
    assert mup["wider_is_better"] and not sp["wider_is_better"]
