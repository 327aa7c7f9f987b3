"""The sweep's further axes: scalar axes traced (no recompilation), depth, warmup and schedule,
spec-file networks, a user's own model through mup_transfer, --auto-extend."""

import json
import math

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec, run_sweep, sweep_json
from infwidth.sweep._engine import _chunk_program
from infwidth.sweep._spec import lr_schedule

BASE = dict(widths=(16, 64), seeds=1, batch_size=32, n_train=64, loss="mse")


def _by(run, *fields):
    return {tuple(r[f] for f in fields): r for r in run.records}


def test_scalar_axes_are_traced_and_act_as_defined(tmp_path):
    store = str(tmp_path / "s.sqlite")
    spec = SweepSpec(**BASE, targets="mup", log2_lrs=(-2.0, 0.0), steps=7, max_chunk=8,
                     init_mults=(0.5, 1.0, 2.0), output_mults=(1.0, 0.0),
                     weight_decays=(0.0, 0.5))  # fmt: skip  # 24 points a width, chunks of 8
    before = _chunk_program._cache_size()
    run = run_sweep(spec, store=store)
    assert _chunk_program._cache_size() - before == 2  # one program per width
    pts = _by(run, "width", "log2_lr", "init_mult", "output_mult", "weight_decay")
    for (w, lr, im, om, wd), r in pts.items():
        if om == 0.0:  # a zero readout: f = 0 and no gradient reaches any weight
            assert r["loss0"] == r["loss"] == r["final"] == 0.5, (w, lr, im, wd)
    # ReLU, no biases: f scales as c^3 in the init multiplier c, so the initial MSE
    # 0.5 - c^3 A + c^6 B is fixed by two multipliers and predicts the third
    for w in (16, 64):
        l05, l1, l2 = (pts[(w, 0.0, c, 1.0, 0.0)]["loss0"] - 0.5 for c in (0.5, 1.0, 2.0))
        a, b = np.linalg.solve([[-(0.5**3), 0.5**6], [-1.0, 1.0]], [l05, l1])
        assert l2 == pytest.approx(-8 * a + 64 * b, rel=1e-4)
        # weight decay acts on the updates only: same first loss, another trajectory
        d0, d5 = pts[(w, 0.0, 1.0, 1.0, 0.0)], pts[(w, 0.0, 1.0, 1.0, 0.5)]
        assert d0["loss0"] == d5["loss0"] and d0["final"] != d5["final"]
    # one more value on an axis: new points only, same chunk size, no new program
    more = spec.replace(weight_decays=(0.0, 0.5, 0.1))
    before = _chunk_program._cache_size()
    ext = run_sweep(more, store=store)
    assert _chunk_program._cache_size() == before
    assert (ext.computed, ext.cached) == (24, 48)
    # default values keep the default key: the axis-free sweep is read from the store
    plain = SweepSpec(**BASE, targets="mup", log2_lrs=(-2.0, 0.0), steps=7, max_chunk=8)
    again = run_sweep(plain, store=store)
    assert again.computed == 0
    assert again.records[0]["loss"] == pts[(16, -2.0, 1.0, 1.0, 0.0)]["loss"]
    # sweep.json names the axes that vary, and keys its verdicts by them
    doc = sweep_json(run)
    assert {"init_mult", "output_mult", "weight_decay"} <= set(doc["points"][0])
    assert "eps" not in doc["points"][0]
    assert "mup init_mult=2 output_mult=0 weight_decay=0.5" in doc["transfer"]
    assert "mup" in sweep_json(again)["transfer"]


def test_adam_epsilon_axis():
    # full batch (every step sees the same 32 points): the loss moves only with the weights
    spec = SweepSpec(**{**BASE, "widths": (16,), "n_train": 32}, targets="mup", steps=6,
                     log2_lrs=(-6.0,), optimizer="adam", adam_eps=(1e-8, 1e4))  # fmt: skip
    pts = _by(run_sweep(spec), "eps")
    small, huge = pts[(1e-8,)], pts[(1e4,)]
    assert small["final"] < 0.9 * small["loss0"]  # Adam trains
    # eps >> sqrt(v): steps of eta * m / eps, about 1e-6 of Adam's: nothing moves
    assert huge["final"] == pytest.approx(huge["loss0"], rel=1e-4)


