"""``infwidth sweep``: the sweep.json contract, cached chunks on rerun, one-line errors."""

import json

import pytest

from infwidth.cli import main

ARGS = ["sweep", "--targets", "sp,mup", "--widths", "16,32", "--log2-lrs", "-2:4:3",
        "--seeds", "2", "--steps", "5", "--batch-size", "32", "--n-train", "64",
        "--loss", "mse"]  # fmt: skip


def test_sweep_writes_the_contract_and_reruns_from_the_store(tmp_path, capsys):
    out = tmp_path / "o"
    assert main([*ARGS, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    # one progress bar: every point, the last chunk, none from the store
    assert "24/24" in err and "chunk 2/2 width 32, 0 cached" in err and "\n" not in err[:-1]
    doc = json.loads((out / "sweep.json").read_text())
    assert set(doc) == {"config", "points", "optima", "transfer"}
    assert len(doc["points"]) == 2 * 2 * 3 * 2
    assert set(doc["points"][0]) == {"target", "width", "depth", "log2_lr", "seed", "loss",
                                     "diverged"}  # fmt: skip
    assert all((p["loss"] is None) == p["diverged"] for p in doc["points"])
    assert any(p["diverged"] for p in doc["points"])  # 2^4 blows up
    assert {"target", "width", "depth", "log2_lr", "on_edge", "eta_fail"} <= set(doc["optima"][0])
    assert {"shift_octaves", "spread_octaves", "verdict"} <= set(doc["transfer"]["mup"])
    assert (out / "sweep.png").stat().st_size > 1000
    assert (out / "sweep.sqlite").exists()
    # the same sweep from a config file, flags overriding it: every chunk from the store
    cfg = tmp_path / "s.toml"
    cfg.write_text('targets = "sp,mup"\nwidths = [16, 32]\nlog2-lrs = "-2:4:3"\nseeds = 2\n'
                   'steps = 5\nbatch_size = 32\nn_train = 64\nloss = "mse"\n')  # fmt: skip
    assert main(["sweep", "--config", str(cfg), "--out", str(out), "--no-plot"]) == 0
    io = capsys.readouterr()
    assert "chunk 2/2 width 32, 2 cached" in io.err and "0 points computed" in io.out
    assert json.loads((out / "sweep.json").read_text())["points"] == doc["points"]
    # a flag overrides the file: one more seed computes only the new points
    assert main(["sweep", "--config", str(cfg), "--seeds", "3", "--out", str(out)]) == 0
    assert "12 points computed, 24 from the store" in capsys.readouterr().out
    # export: every stored point, diverged ones with an empty loss
    store = str(out / "sweep.sqlite")
    assert main(["sweep", "export", "--store", store, "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("key,target,width,depth,log2_lr,seed,loss,diverged")
    assert len(lines) == 1 + 36 and any(",,True," in line for line in lines)
    js = tmp_path / "p.json"
    assert main(["sweep", "export", "--store", store, "--format", "json", "--out", str(js)]) == 0
    rows = json.loads(js.read_text())
    assert len(rows) == 36 and len({r["key"] for r in rows}) == 36
    assert (
        main(["sweep", "export", "--store", str(tmp_path / "none.sqlite"), "--out", str(js)]) == 2
    )
    assert "no sweep store" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--widths", ""], "widths axis is empty"),
        (["--log2-lrs", "3:1:1"], "lo <= hi"),
        (["--loss", "hinge"], "unknown loss"),
        (["--targets", "nonsense"], "nonsense"),
        (["--config", "/no/such.toml"], "cannot read sweep config"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, message):
    assert main([*ARGS, "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("infwidth sweep: error:")


def test_parquet_without_pyarrow_is_one_line(tmp_path, capsys):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed")
    from infwidth.sweep import SweepStore

    SweepStore(tmp_path / "s.sqlite").close()
    argv = ["sweep", "export", "--store", str(tmp_path / "s.sqlite"), "--format", "parquet"]
    assert main([*argv, "--out", str(tmp_path / "p.parquet")]) == 2
    err = capsys.readouterr().err
    assert "needs pyarrow" in err and err.count("\n") == 1


def test_quick_is_the_tested_digits_study_and_flags_override_it():
    from infwidth.cli import build_parser
    from infwidth.cli._sweep import build_spec

    spec = build_spec(build_parser().parse_args(["sweep", "--quick"]))
    assert (spec.widths, spec.log2_lrs[0], spec.log2_lrs[-1], spec.steps) == ((64, 256), -7, 1, 40)
    assert (spec.loss, spec.batch_size, spec.n_train, spec.seeds) == ("mse", 256, 256, 1)
    spec = build_spec(build_parser().parse_args(["sweep", "--quick", "--loss", "xent"]))
    assert spec.loss == "xent"
