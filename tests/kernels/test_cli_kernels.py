"""``infwidth kernel`` and ``infwidth lazy``: files written, science in them, one-line errors."""

import json
import re

import numpy as np
import pytest

from infwidth.cli import main
from infwidth.kernels import conv_kernels, mlp_kernels


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_kernel_from_npy_matches_library(tmp_path, capsys):
    x = np.random.RandomState(0).randn(12, 5)
    np.save(tmp_path / "x.npy", x)
    code, _ = _run(capsys, "kernel", "--depth", 2, "--activation", "erf", "--param", "standard",
                   "--weight-std", 1.3, "--bias-std", 0.2, "--width", 64,
                   "--data", tmp_path / "x.npy", "--out", tmp_path / "out")  # fmt: skip
    assert code == 0
    with np.load(tmp_path / "out" / "kernels.npz") as f:
        ref = mlp_kernels(x, depth=2, activation="erf", W_std=1.3, b_std=0.2,
                          parameterization="standard", width=64)  # fmt: skip
        assert f["nngp"].shape == (12, 12) and f["nngp"].dtype == np.float64
        np.testing.assert_allclose(f["ntk"], ref.ntk, rtol=1e-14)
    assert (tmp_path / "out" / "ntk.png").stat().st_size > 1000


def test_kernel_on_digits_is_psd(tmp_path, capsys):
    code, _ = _run(capsys, "kernel", "--depth", 1, "--data", "digits", "--n-points", 30,
                   "--out", tmp_path, "--no-figures")  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "kernel.json").read_text())
    assert summary["n_points"] == 30 and summary["input_shape"] == [64]
    assert summary["ntk_min_eigenvalue"] > 0


def test_cnn_kernel_on_digits_images(tmp_path, capsys):
    code, _ = _run(capsys, "kernel", "--arch", "cnn", "--depth", 1, "--data", "digits",
                   "--n-points", 4, "--filter", "3,3", "--out", tmp_path, "--no-figures")  # fmt: skip
    assert code == 0
    with np.load(tmp_path / "kernels.npz") as f:
        assert f["x"].shape == (4, 8, 8, 1)
        np.testing.assert_allclose(f["ntk"], conv_kernels(f["x"], depth=1, activation="relu").ntk,
                                   rtol=1e-13)  # fmt: skip


@pytest.mark.parametrize(
    ("array", "extra", "match"),
    [
        (np.array([[1.0, np.inf], [0.0, 1.0]]), (), "non-finite"),
        (np.ones(3), (), r"\(P, D\)"),
        (np.ones((3, 2)), ("--activation", "softplus"), "unsupported activation"),
        (np.ones((3, 2)), ("--arch", "cnn"), "needs"),
        (np.ones((3, 4, 2)), ("--arch", "cnn", "--filter", "3,x"), "--filter"),
    ],
)
def test_kernel_bad_input_is_one_line_exit_2(tmp_path, capsys, array, extra, match):
    np.save(tmp_path / "x.npy", array)
    code, out = _run(capsys, "kernel", "--data", tmp_path / "x.npy", "--out", tmp_path, *extra)
    assert code == 2
    assert out.err.count("\n") == 1 and re.search(match, out.err)


def test_lazy_network_tracks_prediction(tmp_path, capsys):
    code, _ = _run(capsys, "lazy", "--width", 512, "--steps", 30, "--n-train", 16, "--n-test", 8,
                   "--out", tmp_path, "--no-figures")  # fmt: skip
    assert code == 0
    res = json.loads((tmp_path / "lazy.json").read_text())
    net = res["curves"]["network"]["train_mse"]
    assert net[-1] < 0.5 * net[0]  # it trained
    assert res["max_relative_test_gap_network_vs_lazy_from_init"] < 0.1  # O(512^-1/2)


def test_lazy_finite_width_report_flag_is_wired(tmp_path, capsys, monkeypatch):
    """The flag calls infwidth.kernels.finite_width_report (stubbed: its science is tested in
    test_empirical.py) and prints the fitted exponents."""
    import infwidth.kernels._report

    calls = []

    def stub(out, *, quick, depth, activation, seed):
        calls.append((quick, depth, activation))
        return {k: {"slope": s} for k, s in (("init", -0.5), ("ntp", -0.8), ("mup", 0.0))}

    monkeypatch.setattr(infwidth.kernels._report, "finite_width_report", stub)
    code, out = _run(capsys, "lazy", "--width", 64, "--steps", 2, "--n-train", 4, "--n-test", 2,
                     "--out", tmp_path, "--no-figures", "--finite-width-report", "quick")  # fmt: skip
    assert code == 0 and calls == [(True, 1, "erf")]
    assert "init -0.50, ntp -0.80, mup +0.00" in out.out


def test_lazy_mup_network_leaves_the_kernel_prediction(tmp_path, capsys):
    """Same width and data: the NTP net tracks the NTK prediction, the muP net (same NTK at init)
    departs from it by far more (feature learning)."""
    gaps = {}
    for param in ("ntp", "mup"):
        code, _ = _run(capsys, "lazy", "--param", param, "--width", 512, "--steps", 100,
                       "--depth", 2, "--activation", "relu", "--lr", 2, "--n-train", 16,
                       "--n-test", 16, "--out", tmp_path / param, "--no-figures")  # fmt: skip
        assert code == 0
        res = json.loads((tmp_path / param / "lazy.json").read_text())
        gaps[param] = res["max_relative_test_gap_network_vs_lazy_from_init"]
    assert gaps["mup"] > 5 * gaps["ntp"], gaps
