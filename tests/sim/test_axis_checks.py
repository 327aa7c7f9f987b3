"""Finite-size checks along the LoRA rank, the number of experts, the GQA group size, the
number of heads and the vocabulary: the derived rule keeps each update flat along the axis, the
rule blind to it drifts by the predicted exponent."""

from __future__ import annotations

import pytest

from infwidth.errors import InfwidthError
from infwidth.sim import experts_check, gqa_check, heads_check, rank_check, vocab_check

A, B = "W2.lora_A", "W2.lora_B"


def _by_tensor(results):
    return {r.tensor: r for r in results}


def test_lora_updates_flat_in_rank_under_the_derived_rule():
    """Adam, LoRA+ along r: eta_B ~ r^-1 keeps B's contribution h A B flat (measured -0.14 at
    n = 128, r = 8..32); blind to r it grows like r (B sums r aligned bottleneck terms,
    measured +0.86); A's own move is flat either way (its r exponent is 0 under both rules)."""
    small = dict(width=128, ranks=(8, 16, 32))
    derived = _by_tensor(rank_check("adam", rule="derived", **small))
    blind = _by_tensor(rank_check("adam", rule="blind", **small))
    assert (derived[B].predicted, blind[B].predicted) == (0, 1)
    assert derived[B].verdict == blind[B].verdict == "PASS", (derived[B], blind[B])
    assert abs(derived[B].slope) < 0.2 and blind[B].slope > 0.75
    assert derived[A].predicted == 0 and derived[A].verdict == "PASS"
    assert abs(derived[A].slope) < 0.05


def test_expert_updates_flat_in_expert_count_sgd():
    """An expert sees 1/E of the tokens: SGD's derived LR ~ E keeps its update flat (measured
    -0.01 at n = 64, E = 1..4); blind to E the update shrinks like 1/E (measured -1.01)."""
    small = dict(width=64, experts=(1, 2, 4), batch=64)
    (derived,) = experts_check("sgd", rule="derived", **small)
    (blind,) = experts_check("sgd", rule="blind", **small)
    assert (derived.predicted, blind.predicted) == (0, -1)
    assert derived.verdict == blind.verdict == "PASS", (derived, blind)
    assert abs(derived.slope) < 0.1 and abs(blind.slope + 1) < 0.1


def test_adam_expert_update_does_not_see_the_token_fraction():
    (res,) = experts_check("adam", width=64, experts=(1, 2, 4), batch=64, seeds=2)
    assert res.predicted == 0 and abs(res.slope) < 0.15


def test_shared_kv_updates_flat_in_group_size_sgd():
    """A K/V channel is read by g query heads: SGD's derived LR ~ g^-1 keeps W_v's update flat
    (measured +0.035 at n = 64, g = 1..4); blind to g it grows like g (measured +1.035).
    Adam's two rules differ only in epsilon (no test: they coincide)."""
    small = dict(width=64, groups=(1, 2, 4))
    (derived,) = gqa_check("sgd", rule="derived", **small)
    (blind,) = gqa_check("sgd", rule="blind", **small)
    assert (derived.predicted, blind.predicted) == (0, 1)
    assert derived.verdict == blind.verdict == "PASS", (derived, blind)
    assert abs(derived.slope) < 0.1 and abs(blind.slope - 1) < 0.1


def test_hidden_updates_flat_in_head_count_adam():
    """d_model = H n: Adam's hidden step sums H n aligned terms, so the derived LR ~ H^-1
    keeps the query map's update flat (measured -0.03 at n = 16, H = 2..8); blind to H it
    grows like H (measured +1.02); the input map's move is flat under both."""
    small = dict(head_size=16, heads=(2, 4, 8))
    derived = _by_tensor(heads_check("adam", rule="derived", **small))
    blind = _by_tensor(heads_check("adam", rule="blind", **small))
    q = "block.q"
    assert (derived[q].predicted, blind[q].predicted) == (0, 1)
    assert derived[q].verdict == blind[q].verdict == "PASS", (derived[q], blind[q])
    assert abs(derived[q].slope) < 0.1 and abs(blind[q].slope - 1) < 0.1
    assert derived["tok_emb"].predicted == blind["tok_emb"].predicted == 0
    assert abs(derived["tok_emb"].slope) < 0.15 and abs(blind["tok_emb"].slope) < 0.15


def test_embedding_and_unembedding_updates_flat_in_vocabulary_sgd():
    """A row of the embedding (a column of the unembedding) is reached by 1/V of the tokens:
    SGD's derived LR ~ V keeps both updates flat (measured +0.045/+0.05 at n = 64, V = 8..32:
    the target's 1 - p = 1 - 1/V grows a little); blind to V they shrink like 1/V (-0.955,
    -0.95)."""
    small = dict(width=64, vocabs=(8, 16, 32), batch=128)
    derived = _by_tensor(vocab_check("sgd", rule="derived", **small))
    blind = _by_tensor(vocab_check("sgd", rule="blind", **small))
    for t in ("tok_emb", "unembed"):
        assert (derived[t].predicted, blind[t].predicted) == (0, -1)
        assert derived[t].verdict == blind[t].verdict == "PASS", (derived[t], blind[t])
        assert abs(derived[t].slope) < 0.1 and abs(blind[t].slope + 1) < 0.1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rank_check("kfac"), "sgd or adam"),
        (lambda: rank_check("adam", rule="mup"), "derived' or 'blind"),
        (lambda: rank_check("adam", steps=1), "steps >= 2"),
        (lambda: rank_check("adam", ranks=(8, 512)), "1..width"),
        (lambda: experts_check("sgd", experts=(1, 16), batch=128), "fewer than 16 tokens"),
        (lambda: gqa_check("sgd", groups=(1, 3)), "dividing the width"),
        (lambda: gqa_check("sgd", steps=1), "steps >= 2"),
        (lambda: heads_check("soap"), "sgd or adam"),
        (lambda: vocab_check("sgd", vocabs=(8, 128), batch=256), "fewer than 4 tokens"),
    ],
)
def test_bad_options_are_one_clear_error(call, message):
    with pytest.raises(InfwidthError, match=message):
        call()
