"""Figure scripts write their data, and the numbers are the science."""

import json

import numpy as np
import pytest
import sympy as sp

from infwidth.figures import make


def test_abc_phase_diagram(tmp_path):
    make("abc_phase_diagram", tmp_path)
    assert (tmp_path / "abc_phase_diagram.png").stat().st_size > 0
    pts = json.loads((tmp_path / "abc_phase_diagram.json").read_text())["points"]
    mup = [p for p in pts if p["regime"] == "mup"]
    assert [(p["c"], p["a_out"]) for p in mup] == [("0", "1/2")]
    for p in pts:
        c, a = sp.Rational(p["c"]), sp.Rational(p["a_out"])
        if p["regime"] == "kernel":
            # TP4: r = min(a_out + b_out, 2 a_out + c) + c - 1 + min_l(2 a_l + [l = 1]),
            # and the nontrivial kernel points update the readout maximally: 2 a_out + c = 1.
            r = min(a + sp.Rational(1, 2), 2 * a + c) + c - 1 + min(2 * sp.Rational(-1, 2) + 1, 0)
            assert 2 * a + c == 1 and sp.Rational(p["r"]) == r > 0
        if p["regime"] == "unstable":
            assert 2 * a + c < 1 or c < 0


def test_mu_transfer_optimal_learning_rate_is_stable_under_mup_only(tmp_path):
    data = make("mu_transfer", tmp_path, quick=True)
    assert (tmp_path / "mu_transfer.png").stat().st_size > 0
    saved = json.loads((tmp_path / "mu_transfer.json").read_text())
    assert saved["best_log2_lr"] == data["best_log2_lr"]
    best = data["best_log2_lr"]
    small, large = data["widths"][0], data["widths"][-1]
    assert not any(data["on_edge"].values())
    # same network at the base width 64
    assert best[f"sp/{small}"] == best[f"mup/{small}"] == pytest.approx(-1.57, abs=0.1)
    # SP: the best learning rate falls with width, about 1/n (TP5 Fig. 1; measured -3.42
    # octaves for 8x the width); muP: it stays put (measured +0.02, spread 0.12)
    std, mup = data["transfer"]["sp"], data["transfer"]["mup"]
    assert std["shift_octaves"] == pytest.approx(-3.42, abs=0.4)
    assert std["verdict"] == "does not transfer"
    assert abs(mup["shift_octaves"]) <= 0.3 and mup["spread_octaves"] <= 0.3
    assert mup["verdict"] == "transfers"
    # and under muP wider is better at the transferred learning rate
    lrs = np.asarray(data["log2_lrs"])
    lr_index = int(np.argmin(abs(lrs - best[f"mup/{small}"])))
    loss = {
        w: np.nanmean(np.array(data["runs"][f"mup/{w}"], float)[lr_index]) for w in (small, large)
    }
    assert loss[large] < loss[small]
    assert mup["wider_is_better"] and not std["wider_is_better"]
