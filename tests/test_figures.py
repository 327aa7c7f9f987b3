"""Figure scripts write their data, and the numbers are the science."""

import json

import numpy as np
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
    best = data["best_log2_lr"]
    small, large = data["widths"][0], data["widths"][-1]
    # SP: the best learning rate falls with width (TP5 Fig. 1); muP: it stays put.
    assert best[f"sp/{large}"] <= best[f"sp/{small}"] - 2
    assert abs(best[f"mup/{large}"] - best[f"mup/{small}"]) <= 1
    # and under muP wider is better at the transferred learning rate
    lr_index = data["log2_lrs"].index(best[f"mup/{small}"])
    loss = {
        w: np.nanmean(np.array(data["runs"][f"mup/{w}"], float)[lr_index]) for w in (small, large)
    }
    assert loss[large] < loss[small]
