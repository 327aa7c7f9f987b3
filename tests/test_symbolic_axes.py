"""Several scaling axes: exponents along density, rank, experts, heads, derived per axis."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from infwidth.errors import InfwidthError, SpecError
from infwidth.spec import axis_exponent, builtin, spec_from_dict
from infwidth.symbolic import derive


def _sparse_mlp(direction: str = "shrinks", density: str = "rho", axis: str = "rho") -> dict:
    return {
        "name": "sparse-mlp",
        "axes": {axis: direction},
        "tensors": [
            {"name": "W1", "fan_in": "d_in", "fan_out": "n"},
            {"name": "W2", "fan_in": "n", "fan_out": "n", "density": density},
            {"name": "W3", "fan_in": "n", "fan_out": "d_out"},
        ],
    }


def _along(d, axis: str, tensor: str) -> dict[str, str]:
    (t,) = [t for t in d.to_json()["tensors"] if t["name"] == tensor]
    return t[axis]


def test_axis_exponent_reads_any_axis():
    assert axis_exponent("n*rho", "rho") == 1
    assert axis_exponent("n/H", "H") == -1
    assert axis_exponent("n/H", "n") == 1
    assert axis_exponent("sqrt(r)*n", "r") == sp.Rational(1, 2)


def test_width_only_spec_keeps_todays_json():
    spec = {
        "name": "mlp",
        "tensors": [
            {"name": "W1", "fan_in": "d_in", "fan_out": "n", "kind": "input"},
            {"name": "W2", "fan_in": "n", "fan_out": "n", "kind": "hidden"},
            {"name": "W3", "fan_in": "n", "fan_out": "d_out", "kind": "output"},
        ],
    }
    for opt in ("sgd", "adam"):
        got = derive(spec_from_dict(spec), opt).to_json()
        assert got == derive(builtin("mlp"), opt).to_json()
        assert "axes" not in got


@pytest.mark.parametrize(
    ("opt", "lr", "init"),
    [
        # SμPar (Dey, Bergsma, Hestness 2024, Table 1): Adam hidden LR and init variance
        # eta / (m_d m_rho), sigma^2 / (m_d m_rho): rho^-1 along the density.
        ("adam", "-1", "-1"),
        # SGD: rho^-1 as well, *not* the (n rho)^0 that substituting n -> n rho in muP's
        # hidden SGD LR (n^0) gives: the backward signal is set by the dense readout (w_rho = 0).
        ("sgd", "-1", "-1"),
    ],
)
def test_sparse_mup_density_exponents(opt, lr, init):
    d = derive(spec_from_dict(_sparse_mlp()), opt)
    hidden = _along(d, "rho", "W2")
    assert (hidden["learning_rate"], hidden["init_variance"], hidden["multiplier"]) == (
        lr,
        init,
        "0",
    )
    for dense in ("W1", "W3"):  # the embedding and readout stay dense: nothing moves in rho
        assert set(_along(d, "rho", dense).values()) == {"0"}
    assert d.axes["rho"].backward == 0
    # the width exponents are muP's, whatever the density
    assert (
        d.to_json()["tensors"][1]["width"]
        == derive(builtin("mlp"), opt).to_json()["tensors"][1]["width"]
    )


def test_adam_sparse_rule_is_the_effective_width_rule():
    """Adam: the hidden LR along rho equals the width exponent (effective width n rho)."""
    d = derive(spec_from_dict(_sparse_mlp()), "adam")
    assert _along(d, "rho", "W2")["learning_rate"] == d.width_json("W2")["learning_rate"]
    sgd = derive(spec_from_dict(_sparse_mlp()), "sgd")
    assert _along(sgd, "rho", "W2")["learning_rate"] != sgd.width_json("W2")["learning_rate"]


def test_reversing_the_limit_negates_every_exponent():
    """rho -> 0 with density rho is s = 1/rho -> infinity with density 1/s."""
    a = derive(spec_from_dict(_sparse_mlp("shrinks", "rho", "rho")), "sgd")
    b = derive(spec_from_dict(_sparse_mlp("grows", "1/s", "s")), "sgd")
    for t in ("W1", "W2", "W3"):
        ea, eb = _along(a, "rho", t), _along(b, "s", t)
        assert {k: -sp.Rational(v) for k, v in ea.items()} == {
            k: sp.Rational(v) for k, v in eb.items()
        }


def test_heads_axis_moves_the_logit_multiplier():
    """Attention logits contract over d_head = n/H: muP's 1/d_head is n^-1 H^+1."""
    spec = builtin("transformer").to_json()
    spec["axes"] = {"H": "grows"}
    d = derive(spec_from_dict(spec), "adam")
    (op,) = d.to_json()["operations"]
    assert op["width"] == {"multiplier": "-1"}
    assert op["H"] == {"multiplier": "1"}


