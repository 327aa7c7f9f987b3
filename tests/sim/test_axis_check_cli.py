"""``infwidth axis-check``: the finite-size checks along an axis, from the command line."""

from __future__ import annotations

import json

import pytest

from infwidth.cli import main
from infwidth.cli._axis_check import CHECKS as CLI_CHECKS
from infwidth.sim._checks import CHECKS


def test_the_command_offers_every_check():
    assert set(CLI_CHECKS) == set(CHECKS)


def test_vocab_derived_is_flat_and_the_blind_rule_falls_like_one_over_v(tmp_path, capsys):
    """Along the vocabulary V under SGD: the derived rule keeps what the embedding and the
    unembedding updates move flat in V (predicted 0); blind to V they fall like V^-1."""
    out = {}
    for rule, extra in (("derived", []), ("blind", ["--baseline"])):
        path = tmp_path / f"{rule}.json"
        assert main(["axis-check", "vocab", "--strict", "--json", str(path), *extra]) == 0
        doc = json.loads(path.read_text())
        assert doc["axis"] == "V" and doc["rule"] == rule
        out[rule] = {s["tensor"]: s for s in doc["slopes"]}
    assert "rule derived" in capsys.readouterr().out
    for t in ("tok_emb", "unembed"):
        d, b = out["derived"][t], out["blind"][t]
        assert d["predicted"] == "0" and d["verdict"] == "PASS" and abs(d["slope"]) < 0.15
        assert b["predicted"] == "-1" and b["verdict"] == "PASS" and b["slope"] < -0.85


@pytest.mark.parametrize(
    "argv, message",
    [
        (["axis-check", "heads", "--optimizer", "bogus"], "trains sgd or adam"),
        (["axis-check", "density", "--seeds", "0"], "--seeds must be an integer >= 1"),
    ],
)
def test_bad_options_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
