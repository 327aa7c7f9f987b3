"""The acceptance case (issue 15): a report on a model this project did not define, an MLP
from Equinox's own ``eqx.nn.MLP`` (examples/doctor_equinox_mlp.py), through the CLI."""

import json
from pathlib import Path

import pytest

from infwidth.cli import main

pytest.importorskip("equinox")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "doctor_equinox_mlp.py"


def _doctor(tmp_path, fn):
    out = tmp_path / fn
    code = main(["doctor", "--model", f"{EXAMPLE}:{fn}", "--base-width", "64",
                 "--widths", "64,128,256", "--optimizer", "adam", "--transfer-steps", "30",
                 "--alignment-steps", "4", "--out", str(out)])  # fmt: skip
    assert code == 0
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_equinox_mlp_report(tmp_path):
    rep, md = _doctor(tmp_path, "make")
    assert rep["pass"] is True
    lr = {f["tensor"]: f["measured"] for f in rep["findings"] if f["quantity"] == "learning_rate"}
    assert lr == pytest.approx(
        {"layers/0/weight": 0, "layers/1/weight": -1, "layers/2/weight": -1}, abs=0.05
    )
    assert [a["tensor"] for a in rep["alignment"]] == ["layers/1/weight", "layers/2/weight"]
    assert rep["transfer"]["steps"] == 30 and "## Transfer test" in md

    bad, md = _doctor(tmp_path, "make_buggy")
    fails = [(f["tensor"], f["quantity"]) for f in bad["findings"] if f["verdict"] == "fail"]
    assert fails == [("layers/1/weight", "learning_rate")]
    assert "multiply the learning rate of `layers/1/weight` by base_width/width" in md
