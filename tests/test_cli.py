"""The CLI: JSON contracts, one-line errors with exit code 2, generated files, README/CI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infwidth.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_derive_json_contract(capsys):
    code, out, _ = run_cli(capsys, "derive", "--arch", "transformer", "--optimizer", "adamw",
                           "--target", "depth-mup", "--format", "json")  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert {"optimizer", "target", "gauge", "alignment", "tensors", "regime"} <= set(d)
    t = {x["name"]: x for x in d["tensors"]}
    q = t["block.q"]
    assert {"name", "kind", "fan_in", "fan_out", "width", "depth"} <= set(q)
    assert q["width"] == {"init_variance": "-1", "multiplier": "0", "learning_rate": "-1",
                          "epsilon": "-1", "weight_decay": "1"}  # fmt: skip
    assert q["depth"]["branch_multiplier"] == "-1/2" and q["depth"]["learning_rate"] == "-1/2"
    assert d["regime"]["regime"] == "feature_learning" and d["regime"]["maximal"] is True


@pytest.mark.parametrize("fmt, marker", [("table", "learning_rate"), ("markdown", "| W2 |"),
                                         ("latex", r"\begin{tabular}")])  # fmt: skip
def test_derive_formats(capsys, fmt, marker):
    code, out, _ = run_cli(capsys, "derive", "--arch", "mlp", "--optimizer", "sgd",
                           "--format", fmt)  # fmt: skip
    assert code == 0 and marker in out


def test_classify_json_contract(capsys, tmp_path):
    spec = {"tensors": [
        {"name": "W1", "fan_in": "d", "fan_out": "n", "a": "0", "b": "0", "c": "1"},
        {"name": "W2", "fan_in": "n", "fan_out": "n", "a": "0", "b": "1/2", "c": "1"},
        {"name": "W3", "fan_in": "n", "fan_out": "1", "a": "0", "b": "1/2", "c": "1"},
    ]}  # fmt: skip
    path = tmp_path / "sp_c1.json"
    path.write_text(json.dumps(spec))
    code, out, _ = run_cli(capsys, "classify", "--optimizer", "sgd", "--spec", str(path),
                           "--format", "json")  # fmt: skip
    d = json.loads(out)
    assert code == 0 and (d["regime"], d["r"], d["maximal"]) == ("kernel", "1/2", False)


def test_classify_preset_text(capsys):
    code, out, _ = run_cli(capsys, "classify", "--optimizer", "sgd", "--arch", "mlp",
                           "--preset", "sp")  # fmt: skip
    assert code == 0 and "unstable" in out and "training(W2)" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["derive", "--arch", "mlp", "--optimizer", "nesterov"], "invalid choice"),
        (["derive", "--spec", "missing.json", "--optimizer", "sgd"], "does not exist"),
        (["derive", "--arch", "mlp", "--optimizer", "sgd", "--depth", "0"], "depth"),
        (["derive", "--arch", "mlp", "--optimizer", "sgd", "--target", "umup"], "u-muP"),
        (["classify", "--arch", "mlp", "--optimizer", "sgd"], "--preset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_spec_files_exit_2(capsys, tmp_path):
    cases = {
        "malformed.json": "{not json",
        "monomial.json": json.dumps({"tensors": [{"name": "x", "fan_in": "n+1", "fan_out": "n"}]}),
        "kind.json": json.dumps(
            {"tensors": [{"name": "x", "fan_in": "n", "fan_out": "1", "kind": "wavelet"}]}
        ),  # fmt: skip
        "conflict.json": json.dumps(
            {
                "tensors": [
                    {"name": "W1", "fan_in": "d", "fan_out": "n"},
                    {"name": "W2", "fan_in": "n", "fan_out": "n", "a": 0, "c": 0},
                    {"name": "W3", "fan_in": "n", "fan_out": "1"},
                ]
            }
        ),  # fmt: skip
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        code, _, err = run_cli(capsys, "derive", "--spec", str(p), "--optimizer", "adam")
        assert code == 2 and len(err.strip().splitlines()) == 1, (name, err)
    assert "conflicting constraints" in err and "maximal(W2)" in err


def test_committed_derivations_are_up_to_date():
    from infwidth.symbolic._library import derivation_files

    folder = ROOT / "derivations"
    stale = [n for n, text in derivation_files().items()
             if not (folder / n).is_file() or (folder / n).read_text() != text]  # fmt: skip
    assert not stale, f"regenerate with `infwidth explain --out derivations`: {stale}"


def test_tour_writes_tables_and_resumes(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "tour", "--out", str(tmp_path), "--quick")
    assert code == 0
    data = json.loads((tmp_path / "mup_tables.json").read_text())
    assert data["adam/no-multipliers"]["tensors"][1]["width"]["learning_rate"] == "-1"
    code, out, _ = run_cli(capsys, "tour", "--out", str(tmp_path), "--quick")
    assert out.count("(cached)") == 4, out


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"\n{ci}\n" in readme


def test_console_script_cold_start_does_not_import_jax():
    code = ("import sys; from infwidth.cli import main; "
            "main(['derive','--arch','mlp','--optimizer','adam','--format','json']); "
            "assert 'jax' not in sys.modules, 'derive imported jax'")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
