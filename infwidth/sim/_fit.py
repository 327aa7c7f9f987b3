"""Log-log slopes against width, bootstrap confidence intervals, and verdicts.

For one (tensor, quantity, step) with values :math:`v_{ws}` (width ``w``, seed ``s``) the
slope is the least-squares fit of :math:`\\log \\bar v_w` against :math:`\\log n_w`, where
:math:`\\bar v_w` is the mean over the seeds that did not diverge. Its 95% interval is the
percentile bootstrap over seeds (seeds resampled with replacement independently per width,
``n_boot`` times, with a fixed generator so the result is reproducible).

Verdict against the predicted exponent ``p`` with tolerance ``tol`` (finite-width corrections):

* ``"pass"`` if ``ci_low - tol <= p <= ci_high + tol``; for a quantity the theory predicts to
  blow up (``p > 0`` in an unstable regime, where later steps compound) ``"pass"`` if the
  slope is at least ``p - tol``;
* ``"fail"`` otherwise; ``"diverged"`` when fewer than two widths have a finite value;
  ``"no-prediction"`` when the table predicts nothing for that quantity (and
  ``"not-checked"``, set by :func:`~infwidth.sim._report.analyse` in unstable regimes).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np


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
        }


def _slopes(logn: np.ndarray, logv: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of ``logv`` (..., widths) against ``logn``."""
    x = logn - logn.mean()
    return ((logv - logv.mean(axis=-1, keepdims=True)) * x).sum(-1) / (x * x).sum()


def fit_slope(
    widths: np.ndarray, values: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """Slope and 95% bootstrap interval of ``values`` ``(widths, seeds)`` (NaN: diverged)."""
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


def verdict(
    slope: float | None,
    lo: float | None,
    hi: float | None,
    predicted: Fraction | None,
    *,
    tol: float,
    unstable: bool = False,
) -> str:
    """``pass`` / ``fail`` / ``diverged`` / ``no-prediction`` (see the module docstring)."""
    if slope is None:
        return "diverged"
    if predicted is None:
        return "no-prediction"
    p = float(predicted)
    if unstable and p > 0:
        return "pass" if slope >= p - tol else "fail"
    return "pass" if lo - tol <= p <= hi + tol else "fail"
