"""TP5's muP tables come out of the derivation, and are one parametrization under the symmetry.

The expected values are TP5 (Yang et al. 2022) Tables 3, 8 and 9, written as the paper writes
them (in terms of fan_in / fan_out) and converted to exponents of n for an MLP whose input
fan_in and output fan_out are finite: input weights d_in -> n, hidden n -> n, output n -> d_out.
"""

import pytest
import sympy as sp

import infwidth
from infwidth.spec import mlp
from infwidth.symbolic import get_optimizer, to_gauge

H = sp.Rational(1, 2)

# (init_variance, multiplier, sgd_lr, adam_lr) per role, as exponents of n.
# Table 3 ("no multipliers"): init 1/fan_in (input), 1/fan_in (hidden), 1/fan_in^2 (output);
# SGD LR fan_out, 1, 1/fan_in; Adam LR 1, 1/fan_in, 1/fan_in.
TABLE3 = {"W1": (0, 0, 1, 0), "W2": (-1, 0, 0, -1), "W3": (-2, 0, -1, -1)}
# Table 8 (what the `mup` package implements): the output gets multiplier 1/fan_in and
# constant init; SGD LR fan_in, Adam LR 1 for the output.
TABLE8 = {"W1": (0, 0, 1, 0), "W2": (-1, 0, 0, -1), "W3": (0, -1, 1, 0)}
# Table 9 (TP4 form): input init 1/fan_out, multiplier sqrt(fan_out), SGD LR 1,
# Adam LR 1/sqrt(fan_out); output init 1/fan_in, multiplier 1/sqrt(fan_in), SGD LR 1,
# Adam LR 1/sqrt(fan_in); hidden init 1/fan_in, multiplier 1, SGD LR 1, Adam LR 1/fan_in.
TABLE9 = {"W1": (-1, H, 0, -H), "W2": (-1, 0, 0, -1), "W3": (-1, -H, 0, -H)}

GAUGE_TABLES = {"no-multipliers": TABLE3, "mup-package": TABLE8, "tp4": TABLE9}


@pytest.mark.parametrize("gauge", list(GAUGE_TABLES))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tp5_tables_are_derived(gauge, optimizer):
    d = infwidth.derive(mlp(2), optimizer, target="mup", gauge=gauge)
    assert d.constraints, "muP must be derived from constraints, not looked up"
    lr_col = 2 if optimizer == "sgd" else 3
    for name, row in GAUGE_TABLES[gauge].items():
        w = d.width_json(name)
        got = (sp.Rational(w["init_variance"]), sp.Rational(w["multiplier"]),
               sp.Rational(w["learning_rate"]))  # fmt: skip
        assert got == (row[0], row[1], row[lr_col]), (name, gauge, optimizer)
    assert d.classification.maximal


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tp5_tables_are_equal_under_the_symmetry(optimizer):
    net, opt = mlp(2), get_optimizer(optimizer)
    derived = {g: infwidth.derive(net, opt, gauge=g) for g in GAUGE_TABLES}
    for src in GAUGE_TABLES:
        for dst in GAUGE_TABLES:
            moved = to_gauge(net, derived[src].exponents, opt, dst)
            ref = derived[dst].exponents
            assert {k: (v.a, v.b, v.c) for k, v in moved.items()} == {
                k: (v.a, v.b, v.c) for k, v in ref.items()
            }


def test_adam_hidden_lr_scales_as_one_over_width_but_sgd_does_not():
    sgd = infwidth.derive("mlp", "sgd", gauge="no-multipliers")
    adam = infwidth.derive("mlp", "adam", gauge="no-multipliers")
    assert sgd.width_json("W2")["learning_rate"] == "0"
    assert adam.width_json("W2")["learning_rate"] == "-1"


