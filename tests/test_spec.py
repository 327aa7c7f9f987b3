"""The network specification: fans, roles, kinds and spec files."""

import json

import pytest
import sympy as sp

from infwidth.errors import SpecError
from infwidth.spec import (
    builtin,
    load_spec,
    make_tensor,
    parse_fan,
    spec_from_dict,
    width_exponent,
)


@pytest.mark.parametrize(
    "fan, exponent",
    [
        ("n", 1),
        ("4*n", 1),
        ("9*n", 1),
        ("V", 0),
        ("1", 0),
        ("n/H", 1),
        ("n**2", 2),
        ("sqrt(n)", sp.Rational(1, 2)),
        (3, 0),
    ],
)
def test_width_exponent_of_monomials(fan, exponent):
    assert width_exponent(parse_fan(fan)) == exponent


@pytest.mark.parametrize("fan", ["n + 1", "log(n)", "2**n", "", "n*(", "-n", "0", "L*n"])
def test_non_monomial_fans_are_rejected(fan):
    with pytest.raises(SpecError):
        parse_fan(fan)


@pytest.mark.parametrize(
    "fan_in, fan_out, role",
    [("d", "n", "input"), ("9*n", "n", "hidden"), ("n", "V", "output"), ("1", "5", "scalar")],
)
def test_role_follows_from_which_fans_are_infinite(fan_in, fan_out, role):
    assert make_tensor("t", fan_in, fan_out).role == role


def test_bias_kind_is_inferred_from_unit_fan_in():
    assert make_tensor("b", 1, "n").kind == "bias"


def test_kind_inconsistent_with_fans_is_rejected():
    with pytest.raises(SpecError, match="make it 'input'"):
        make_tensor("t", "d", "n", "hidden")


def test_unknown_kind_is_rejected():
    with pytest.raises(SpecError, match="unknown layer kind"):
        make_tensor("t", "n", "n", "wavelet")


def test_builtins_have_the_expected_roles():
    roles = {t.name: t.role for t in builtin("mlp", depth=3, bias=True).tensors}
    assert roles == {
        "W1": "input",
        "b1": "input",
        "W2": "hidden",
        "b2": "input",
        "W3": "hidden",
        "b3": "input",
        "W4": "output",
        "b4": "scalar",
    }
    tr = builtin("transformer", tied=True)
    assert tr.tensor("unembed").tied_to == "tok_emb"
    assert tr.tensor("block.ffn_up").fan_out_exponent == 1
    assert builtin("cnn").tensor("conv2").role == "hidden"
    assert builtin("resmlp").residual


def test_json_and_toml_specs_load_the_same(tmp_path):
    data = {
        "tensors": [
            {"name": "conv1", "fan_in": "9*C", "fan_out": "n"},
            {"name": "conv2", "fan_in": "9*n", "fan_out": "n"},
            {"name": "fc", "fan_in": "n", "fan_out": "10"},
        ]
    }
    (tmp_path / "s.json").write_text(json.dumps(data))
    toml = "".join(
        f'[[tensors]]\nname = "{t["name"]}"\nfan_in = "{t["fan_in"]}"\nfan_out = "{t["fan_out"]}"\n'
        for t in data["tensors"]
    )
    (tmp_path / "s.toml").write_text(toml)
    a, b = load_spec(tmp_path / "s.json"), load_spec(tmp_path / "s.toml")
    assert [t.to_json() for t in a.tensors] == [t.to_json() for t in b.tensors]
    assert [t.role for t in a.tensors] == ["input", "hidden", "output"]


@pytest.mark.parametrize(
    "data, match",
    [
        ({}, "tensors"),
        ({"tensors": [{"name": "x"}]}, "missing"),
        ({"tensors": [{"name": "x", "fan_in": "n", "fan_out": "n", "colour": 1}]}, "unknown"),
        ({"tensors": [{"name": "x", "fan_in": "n", "fan_out": "n"}]}, "no output"),
        (
            {
                "tensors": [
                    {"name": "x", "fan_in": "n", "fan_out": "1"},
                    {"name": "x", "fan_in": "n", "fan_out": "1"},
                ]
            },
            "duplicate",
        ),
    ],
)
def test_malformed_specs_raise_spec_errors(data, match):
    with pytest.raises(SpecError, match=match):
        spec_from_dict(data)
