"""Built-ins along heads, K/V groups and vocabulary, and SOAP as an optimiser: derived rules
against the published ones, and the notes where they disagree."""

from __future__ import annotations

import pytest

import infwidth
from infwidth.errors import InfwidthError
from infwidth.spec import builtin, spec_from_dict
from infwidth.symbolic import derive, get_optimizer


def _along(d, axis: str, tensor: str) -> dict[str, str]:
    (t,) = [t for t in d.to_json()["tensors"] if t["name"] == tensor]
    return t[axis]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_heads_of_fixed_size_are_width_without_logit_rescaling(opt):
    """d_model = H N: along H (more heads, fixed size) every tensor scales as muP along the
    width, but the logits need no multiplier (H^0); along the head size N = n it is n^-1
    (alpha_A = 1). Bordelon et al. 2024: H -> infinity at fixed N converges as is."""
    d = derive(builtin("mha-heads"), opt, target="depth-mup")
    mup = derive(builtin("transformer"), opt, target="depth-mup")
    for t in mup.to_json()["tensors"]:
        assert d.width_json(t["name"]) == t["width"]
        assert _along(d, "H", t["name"]) == t["width"]
    (op,) = d.to_json()["operations"]
    assert (op["width"], op["H"]) == ({"multiplier": "-1"}, {"multiplier": "0"})
    (note,) = [n for n in d.notes if "Bordelon" in n]
    assert "alpha_A = 1/2 (n^-1/2)" in note and "cannot derive 1/2" in note


def test_standard_attention_scale_is_alpha_half():
    """The init-only (CLT) reading gives 1/sqrt(head size): the alpha_A = 1/2 of Bordelon et
    al., next to the derived alpha_A = 1."""
    d = derive(builtin("mha-heads"), "adam", alignment="none")
    assert d.to_json()["operations"][0]["width"] == {"multiplier": "-1/2"}


@pytest.mark.parametrize(("opt", "lr_kv"), [("sgd", "-1"), ("adam", "0")])
def test_gqa_shared_kv(opt, lr_kv):
    """k, v: n -> n/g, each K/V head read by g query heads. Width: muP, as the transformer.
    Along g: init flat (each output coordinate still sums n terms); SGD's K/V step carries
    g readers' gradients (LR g^-1), Adam's normalised step does not (flat: LR transfer
    across g, as GQA-μP reports). The spectral rule's g^-1 init is named next to it."""
    d = derive(builtin("gqa"), opt, target="depth-mup")
    mup = derive(builtin("transformer"), opt, target="depth-mup")
    for t in ("block.q", "block.k", "block.v", "unembed"):
        assert d.width_json(t) == mup.width_json(t)
    for t in ("block.k", "block.v"):
        assert _along(d, "g", t)["init_variance"] == "0"
        assert _along(d, "g", t)["learning_rate"] == lr_kv
    for t in ("block.q", "block.o", "block.ffn_up", "tok_emb", "unembed"):
        assert set(_along(d, "g", t).values()) == {"0"}
    notes = [n for n in d.notes if "spectral condition" in n]
    assert len(notes) == 2 and "g^0" in notes[0] and "gives g^-1" in notes[0]


def test_large_vocabulary_rules_and_the_published_disagreement():
    """A one-hot embedding: init flat in V; a row sees 1/V of the tokens, so SGD's embedding
    and unembedding LR grow like V; Adam's normalised step is flat in V, so the derived
    embedding-to-hidden Adam LR ratio stays muP's n^1 where Hayou & Liu (2025) find n^1/2."""
    sgd = derive(builtin("large-vocab"), "sgd", target="depth-mup")
    assert _along(sgd, "V", "tok_emb")["init_variance"] == "0"
    assert _along(sgd, "V", "tok_emb")["learning_rate"] == "1"
    assert _along(sgd, "V", "unembed")["learning_rate"] == "1"
    assert _along(sgd, "V", "block.q")["learning_rate"] == "0"
    adam = derive(builtin("large-vocab"), "adam", target="depth-mup")
    assert _along(adam, "V", "tok_emb")["learning_rate"] == "0"
    emb, hid = (int(adam.width_json(t)["learning_rate"]) for t in ("tok_emb", "block.q"))
    assert emb - hid == 1
    (note,) = [n for n in adam.notes if "Hayou" in n]
    assert "n^1 whatever V" in note and "Theta(n^1/2)" in note
    assert not any("Hayou" in n for n in sgd.notes)