def test_every_format_shows_every_axis():
    d = derive(spec_from_dict(_sparse_mlp()), "adam")
    assert "lr (rho^)" in d.render("table")
    assert "lr (rho^)" in d.render("markdown")
    assert "\\rho^{-1}" in d.render("latex")
    assert json.loads(d.render("json"))["axes"] == {"rho": "shrinks"}
    text = d.explain()
    assert "## Along `rho` (shrinks)" in text
    assert "`maximal(W2)`" in text.split("## Along")[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"axes": {}}, "not a declared axis"),
        ({"axes": {"rho": "sideways"}}, "choose grows or shrinks"),
        ({"axes": {"n": "grows"}}, "built in"),
        ({"axes": {"rho": "shrinks"}, "density": "rho + 1"}, "monomial"),
        ({"axes": ["rho"]}, "axes must be an object"),
    ],
)
def test_bad_axes_are_one_clear_error(change, message):
    spec = _sparse_mlp()
    spec["axes"] = change["axes"]
    if "density" in change:
        spec["tensors"][1]["density"] = change["density"]
    with pytest.raises(SpecError, match=message):
        spec_from_dict(spec)


def test_presets_refuse_extra_axes():
    with pytest.raises(InfwidthError, match="derived target"):
        derive(spec_from_dict(_sparse_mlp()), "sgd", target="sp")


