"""``infwidth transfer``: a dense grid at the base width, brackets at the target widths.

The digits study of test_transfer_science.py (MLP 64 -> n -> n -> 10, MSE, 256 points, full
batch, 40 SGD steps, 2 seeds, grid -7:1:1, base width 64, target 256). muP's optimum holds
(bracket centred on the base optimum), SP's falls by the derived 2 octaves (r = -1), and the
brackets' points are the full grid's less the learning rates they skip.
"""

import json

import pytest

from infwidth.cli import main
from infwidth.sweep import SweepSpec, analyse, run_sweep
from infwidth.sweep._transfer import bracket_around, lr_exponent, run_transfer

SPEC = SweepSpec(targets="sp,mup", widths=(64,), log2_lrs="-7:1:1", seeds=2, steps=40,
                 batch_size=256, n_train=256, loss="mse")  # fmt: skip


def test_mup_transfers_sp_does_not_with_fewer_points(tmp_path):
    store = str(tmp_path / "s.sqlite")
    doc = run_transfer(SPEC, [256], store=store)
    mup, sp = doc["transfer"]["mup"], doc["transfer"]["sp"]
    assert mup["verdict"] == "transfers" and abs(mup["shift_octaves"]) < 0.5
    assert sp["verdict"] == "does not transfer"
    assert sp["shift_octaves"] == pytest.approx(-2.26, abs=0.3)
    # the derived exponent predicts SP's shift to within a third of an octave
    assert (mup["lr_exponent"], sp["lr_exponent"]) == ("0", "-1")
    assert sp["predicted_shift_octaves"] == -2.0 and abs(sp["prediction_error_octaves"]) < 0.35
    opt = {(o["target"], o["width"]): o for o in doc["optima"]}
    # base optimum -1.57 (same network for both): SP's bracket centres on -3.57 -> -4;
    # muP's on -1.57 -> -2, whose optimum (-1.45) lands on the edge -1: one extension
    assert opt[("sp", 256)]["log2_lrs"] == [-5.0, -4.0, -3.0]
    assert opt[("mup", 256)]["log2_lrs"] == [-3.0, -2.0, -1.0, 0.0]
    assert opt[("mup", 256)]["extensions"] == 1 and not opt[("mup", 256)]["on_edge"]
    c = doc["compute"]
    assert c["base"]["points"] == 2 * 9 * 2
    assert c["bracket"]["points"] == (3 + 4) * 2 and c["full_grid"]["points"] == 2 * 9 * 2
    assert c["points_saved"] == 36 - 14 and c["bracket"]["computed"] == 14
    # the same store: a full sweep afterwards computes only the points the brackets skipped
    full = run_sweep(SPEC.replace(widths=(64, 256)), store=store)
    assert (full.computed, full.cached) == (22, 50)
    # ... and finds the brackets' optima at the target width
    ref = analyse(full.records, SPEC.log2_lrs)["optima"]
    for o in ref:
        assert o["log2_lr"] == pytest.approx(opt[(o["target"], o["width"])]["log2_lr"], abs=1e-9)


def test_prediction_and_bracket_helpers():
    assert lr_exponent("mlp", "sgd", "ntp", 2) == pytest.approx(0.5)
    assert bracket_around(-3.57, [-7, -6, -5], 3) == [-5.0, -4.0, -3.0]
    assert bracket_around(0.9, [-7, -6.5, -6], 5) == [0.0, 0.5, 1.0, 1.5, 2.0]


ARGS = ["transfer", "--targets", "sp,mup", "--base-width", "16", "--log2-lrs", "-2:4:2",
        "--seeds", "1", "--steps", "5", "--batch-size", "32", "--n-train", "64", "--loss", "mse"]  # fmt: skip


def test_cli_writes_transfer_json_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "o"
    assert main([*ARGS, "--target-widths", "32", "--out", str(out)]) == 0
    doc = json.loads((out / "transfer.json").read_text())
    assert {"config", "optima", "transfer", "compute", "points"} <= set(doc)
    assert {o["width"] for o in doc["optima"]} == {16, 32}
    assert {"verdict", "shift_octaves", "spread_octaves"} <= set(doc["transfer"]["mup"])
    assert (out / "transfer.png").stat().st_size > 1000 and (out / "sweep.sqlite").exists()
    assert "points vs 8 for the full grid" in capsys.readouterr().out
    for bad, msg in (
        ([], "needs --target-widths"),
        (["--target-widths", "16"], "differ from the base width"),
        (["--target-widths", "32", "--log2-lrs", "1,2,4"], "uniformly spaced"),
        (["--target-widths", "32", "--bracket", "2"], "at least 3"),
    ):
        assert main([*ARGS, *bad, "--out", str(out)]) == 2
        assert msg in capsys.readouterr().err
