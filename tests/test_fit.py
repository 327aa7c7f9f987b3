"""The one fitter of scaling exponents (infwidth._fit): both seed averages, any axis."""

from __future__ import annotations

import numpy as np
import pytest

from infwidth._fit import Design, design_reason, fit_exponent, fit_slope, verdict

WIDTHS = np.array([64, 128, 256, 512, 1024])


def _noisy(exponent: float, seeds: int = 6, scale: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(3)
    return 2.0 * WIDTHS[:, None] ** exponent * np.exp(scale * rng.standard_normal((5, seeds)))


@pytest.mark.parametrize("average", ["mean", "geometric"])
def test_a_power_law_gives_its_exponent_and_prefactor(average):
    fit = fit_exponent(WIDTHS, 2.0 * WIDTHS[:, None] ** -0.5 * np.ones((1, 3)), average=average)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(2.0), abs=1e-12)
    assert fit.ci_low == pytest.approx(-0.5) and fit.ci_high == pytest.approx(-0.5)
    np.testing.assert_allclose(fit.centres, 2.0 * WIDTHS**-0.5)


def test_the_two_averages_are_the_two_callers_conventions():
    v = _noisy(-0.5, scale=0.8)
    arith = fit_exponent(WIDTHS, v)
    geo = fit_exponent(WIDTHS, v, average="geometric")
    # arithmetic: log of the seed mean (the coordinate check); geometric: mean of the logs
    # (the kernel convergence, which used np.polyfit on them)
    assert arith.slope == pytest.approx(np.polyfit(np.log(WIDTHS), np.log(v.mean(1)), 1)[0])
    slope, intercept = np.polyfit(np.log(WIDTHS), np.log(v).mean(1), 1)
    assert (geo.slope, geo.intercept) == pytest.approx((slope, intercept))
    assert arith.slope != pytest.approx(geo.slope, abs=1e-6)
    assert geo.ci_low < -0.5 < geo.ci_high  # the bootstrap interval covers the truth


def test_diverged_and_zero_values_are_left_out():
    v = _noisy(1.0)
    v[0, :2] = np.nan  # two diverged seeds at the smallest width
    v[1, 0] = 0.0
    kept = v.copy()
    kept[0, :2], kept[1, 0] = np.nan, np.nan
    means = np.array([row[np.isfinite(row)].mean() for row in kept])
    assert fit_slope(WIDTHS, v, n_boot=0)[0] == pytest.approx(
        np.polyfit(np.log(WIDTHS), np.log(means), 1)[0]
    )
    v[1:] = np.nan
    assert fit_exponent(WIDTHS, v) is None and fit_slope(WIDTHS, v) == (None, None, None)
    with pytest.raises(ValueError, match="mean"):
        fit_exponent(WIDTHS, v, average="median")


def test_the_axis_is_a_label_with_its_own_design():
    depths = Design("depth", min_points=3, min_ratio=4.0, min_size=2)
    assert design_reason(np.array([2, 4, 8])) == "widths too small: smallest 2 < 64"
    assert design_reason(np.array([2, 4, 8]), depths) is None
    assert design_reason(np.array([2, 4]), depths) == "too few depths: 2 fitted, 3 needed"
    j = verdict(None, None, None, 0, tol=0.2, widths=np.array([2, 4, 8]), design=depths)
    assert j.verdict == "UNFITTABLE" and "depths" in j.reason
    ok = verdict(-0.01, -0.05, 0.05, 0, tol=0.2, widths=np.array([2, 4, 8]), design=depths)
    assert ok.verdict == "PASS"