def test_width_only_transformer_has_no_new_notes():
    for opt in ("sgd", "adam", "soap"):
        d = derive(builtin("transformer"), opt, target="depth-mup")
        assert not any(k in n for n in d.notes for k in ("Bordelon", "Hayou", "spectral"))


# Ishikawa & Karakida (ICLR 2024, Table 1; classmup), MLP without multipliers: Shampoo's LR
# eta n^-c with c = (-1/2, 0, 1/2) (input, hidden, output).
SHAMPOO_C = ("-1/2", "0", "1/2")


def test_soap_is_shampoo_geometry_with_half_the_damping_exponent():
    """SOAP = Adam in Shampoo's eigenbasis: in the rank-one view the update is
    g x^T / (|g||x|), Shampoo's (and Muon's) geometry, so the LR exponents are Shampoo's
    published ones; its damping is Adam's eps on sqrt(v) = |g||x|, the square root of the
    factors' eigenvalue: half of Shampoo's damping exponent."""
    soap, sh = get_optimizer("soap"), get_optimizer("shampoo")
    assert soap.norm_powers == sh.norm_powers == (1, 1) and soap.gradient_power == 0
    for gauge in ("no-multipliers", "mup-package"):
        a = infwidth.derive("mlp", "soap", gauge=gauge)
        b = infwidth.derive("mlp", "shampoo", gauge=gauge)
        for t in ("W1", "W2", "W3"):
            assert a.exponents[t].c == b.exponents[t].c
            half = (int(b.width_json(t)["damping_out"]) + int(b.width_json(t)["damping_in"])) / 4
            assert float(eval_rational(a.width_json(t)["damping_eigen"])) == half
            assert "damping_out" not in a.width_json(t)
    d = infwidth.derive("mlp", "soap", gauge="no-multipliers")
    assert tuple(str(d.exponents[t].c) for t in ("W1", "W2", "W3")) == SHAMPOO_C
    assert [d.width_json(t)["damping_eigen"] for t in ("W1", "W2", "W3")] == ["-1/2", "0", "1/2"]
    assert d.classification.maximal
    assert "damp_eig" in d.render("table") or "damping_eigen" in d.render("table")


def eval_rational(text: str):
    from fractions import Fraction

    return Fraction(text)


def test_soap_damping_on_another_optimiser_is_one_clear_error():
    spec = derive(builtin("mlp"), "soap").to_json()
    net = spec_from_dict(spec)
    with pytest.raises(InfwidthError, match="damping_eigen"):
        derive(net, "kfac")
    assert derive(net, "soap").to_json()["tensors"] == spec["tensors"]


def test_cli_soap(capsys):
    from infwidth.cli import main

    assert main(["derive", "--arch", "mlp", "--optimizer", "soap", "--format", "json"]) == 0
    assert '"damping_eigen": "1/2"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arch", "axis", "note"),
    [
        ("gqa", "g", "spectral condition"),
        ("mha-heads", "H", "Bordelon"),
        ("large-vocab", "V", "Hayou"),
    ],
)
def test_cli_new_builtins(capsys, arch, axis, note):
    from infwidth.cli import main

    args = ["derive", "--arch", arch, "--optimizer", "adam", "--target", "depth-mup"]
    assert main([*args, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert f"lr ({axis}^)" in out and note in out
