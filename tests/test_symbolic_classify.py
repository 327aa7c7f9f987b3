"""Classification against TP4's named parametrizations, and invariance under the symmetry."""

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import infwidth
from infwidth.errors import NoSolutionError
from infwidth.spec import mlp, spec_from_dict
from infwidth.symbolic import TensorExponents, classify_parametrization, get_optimizer, to_gauge

H = sp.Rational(1, 2)


def tp4(a, b, c):
    """TP4's table form: rows (a, b) for input, hidden, output layers; one global c."""
    return {f"W{i + 1}": TensorExponents(sp.Rational(a[i]), sp.Rational(b[i]), sp.Rational(c))
            for i in range(len(a))}  # fmt: skip


NET = mlp(2)
SGD = get_optimizer("sgd")


@pytest.mark.parametrize(
    "params, regime, r, maximal",
    [
        (tp4((0, 0, 0), (0, H, H), 0), "unstable", -1, False),  # SP, c = 0
        (tp4((0, 0, 0), (0, H, H), 1), "kernel", H, False),  # SP, c = 1
        (tp4((0, H, H), (0, 0, 0), 0), "kernel", H, False),  # NTP
        (tp4((-H, 0, H), (H, H, H), 0), "feature_learning", 0, True),  # muP
    ],
)
def test_tp4_named_parametrizations(params, regime, r, maximal):
    c = classify_parametrization(NET, params, SGD)
    assert (c.regime, c.r, c.maximal) == (regime, r, maximal)


def test_one_hidden_layer_mean_field_is_feature_learning():
    params = tp4((0, 1), (0, 0), -1)
    c = classify_parametrization(mlp(1), params, SGD)
    assert (c.regime, c.r) == ("feature_learning", 0)


def test_sp_fails_in_training_not_at_init():
    c = infwidth.classify("mlp", "sgd", preset_name="sp")
    stages = {ch.stage for ch in c.failed}
    assert stages == {"training"} and "training(W2)" in {ch.label for ch in c.failed}


def test_vanishing_output_init_with_no_update_is_trivial():
    # readout initialised and updated too small: stable but the output never moves.
    params = tp4((0, 0, 1), (0, H, H), 1)
    assert classify_parametrization(NET, params, SGD).regime == "trivial"


def test_umup_is_feature_learning_but_not_maximal_and_says_why():
    c = infwidth.classify("mlp", "adam", preset_name="umup")
    assert c.regime == "feature_learning" and not c.maximal
    assert c.r_per_tensor["W1"] == H
    d = infwidth.derive("mlp", "adam", target="umup")
    assert any("u-muP" in n for n in d.notes)


def test_predicted_exponents_of_measured_quantities():
    mup = infwidth.classify("mlp", "sgd", preset_name="mup").predicted
    ntp = infwidth.classify("mlp", "sgd", preset_name="ntp").predicted
    assert mup["feature_movement_rms"] == {"W1": "0", "W2": "0"}
    assert ntp["feature_movement_rms"] == {"W1": "-1/2", "W2": "-1/2"}
    assert mup["output_movement_rms"] == "0" and ntp["output_movement_rms"] == "0"


def test_classify_reads_derive_json_back():
    d = infwidth.derive("mlp", "adam", gauge="tp4").to_json()
    spec = spec_from_dict({"tensors": d["tensors"]})
    c = infwidth.classify(spec, "adam")
    assert c.maximal and c.regime == "feature_learning"


def test_conflicting_pins_name_the_constraints():
    spec = spec_from_dict(
        {"tensors": [
            {"name": "W1", "fan_in": "d", "fan_out": "n"},
            {"name": "W2", "fan_in": "n", "fan_out": "n", "a": 0, "c": 0},
            {"name": "W3", "fan_in": "n", "fan_out": "1"},
        ]}
    )  # fmt: skip
    with pytest.raises(NoSolutionError) as exc:
        infwidth.derive(spec, "adam")
    # Adam's hidden layer cannot be maximal with a = 0 and c = 0 (it needs a + c = 1).
    assert set(exc.value.conflict) == {"maximal(W2)", "pin a(W2)", "pin c(W2)"}


def test_pins_that_fix_the_gauge_are_honoured():
    spec = spec_from_dict(
        {"tensors": [
            {"name": "W1", "fan_in": "d", "fan_out": "n", "c": 0},
            {"name": "W2", "fan_in": "n", "fan_out": "n", "c": 0},
            {"name": "W3", "fan_in": "n", "fan_out": "1", "c": 0},
        ]}
    )  # fmt: skip
    d = infwidth.derive(spec, "sgd")  # global c = 0: TP4's own muP
    assert d.gauge == "pinned"
    assert [(d.exponents[t].a, d.exponents[t].b) for t in ("W1", "W2", "W3")] == [
        (-H, H), (0, H), (H, H),
    ]  # fmt: skip


RATIONALS = st.fractions(min_value=-2, max_value=2, max_denominator=4).map(sp.Rational)
OPTS = st.sampled_from(["sgd", "adam", "adafactor", "muon", "signsgd"])
BUILTINS = st.sampled_from(["mlp", "resmlp", "cnn", "transformer"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(arch=BUILTINS, opt_name=OPTS, shifts=st.lists(RATIONALS, min_size=12, max_size=12),
       preset=st.sampled_from(["sp", "ntp", "mup"]))  # fmt: skip
def test_symmetry_shifts_leave_classification_and_gauge_normal_form_unchanged(
    arch, opt_name, shifts, preset
):
    net, opt = infwidth.builtin(arch), get_optimizer(opt_name)
    base = infwidth.derive(net, opt, target=preset).exponents
    moved = {}
    for t, s in zip(net.tensors, shifts, strict=False):
        own = t.tied_to or t.name
        moved[t.name] = base[t.name].shifted(shifts[[x.name for x in net.tensors].index(own)], opt)
        del s
    before = classify_parametrization(net, base, opt)
    after = classify_parametrization(net, moved, opt)
    assert (before.regime, before.r, before.maximal, before.r_per_tensor) == (
        after.regime, after.r, after.maximal, after.r_per_tensor,
    )  # fmt: skip
    norm = lambda p: {k: (v.a, v.b, v.c) for k, v in to_gauge(net, p, opt, "tp4").items()}  # noqa: E731
    assert norm(base) == norm(moved)


def test_first_step_predictions_see_the_readout_at_init():
    # SP at a fixed learning rate: at step 1 the backward signal still passes through the
    # readout at init (n^-1/2), so the input layer moves like n^-1/2; once the readout's Theta(1)
    # update dominates, TP4's asymptotic w = 0 applies and it moves Theta(1).
    c = infwidth.classify("mlp", "sgd", preset_name="sp")
    assert c.predicted_first_step["feature_movement_rms"] == {"W1": "-1/2", "W2": "1/2"}
    assert c.predicted["feature_movement_rms"] == {"W1": "0", "W2": "1"}
    mup = infwidth.classify("mlp", "adam", preset_name="mup")
    assert mup.predicted_first_step == mup.predicted
