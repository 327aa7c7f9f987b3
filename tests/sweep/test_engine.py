"""The sweep engine: one program per width, vmapped points equal single ones, divergence
stored as data, the SQLite store resumes and extends without recomputing."""

import sqlite3

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec, run_sweep
from infwidth.sweep._engine import _chunk_program, chunks, point_bytes

SMALL = dict(targets="sp,mup", widths=(16, 64), log2_lrs="-3:6:3", seeds=2, steps=6,
             batch_size=32, n_train=64, loss="mse")  # fmt: skip


def _by_point(run):
    return {(r["target"], r["width"], r["log2_lr"], r["seed"]): r for r in run.records}


def test_one_program_per_width_and_divergence_is_data(tmp_path):
    before = _chunk_program._cache_size()
    run = run_sweep(SweepSpec(**SMALL), store=str(tmp_path / "s.sqlite"))
    # both targets, every LR and seed of a width: one compilation per width
    assert _chunk_program._cache_size() - before == 2
    assert run.computed == 2 * 2 * 4 * 2 and run.cached == 0
    pts = _by_point(run)
    # at the base width every parametrization is the same network: same numbers
    for lr in (-3.0, 0.0):
        for s in (0, 1):
            assert pts[("sp", 16, lr, s)]["loss"] == pts[("mup", 16, lr, s)]["loss"]
    # seeds differ; 2^6 diverges and is stored as such, the sweep goes on
    assert pts[("sp", 16, -3.0, 0)]["loss"] != pts[("sp", 16, -3.0, 1)]["loss"]
    blown = pts[("sp", 64, 6.0, 0)]
    assert blown["diverged"] and blown["loss"] is None
    ok = pts[("mup", 64, -3.0, 0)]
    assert not ok["diverged"] and 0 < ok["loss"] < ok["loss0"]


def test_vmapped_point_equals_the_point_alone():
    spec = SweepSpec(**SMALL)
    full = _by_point(run_sweep(spec))
    alone = run_sweep(spec.replace(targets=("mup",), widths=(64,), log2_lrs=(0.0,), seeds=1,
                                   base_width=16))  # fmt: skip
    r = alone.records[0]
    assert r["loss"] == pytest.approx(full[("mup", 64, 0.0, 0)]["loss"], rel=1e-5)


def test_rerun_and_extended_grid_reuse_the_store(tmp_path):
    store = str(tmp_path / "s.sqlite")
    spec = SweepSpec(**{**SMALL, "widths": (16,), "base_width": 16})
    first = run_sweep(spec, store=store)
    again = run_sweep(spec, store=store)
    assert again.computed == 0 and again.records == first.records
    wider = spec.replace(log2_lrs=(-3.0, -1.0, 0.0, 3.0, 6.0), widths=(16, 32), seeds=3)
    reports = []
    ext = run_sweep(wider, store=store, progress=reports.append)
    assert ext.computed == len(wider.points()) - len(spec.points())
    assert sum(c.points - c.computed for c in reports) == len(spec.points())
    old = _by_point(first)
    for k, r in _by_point(ext).items():
        if k in old:
            assert r == old[k]
    db = sqlite3.connect(store)
    n, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM points").fetchone()
    assert n == keys == len(wider.points())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # same seed, same numbers: a fresh in-memory run equals what the store holds
    assert run_sweep(spec).records == first.records
    # a store written by another version is refused in one line
    with db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE name = 'version'")
    db.close()
    with pytest.raises(InfwidthError, match="written by infwidth 0.0.1"):
        run_sweep(spec, store=store)


def test_adam_sweep_trains_and_base_width_coincides():
    spec = SweepSpec(targets="sp,mup", widths=(16, 64), log2_lrs="-9:-5:4", seeds=1, steps=8,
                     batch_size=32, n_train=64, optimizer="adam", loss="xent")  # fmt: skip
    pts = _by_point(run_sweep(spec))
    assert pts[("sp", 16, -9.0, 0)]["loss"] == pts[("mup", 16, -9.0, 0)]["loss"]
    for k, r in pts.items():
        assert not r["diverged"] and r["final"] < r["loss0"], k
    # muP-Adam scales hidden learning rates by 1/n: at 4x the base width the runs differ
    assert pts[("sp", 64, -5.0, 0)]["loss"] != pts[("mup", 64, -5.0, 0)]["loss"]


def test_user_arrays_and_bad_inputs():
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    spec = SweepSpec(targets="mup", widths=(8, 16), log2_lrs="-2:-1:1", seeds=1, steps=3,
                     batch_size=8, data="arrays", loss="xent")  # fmt: skip
    run = run_sweep(spec, x=x, labels=labels)
    assert len(run.records) == 4 and all(r["loss"] > 0 for r in run.records)
    with pytest.raises(InfwidthError, match="needs the arrays"):
        run_sweep(spec)
    with pytest.raises(InfwidthError, match="exceeds the 40 training points"):
        run_sweep(spec.replace(batch_size=41), x=x, labels=labels)
    with pytest.raises(InfwidthError, match="cannot open the sweep store"):
        run_sweep(spec, store="/proc/no/such/dir/s.sqlite", x=x, labels=labels)


def test_chunks_are_sized_by_the_memory_estimate():
    spec = SweepSpec(**SMALL)  # 2 targets x 4 LRs x 2 seeds = 16 points per width
    assert [len(c) for c in chunks(spec, 64, 10)] == [16, 16]
    need = point_bytes(spec, 64, 64, 10)
    # 64 * 64 hidden weights, 3 copies under SGD, float32
    assert need == 4 * (3 * (64 * 64 + 64 * 64 + 64 * 10) + 4 * 32 * (64 * 2 + 10))
    tight = spec.replace(max_memory_gb=5 * need / 1e9)  # 5 points of width 64 fit
    sizes = {w: [len(c) for c in chunks(tight, 64, 10) if c[0].width == w] for w in (16, 64)}
    assert sizes == {16: [16], 64: [4, 4, 4, 4]}  # the narrow width still fits in one
    with pytest.raises(InfwidthError, match="width 64 needs about .* GB, above the memory"):
        chunks(spec.replace(max_memory_gb=need / 2e9), 64, 10)
