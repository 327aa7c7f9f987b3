"""The doctor's small transfer test (issue 15, item 3): a correct muP MLP transfers, the same
MLP with its hidden Adam learning rate left unscaled does not (its optimum falls with width)."""

import pytest

from infwidth.doctor import audit_builtin, builtin_make
from infwidth.doctor._transfer import transfer_test
from infwidth.errors import InfwidthError
from infwidth.sim import Table

W = [64, 256, 1024]


def test_mup_transfers_and_unscaled_hidden_lr_does_not():
    ok = audit_builtin("mlp", "adam", W, transfer_steps=60).transfer
    assert ok["verdict"] == "transfers" and abs(ok["shift_octaves"]) < 0.75
    assert ok["sentence"].startswith("Transfers at this horizon (60 steps")
    bug = Table.derive("mlp", "adam").replace_width("W2", learning_rate=0)
    rep = audit_builtin("mlp", "adam", W, implemented=bug, transfer_steps=60)
    t = rep.transfer
    assert t["verdict"] == "does not transfer"
    # the hidden rate is (n/64)x too large: the optimum falls, by over an octave at 16x
    assert t["shift_octaves"] < -1.25 and "moved by -" in t["sentence"]
    opt = [o["log2_lr"] for o in t["optima"]]
    assert opt == sorted(opt, reverse=True)  # monotone in the width
    assert rep.to_json()["transfer"]["verdict"] == "does not transfer"
    assert "## Transfer test\n\nDoes not transfer" in rep.markdown()


def test_bad_bracket_is_one_line():
    make = builtin_make("mlp", Table.derive("mlp", "adam"), "adam", base_width=64)
    with pytest.raises(InfwidthError, match="3 evenly spaced"):
        transfer_test(make, [64, 128], bracket=(-1, 0, 2))
    with pytest.raises(InfwidthError, match="at least 2 steps"):
        transfer_test(make, [64, 128], steps=1)
