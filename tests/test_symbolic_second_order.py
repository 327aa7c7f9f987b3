"""Second-order optimisers, SAM and weight decay as data: derived exponents vs the published.

Published reference (primary: the first author's code, ``riverstone496/classmup``,
``utils/set_mup.py`` muP branch and ``utils/damping.py``; Ishikawa & Karakida, ICLR 2024,
Table 1), MLP without multipliers, learning rate ``eta n^{-c}`` for (input, hidden, output):
K-FAC ``c = (0, 0, 0)``, Shampoo ``(-1/2, 0, 1/2)``, FOOF ``(-1, -1, 0)``; K-FAC damping
``rho_A ~ fan_in^{dA=-1 -> +1}`` on hidden and readout (constant on the input layer),
``rho_B ~ 1/fan_out`` on input and hidden (constant on the readout).
"""

from __future__ import annotations

import json

import pytest
import sympy as sp

import infwidth
from infwidth.errors import InfwidthError
from infwidth.symbolic import OPTIMIZERS, get_optimizer

PUBLISHED_C = {
    "kfac": ("0", "0", "0"),
    "shampoo": ("-1/2", "0", "1/2"),
    "foof": ("-1", "-1", "0"),
}


def _mlp(opt: str, **kw):
    return infwidth.derive("mlp", opt, gauge="no-multipliers", **kw)


@pytest.mark.parametrize("opt", sorted(PUBLISHED_C))
def test_learning_rates_match_ishikawa_karakida(opt):
    d = _mlp(opt)
    got = tuple(str(d.exponents[t].c) for t in ("W1", "W2", "W3"))
    assert got == PUBLISHED_C[opt]
    assert d.classification.maximal
    # init is the optimiser-independent muP init (classmup: b = 1/2, 1/2, 1)
    assert [d.width_json(t)["init_variance"] for t in ("W1", "W2", "W3")] == ["0", "-1", "-2"]


def test_kfac_damping_matches_the_published_rule():
    d = _mlp("kfac")
    damp = {
        t: (d.width_json(t)["damping_out"], d.width_json(t)["damping_in"])
        for t in "W1 W2 W3".split()
    }
    # rho_B (left, out): 1/fan_out on input and hidden, constant on the readout;
    # rho_A (right, in): fan_in on hidden and readout, constant on the input layer.
    assert damp == {"W1": ("-1", "0"), "W2": ("-1", "1"), "W3": ("0", "1")}


def test_shampoo_damping_tracks_the_gradient_norm_and_foof_has_one_factor():
    sh = _mlp("shampoo")
    # |G|_F^2 = |g|^2 |x|^2: n^-1 (input), 1 (hidden), n (readout), on both factors
    assert [sh.width_json(t)["damping_out"] for t in ("W1", "W2", "W3")] == ["-1", "0", "1"]
    assert [sh.width_json(t)["damping_in"] for t in ("W1", "W2", "W3")] == ["-1", "0", "1"]
    foof = _mlp("foof")
    assert "damping_out" not in foof.width_json("W2")
    assert foof.width_json("W2")["damping_in"] == "1"


def test_shampoo_is_muon_geometry_and_kfac_is_multiplier_invariant():
    sh, mu = get_optimizer("shampoo"), get_optimizer("muon")
    assert sh.norm_powers == mu.norm_powers == (1, 1)
    for name in ("mlp", "transformer"):
        a = infwidth.derive(name, "shampoo", gauge="no-multipliers")
        b = infwidth.derive(name, "muon", gauge="no-multipliers")
        assert {t: a.exponents[t].c for t in a.exponents} == {
            t: b.exponents[t].c for t in b.exponents
        }
    # K-FAC is invariant to the multiplier: its c does not move with the gauge (c_shift 0)
    assert get_optimizer("kfac").c_shift == 0
    for gauge in ("no-multipliers", "mup-package", "unit-scaled"):
        d = infwidth.derive("mlp", "kfac", gauge=gauge)
        assert all(e.c == 0 for e in d.exponents.values()), gauge


@pytest.mark.parametrize("name", [n for n, o in OPTIMIZERS.items() if o.preconditioner])
def test_preconditioned_gradient_power_is_one_minus_u(name):
    o = get_optimizer(name)
    assert o.gradient_power == 1 - o.norm_powers[0]


def test_damping_under_the_gauge_moves_with_the_multiplier():
    # mup-package gauge: readout multiplier 1/n, so its gradient (before the multiplier) is
    # n^-1 smaller and rho_B ~ n^-2; rho_A does not see multipliers.
    d = infwidth.derive("mlp", "kfac", gauge="mup-package")
    assert d.width_json("W3")["multiplier"] == "-1"
    assert (d.width_json("W3")["damping_out"], d.width_json("W3")["damping_in"]) == ("-2", "1")


