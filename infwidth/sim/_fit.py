"""Log-log slopes against width, bootstrap confidence intervals, and verdicts.

For one (tensor, quantity, step) with values :math:`v_{ws}` (width ``w``, seed ``s``) the
slope is the least-squares fit of :math:`\\log \\bar v_w` against :math:`\\log n_w`, where
:math:`\\bar v_w` is the mean over the seeds that did not diverge. Its 95% interval is the
percentile bootstrap over seeds (seeds resampled with replacement independently per width,
``n_boot`` times, with a fixed generator so the result is reproducible).

Verdict against the predicted exponent ``p`` with tolerance ``tol`` (finite-width corrections),
``"PASS"`` / ``"FAIL"`` / ``"INCONCLUSIVE"`` / ``"UNFITTABLE"``, each but PASS with a reason:

* ``"UNFITTABLE"`` when fewer than two widths have a finite positive value: every run
  diverged (:mod:`infwidth._divergence`), or nothing moved (every value is exactly 0, e.g. a
  learning rate that underflows), so there is no logarithm to fit;
* ``"INCONCLUSIVE"`` when the widths cannot decide an exponent at all: fewer than
  ``MIN_WIDTHS = 3`` fitted widths, a span ``max/min < MIN_WIDTH_RATIO = 4`` (two octaves), or
  a smallest width below ``MIN_WIDTH = 64``. The floor is measured: after one SGD step a correct muP MLP (exponent 0) has fitted
  hidden-feature movement slopes of -0.40 at widths 32, 64 and -0.29 at 32..128 against -0.11
  at 64..256 (output movement: -0.64, -0.55, -0.30): the :math:`n^{-1/2}` random part of the
  update is not yet small below 64;
* ``"FAIL"`` if ``p`` lies outside ``[ci_low - tol, ci_high + tol]``; for a quantity the
  theory predicts to blow up (``p > 0`` in an unstable regime, where later steps compound)
  ``"FAIL"`` if the slope stays below ``p - tol``;
* ``"INCONCLUSIVE"`` if the 95% interval is wider than ``2 tol`` (``p`` lies inside the widened
  interval, but so would an exponent off by more than the tolerance: more seeds decide);
* ``"PASS"`` otherwise. ``"no-prediction"`` when the table predicts nothing for that quantity
  (and ``"not-checked"``, set by :func:`~infwidth.sim._report.analyse` in unstable regimes).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import NamedTuple

import numpy as np

PASS, FAIL, INCONCLUSIVE, UNFITTABLE = "PASS", "FAIL", "INCONCLUSIVE", "UNFITTABLE"
NO_PREDICTION, NOT_CHECKED = "no-prediction", "not-checked"
#: The least set of widths that can decide an exponent (module docstring).
MIN_WIDTHS, MIN_WIDTH_RATIO, MIN_WIDTH = 3, 4.0, 64


class Judgement(NamedTuple):
    """A verdict and, unless it is PASS, why."""

    verdict: str
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Slope:
    """A fitted width exponent and its verdict."""

    tensor: str
    quantity: str
    step: int
    slope: float | None
    ci_low: float | None
    ci_high: float | None
    predicted: Fraction | None
    verdict: str
    reason: str | None = None

    def to_json(self) -> dict:
        def r(x: float | None) -> float | None:
            return None if x is None else round(float(x), 6)

        return {
            "tensor": self.tensor,
            "quantity": self.quantity,
            "step": self.step,
            "slope": r(self.slope),
            "ci_low": r(self.ci_low),
            "ci_high": r(self.ci_high),
            "predicted": None if self.predicted is None else str(self.predicted),
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _slopes(logn: np.ndarray, logv: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of ``logv`` (..., widths) against ``logn``."""
    x = logn - logn.mean()
    return ((logv - logv.mean(axis=-1, keepdims=True)) * x).sum(-1) / (x * x).sum()


def fitted_widths(widths: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The widths with at least one finite positive value in ``values`` ``(widths, seeds)``."""
    return np.asarray(widths)[(np.isfinite(values) & (values > 0)).any(axis=1)]


def fit_slope(
    widths: np.ndarray, values: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """Slope and 95% bootstrap interval of ``values`` ``(widths, seeds)`` (NaN: diverged);
    ``None``s when fewer than two widths have a finite positive value."""
    ok = np.isfinite(values) & (values > 0)
    keep = ok.any(axis=1)
    if keep.sum() < 2:
        return None, None, None
    widths, values, ok = widths[keep], values[keep], ok[keep]
    logn = np.log(widths.astype(float))
    means = np.array([v[m].mean() for v, m in zip(values, ok, strict=True)])
    slope = float(_slopes(logn, np.log(means)))
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(widths)))
    for i, (v, m) in enumerate(zip(values, ok, strict=True)):
        good = v[m]
        boot[:, i] = good[rng.integers(0, len(good), (n_boot, len(good)))].mean(axis=1)
    bs = _slopes(logn, np.log(boot))
    lo, hi = np.percentile(bs, [2.5, 97.5])
    return slope, float(min(lo, slope)), float(max(hi, slope))


def unfittable_reason(values: np.ndarray, n_diverged: int = 0) -> str:
    """Why ``values`` ``(widths, seeds)`` (NaN: diverged) give no slope (module docstring)."""
    finite = np.isfinite(values)
    if not finite.any():
        return "every run diverged" if n_diverged else "no finite value"
    if np.all(values[finite] == 0):
        return "no movement: every value is 0"
    n = int((finite & (values > 0)).any(axis=1).sum())
    why = f"only {n} width with a finite positive value"
    return why + (f" ({n_diverged} runs diverged)" if n_diverged else "")


def design_reason(widths: np.ndarray) -> str | None:
    """Why these fitted widths cannot decide an exponent, or None (module docstring)."""
    widths = np.asarray(widths, dtype=float)
    if len(widths) < MIN_WIDTHS:
        return f"too few widths: {len(widths)} fitted, {MIN_WIDTHS} needed"
    if widths.max() / widths.min() < MIN_WIDTH_RATIO:
        return f"widths too close: they span {widths.max() / widths.min():.3g}x, {MIN_WIDTH_RATIO:g}x needed"
    if widths.min() < MIN_WIDTH:
        return f"widths too small: smallest {widths.min():g} < {MIN_WIDTH}"
    return None


def verdict(
    slope: float | None,
    lo: float | None,
    hi: float | None,
    predicted: Fraction | None,
    *,
    tol: float,
    widths: np.ndarray,
    unstable: bool = False,
) -> Judgement:
    """The :class:`Judgement` of a fitted slope over ``widths`` (module docstring)."""
    if slope is None:
        return Judgement(UNFITTABLE, "fewer than two widths with a finite positive value")
    if predicted is None:
        return Judgement(NO_PREDICTION)
    design = design_reason(widths)
    if design is not None:
        return Judgement(INCONCLUSIVE, design)
    p = float(predicted)
    if unstable and p > 0:
        if slope >= p - tol:
            return Judgement(PASS)
        return Judgement(FAIL, f"slope {slope:+.2f} below the predicted blow-up {p:g} - {tol:g}")
    if not lo - tol <= p <= hi + tol:
        return Judgement(FAIL, f"95% CI [{lo:+.2f}, {hi:+.2f}] is more than {tol:g} from {p:g}")
    if hi - lo > 2 * tol:
        why = f"95% CI [{lo:+.2f}, {hi:+.2f}] wider than 2 x tolerance {tol:g}: more seeds"
        return Judgement(INCONCLUSIVE, why)
    return Judgement(PASS)
