"""One fitter of scaling exponents: log-log slopes, bootstrap intervals and verdicts.

Every engine fits its exponents here: the coordinate check (width exponents of features and
outputs), the kernel convergence (error against width), the DMFT width comparison (deviation
against N). The fitted axis (width, depth, density, rank, ...) is a label: :class:`Design`
names it and fixes the least set of points that can decide an exponent along it.

For values :math:`v_{ns}` (point ``n`` on the axis, seed ``s``) the slope is the
least-squares fit of :math:`\\log \\bar v_n` against :math:`\\log n`, where :math:`\\bar v_n`
averages the seeds whose value is finite and positive (NaN: a diverged run), either

* ``average="mean"``: the arithmetic mean :math:`\\bar v_n = \\mathrm{mean}_s v_{ns}` (the
  coordinate check's), or
* ``average="geometric"``: the geometric mean, :math:`\\log \\bar v_n = \\mathrm{mean}_s
  \\log v_{ns}` (the kernel convergence's: one unlucky seed at a small width does not
  dominate the fit).

Its 95% interval is the percentile bootstrap over seeds (seeds resampled with replacement
independently per point, ``n_boot`` times, with a fixed generator so the result is
reproducible).

Verdict against the predicted exponent ``p`` with tolerance ``tol`` (finite-size corrections),
``"PASS"`` / ``"FAIL"`` / ``"INCONCLUSIVE"`` / ``"UNFITTABLE"``, each but PASS with a reason:

* ``"UNFITTABLE"`` when fewer than two points have a finite positive value: every run
  diverged (:mod:`infwidth._divergence`), or nothing moved (every value is exactly 0, e.g. a
  learning rate that underflows), so there is no logarithm to fit;
* ``"INCONCLUSIVE"`` when the points cannot decide an exponent at all (:class:`Design`; for
  widths: fewer than ``MIN_WIDTHS = 3`` fitted widths, a span ``max/min < MIN_WIDTH_RATIO = 4``
  (two octaves), or a smallest width below ``MIN_WIDTH = 64``). The width floor is measured:
  after one SGD step a correct muP MLP (exponent 0) has fitted
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
from typing import Literal, NamedTuple

import numpy as np

PASS, FAIL, INCONCLUSIVE, UNFITTABLE = "PASS", "FAIL", "INCONCLUSIVE", "UNFITTABLE"
NO_PREDICTION, NOT_CHECKED = "no-prediction", "not-checked"
#: The least set of widths that can decide an exponent (module docstring).
MIN_WIDTHS, MIN_WIDTH_RATIO, MIN_WIDTH = 3, 4.0, 64

Average = Literal["mean", "geometric"]


class Design(NamedTuple):
    """The least set of points along ``axis`` that can decide an exponent: ``min_points``
    fitted points spanning ``max/min >= min_ratio``, the smallest ``>= min_size``."""

    axis: str = "width"
    min_points: int = MIN_WIDTHS
    min_ratio: float = MIN_WIDTH_RATIO
    min_size: float = MIN_WIDTH


#: The width design of the coordinate check (module docstring).
WIDTH = Design()


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


class Fit(NamedTuple):
    """``log centre = slope log size + intercept`` over the fitted ``sizes`` (those with a
    finite positive value); ``centres`` the seed averages; the 95% bootstrap interval
    ``[ci_low, ci_high]`` (``None`` without bootstrap)."""

    slope: float
    intercept: float
    ci_low: float | None
    ci_high: float | None
    sizes: np.ndarray
    centres: np.ndarray


def _slopes(logn: np.ndarray, logv: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of ``logv`` (..., points) against ``logn``."""
    x = logn - logn.mean()
    return ((logv - logv.mean(axis=-1, keepdims=True)) * x).sum(-1) / (x * x).sum()


def _ok(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values > 0)


