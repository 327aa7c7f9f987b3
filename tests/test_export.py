"""``infwidth derive --export``: the frameworks' muP numbers equal the derived table's."""

import json
import subprocess
import sys

import pytest

from infwidth import builtin, derive
from infwidth.symbolic._export import FRAMEWORKS, export, role_exponents

RHO = 4  # width 1024 over base 256


def _table(optimizer="adam", tied=False):
    kw = {"tied": True} if tied else {}
    return derive(builtin("transformer", **kw), optimizer, target="mup").to_json()


def _e(framework, **kw):
    return export(_table(**kw), framework, width=256 * RHO, base_width=256)


def test_nanogpt_mup_numbers_are_the_tables():
    t = role_exponents(_table(tied=True))
    f = _e("nanogpt-mup", tied=True)["fields"]
    m = f["mup_width_multiplier"]
    assert m == RHO
    assert 1 / m == RHO ** t["hidden"]["learning_rate"]  # lr_scale = 1/m
    assert 1 / m == RHO ** t["hidden"]["init_variance"]  # std / sqrt(m)
    assert f["mup_output_alpha"] / m == RHO ** t["output"]["multiplier"]  # tied x *= alpha/m
    assert 1 / m == RHO ** t["hidden"]["epsilon"] == RHO ** t["embedding"]["epsilon"]


def test_megatron_flags_are_the_tables():
    t = role_exponents(_table())
    f = _e("megatron")["fields"]
    assert f["--hidden-size"] / f["--scaling-base-hidden-size"] == RHO
    u_out = t["output"]["learning_rate"] + t["output"]["multiplier"]
    assert f["--mup-output-mult"] == pytest.approx(RHO**u_out) == 1 / RHO
    assert f["--mup-attn-scale-power"] == -t["attention"]["multiplier"] == 1


def test_hf_config_mup_fields_are_the_tables():
    t = role_exponents(_table())
    f = _e("hf")["fields"]
    assert f["mup_width_scale"] == RHO ** t["hidden"]["learning_rate"] == 1 / RHO
    assert f["mup_width_scale"] == RHO ** t["hidden"]["init_variance"]
    assert f["mup_scale_qk_dot_by_d"] is True


def test_olmo_core_config_is_the_tables():
    f = _e("olmo-core")["fields"]
    w, b = f["width_hyperparams"], f["base_model_width_hyperparams"]
    assert w["d_model"] / b["d_model"] == RHO and w["head_dim"] / b["head_dim"] == RHO
    assert f["scaling_strategy"] == "constant_inputs"  # TP5 Table 3 = no-multiplier gauge
    assert _e("olmo-core")["notes"] == []
    assert any("tying" in n for n in _e("olmo-core", tied=True)["notes"])


def test_notes_name_where_frameworks_differ():
    nano = _e("nanogpt-mup", optimizer="adamw", tied=True)["notes"]
    assert nano == [
        "nanogpt-mup: hidden weight decay per step scales as n^-1, the derivation as n^0"
    ]
    hf = _e("hf")["notes"]
    assert any("hidden Adam epsilon" in n for n in hf)  # BTLM keeps eps = 1e-8
    assert _e("megatron")["notes"] == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cli_export_stays_symbolic(framework):
    # (that derive imports no JAX at all is tests/test_cli.py's cold-start check)
    code = (
        "import sys, json; from infwidth.cli import main; "
        f"main(['derive','--arch','transformer','--optimizer','adam','--export','{framework}',"
        "'--width','1024','--base-width','256']); "
        "assert not any(m.startswith(('infwidth.sim', 'infwidth.doctor')) for m in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["width_ratio"] == RHO
