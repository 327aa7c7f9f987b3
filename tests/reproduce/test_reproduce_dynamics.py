"""``infwidth reproduce`` for issue 14's mup-coord-check and super-consistency: the quick
verdicts PASS, with their numbers, and the corrupted table FAILs."""

import pytest

from infwidth.reproduce.super_consistency import dataset as sc_dataset

from ._quick import run_quick, value


@pytest.fixture(scope="module")
def mcc(tmp_path_factory):
    return run_quick(tmp_path_factory, "mup-coord-check")


@pytest.fixture(scope="module")
def sc(tmp_path_factory):
    if sc_dataset() == "digits":
        pytest.skip("neither Fashion-MNIST nor MNIST is installed")
    return run_quick(tmp_path_factory, "super-consistency")


def test_mup_coord_check(mcc):
    code, out, v, _ = mcc
    assert code == 0 and v["pass"] is True and (out / "figure.png").stat().st_size > 10_000
    runs = v["report"]["runs"]
    assert runs["mup-sgd"]["verdict"] == runs["mup-adam"]["verdict"] == "PASS"
    assert runs["sp-sgd"]["verdict"] == runs["sp-adam"]["verdict"] == "FAIL"
    # the corrupted table (MuAdam's n0/n on the hidden matrix left out) is caught
    assert runs["mup-bad-adam"]["verdict"] == "FAIL"
    assert runs["mup-bad-adam"]["modules"]["relu2"]["3"]["verdict"] == "FAIL"
    assert value(v, "muP: largest |slope|") <= 0.05  # measured 0.027
    assert value(v, "muP readout at t=1") == 0.0  # zero readout: exactly 0
    # SP blow-up over n = 1024, 4096 (README over 1024..8192: ~1.5, ~1, ~1)
    assert value(v, "SP Adam: readout") == pytest.approx(1.25, abs=0.1)
    assert value(v, "SP Adam: fc2") == pytest.approx(0.57, abs=0.1)
    assert value(v, "SP SGD: readout") == pytest.approx(0.67, abs=0.1)
    assert value(v, "corrupted table: largest") == pytest.approx(0.28, abs=0.05)


def test_super_consistency(sc):
    code, out, v, _ = sc
    assert code == 0 and v["pass"] is True and (out / "figure.png").stat().st_size > 10_000
    mup, ntp = v["report"]["by_target"]["mup"], v["report"]["by_target"]["ntp"]
    # eta_0 = 2^-1.5. muP: width-independent (measured 0.055) and at the edge of stability
    # (eta * lambda_max / 2 = 0.99/0.96/0.96); NTP falls with width, the widest below the edge
    assert mup["-1.5"]["spread_log2"] <= 0.15
    for n, w in mup["-1.5"]["widths"].items():
        assert w["eos_ratio"] == pytest.approx(1.0, abs=0.08), n
    assert ntp["-1.5"]["spread_log2"] == pytest.approx(0.57, abs=0.1)
    s = {n: ntp["-1.5"]["widths"][n]["eos_ratio"] for n in ("64", "128", "512")}
    assert s["64"] > s["128"] > s["512"]
    assert s["512"] == pytest.approx(0.67, abs=0.07)
    # the sweep's smaller rate: muP at the edge again, at every width (within 5%)
    for n, w in mup["-2"]["widths"].items():
        assert w["eos_ratio"] == pytest.approx(1.0, abs=0.05), n