def test_damping_along_the_density_axis():
    d = infwidth.derive("sparse-mlp", "kfac")
    rho = d.axes["rho"].tensor_json(d.network, "W2", d.optimizer)
    # x.x over the masked row sums n*rho terms while K-FAC divides by the dense |x|^2: the
    # learning rate must grow as rho^-1; the dense factors' damping does not see rho
    assert rho["learning_rate"] == "-1"
    assert (rho["damping_out"], rho["damping_in"]) == ("0", "0")
    assert any("dense input and gradient" in n for n in d.notes)


def test_sam_every_layer_effectively_perturbed():
    d = _mlp("sgd", perturbation="sam")
    p = d.perturbation
    # layer-relative scalings are gauge-free: input n^2, hidden n^1 relative to the readout
    assert {k: str(v) for k, v in p.layers.items()} == {"W1": "2", "W2": "1", "W3": "0"}
    assert str(p.radius) == "-1/2"
    out = d.to_json()
    assert out["perturbation_radius"] == {"width": "-1/2"}
    assert out["tensors"][1]["width"]["perturbation"] == "1"
    assert any("Standard SAM" in n for n in d.notes)
    # the combination that acts on W_eff (G - R - P_t) is the SGD muP learning rate
    sgd = _mlp("sgd")
    for t, v in p.layers.items():
        assert p.gradient_norm - p.radius - v == sgd.exponents[t].c


def test_sam_on_top_of_adam_and_along_an_axis():
    d = infwidth.derive("mlp", "adam", gauge="no-multipliers", perturbation="sam")
    assert {k: str(v) for k, v in d.perturbation.layers.items()} == {
        "W1": "2",
        "W2": "1",
        "W3": "0",
    }
    s = infwidth.derive("sparse-mlp", "sgd", perturbation="sam")
    assert set(s.to_json()["perturbation_radius"]) == {"width", "rho"}


def test_width_only_output_unchanged_without_the_new_options():
    d = infwidth.derive("mlp", "adamw")
    j = d.to_json()
    assert "perturbation_radius" not in j
    assert set(j["tensors"][1]["width"]) == {
        "init_variance", "multiplier", "learning_rate", "epsilon", "weight_decay"
    }  # fmt: skip


def test_weight_decay_rules_answer_different_questions():
    ts = _mlp("adamw")
    eq = _mlp("adamw", weight_decay="equilibrium")
    # timescale: wd ~ 1/lr; equilibrium: wd ~ lr / init_variance
    for t in ("W1", "W2", "W3"):
        w_ts, w_eq = ts.width_json(t), eq.width_json(t)
        assert sp.Rational(w_ts["weight_decay"]) == -sp.Rational(w_ts["learning_rate"])
        assert sp.Rational(w_eq["weight_decay"]) == sp.Rational(
            w_eq["learning_rate"]
        ) - sp.Rational(w_eq["init_variance"])
    assert ts.width_json("W2")["weight_decay"] == "1"
    assert eq.width_json("W2")["weight_decay"] == "0"
    assert any("equilibrium desideratum" in n for n in eq.notes)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"weight_decay": "equilibrium"}, "no decoupled weight decay"),
        ({"perturbation": "asam"}, "unknown perturbation"),
        ({"weight_decay": "forever"}, "unknown weight-decay"),
    ],
)
def test_bad_options_are_one_line_errors(kw, match):
    with pytest.raises(InfwidthError, match=match):
        infwidth.derive("mlp", "sgd", **kw)


def test_damping_on_an_optimizer_without_one_exits_2(tmp_path, capsys):
    from infwidth.cli import main

    spec = infwidth.derive("mlp", "kfac").to_json()
    path = tmp_path / "kfac.json"
    path.write_text(json.dumps(spec))
    assert main(["derive", "--spec", str(path), "--optimizer", "kfac"]) == 0
    capsys.readouterr()
    assert main(["derive", "--spec", str(path), "--optimizer", "sgd"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damping_out" in err and "kfac" in err
    assert main(["derive", "--spec", str(path), "--optimizer", "foof"]) == 2  # no left factor


def test_cli_selects_the_new_families(capsys):
    from infwidth.cli import main

    assert main(["derive", "--arch", "mlp", "--optimizer", "shampoo", "--perturbation", "sam",
                 "--format", "json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["optimizer"] == "shampoo" and out["perturbation"] == "sam"
    assert {"damping_out", "damping_in", "perturbation"} <= set(out["tensors"][1]["width"])
