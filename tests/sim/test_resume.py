"""The coordinate check resumes from finished widths: after damage, a kill, or with odd names."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import infwidth.sim._coord as coord
from infwidth import derive, spec_from_dict
from infwidth.sim import CoordCheckConfig, Table, coord_check, run_widths

ROOT = Path(__file__).resolve().parents[2]
# the shapes of tests/sim/test_coord_check.py's resume test: compiled programs are shared
CFG = CoordCheckConfig(widths=(32, 64), steps=2, seeds=2, spectral=False)


@pytest.fixture
def compiled(monkeypatch):
    """Number of width programs each run_widths call actually runs (cached widths: none)."""
    seen = []
    real = coord._executables
    monkeypatch.setattr(coord, "_executables", lambda jobs: seen.append(len(jobs)) or real(jobs))
    return seen


def _assert_same(a, b):
    assert set(a.values) == set(b.values)
    for k, v in a.values.items():
        np.testing.assert_array_equal(v, b.values[k])
    np.testing.assert_array_equal(a.diverged, b.diverged)


def test_damaged_width_file_is_recomputed_not_fatal(
    tmp_path, capsys, compiled, damage, damage_kind
):
    table = Table.derive("mlp", "sgd", target="mup")
    first = run_widths(table, CFG, cache_dir=tmp_path)
    damage(tmp_path / "width_64.npz", damage_kind)
    seen = []
    again = run_widths(table, CFG, cache_dir=tmp_path, progress=lambda w, c: seen.append((w, c)))
    assert compiled == [2, 1]  # only the damaged width runs again
    assert seen == [(32, True), (64, False)]
    _assert_same(first, again)
    err = capsys.readouterr().err
    assert err.count("note: ") == 1 and "width_64.npz" in err, err
    run_widths(table, CFG, cache_dir=tmp_path)  # the recomputed width was saved again
    assert compiled == [2, 1, 0]


def _pipe_table() -> Table:
    spec = {
        "tensors": [
            {"name": "in|put", "fan_in": "d_in", "fan_out": "n"},
            {"name": "hid|den", "fan_in": "n", "fan_out": "n"},
            {"name": "out", "fan_in": "n", "fan_out": "d_out"},
        ]
    }
    return Table.from_json(derive(spec_from_dict(spec), "sgd").to_json())


def test_tensor_names_with_a_pipe_survive_a_resume(tmp_path, compiled):
    """Names are stored as JSON, not '|'-joined: a resumed check has the same records and
    verdict as the first one (the old cache read 'in|put' back as 'in' / 'put|...')."""
    table = _pipe_table()
    cfg = CoordCheckConfig(
        arch="chain", widths=(32, 64), steps=2, seeds=2, spectral=False, dims={"d_in": 4}
    )
    first = coord_check(table, cfg, cache_dir=tmp_path)
    again = coord_check(table, cfg, cache_dir=tmp_path)
    assert compiled == [2, 0]  # the second check is all cache
    assert ("in|put", "feature_movement_rms") in again.raw.values
    _assert_same(first.raw, again.raw)
    assert [s.to_json() for s in again.slopes] == [s.to_json() for s in first.slopes]
    assert again.passed == first.passed


_KILLED = """
import sys, time
from infwidth.sim import CoordCheckConfig, Table, run_widths

def progress(width, cached):
    print(width, cached, flush=True)
    time.sleep(600)  # killed here, after the first width was saved

cfg = CoordCheckConfig(widths=(32, 64), steps=2, seeds=2, spectral=False)
run_widths(Table.derive("mlp", "sgd", target="mup"), cfg, cache_dir=sys.argv[1], progress=progress)
"""


def test_sigkill_after_the_first_width_loses_nothing_and_repeats_nothing(tmp_path, compiled):
    cache = tmp_path / "partial"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    code = textwrap.dedent(_KILLED)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert line.split() == ["32", "False"], line
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["width_32.npz"]
    table = Table.derive("mlp", "sgd", target="mup")
    seen = []
    resumed = run_widths(table, CFG, cache_dir=cache, progress=lambda w, c: seen.append((w, c)))
    assert seen == [(32, True), (64, False)]  # width 32 loaded, not recomputed
    assert compiled == [1]
    fresh = run_widths(table, CFG)  # no cache: the uninterrupted answer
    _assert_same(resumed, fresh)


def test_cli_progress_says_cached(tmp_path, capsys):
    from infwidth.cli import main

    argv = ["coord-check", "--out", str(tmp_path), "--widths", "32,64", "--steps", "2"]
    argv += ["--seeds", "2", "--no-spectral", "--no-plot"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "width 32 done\n" in err and "(cached)" not in err
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "width 32 done (cached)" in err and "width 64 done (cached)" in err
