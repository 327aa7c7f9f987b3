"""``infwidth dmft`` end to end (quick configuration)."""

import json

import numpy as np
import pytest

from infwidth.cli import main


def test_cli_writes_results_and_fits_slope(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 6)), rng.standard_normal(4)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    out = tmp_path / "out"
    rc = main(
        [
            "dmft", "--depth", "2", "--activation", "linear", "--gamma0", "1", "--eta", "0.05",
            "--steps", "15", "--data", str(tmp_path / "d.npz"), "--out", str(out),
            "--compare-widths", "64,256", "--seeds", "4", "--quick",
        ]
    )  # fmt: skip
    assert rc == 0
    res = json.loads((out / "dmft.json").read_text())
    assert len(res["loss"]) == 15 and np.array(res["outputs"]).shape == (15, 4)
    assert res["converged"] and res["solver"] == "DeepLinear" and res["seed"] == 0
    assert res["settings"]["gamma0"] == 1.0
    # Loss decreases; finite nets approach the DMFT roughly as N^{-1/2}.
    assert res["loss"][-1] < res["loss"][0]
    assert -1.0 < res["comparison"]["slopes"]["Phi_L"] < -0.2
    k = np.load(out / "kernels.npz")
    assert k["Phi"].shape == (2, 15, 4, 15, 4) and k["G"].shape == (2, 15, 4, 15, 4)
    for name in ("loss.png", "phi_heatmap.png", "deviation.png"):
        assert (out / name).stat().st_size > 1000


def test_cli_bad_input_and_divergence(tmp_path, capsys):
    assert main(["dmft", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", X=np.ones((3, 2)))
    assert main(["dmft", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path)]) == 2
    assert "must hold arrays X" in capsys.readouterr().err
    rc = main(
        ["dmft", "--activation", "linear", "--depth", "2", "--eta", "100", "--quick",
         "--out", str(tmp_path / "o")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "eta_max" in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "dmft.json").exists()


@pytest.mark.parametrize("arg", [["--compare-widths", "a,b"], ["--activation", "swish"]])
def test_cli_rejects_bad_options(tmp_path, arg):
    assert main(["dmft", "--quick", "--out", str(tmp_path), *arg]) == 2


def test_cli_digits_two_layer(tmp_path):
    out = tmp_path / "dg"
    rc = main(
        ["dmft", "--data", "digits", "--n-points", "6", "--depth", "1", "--activation", "relu",
         "--gamma0", "2", "--eta", "0.02", "--quick", "--out", str(out), "--no-figures"]
    )  # fmt: skip
    assert rc == 0
    res = json.loads((out / "dmft.json").read_text())
    assert res["solver"] == "TwoLayerParticles"
    assert set(res["targets"]) <= {-1.0, 1.0} and np.array(res["outputs"]).shape == (20, 6)
    assert res["loss"][-1] < 0.5 * res["loss"][0]