def fitted_points(sizes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The ``sizes`` with at least one finite positive value in ``values`` ``(points, seeds)``."""
    return np.asarray(sizes)[_ok(np.asarray(values, dtype=float)).any(axis=1)]


def fit_exponent(
    sizes, values, *, average: Average = "mean", n_boot: int = 1000, seed: int = 0
) -> Fit | None:
    """The log-log :class:`Fit` of ``values`` ``(points, seeds)`` (NaN: diverged; a 1-d array
    is one seed) against ``sizes``, seeds averaged by ``average`` (module docstring), with a
    95% bootstrap interval unless ``n_boot = 0``; ``None`` when fewer than two points have a
    finite positive value."""
    if average not in ("mean", "geometric"):
        raise ValueError(f"average is 'mean' or 'geometric', got {average!r}")
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    values = values.reshape(len(sizes), -1)
    ok = _ok(values)
    keep = ok.any(axis=1)
    if keep.sum() < 2:
        return None
    sizes, values, ok = sizes[keep], values[keep], ok[keep]
    logn = np.log(sizes)
    logs = average == "geometric"
    goods = [np.log(v[m]) if logs else v[m] for v, m in zip(values, ok, strict=True)]
    centre = np.array([g.mean() for g in goods])
    logc = centre if logs else np.log(centre)
    slope = float(_slopes(logn, logc))
    intercept = float(logc.mean() - slope * logn.mean())
    lo = hi = None
    if n_boot:
        rng = np.random.default_rng(seed)
        boot = np.empty((n_boot, len(sizes)))
        for i, good in enumerate(goods):
            boot[:, i] = good[rng.integers(0, len(good), (n_boot, len(good)))].mean(axis=1)
        bs = _slopes(logn, boot if logs else np.log(boot))
        b_lo, b_hi = np.percentile(bs, [2.5, 97.5])
        lo, hi = float(min(b_lo, slope)), float(max(b_hi, slope))
    return Fit(slope, intercept, lo, hi, sizes, np.exp(logc) if logs else centre)


def fit_slope(
    widths: np.ndarray,
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    average: Average = "mean",
) -> tuple[float | None, float | None, float | None]:
    """Slope and 95% bootstrap interval of ``values`` ``(widths, seeds)`` (NaN: diverged)
    (:func:`fit_exponent`); ``None``s when fewer than two widths have a finite positive value."""
    fit = fit_exponent(widths, values, average=average, n_boot=n_boot, seed=seed)
    return (None, None, None) if fit is None else (fit.slope, fit.ci_low, fit.ci_high)


def unfittable_reason(values: np.ndarray, n_diverged: int = 0, *, axis: str = "width") -> str:
    """Why ``values`` ``(points, seeds)`` (NaN: diverged) give no slope (module docstring)."""
    finite = np.isfinite(values)
    if not finite.any():
        return "every run diverged" if n_diverged else "no finite value"
    if np.all(values[finite] == 0):
        return "no movement: every value is 0"
    n = int((finite & (values > 0)).any(axis=1).sum())
    why = f"only {n} {axis} with a finite positive value"
    return why + (f" ({n_diverged} runs diverged)" if n_diverged else "")


def design_reason(sizes: np.ndarray, design: Design = WIDTH) -> str | None:
    """Why these fitted ``sizes`` along ``design.axis`` cannot decide an exponent, or None
    (module docstring)."""
    sizes, axis = np.asarray(sizes, dtype=float), design.axis
    if len(sizes) < design.min_points:
        return f"too few {axis}s: {len(sizes)} fitted, {design.min_points} needed"
    if sizes.max() / sizes.min() < design.min_ratio:
        span = f"{sizes.max() / sizes.min():.3g}x, {design.min_ratio:g}x needed"
        return f"{axis}s too close: they span {span}"
    if sizes.min() < design.min_size:
        return f"{axis}s too small: smallest {sizes.min():g} < {design.min_size:g}"
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
    design: Design = WIDTH,
) -> Judgement:
    """The :class:`Judgement` of a slope fitted over ``widths`` (the fitted points along
    ``design.axis``; module docstring)."""
    if slope is None:
        return Judgement(UNFITTABLE, f"fewer than two {design.axis}s with a finite positive value")
    if predicted is None:
        return Judgement(NO_PREDICTION)
    why = design_reason(widths, design)
    if why is not None:
        return Judgement(INCONCLUSIVE, why)
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
