"""Honest divergence: one definition (infwidth._divergence), UNFITTABLE and INCONCLUSIVE slopes."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from infwidth._divergence import GROWTH_BOUND, first_divergence
from infwidth.sim import CoordCheckConfig, RawRecords, Table, analyse, coord_check
from infwidth.sim._report import CoordCheckResult

summary = CoordCheckResult.summary

SMALL = dict(steps=2, seeds=2, batch_size=8, spectral=False)


def test_definition_non_finite_or_growth_beyond_the_bound():
    assert first_divergence([1.0, 2.0, 900.0]) == -1  # 900 x init: below the bound
    assert first_divergence([1.0, 2.0, 2e3, 5.0]) == 2  # 2000 x init
    assert first_divergence([1.0, np.nan, 1.0]) == 1
    assert first_divergence([1.0, 1.0, 1.0], np.array([0.0, 0.0, np.inf])) == 2
    # outputs that start near 0 may grow to the targets' scale (floor 1), not beyond 1e3 x it
    assert first_divergence([1e-6, 1.0, 0.5 * GROWTH_BOUND]) == -1
    assert first_divergence([1e-6, 1.0, 2 * GROWTH_BOUND]) == 2


def test_zero_movement_is_unfittable_not_diverged():
    table = Table.derive("mlp", "sgd", target="mup")
    res = coord_check(table, CoordCheckConfig(widths=(64, 128, 256), lr=1e-300, **SMALL))
    assert not (res.raw.diverged >= 0).any()
    s = res.slope("W2", "feature_movement_rms")
    assert s.verdict == "UNFITTABLE" and "no movement" in s.reason, s
    assert res.slope("W2", "activation_rms").verdict == "PASS"
    assert res.verdict == "INCONCLUSIVE" and res.failed == []
    text = summary(res)
    assert "diverged runs: 0; verdict: INCONCLUSIVE" in text
    assert "diverged" not in text.replace("diverged runs: 0", "")
    assert res.to_json()["summary"]["verdict"] == "INCONCLUSIVE"


def test_adam_blow_up_is_flagged_diverged():
    """muP MLP under Adam at lr = 10: outputs reach ~1e4 x their initial RMS, all finite."""
    table = Table.derive("mlp", "adam", target="mup")
    cfg = CoordCheckConfig(optimizer="adam", lr=10.0, widths=(64, 128, 256), **SMALL)
    res = coord_check(table, cfg)
    out = res.raw.values[("output", "output_rms")]
    assert np.all(np.isfinite(out)) and np.max(out[:, :, -1] / out[:, :, 0]) > GROWTH_BOUND
    assert (res.raw.diverged >= 0).all()
    assert not res.passed and res.verdict == "INCONCLUSIVE"
    assert res.slope("output", "output_rms").verdict == "UNFITTABLE"
    assert res.to_json()["diverged"] and "diverged runs: 6" in summary(res)
    assert res.config["divergence"]["growth_bound"] == GROWTH_BOUND


def _raw(values: np.ndarray) -> dict:
    from infwidth.sim._coord import diverged_steps

    arrays = {("W1", "feature_movement_rms"): values, ("output", "output_rms"): values + 1.0}
    arrays |= {("output", "output_movement_rms"): values}
    return RawRecords((64, 128, 256, 512), 3, 2, arrays, diverged_steps(arrays))


def test_nan_run_is_diverged_and_left_out_of_the_fit():
    table = Table.derive("mlp", "sgd", target="mup")
    cfg = CoordCheckConfig(widths=(64, 128, 256, 512), steps=2, seeds=3)
    rng = np.random.default_rng(0)
    v = 1.0 + 0.01 * rng.random((4, 3, 3))
    v[:, :, 0] = 0.0
    v[3, 1, 2] = np.nan
    raw = _raw(v)
    assert raw.diverged[3, 1] == 2 and (raw.diverged >= 0).sum() == 1
    res = analyse(table, cfg, raw)
    s = res.slope("W1", "feature_movement_rms")
    assert s.verdict == "PASS" and abs(s.slope) < 0.02
    # a run diverged where the table predicts stable training: not a PASS
    assert res.verdict == "INCONCLUSIVE" and "1 runs diverged" in res.judgement.reason
    assert res.to_json()["diverged"] == [{"width": 512, "seed": 1, "step": 2}]


def test_two_small_widths_after_one_step_are_inconclusive_not_fail(tmp_path):
    from infwidth.cli import main

    table = Table.derive("mlp", "sgd", target="mup")
    res = coord_check(table, CoordCheckConfig(widths=(32, 64), steps=1, spectral=False))
    for s in res.slopes:
        assert s.verdict == "INCONCLUSIVE" and "too few widths" in s.reason, s
    assert res.verdict == "INCONCLUSIVE" and not res.failed
    argv = ["coord-check", "--widths", "32,64", "--steps", "1", "--no-spectral", "--no-plot"]
    assert main([*argv, "--strict", "--out", str(tmp_path)]) == 0  # --strict: FAIL only


def test_design_rule():
    from infwidth._fit import design_reason, verdict

    assert design_reason(np.array([64, 128, 256])) is None
    assert "too few" in design_reason(np.array([128, 256]))
    assert "too close" in design_reason(np.array([128, 160, 256]))
    assert "too small" in design_reason(np.array([32, 64, 128]))
    ws = np.array([128, 256, 512])
    assert verdict(0.5, 0.45, 0.55, 0, tol=0.2, widths=ws).verdict == "FAIL"
    assert verdict(0.05, -0.5, 0.6, 0, tol=0.2, widths=ws).verdict == "INCONCLUSIVE"
    assert verdict(0.05, -0.05, 0.1, 0, tol=0.2, widths=ws).verdict == "PASS"


def test_dmft_late_divergence_message_has_no_nonsense_threshold():
    from infwidth.dmft import divergence_message
    from infwidth.dmft._solve import _threshold_before_blowup

    T, P = 10, 3
    y = np.ones(P)
    delta = np.ones((T, P))
    delta[6:] = 1e9  # the error blows up at t = 6 ...
    ntk = np.broadcast_to(np.eye(P), (T, P, P)).copy()
    ntk[6:] *= 1e13  # ... and the kernels with it: 2 / lambda_max there is ~1e-13
    problem = SimpleNamespace(y=y, n_train=P)
    thr = _threshold_before_blowup(problem, {"delta": delta, "ntk": ntk})
    assert thr == pytest.approx(2.0)
    late = divergence_message(1.0, min(3.0, thr), 3.0)  # eta below every threshold seen
    assert "none is estimated" in late
    early = divergence_message(2.5, min(3.0, thr), 3.0)
    assert "eta_max = 2/lambda_max(K) = 2" in early
    for msg in (late, early):
        numbers = [float(x) for x in re.findall(r"\d+\.?\d*(?:e[-+]?\d+)?", msg.replace("t=0", ""))]
        assert min(numbers) > 1e-3, msg