def test_schedule_values_and_a_schedule_is_traced():
    s = lr_schedule(6, 2, "linear")
    assert s.tolist() == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])
    c = lr_schedule(6, 0, "cosine")
    assert c[0] == 1.0 and c[3] == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_schedule(4).tolist() == [1.0] * 4
    spec = SweepSpec(**BASE, targets="mup", log2_lrs=(-1.0,), steps=9)
    const = run_sweep(spec)
    before = _chunk_program._cache_size()
    warm = run_sweep(spec.replace(warmup_steps=3, schedule="cosine"))
    assert _chunk_program._cache_size() == before  # the schedule is an argument
    for a, b in zip(const.records, warm.records, strict=True):
        assert a["loss0"] == b["loss0"] and a["final"] != b["final"]
    with pytest.raises(InfwidthError, match="warmup_steps .* below steps"):
        spec.replace(warmup_steps=9)
    with pytest.raises(InfwidthError, match="unknown schedule"):
        spec.replace(schedule="step")


def test_depth_axis_resmlp_depth_mup():
    spec = SweepSpec(arch="resmlp", targets="sp,depth-mup", widths=(16,), depths=(2, 8),
                     log2_lrs=(-4.0, -2.0), seeds=1, steps=5, batch_size=32, n_train=64,
                     loss="mse")  # fmt: skip
    assert (spec.depth, spec.resolved_base_depth) == (2, 2)
    before = _chunk_program._cache_size()
    run = run_sweep(spec)
    assert _chunk_program._cache_size() - before == 2  # one program per (width, depth)
    pts = _by(run, "target", "depth", "log2_lr")
    for lr in (-4.0, -2.0):
        # at the base depth both are the same network; at 4x it, depth-muP's branches
        # are scaled by (L/L0)^(-1/2)
        assert pts[("sp", 2, lr)]["loss"] == pts[("depth-mup", 2, lr)]["loss"]
        assert pts[("sp", 8, lr)]["loss0"] != pts[("depth-mup", 8, lr)]["loss0"]
    doc = sweep_json(run)
    assert set(doc["transfer"]) == {"sp depth=2", "sp depth=8", "depth-mup depth=2",
                                    "depth-mup depth=8"}  # fmt: skip
    assert doc["depth_transfer"]["depth-mup"]["depths"] == [2, 8]
    assert doc["config"]["depths"] == [2, 8]
    with pytest.raises(InfwidthError, match="depths axis repeats"):
        spec.replace(depths=(2, 2))


def _mlp_file(path, hidden="n", indent=None):
    path.write_text(json.dumps({"tensors": [
        {"name": "W1", "fan_in": "d_in", "fan_out": "n"},
        {"name": "W2", "fan_in": "n", "fan_out": hidden},
        {"name": "W3", "fan_in": hidden, "fan_out": "d_out"},
    ]}, indent=indent))  # fmt: skip
    return path


def test_spec_file_network_is_the_builtin_mlp(tmp_path):
    kw = dict(**BASE, targets="sp,mup", log2_lrs=(-2.0, 0.0), steps=5)
    builtin = run_sweep(SweepSpec(**kw))
    net = _mlp_file(tmp_path / "net.json")
    spec = SweepSpec(**kw, spec_file=str(net))
    assert spec.arch == "chain"
    store = str(tmp_path / "s.sqlite")
    chain = run_sweep(spec, store=store)
    for a, b in zip(builtin.records, chain.records, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    # the network, not the file's bytes, is in the key: reformatted, it is read from the
    # store; another network (a 2n-wide hidden layer) is computed anew
    _mlp_file(net, indent=2)
    assert run_sweep(spec, store=store).computed == 0
    _mlp_file(net, hidden="2*n")
    assert run_sweep(spec, store=store).computed == len(spec.points())
