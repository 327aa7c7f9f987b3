"""Alignment over training (issue 15, item 2): Everett et al.'s exponents, fitted against width.

Under SGD on a muP MLP the hidden layer's update is built from outer products of its inputs,
so Delta W x sums coherently over the fan-in (kappa near 1, full alignment) from the first
step, while the initial weights act on the input's change like a random matrix (W Delta x:
kappa near 1/2). Re-deriving the readout's rate under no alignment gives n^-1/2, not n^-1.
"""

import pytest

from infwidth.doctor import audit_builtin
from infwidth.doctor._alignment import checkpoints, sentence


def test_sgd_mlp_hidden_update_fully_aligned():
    rep = audit_builtin("mlp", "sgd", [64, 128, 256], lr=0.1, alignment_steps=8)
    rows = {r["tensor"]: r for r in rep.to_json()["alignment"]}
    assert set(rows) == {"W2", "W3"}  # W1's fan-in (d_in) does not grow
    w2 = rows["W2"]
    assert w2["steps"] == [1, 2, 4, 8]
    assert all(k > 0.75 for k in w2["kappa"]["dW_x"]), w2["kappa"]
    assert all(abs(k - 0.5) < 0.15 for k in w2["kappa"]["W_dx"]), w2["kappa"]
    assert w2["left_assumed_at_step"] is None and w2["nearest"] == "full"
    assert rows["W3"]["learning_rate_exponent"] == {"full": "-1", "none": "-1/2"}
    assert "stays in the full-alignment regime" in w2["sentence"]
    assert "## Alignment over training" in rep.markdown()


def test_sentence_names_the_step_and_the_rederived_rate():
    row = {
        "tensor": "W3",
        "steps": [1, 2, 4],
        "kappa": {"dW_x": [0.98, 0.7, 0.55]},
        "assumed": "full",
        "left_assumed_at_step": 2,
        "nearest": "none",
        "learning_rate_exponent": {"full": "-1", "none": "-1/2"},
    }
    s = sentence(row)
    assert "leaves the full-alignment regime at step 2" in s
    assert "learning rate scales as n^-1/2 instead of n^-1" in s


@pytest.mark.parametrize(("steps", "want"), [(1, (1,)), (6, (1, 2, 4, 6)), (8, (1, 2, 4, 8))])
def test_checkpoints(steps, want):
    assert checkpoints(steps) == want
