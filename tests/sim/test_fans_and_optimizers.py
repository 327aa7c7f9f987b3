"""Fans become array dimensions only exactly; a table is trained with its own optimiser."""

from __future__ import annotations

import warnings

import jax
import pytest

from infwidth import spec_from_dict
from infwidth.errors import InfwidthError, OptimizerMismatchWarning
from infwidth.sim import CoordCheckConfig, Table, model_at, run_widths
from infwidth.sim._scaling import fan_size

# d_in -> n -> n/8 -> d_out: the bottleneck's fan is n/8
NARROW = {
    "tensors": [
        {"name": "W1", "fan_in": "d_in", "fan_out": "n"},
        {"name": "W2", "fan_in": "n", "fan_out": "n/8"},
        {"name": "W3", "fan_in": "n/8", "fan_out": "d_out"},
    ]
}


def test_fan_sizes_are_exact():
    assert fan_size("n/8", 128, {}) == 16
    assert fan_size("n/H", 256, {"H": 4}) == 64
    assert fan_size("9*n", 5, {}) == 45
    assert fan_size("n**(1/2)", 1024, {}) == 32
    # not rounded (Python's round(12.5) would be 12, and 12 at n = 96 too: no growth)
    with pytest.raises(InfwidthError, match=r"'n/8' is 12.5 at width 100.*: 96 or 104$"):
        fan_size("n/8", 100, {})
    with pytest.raises(InfwidthError, match=r"'n\*\*\(1/2\)' .* width 1000.*: 961 or 1024$"):
        fan_size("n**(1/2)", 1000, {})


def test_a_network_at_a_width_its_fans_do_not_divide_is_refused():
    table = Table.derive(spec_from_dict(NARROW), "sgd")
    cfg = CoordCheckConfig(arch="chain", widths=(128,), base_width=64)
    params = model_at(table, cfg, 128).init(jax.random.PRNGKey(0))
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (32, 128),
        "W2": (128, 16),
        "W3": (16, 10),
    }
    with pytest.raises(InfwidthError, match="'n/8' is 12.5 at width 100"):
        model_at(table, cfg, 100)
    with pytest.raises(InfwidthError, match="'n/8' is 12.5 at width 100"):
        run_widths(table, CoordCheckConfig(arch="chain", widths=(64, 100), base_width=64))


def test_sgd_table_trained_with_adam_warns():
    table = Table.derive(spec_from_dict(NARROW), "sgd")
    cfg = CoordCheckConfig(arch="chain", optimizer="adam", widths=(100,), base_width=64)
    # the warning comes before any work (here: before the width is refused)
    with (
        pytest.warns(OptimizerMismatchWarning, match="^this table was derived for sgd .* adam,"),
        pytest.raises(InfwidthError, match="width 100"),
    ):
        run_widths(table, cfg)
    # momentum shares SGD's exponents (the derivation ignores momentum): no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizerMismatchWarning)
        table.check_optimizer("momentum")
        Table.derive("mlp", "adam").check_optimizer("adam")
    with pytest.warns(OptimizerMismatchWarning, match="derived for adam .* with adamw"):
        Table.derive("mlp", "adam").check_optimizer("adamw")  # decay exponents differ
