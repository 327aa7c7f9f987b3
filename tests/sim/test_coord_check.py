"""The coordinate check measures the width exponents the symbolic engine predicts.

MLP d_in=32 -> n -> n -> 10 (ReLU, no biases), widths 128..1024, base width 16, 3 seeds,
3 full-batch steps on a batch of 32. Tolerance 0.2: the muP output update carries an
O(n^{-1/2}) random part (W_out^T times the uncorrelated part of the feature update) that
makes the fitted slope of output movement about -0.1 between n=128 and n=1024.
"""

from __future__ import annotations

import numpy as np
import pytest

from infwidth.sim import CoordCheckConfig, Table, coord_check

WIDTHS = (128, 256, 512, 1024)
TOL = 0.2


def _check(table: Table, optimizer: str, lr: float, **kw):
    cfg = CoordCheckConfig(
        optimizer=optimizer,
        widths=WIDTHS,
        base_width=16,
        steps=3,
        seeds=3,
        lr=lr,
        batch_size=32,
        spectral=False,
        **kw,
    )
    return coord_check(table, cfg, tol=TOL)


@pytest.fixture(scope="module")
def mup_sgd():
    return _check(Table.derive("mlp", "sgd", target="mup"), "sgd", 0.1)


@pytest.fixture(scope="module")
def mup_adam():
    return _check(Table.derive("mlp", "adam", target="mup"), "adam", 0.01)


def test_mup_sgd_features_move_order_one(mup_sgd):
    for tensor in ("W1", "W2"):
        s = mup_sgd.slope(tensor, "feature_movement_rms")
        assert abs(s.slope) < TOL, s
        assert s.verdict == "PASS"
    assert mup_sgd.passed, [s.to_json() for s in mup_sgd.failed]


def test_mup_adam_features_move_order_one(mup_adam):
    s = mup_adam.slope("W2", "feature_movement_rms")
    assert abs(s.slope) < TOL, s
    assert mup_adam.passed, [s.to_json() for s in mup_adam.failed]


def test_ntp_features_decay_like_inverse_sqrt_width():
    res = _check(Table.derive("mlp", "sgd", target="ntp"), "sgd", 0.1)
    for tensor in ("W1", "W2"):
        s = res.slope(tensor, "feature_movement_rms")
        assert abs(s.slope + 0.5) < TOL, s
    assert res.passed, [s.to_json() for s in res.failed]


def test_sp_fixed_lr_output_blows_up():
    res = _check(Table.derive("mlp", "sgd", target="sp"), "sgd", 0.1)
    # After one step the output moves like n^1 (W3's own update, eta |x|^2) ...
    assert res.slope("output", "output_movement_rms", 1).slope > 0.75
    # ... and hidden features blow up as the steps compound.
    assert res.slope("W2", "feature_movement_rms", 3).slope > 0.75


def test_sp_largest_stable_lr_features_stop_moving():
    table = Table.derive("mlp", "sgd", target="sp")
    for name in table.names:  # c = 1: eta ~ 1/n, the largest stable SP learning rate
        table = table.replace_width(name, learning_rate="-1")
    res = _check(table.reclassified(), "sgd", 0.1)
    assert res.config["regime"] == "kernel"
    s = res.slope("W2", "feature_movement_rms")
    assert s.slope < -0.35 and abs(s.slope + 0.5) < TOL, s
    assert abs(res.slope("output", "output_movement_rms").slope) < TOL
    assert res.passed, [s.to_json() for s in res.failed]


def test_wrong_table_fails_the_verdict():
    """Adam with the hidden learning rate left unscaled, judged as the muP it claims to be."""
    good = Table.derive("mlp", "adam", target="mup")
    wrong = good.replace_width("W2", learning_rate="0")
    wrong = Table.from_json({**_json(wrong), "regime": dict(good.regime)})
    res = _check(wrong, "adam", 0.01)
    assert not res.passed
    s = res.slope("W2", "feature_movement_rms")
    assert s.verdict == "FAIL" and s.slope > 0.3, s
    assert res.verdict == "FAIL"


def _json(table: Table) -> dict:
    return {
        "optimizer": table.optimizer,
        "target": table.target,
        "gauge": table.gauge,
        **table.spec_json(),
    }


def test_interrupted_check_resumes_from_finished_widths(tmp_path, monkeypatch):
    import infwidth.sim._coord as coord
    from infwidth.sim import CoordCheckConfig, Table, run_widths

    table = Table.derive("mlp", "sgd", target="mup")
    small = CoordCheckConfig(widths=(32, 64), steps=2, seeds=2, spectral=False)
    first = run_widths(table, small, cache_dir=tmp_path)
    compiled = []
    real = coord._executables
    monkeypatch.setattr(
        coord, "_executables", lambda jobs: compiled.append(len(jobs)) or real(jobs)
    )
    full = CoordCheckConfig(widths=(32, 64, 128), steps=2, seeds=2, spectral=False)
    again = run_widths(table, small, cache_dir=tmp_path)  # everything finished: nothing runs
    assert compiled == [0]
    for k, v in first.values.items():
        np.testing.assert_array_equal(v, again.values[k])
    extended = run_widths(table, full, cache_dir=tmp_path)  # only the new width runs
    assert compiled[-1] == 1
    for k, v in first.values.items():
        np.testing.assert_array_equal(v, extended.values[k][:2])
    other = CoordCheckConfig(widths=(32, 64), steps=2, seeds=2, spectral=False, lr=0.05)
    run_widths(table, other, cache_dir=tmp_path)  # other settings: recomputed, not reused
    assert compiled[-1] == 2
