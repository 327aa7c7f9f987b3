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


class UserMLP:
    """A user's MLP 64 -> n -> n -> 10 (ReLU, no biases), standard init: the built-in mlp's
    unit normals (its NumPy stream, seed read back from the key) over sqrt(fan_in)."""

    name = "test-user-mlp"

    @staticmethod
    def init(width, key):
        seed = int(np.asarray(key)[-1])
        sizes = {"W1": (64, width), "W2": (width, width), "W3": (width, 10)}
        return {
            k: np.random.default_rng([seed, i, 0x5EED]).standard_normal(s, np.float32)
            / np.float32(math.sqrt(s[0]))
            for i, (k, s) in enumerate(sorted(sizes.items()))
        }

    @staticmethod
    def loss(params, batch):
        import jax
        import jax.numpy as jnp

        x, y = batch
        h = jax.nn.relu(x @ params["W1"])
        f = jax.nn.relu(h @ params["W2"]) @ params["W3"]
        return 0.5 * jnp.mean(jnp.sum((f - jax.nn.one_hot(y, 10)) ** 2, axis=-1))


def test_user_model_through_mup_transfer_matches_the_builtin_mlp(tmp_path):
    spec = SweepSpec(**BASE, targets="sp,mup", log2_lrs=(-3.0, -1.0, 1.0, 5.0), steps=6,
                     init_mults=(1.0, 0.5))  # fmt: skip
    builtin = _by(run_sweep(spec), "target", "width", "log2_lr", "init_mult")
    before = _chunk_program._cache_size()
    store = str(tmp_path / "s.sqlite")
    user = run_sweep(spec, model=UserMLP(), store=store)
    assert _chunk_program._cache_size() - before == 2  # one program per width
    mine = _by(user, "target", "width", "log2_lr", "init_mult")
    assert mine.keys() == builtin.keys()
    for k, r in mine.items():
        b = builtin[k]
        assert r["diverged"] == b["diverged"], k
        if not r["diverged"]:
            assert r["loss"] == pytest.approx(b["loss"], rel=1e-6), k
    assert any(r["diverged"] for r in mine.values())  # 2^5 blows up, in both
    # muP and SP differ at 4x the base width (the user's model was rescaled)
    assert mine[("sp", 64, -1.0, 1.0)]["loss"] != mine[("mup", 64, -1.0, 1.0)]["loss"]
    # stored under the model's name, apart from the built-in network
    again = run_sweep(spec, model=UserMLP(), store=store)
    assert again.computed == 0 and sweep_json(again)["config"]["arch"] == "user:test-user-mlp"
    assert run_sweep(spec, store=store).computed == len(spec.points())
    with pytest.raises(InfwidthError, match="no output multiplier"):
        run_sweep(spec.replace(output_mults=(1.0, 2.0)), model=UserMLP())
    with pytest.raises(InfwidthError, match="init.*loss"):
        run_sweep(spec, model=object())


def test_auto_extend_brackets_an_edge_optimum(tmp_path):
    store = str(tmp_path / "s.sqlite")
    spec = SweepSpec(**{**BASE, "widths": (16,)}, targets="mup", log2_lrs="-7:-5:1", steps=20)
    first = run_sweep(spec, store=store)
    doc = sweep_json(first)
    assert all(o["on_edge"] and o["log2_lr"] == -5.0 for o in doc["optima"])  # too slow
    run = run_sweep(spec.replace(auto_extend=4), store=store)
    grid = run.spec.log2_lrs
    assert (
        run.extended == 3
        and grid[0] == -7.0
        and grid == tuple(np.arange(-7.0, grid[-1] + 0.5, 1.0))
    )
    assert run.cached == len(spec.points())  # the first grid came from the store
    doc = sweep_json(run)
    assert not any(o["on_edge"] for o in doc["optima"])
    assert doc["config"]["log2_lrs"] == list(grid)
    # bounded: one extension allowed leaves it on the edge, said so
    short = run_sweep(spec.replace(auto_extend=1), store=store)
    assert short.extended == 1 and short.spec.log2_lrs[-1] == -3.0


def test_cli_flags_and_config_give_the_same_spec(tmp_path, capsys):
    from infwidth.cli import build_parser, main
    from infwidth.cli._sweep import build_spec

    net = _mlp_file(tmp_path / "net.json")
    argv = ["sweep", "--depths", "2,3", "--base-depth", "2", "--init-mults", "1,0.5",
            "--output-mults", "1,2", "--weight-decays", "0,1e-3", "--adam-eps", "1e-8,1e-6",
            "--warmup-steps", "3", "--schedule", "cosine", "--auto-extend"]  # fmt: skip
    spec = build_spec(build_parser().parse_args(argv))
    assert (spec.all_depths, spec.base_depth, spec.init_mults) == ((2, 3), 2, (1.0, 0.5))
    assert (spec.output_mults, spec.weight_decays, spec.adam_eps) == (
        (1.0, 2.0), (0.0, 1e-3), (1e-8, 1e-6))  # fmt: skip
    assert (spec.warmup_steps, spec.schedule, spec.auto_extend) == (3, "cosine", 4)
    cfg = tmp_path / "s.toml"
    cfg.write_text('depths = [2, 3]\nbase_depth = 2\ninit_mults = [1, 0.5]\n'
                   'output_mults = [1, 2]\nweight_decays = [0, 1e-3]\nadam_eps = [1e-8, 1e-6]\n'
                   'warmup_steps = 3\nschedule = "cosine"\nauto_extend = 4\n')  # fmt: skip
    assert build_spec(build_parser().parse_args(["sweep", "--config", str(cfg)])) == spec
    assert SweepSpec.from_dict(spec.to_json()) == spec
    # a spec-file network from the command line, quiet: nothing on stderr
    out = tmp_path / "o"
    run = ["sweep", "--spec", str(net), "--targets", "mup", "--widths", "16,32",
           "--log2-lrs", "-7:-6:1", "--seeds", "1", "--steps", "20", "--batch-size", "32",
           "--n-train", "64", "--loss", "mse", "--out", str(out), "--no-plot"]  # fmt: skip
    assert main([*run, "--quiet", "--auto-extend", "2"]) == 0
    io = capsys.readouterr()
    assert io.err == "" and "grid extended 2 time(s) to -7..-2" in io.out
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["config"]["arch"] == "chain" and doc["config"]["spec_file"] == str(net)
    assert len(doc["points"]) == 2 * 6  # -7..-2
    # the bar counts stored chunks; an unknown schedule is one line
    assert main([*run]) == 0
    assert "4/4" in capsys.readouterr().err
    assert main([*run, "--schedule", "step"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--init-mults", "1,x"], "init_mults must be numbers"),
        (["--output-mults", "1,1"], "output_mults axis repeats"),
        (["--weight-decays", "-1"], "weight_decays must be non-negative"),
        (["--depths", "0,2"], "depths must be positive"),
        (["--spec", "/no/such.json"], "does not exist"),
        (["--spec", "/no/such.json", "--arch", "resmlp"], "run as a chain"),
        (["--arch", "cnn"], "unknown arch"),
        (["--arch", "transformer"], "trains on token data"),
        (["--auto-extend", "-1"], "auto_extend must be a non-negative"),
    ],
)
def test_bad_axes_are_one_line_exit_2(tmp_path, capsys, extra, message):
    from infwidth.cli import main

    argv = ["sweep", "--targets", "mup", "--widths", "16,32", "--log2-lrs", "-2:0:2",
            "--seeds", "1", "--steps", "3", "--batch-size", "16", "--n-train", "32",
            "--out", str(tmp_path)]  # fmt: skip
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("infwidth sweep: error:")
