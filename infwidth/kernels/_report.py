"""The finite-width figure: NTK convergence at init and NTK movement in training, NTP vs muP.

:func:`finite_width_report` runs the experiments of :mod:`._empirical` and writes
``ntk_finite_width.json`` (fitted slopes, raw errors) and ``ntk_finite_width.png`` (three log-log
panels). A CLI or figure script calls it with an output directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._empirical import SlopeFit, ntk_convergence, ntk_movement

__all__ = ["finite_width_report"]


def _fit_json(fit: SlopeFit) -> dict:
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in fit._asdict().items()}


def finite_width_report(
    out_dir: str | Path,
    *,
    quick: bool = True,
    depth: int = 2,
    activation: str = "relu",
    seed: int = 0,
) -> dict:
    """Measure and plot how finite-width NTKs meet the infinite-width limit.

    - ``init``: ``||Theta_n - Theta|| / ||Theta||`` at initialisation (NTP), expected slope
      ``-1/2``;
    - ``ntp`` / ``mup``: ``||Theta_T - Theta_0|| / ||Theta_0||`` after full-batch gradient descent
      on a teacher-student task: ``0`` under muP (feature learning); under NTP at most ``-1/2``
      (the ``O(n^-1/2)`` bound of Lee et al. 2019), and closer to ``-1`` asymptotically for the
      change of the kernel itself (Dyer & Gur-Ari 2020, Huang & Yau 2020) -- measured ``-0.80``
      (quick) and ``-0.80`` (widths 32..1024), with muP at ``-0.03`` / ``-0.02`` and the
      convergence at init at ``-0.45`` / ``-0.49`` (depth 2, relu).

    ``quick`` uses widths up to 256 and a few seeds (seconds); otherwise up to 1024.

    Returns:
        The JSON content (also written to ``out_dir/ntk_finite_width.json``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    widths = [16, 32, 64, 128, 256] if quick else [32, 64, 128, 256, 512, 1024]
    seeds = range(seed, seed + (24 if quick else 32))
    rng = np.random.RandomState(seed)
    x = rng.randn(10, 4)
    y = np.tanh(x @ rng.randn(4))
    fits = {
        "init": ntk_convergence(x, widths, seeds, depth=depth, activation=activation),
        "ntp": ntk_movement(
            x, y, widths, seeds[:8], parametrization="ntp", depth=depth, activation=activation
        ),
        "mup": ntk_movement(
            x, y, widths, seeds[:8], parametrization="mup", depth=depth, activation=activation
        ),
    }
    result = {
        "depth": depth,
        "activation": activation,
        "expected_slopes": {"init": -0.5, "ntp": "<= -0.5 (bound); -1 asymptotically", "mup": 0.0},
        **{k: _fit_json(v) for k, v in fits.items()},
    }
    (out / "ntk_finite_width.json").write_text(json.dumps(result, indent=2))

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    titles = {
        "init": "at init (NTP): ||Θ_n − Θ_∞|| / ||Θ_∞||",
        "ntp": "NTP: ||Θ_T − Θ_0|| / ||Θ_0||",
        "mup": "μP: ||Θ_T − Θ_0|| / ||Θ_0||",
    }
    for ax, keys in zip(axes, (("init",), ("ntp", "mup")), strict=True):
        for k in keys:
            f = fits[k]
            geo = np.exp(np.mean(np.log(f.errors), axis=1))
            ax.loglog(f.widths, geo, "o", label=f"{titles[k]}  slope {f.slope:+.2f}")
            ax.loglog(f.widths, np.exp(f.intercept) * f.widths**f.slope, "-", alpha=0.6)
        ax.set_xlabel("width n")
        ax.minorticks_off()
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.legend(fontsize=7)
    axes[0].set_title("finite-width NTK → infinite-width NTK")
    axes[1].set_title("NTK movement during training")
    fig.savefig(out / "ntk_finite_width.png", dpi=120)
    plt.close(fig)
    return result
