"""The tour's coordinate check: muP vs NTP vs SP on one MLP, one figure.

The three parametrizations share one compiled program per width (their numbers are traced
arguments), so the comparison costs about one coordinate check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .._figure import save_png, subplots
from .._store import write_atomic
from ._coord import CoordCheckConfig
from ._plot import plot_measured
from ._report import CoordCheckResult, coord_check
from ._table import Table

TARGETS = ("mup", "ntp", "sp")
SHOWN = (("W1", "feature_movement_rms"), ("W2", "feature_movement_rms"))
SHOWN += (("output", "output_movement_rms"),)


def tour_config(*, optimizer: str = "sgd", quick: bool = False) -> CoordCheckConfig:
    """The tour's coordinate-check settings (``quick``: fewer widths and seeds)."""
    return CoordCheckConfig(
        optimizer=optimizer,
        widths=(128, 256, 512, 1024) if quick else (128, 256, 512, 1024, 2048, 4096),
        steps=3,
        seeds=3 if quick else 4,
        lr=0.1 if optimizer in ("sgd", "momentum") else 0.01,
        batch_size=32,
        spectral=False,
    )


def compare_parametrizations(
    *,
    optimizer: str = "sgd",
    quick: bool = False,
    targets: tuple[str, ...] = TARGETS,
    cache_dir: str | Path | None = None,
) -> dict[str, CoordCheckResult]:
    """Coordinate checks of ``targets`` on the depth-2 MLP (same widths, data and seeds).

    With ``cache_dir``, each target's finished widths are saved in ``cache_dir/<target>`` and
    reused by a re-run (:func:`~infwidth.sim.run_widths`); progress goes to stderr."""
    cfg = tour_config(optimizer=optimizer, quick=quick)
    results = {}
    for t in targets:
        table = Table.derive("mlp", optimizer, target=t)
        store = None if cache_dir is None else Path(cache_dir) / t

        def progress(width: int, cached: bool, t: str = t) -> None:
            sys.stderr.write(f"  {t} width {width} done{' (cached)' if cached else ''}\n")

        results[t] = coord_check(table, cfg, progress=progress, cache_dir=store)
    return results


def plot_comparison(results: dict[str, CoordCheckResult], path: str | Path) -> Path:
    """One panel per parametrization: movement vs width at the last step, predicted dashed."""
    fig, axes = subplots(1, len(results), figsize=(4 * len(results), 3.6), squeeze=False)
    for ax, (target, res) in zip(axes[0], results.items(), strict=True):
        widths = np.asarray(res.raw.widths, float)
        for i, (tensor, q) in enumerate(SHOWN):
            s = res.slope(tensor, q)
            y = np.nanmean(res.raw.values[(tensor, q)][:, :, -1], axis=1)
            label = f"{tensor}: {s.slope:+.2f}" if s.slope is not None else tensor
            plot_measured(ax, widths, y, s.predicted, f"C{i}", label)
        ax.set(xscale="log", yscale="log", xlabel="width", title=f"{target}: {res.verdict}")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=7, title="measured slope", title_fontsize=7)
    axes[0, 0].set_ylabel("movement RMS after the last step")
    fig.suptitle("feature/output movement vs width (dashed: derived exponents)", fontsize=10)
    return save_png(fig, path, dpi=100)


def coord_check_stage(out: Path, quick: bool) -> str:
    """Tour stage: ``coord_check_compare.png`` and ``coord_check_compare.json``."""
    results = compare_parametrizations(quick=quick, cache_dir=out / "partial" / "coord-check")
    plot_comparison(results, out / "coord_check_compare.png")
    data = {}
    for target, res in results.items():
        data[target] = {
            "regime": res.config["regime"],
            "verdict": res.verdict,
            "slopes": [res.slope(t, q).to_json() for t, q in SHOWN],
        }
    write_atomic(out / "coord_check_compare.json", json.dumps(data, indent=1) + "\n")
    w2 = {t: results[t].slope("W2", "feature_movement_rms").slope for t in results}
    text = ", ".join(f"{t} {s:+.2f}" for t, s in w2.items() if s is not None)
    return f"hidden feature movement ~ n^slope: {text} -> coord_check_compare.png/.json"