def test_cli_bad_axis_exits_2(tmp_path, capsys):
    from infwidth.cli import main

    spec = _sparse_mlp()
    spec["axes"] = {"r": "grows"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    assert main(["derive", "--spec", str(path), "--optimizer", "sgd"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a declared axis" in err


def _lora(alignment_axis: str = "grows") -> dict:
    """LoRA on one dense layer: a frozen base W0 plus B A (A random, B zero-initialised)."""
    return {
        "name": "lora",
        "axes": {"r": alignment_axis},
        "tensors": [
            {"name": "emb", "fan_in": "d_in", "fan_out": "n"},
            {"name": "W0", "fan_in": "n", "fan_out": "n", "frozen": True},
            {"name": "A", "fan_in": "n", "fan_out": "r", "feeds": "B", "kind": "adapter"},
            {"name": "B", "fan_in": "r", "fan_out": "n", "init": "zero", "kind": "adapter"},
            {"name": "out", "fan_in": "n", "fan_out": "d_out"},
        ],
    }


def test_lora_plus_adam_learning_rates():
    """LoRA+ (Hayou, Ghosh, Yu 2024): with Adam, A random (variance 1/n) and B = 0, efficient
    feature learning needs eta_A = Theta(1/n), eta_B = Theta(1): eta_B / eta_A = Theta(n)."""
    d = derive(spec_from_dict(_lora()), "adam")
    assert d.width_json("A")["learning_rate"] == "-1"
    assert d.width_json("A")["init_variance"] == "-1"
    assert d.width_json("B")["learning_rate"] == "0"
    assert d.width_json("B")["init_variance"] == "zero"
    assert d.width_json("W0")["learning_rate"] == "frozen"
    assert d.classification.maximal and d.classification.r_per_tensor["A"] == 0


def test_lora_sgd_and_rank_exponents():
    """SGD: B's gradient carries the 1/n backward signal, so eta_B ~ n; A's signal B^T delta
    is Theta(1) (B is built from delta: LLN over n), so eta_A ~ 1/n. Along the rank (no
    multiplier): B's update sums r aligned terms (eta_B ~ 1/r); B's entries ~ 1/r make A's
    signal 1/r, which SGD compensates (eta_A ~ r) and Adam ignores (eta_A ~ 1)."""
    sgd = derive(spec_from_dict(_lora()), "sgd")
    assert (sgd.width_json("A")["learning_rate"], sgd.width_json("B")["learning_rate"]) == (
        "-1",
        "1",
    )
    lr = lambda d, t: _along(d, "r", t)["learning_rate"]  # noqa: E731
    assert (lr(sgd, "A"), lr(sgd, "B")) == ("1", "-1")
    adam = derive(spec_from_dict(_lora()), "adam")
    assert (lr(adam, "A"), lr(adam, "B")) == ("0", "-1")
    assert "## Step 2 — Zero-initialised tensors" in adam.explain()


def test_lora_refuses_parameter_scaled_steps_and_cycles():
    with pytest.raises(InfwidthError, match="zero-initialised"):
        derive(spec_from_dict(_lora()), "adafactor")
    spec = _lora()
    spec["tensors"][3]["feeds"] = "A"
    with pytest.raises(SpecError, match="cycle"):
        spec_from_dict(spec)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_sparse_transformer_ffn_follows_supar(opt):
    """SμPar on the FFN: init variance rho^-1 (Adam and SGD), Adam LR rho^-1 (Table 1), SGD
    LR rho^-1 too; everything dense stays flat in rho, and the logit multiplier too."""
    d = derive(builtin("sparse-transformer"), opt, target="depth-mup")
    for t in ("block.ffn_up", "block.ffn_down"):
        assert _along(d, "rho", t)["init_variance"] == "-1"
        assert _along(d, "rho", t)["learning_rate"] == "-1"
    for t in ("tok_emb", "block.q", "block.ln2", "unembed"):
        assert _along(d, "rho", t)["learning_rate"] == "0"
    assert d.to_json()["operations"][0]["rho"] == {"multiplier": "0"}
    assert any("effective-width" in n for n in d.notes) == (opt == "sgd")


@pytest.mark.parametrize(("opt", "lr_e"), [("sgd", "1"), ("adam", "0")])
def test_routed_experts_token_fraction(opt, lr_e):
    """An expert sees 1/E of the tokens: SGD's step shrinks with it (LR ~ E), Adam's
    normalised step does not (LR flat in E). With E fixed in width the router is an
    output-like weight (init n^-2, LR as the readout's); with E = n it is hidden."""
    d = derive(builtin("moe"), opt, target="depth-mup")
    assert _along(d, "E", "block.expert_up")["learning_rate"] == lr_e
    assert _along(d, "E", "block.router")["learning_rate"] == "0"
    assert d.width_json("block.router") == d.width_json("unembed") | (
        {"epsilon": "0"} if opt == "adam" else {}
    )
    grown = derive(builtin("moe-growing"), opt, target="depth-mup")
    assert grown.width_json("block.router")["init_variance"] == "-1"
    mup_hidden = int(derive(builtin("transformer"), opt).width_json("block.q")["learning_rate"])
    assert int(grown.width_json("block.expert_up")["learning_rate"]) == mup_hidden + int(lr_e)


def test_lora_transformer_adapters_on_a_frozen_block():
    d = derive(builtin("lora-transformer"), "adam", target="depth-mup")
    assert d.width_json("block.q.lora_A")["learning_rate"] == "-1"
    assert d.width_json("block.q.lora_B")["learning_rate"] == "0"
    assert d.width_json("unembed")["learning_rate"] == "frozen"
    assert d.depth["block.q"]["learning_rate"] == "frozen"
    assert d.classification.maximal


@pytest.mark.parametrize("arch", ["sparse-mlp", "lora-mlp", "moe"])
def test_derived_json_reads_back(arch):
    """A derived JSON (axis sections, zero init, frozen tensors) is a valid spec again:
    classify sees muP, and derive with its exponents pinned gives the same table."""
    from infwidth.symbolic import classify

    d = derive(builtin(arch), "adam")
    back = spec_from_dict(d.to_json())
    assert back.axes == builtin(arch).axes
    assert classify(back, "adam").maximal
    assert derive(back, "adam").to_json()["tensors"] == d.to_json()["tensors"]
