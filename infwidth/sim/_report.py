"""The coordinate check's result: records, slopes, verdicts, ``coord_check.json`` and a PNG.

JSON contract::

    {"config": {..., "divergence": {"growth_bound", "size_floor"}},
     "records": [{"width", "seed", "step", "tensor", "quantity", "value"}],
     "slopes": [{"tensor", "quantity", "step", "slope", "ci_low", "ci_high", "predicted",
                 "verdict", "reason"}],
     "diverged": [{"width", "seed", "step"}],
     "summary": {"verdict": "PASS" | "FAIL" | "INCONCLUSIVE", "reason", "failed": [...],
                 "inconclusive": [...]}}

``value`` is ``null`` for a non-finite measurement; the output is recorded under the tensor
name ``"output"``. A run has diverged (``"diverged"``: its first diverged step) when a record is
non-finite or its output RMS grows beyond ``growth_bound`` times its initial value (floored at
``size_floor``; :mod:`infwidth._divergence`); its values from that step on are left out of
the fits. Slope verdicts are those of :mod:`infwidth._fit`. The overall verdict is FAIL if
any checked slope (activation, feature movement, output, output movement) FAILs at any step;
otherwise INCONCLUSIVE if one of these quantities got no PASS/FAIL at any step (reason: its
last step's), or if runs diverged in a regime the table calls stable; otherwise PASS.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as valid
from .._divergence import GROWTH_BOUND, SIZE_FLOOR
from .._fit import (
    FAIL,
    INCONCLUSIVE,
    NOT_CHECKED,
    PASS,
    UNFITTABLE,
    Judgement,
    Slope,
    fit_slope,
    fitted_points,
    unfittable_reason,
    verdict,
)
from ._coord import CoordCheckConfig, RawRecords, run_widths
from ._measure import OUTPUT
from ._table import Table

#: The quantities whose slopes feed the overall verdict.
VERDICT_QUANTITIES = ("activation_rms", "feature_movement_rms", "output_rms", "output_movement_rms")


@dataclasses.dataclass(frozen=True)
class CoordCheckResult:
    config: dict
    raw: RawRecords
    slopes: tuple[Slope, ...]

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def failed(self) -> list[Slope]:
        """The checked slopes that FAIL, at any step."""
        return [s for s in self.slopes if s.quantity in VERDICT_QUANTITIES and s.verdict == FAIL]

    @property
    def inconclusive(self) -> list[Slope]:
        """Last-step slopes of the checked quantities that got no PASS/FAIL at any step."""
        decided = {(s.tensor, s.quantity) for s in self.slopes if s.verdict in (PASS, FAIL)}
        return [
            s
            for s in self.slopes
            if s.step == self.raw.steps
            and s.quantity in VERDICT_QUANTITIES
            and s.verdict in (INCONCLUSIVE, UNFITTABLE)
            and (s.tensor, s.quantity) not in decided
        ]

    @property
    def judgement(self) -> Judgement:
        """The overall verdict and its reason (module docstring)."""
        if self.failed:
            return Judgement(FAIL, f"{len(self.failed)} slopes fail")
        if self.inconclusive:
            s = self.inconclusive[0]
            return Judgement(INCONCLUSIVE, f"{s.tensor}/{s.quantity}: {s.reason}")
        n_div = int((self.raw.diverged >= 0).sum())
        if n_div and self.config.get("regime") != "unstable":
            why = f"{n_div} runs diverged in a regime the table calls stable; lower the lr"
            return Judgement(INCONCLUSIVE, why)
        return Judgement(PASS)

    @property
    def verdict(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"INCONCLUSIVE"`` (module docstring)."""
        return self.judgement.verdict

    def slope(self, tensor: str, quantity: str, step: int | None = None) -> Slope:
        step = self.raw.steps if step is None else step
        for s in self.slopes:
            if (s.tensor, s.quantity, s.step) == (tensor, quantity, step):
                return s
        raise KeyError((tensor, quantity, step))

    def records(self) -> list[dict]:
        out = []
        for (tensor, q), v in sorted(self.raw.values.items()):
            for (i, s, t), x in np.ndenumerate(v):
                w, value = self.raw.widths[i], round(float(x), 9) if np.isfinite(x) else None
                out.append(
                    {"width": w, "seed": s, "step": t, "tensor": tensor, "quantity": q}
                    | {"value": value}
                )
        return out

    def to_json(self) -> dict:
        div = [
            {"width": w, "seed": s, "step": int(self.raw.diverged[i, s])}
            for i, w in enumerate(self.raw.widths)
            for s in range(self.raw.seeds)
            if self.raw.diverged[i, s] >= 0
        ]
        failed = [f"{s.tensor}/{s.quantity}@{s.step}" for s in self.failed]
        undecided = [f"{s.tensor}/{s.quantity}@{s.step}" for s in self.inconclusive]
        verdict, reason = self.judgement
        return {
            "config": self.config,
            "records": self.records(),
            "slopes": [s.to_json() for s in self.slopes],
            "diverged": div,
            "summary": {"verdict": verdict, "reason": reason, "failed": failed}
            | {"inconclusive": undecided},
        }

    def summary(self) -> str:
        """A plain-text table of the last step's slopes and the overall verdict."""
        rows = [
            f"coord-check {self.config['arch']} target={self.config['target']} "
            f"optimizer={self.config['optimizer']} regime={self.config['regime']}",
            f"{'tensor':<16}{'quantity':<22}{'slope':>8}  {'95% CI':<18}{'pred':>6}  verdict",
        ]
        last = self.raw.steps
        for s in self.slopes:
            if s.step != last or s.quantity not in VERDICT_QUANTITIES:
                continue
            slope = "-" if s.slope is None else f"{s.slope:+.3f}"
            ci = "-" if s.ci_low is None else f"[{s.ci_low:+.2f}, {s.ci_high:+.2f}]"
            pred = "-" if s.predicted is None else str(s.predicted)
            why = f" ({s.reason})" if s.reason else ""
            rows.append(
                f"{s.tensor:<16}{s.quantity:<22}{slope:>8}  {ci:<18}{pred:>6}  {s.verdict}{why}"
            )
        n_div = int((self.raw.diverged >= 0).sum())
        verdict, reason = self.judgement
        rows.append(
            f"diverged runs: {n_div}; verdict: {verdict}" + (f" ({reason})" if reason else "")
        )
        return "\n".join(rows) + "\n"

    def write(self, out_dir: str | Path, *, plot: bool = True) -> list[Path]:
        """Write ``coord_check.json`` (and ``coord_check.png``) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "coord_check.json"
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
        paths = [path]
        if plot:
            from ._plot import plot_coord_check

            paths.append(
                plot_coord_check(self.raw, self.slopes, self.config, out / "coord_check.png")
            )
        return paths


def _prediction(pred: dict, tensor: str, quantity: str) -> Fraction | None:
    key = "activation_rms" if quantity == "activation_mean_abs" else quantity
    entry = pred.get(key)
    if isinstance(entry, dict):
        return entry.get(tensor)
    return entry if tensor == OUTPUT else None


def analyse(
    table: Table, cfg: CoordCheckConfig, raw: RawRecords, *, tol: float = 0.2, n_boot: int = 1000
) -> CoordCheckResult:
    """Fit every (tensor, quantity, step >= 1) and give verdicts against ``table``'s regime.

    ``output_rms`` is :math:`\\mathrm{RMS}(f_0 + \\Delta f_t)`: when the table predicts a
    different exponent at initialisation (``output_init_rms``, muP's :math:`n^{-1/2}`) than in
    training, a slope anywhere between the two passes (the two terms cross over during the
    first steps); ``output_movement_rms`` is judged against the training exponent alone.

    In an ``unstable`` regime a quantity predicted to blow up (``p > 0``, an exponent that
    compounds over the first steps) passes when its slope reaches ``p - tol`` at some step of
    the run (blown-up ReLU networks then saturate, so later slopes fall); the other
    quantities are checked at step 1 only and marked ``"not-checked"`` afterwards.
    """
    pred = table.predicted()
    pred1 = table.predicted(first_step=True)
    init_out = pred.get("output_init_rms")
    unstable = (table.regime or {}).get("regime") == "unstable"
    widths = np.asarray(raw.widths)
    steps = np.arange(raw.steps + 1)
    # a diverged run's values from its first diverged step on are left out of the fits
    gone = (raw.diverged[:, :, None] >= 0) & (steps >= raw.diverged[:, :, None])
    slopes = []
    for (tensor, q), v in sorted(raw.values.items()):
        v = np.where(gone, np.nan, v)
        p_later = _prediction(pred, tensor, q)
        p_first = _prediction(pred1, tensor, q)
        fits = [
            fit_slope(widths, v[:, :, t], n_boot=n_boot, seed=cfg.seed)
            for t in range(1, raw.steps + 1)
        ]
        peak = max((f[0] for f in fits if f[0] is not None), default=None)
        for t, (s, lo, hi) in enumerate(fits, start=1):
            p = p_first if t == 1 else p_later
            ws = fitted_points(widths, v[:, :, t])
            if s is None:
                ok = Judgement(UNFITTABLE, unfittable_reason(v[:, :, t], int(gone[:, :, t].sum())))
            elif unstable and p is not None and p > 0:
                # blown up at least like n^p within the run (saturation may follow); the
                # asymptotic exponent compounds over steps, so the first step's is the bar
                bar = min(x for x in (p, p_first) if x is not None)
                ok = verdict(peak, peak, peak, bar, tol=tol, widths=ws, unstable=True)
            elif unstable and t > 1:
                ok = Judgement(NOT_CHECKED)  # after a blow-up the other predictions no longer apply
            else:
                ok = verdict(s, lo, hi, p, tol=tol, widths=ws, unstable=unstable)
            if q == "output_rms" and ok.verdict == FAIL and init_out is not None and p is not None:
                # f_t = f_0 + (f_t - f_0) mixes n^{init} and n^{p}: early on, any slope
                # between the two exponents is what the theory predicts.
                mixed = min(max(s, min(p, init_out)), max(p, init_out))
                ok = verdict(s, lo, hi, mixed, tol=tol, widths=ws)
            slopes.append(Slope(tensor, q, t, s, lo, hi, p, ok.verdict, ok.reason))
    config: dict[str, Any] = {
        **cfg.to_json(),
        "target": table.target,
        "gauge": table.gauge,
        "alignment": table.alignment,
        "regime": (table.regime or {}).get("regime"),
        "tolerance": tol,
        "divergence": {"growth_bound": GROWTH_BOUND, "size_floor": SIZE_FLOOR},
    }
    return CoordCheckResult(config, raw, tuple(slopes))


def coord_check(
    table: Table | dict,
    cfg: CoordCheckConfig,
    *,
    tol: float = 0.2,
    progress: Any = None,
    cache_dir: Any = None,
) -> CoordCheckResult:
    """Run the coordinate check of ``table`` with ``cfg`` and analyse it (see module docs)."""
    valid.widths("widths", cfg.widths, min_count=2)  # a slope in the width needs two
    tol = valid.positive("tol", tol)
    table = table if isinstance(table, Table) else Table.from_json(table)
    raw = run_widths(table, cfg, progress=progress, cache_dir=cache_dir)
    return analyse(table, cfg, raw, tol=tol)
