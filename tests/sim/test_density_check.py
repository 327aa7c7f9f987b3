"""Finite-size check along the weight density (SμPar): flat under the derived rule,
vanishing under plain muP, judged by the one fitter with a density design."""

from __future__ import annotations

from fractions import Fraction

import pytest

from infwidth.errors import InfwidthError
from infwidth.sim import density_check


def _by_quantity(results):
    return {r.quantity: r for r in results}


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_derived_sparse_rule_is_flat_in_density(opt):
    res = _by_quantity(density_check(opt, rule="derived"))
    for q in ("activation_rms", "update_rms"):
        assert res[q].predicted == 0
        assert res[q].verdict == "PASS", res[q]
        assert abs(res[q].slope) < 0.1


def test_plain_mup_vanishes_as_density_shrinks():
    """Blind to rho, muP's masked layer sums n rho terms: activations ~ rho^(1/2) (CLT),
    its own SGD update ~ rho (LLN) — both predicted by the engine and measured."""
    res = _by_quantity(density_check("sgd", rule="mup"))
    assert res["activation_rms"].predicted == Fraction(1, 2)
    assert res["update_rms"].predicted == 1
    assert all(r.verdict == "PASS" for r in res.values()), res
    assert res["activation_rms"].slope > 0.4 and res["update_rms"].slope > 0.7


def test_density_design_needs_enough_nonzero_terms():
    """At width 64 a density of 1/4 leaves 16 terms per row: below the floor, inconclusive."""
    res = density_check("sgd", width=64, densities=(1.0, 0.5, 0.25), seeds=2)
    assert {r.verdict for r in res} == {"INCONCLUSIVE"}
    assert "too small" in res[0].reason
    with pytest.raises(InfwidthError, match="density"):
        density_check("sgd", densities=(1.0, 0.0))
