"""``infwidth coord-check``: JSON contract, determinism, divergence, refusals, bad input."""

from __future__ import annotations

import json

import pytest

from infwidth.cli import main

SMALL = ["--widths", "16,32", "--steps", "2", "--seeds", "2", "--batch-size", "8"]


def _run(tmp_path, *extra: str, name: str = "out") -> tuple[int, dict | None]:
    out = tmp_path / name
    rc = main(["coord-check", *SMALL, "--out", str(out), "--no-plot", *extra])
    path = out / "coord_check.json"
    return rc, (json.loads(path.read_text()) if path.exists() else None)


def test_json_contract_and_determinism(tmp_path, capsys):
    rc, data = _run(tmp_path)
    assert rc == 0
    assert set(data) >= {"config", "records", "slopes"}
    rec = data["records"][0]
    assert set(rec) == {"width", "seed", "step", "tensor", "quantity", "value"}
    quantities = {r["quantity"] for r in data["records"]}
    assert quantities >= {
        "activation_rms",
        "activation_mean_abs",
        "feature_movement_rms",
        "output_rms",
        "output_movement_rms",
    }
    assert "spectral_ratio" not in quantities  # opt-in (--spectral): it reads every W_0 60x
    slope = data["slopes"][0]
    assert set(slope) == {
        "tensor",
        "quantity",
        "step",
        "slope",
        "ci_low",
        "ci_high",
        "predicted",
        "verdict",
        "reason",
    }
    # widths 16, 32 cannot decide an exponent: INCONCLUSIVE with a reason, not FAIL
    assert data["summary"]["verdict"] == "INCONCLUSIVE" and "too few" in data["summary"]["reason"]
    assert data["config"]["target"] == "mup" and data["config"]["widths"] == [16, 32]
    assert "verdict" in capsys.readouterr().out
    rc2, again = _run(tmp_path, name="again")
    assert rc2 == 0 and again == data  # same seed -> identical JSON on CPU


def test_png_and_spectral_ratio(tmp_path):
    out = tmp_path / "png"
    assert main(["coord-check", *SMALL, "--out", str(out), "--spectral"]) == 0
    assert (out / "coord_check.png").stat().st_size > 1000
    data = json.loads((out / "coord_check.json").read_text())
    ratios = [r["value"] for r in data["records"] if r["quantity"] == "spectral_ratio"]
    assert ratios and all(v >= 0 for v in ratios) and max(ratios) > 0


def test_diverged_runs_are_recorded(tmp_path):
    rc, data = _run(tmp_path, "--target", "sp", "--lr", "1e6")
    assert rc == 0
    assert data["diverged"], "an SP network at lr=1e6 must blow up"
    assert any(r["value"] is None for r in data["records"])
    assert any(s["verdict"] == "UNFITTABLE" and "diverged" in s["reason"] for s in data["slopes"])
    assert data["summary"]["verdict"] == "INCONCLUSIVE"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--widths", "64"], "at least two"),
        (["--widths", "a,b"], "integers"),
        (["--steps", "0"], "--steps"),
        (["--optimizer", "rmsprop"], "rmsprop"),
        (["--arch", "lstm"], "lstm"),
        (["--widths", "65536,131072", "--seeds", "64"], "GiB"),
        (["--spec", "/nonexistent.json"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    rc = main(["coord-check", "--out", str(tmp_path / "x"), *argv])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_custom_spec_runs_as_a_sequential_network(tmp_path):
    spec = tmp_path / "net.json"
    spec.write_text(
        json.dumps(
            {
                "tensors": [
                    {"name": "inp", "fan_in": "d_in", "fan_out": "n"},
                    {"name": "wide", "fan_in": "n", "fan_out": "2*n"},
                    {"name": "out", "fan_in": "2*n", "fan_out": "d_out"},
                ]
            }
        )
    )
    rc, data = _run(tmp_path, "--spec", str(spec), "--no-spectral", "--input-dim", "4")
    assert rc == 0
    assert {s["tensor"] for s in data["slopes"]} == {"inp", "wide", "output"}
    assert data["config"]["arch"] == "chain"


def test_compilation_cache_is_filled_then_reused(tmp_path):
    """A JAX command fills the persistent compilation cache; the same command again compiles
    nothing new (no new entries) and gives identical numbers."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "xla"
    env = {**os.environ, "INFWIDTH_XLA_CACHE": str(cache), "JAX_PLATFORMS": "cpu"}

    def run(name: str) -> dict:
        out = tmp_path / name
        args = ["coord-check", *SMALL, "--out", str(out), "--no-plot"]
        code = f"import sys; from infwidth.cli import main; sys.exit(main({args!r}))"
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        return json.loads((out / "coord_check.json").read_text())

    first = run("a")
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the first run must write compiled programs"
    second = run("b")
    assert sorted(p.name for p in cache.iterdir()) == entries
    assert second["records"] == first["records"]


def test_compilation_cache_location(monkeypatch, tmp_path):
    from infwidth._xla_cache import cache_dir

    monkeypatch.setenv("INFWIDTH_XLA_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.delenv("INFWIDTH_XLA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "infwidth" / "xla"


def test_no_factor_sgd_gives_the_same_numbers(tmp_path):
    """The factored SGD update (W0 + U V^T) and the dense one record the same check."""
    wide = ["--widths", "48,64", "--steps", "3", "--seeds", "2", "--batch-size", "8"]

    def run(name, *extra):
        out = tmp_path / name
        assert main(["coord-check", *wide, "--out", str(out), "--no-plot", *extra]) == 0
        data = json.loads((out / "coord_check.json").read_text())
        assert data["config"]["factor_sgd"] is (not extra)
        return [r["value"] for r in data["records"]]

    fact, dense = run("f"), run("d", "--no-factor-sgd")
    assert fact == pytest.approx(dense, rel=2e-4, abs=1e-6)