def test_adam_epsilon_scales_like_the_gradient():
    d = infwidth.derive("mlp", "adam", gauge="no-multipliers")
    # hidden/input gradients are ~1/n (backward signal through a 1/n readout), readout's ~1
    assert [d.width_json(t)["epsilon"] for t in ("W1", "W2", "W3")] == ["-1", "-1", "0"]
    pkg = infwidth.derive("mlp", "adam", gauge="mup-package")
    # with the 1/fan_in output multiplier the readout's gradient is ~1/n too
    assert pkg.width_json("W3")["epsilon"] == "-1"


def test_adamw_weight_decay_is_inverse_learning_rate():
    d = infwidth.derive("transformer", "adamw")
    for t in d.network.tensors:
        w = d.width_json(t.name)
        assert sp.Rational(w["weight_decay"]) == -sp.Rational(w["learning_rate"])


def test_attention_logits_get_one_over_d_head_under_mup_and_sqrt_under_sp():
    mup = infwidth.derive("transformer", "adam", target="mup")
    sp_ = infwidth.derive("transformer", "adam", target="sp")
    assert mup.operations["block.attn_logits"] == -1
    assert sp_.operations["block.attn_logits"] == -H


def test_no_alignment_gives_everett_adam_exponents():
    # Everett et al. 2024: without alignment, Adam's hidden and readout LR scale as n^-1/2.
    d = infwidth.derive("mlp", "adam", alignment="none")
    assert [d.width_json(t)["learning_rate"] for t in ("W1", "W2", "W3")] == ["0", "-1/2", "-1/2"]


def test_spectral_condition_for_the_orthogonalised_optimizer():
    # Muon-like updates: LR ~ sqrt(fan_out / fan_in) in the no-multiplier gauge (Yang, Simon,
    # Bernstein 2023): input n^(1/2), hidden 1, readout n^(-1/2).
    d = infwidth.derive("mlp", "muon")
    assert [d.width_json(t)["learning_rate"] for t in ("W1", "W2", "W3")] == ["1/2", "0", "-1/2"]
    assert d.classification.maximal


@pytest.mark.parametrize("opt, gamma", [("sgd", "0"), ("adam", "-1/2")])
def test_depth_mup_branch_learning_rates(opt, gamma):
    d = infwidth.derive("resmlp", opt, target="depth-mup")
    dep = d.depth["block.fc1"]
    assert dep["branch_multiplier"] == "-1/2" and dep["learning_rate"] == gamma
    assert d.depth["W_in"]["learning_rate"] == "0"
    assert any("disagree" in n for n in d.notes)


@pytest.mark.parametrize("opt, gamma", [("sgd", "1"), ("adam", "0")])
def test_completep_branch_learning_rates(opt, gamma):
    dep = infwidth.derive("resmlp", opt, target="completep").depth["block.fc2"]
    assert dep["branch_multiplier"] == "-1" and dep["learning_rate"] == gamma


def test_tied_embeddings_share_init_and_lr_but_not_the_multiplier():
    d = infwidth.derive(infwidth.builtin("transformer", tied=True), "adam")
    emb, out = d.exponents["tok_emb"], d.exponents["unembed"]
    assert (emb.b, emb.c) == (out.b, out.c)
    assert out.a - emb.a == 1  # the unembedding use carries an extra 1/n multiplier
    assert d.classification.maximal


def test_a_new_layer_type_is_derived_from_its_fans():
    # A 3x3 convolution with 2n input channels and a low-rank factor n -> n/8 -> n.
    spec = infwidth.spec_from_dict(
        {"tensors": [
            {"name": "stem", "fan_in": "9*C", "fan_out": "2*n"},
            {"name": "conv", "fan_in": "18*n", "fan_out": "n"},
            {"name": "down", "fan_in": "n", "fan_out": "n/8"},
            {"name": "up", "fan_in": "n/8", "fan_out": "n"},
            {"name": "head", "fan_in": "n", "fan_out": "10"},
        ]}
    )  # fmt: skip
    d = infwidth.derive(spec, "adam")
    assert [d.width_json(t)["learning_rate"] for t in ("stem", "conv", "down", "up", "head")] == [
        "0", "-1", "-1", "-1", "-1",
    ]  # fmt: skip
