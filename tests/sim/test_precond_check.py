"""Finite-size checks of the second-order and SAM rules: measured width slopes vs derived."""

from __future__ import annotations

import pytest

from infwidth.errors import InfwidthError
from infwidth.sim import precond_check, sam_check

SMALL = {"widths": (64, 128, 256), "seeds": 2}


def _by(slopes):
    return {(s.tensor, s.quantity): s for s in slopes}


def test_kfac_updates_match_the_derived_exponents_and_fixed_damping_does_not():
    got = _by(precond_check("kfac", **SMALL))
    assert all(s.verdict == "PASS" for s in got.values()), got
    # hidden and readout update entries ~ 1/n, every layer's features move Theta(1)
    assert got[("W2", "update_rms")].predicted == -1
    assert abs(got[("W2", "update_rms")].slope + 1) < 0.1
    fixed = _by(precond_check("kfac", rule="fixed-damping", **SMALL))
    # one width-independent damping swamps B's eigenvalue |g|^2 ~ 1/n on the input and hidden
    # layers: B^-1 acts like 1 instead of n, so their updates vanish like 1/n
    assert fixed[("W1", "feature_update_rms")].verdict == "FAIL"
    assert fixed[("W2", "feature_update_rms")].slope < -0.5


def test_shampoo_updates_match_the_derived_exponents():
    got = precond_check("shampoo", **SMALL)
    assert all(s.verdict == "PASS" for s in got), got


def test_soap_updates_match_the_derived_exponents_and_fixed_epsilon_does_not():
    """SOAP: Adam in Shampoo's eigenbasis. Its epsilon must track sqrt(v) = |g||x| per rotated
    coordinate (damping_eigen n^-1/2 on the input layer, measured slopes 0.03/0.04); a
    width-independent epsilon swamps the input layer's n^-1/2 coordinates (measured -0.42)."""
    got = _by(precond_check("soap", **SMALL))
    assert all(s.verdict == "PASS" for s in got.values()), got
    assert abs(got[("W2", "update_rms")].slope + 1) < 0.1
    fixed = _by(precond_check("soap", rule="fixed-damping", **SMALL))
    assert fixed[("W1", "feature_update_rms")].verdict == "FAIL"
    assert -0.6 < fixed[("W1", "feature_update_rms")].slope < -0.25


def test_sam_perturbs_every_layer_only_at_the_derived_scaling():
    mup2 = _by(sam_check("mup2", **SMALL))
    assert all(s.verdict == "PASS" and s.predicted == 0 for s in mup2.values()), mup2
    std = _by(sam_check("standard", **SMALL))
    assert all(s.verdict == "PASS" for s in std.values()), std
    assert std[("W1", "perturbation_effect")].slope < -1.5  # predicted n^-2
    assert std[("W2", "perturbation_effect")].slope < -0.7  # predicted n^-1
    assert abs(std[("W3", "perturbation_effect")].slope) < 0.15  # only the readout


def test_bad_arguments():
    with pytest.raises(InfwidthError, match="steps kfac"):
        precond_check("adam")
    with pytest.raises(InfwidthError, match="rule"):
        sam_check("asam")
