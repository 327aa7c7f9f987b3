"""Spec files are data: no field of a spec (or of a derive JSON fed back) is ever evaluated.

Each payload below ran code, hung or crashed with a traceback when fans went through
``sympy.sympify``. Now every one is refused in well under a second with one line and exit 2,
and leaves nothing behind; every fan form the built-ins and the docs use still parses.
"""

import json
import time

import pytest
import sympy as sp

from infwidth import load_spec
from infwidth.cli import main
from infwidth.errors import SpecError
from infwidth.sim._table import Table
from infwidth.spec import fan_str, parse_fan, width_exponent
from infwidth.spec._builtin import ARCHITECTURES, builtin

RCE = "n*__import__('os').system('touch PWNED')**0+n*0"
PAYLOADS = {
    "rce": RCE,
    "rce-no-quotes": "n*__import__(chr(111)+chr(115)).system(chr(116))**0",
    "tower": "10**10**10*n",
    "huge-power": "2**99999999*n",
    "long-product": "*".join(["n"] * 100_000),
    "lambda": "(lambda: n)()",
    "attribute": "n.__class__",
    "nested-power": "((n**8)**8)**8",
}


def _spec(fan_in: str, where: str = "fan_in") -> dict:
    tensors = [
        {"name": "W1", "fan_in": "d", "fan_out": "n"},
        {"name": "W2", "fan_in": "n", "fan_out": "n"},
        {"name": "W3", "fan_in": "n", "fan_out": "10"},
    ]
    spec: dict = {"tensors": tensors}
    if where == "contracted":
        spec["operations"] = [{"name": "att", "kind": "attention_logits", "contracted": fan_in}]
    else:
        tensors[1][where] = fan_in
    return spec


def _run(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


COMMANDS = {
    "derive": ["derive", "--optimizer", "adam", "--spec"],
    "classify": ["classify", "--optimizer", "sgd", "--spec"],
    "coord-check": ["coord-check", "--quick", "--no-plot", "--spec"],
}


@pytest.mark.parametrize("where", ["fan_in", "fan_out", "contracted"])
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_payloads_run_nothing_and_exit_2_with_one_line(
    capsys, tmp_path, monkeypatch, command, payload, where
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(_spec(PAYLOADS[payload], where)))
    start = time.perf_counter()
    code, out = _run(capsys, [*COMMANDS[command], str(path)])
    assert time.perf_counter() - start < 5
    assert code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert "not a valid fan" in out.err or "longer than" in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.json"]  # no PWNED, no output


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_load_spec_and_toml_refuse_payloads(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.toml"
    path.write_text(f'[[tensors]]\nname = "W"\nfan_in = {json.dumps(PAYLOADS[payload])}\n')
    with pytest.raises(SpecError):
        load_spec(path)
    assert not (tmp_path / "PWNED").exists()


def test_derive_json_fed_back_to_classify_refuses_payloads(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = _run(capsys, ["derive", "--arch", "mlp", "--optimizer", "sgd", "--format", "json"])
    assert code == 0
    derived = json.loads(out.out)
    derived["tensors"][1]["fan_in"] = RCE
    derived["tensors"][0]["width"]["learning_rate"] = "__import__('os').system('touch PWNED')"
    path = tmp_path / "derived.json"
    path.write_text(json.dumps(derived))
    code, out = _run(capsys, ["classify", "--optimizer", "sgd", "--spec", str(path)])
    assert code == 2 and out.err.count("\n") == 1
    assert not (tmp_path / "PWNED").exists()
    # the exponent field alone is refused too, by the spec reader and by the sim's table reader
    derived["tensors"][1]["fan_in"] = "n"
    path.write_text(json.dumps(derived))
    code, out = _run(capsys, ["classify", "--optimizer", "sgd", "--spec", str(path)])
    assert code == 2 and "rational number" in out.err
    with pytest.raises(SpecError):
        Table.from_json(derived)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "field, value",
    [("name", ["W"]), ("kind", {"x": 1}), ("branch", 3), ("tied_to", ["W1"]), ("a", "1e99999")],
)
def test_non_string_fields_are_refused(field, value):
    from infwidth.spec import spec_from_dict

    spec = _spec("n")
    spec["tensors"][1][field] = value
    with pytest.raises(SpecError):
        spec_from_dict(spec)


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"[" * 100_000, "not valid"),
        (b'{"tensors": [{"name": "W", "fan_in": ' + b"9" * 5000 + b', "fan_out": "n"}]}', "valid"),
    ],
)
def test_malformed_files_are_one_line(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=needle):
        load_spec(path)


SAFE = dict(n=sp.Symbol("n", positive=True))


@pytest.mark.parametrize(
    "fan",
    ["n", "4*n", "9*n", "V", "1", "n/H", "n**2", "sqrt(n)", "n**(3/2)", "n**(-1/2)", "n**-1*n**2",
     "2*n/8", "sqrt(2*n)", "(n/H)**2", "d_in", "9*C", " n * 2 ", "1/sqrt(n)*n"],
)  # fmt: skip
def test_valid_fans_parse_as_before_and_round_trip(fan):
    """Same expression as the (trusted) SymPy reading of the same text; canonical text parses
    back to the same expression."""
    expr = parse_fan(fan)
    ref = sp.sympify(fan, locals=SAFE, rational=True)  # our own literal, not user input
    ref = ref.subs({s: sp.Symbol(s.name, positive=True) for s in ref.free_symbols})
    assert sp.simplify(expr - ref) == 0
    assert parse_fan(fan_str(expr)) == expr
    assert width_exponent(fan_str(expr)) == width_exponent(ref)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_builtin_fans_round_trip(arch):
    for t in builtin(arch).tensors:
        for fan in (t.fan_in, t.fan_out):
            assert parse_fan(fan_str(fan)) == fan


@pytest.mark.parametrize(
    "fan, needle",
    [("n + 1", "monomial"), ("log(n)", "only sqrt"), ("2**n", "exponent"), ("n**65", "capped"),
     ("10000000000000*n", "capped"), ("-n", "positive"), ("0*n", "positive"), ("n^2", "not allowed"),
     ("L*n", "depth"), ("((((((((((((((((((n))))))))))))))))))", "nest")],
)  # fmt: skip
def test_invalid_fans_say_why(fan, needle):
    with pytest.raises(SpecError, match=needle):
        parse_fan(fan)
