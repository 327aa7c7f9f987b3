"""Kernel-regime learning curves, predicted and measured: the engine of ``infwidth lazy``.

:func:`lazy_experiment` trains one finite MLP (NTK parametrization, or muP) by full-batch
gradient descent on MSE (:func:`~infwidth.kernels.train_trajectory`, i.e. :func:`infwidth.sim.train`)
and compares its train/test loss curves with the closed-form infinite-width predictions from
the analytic NTK (:func:`~infwidth.kernels.lazy_predict`): started from the network's own
initial outputs (``lazy_from_init``; the two agree up to ``O(width^-1/2)``) and from zero
outputs (``lazy_mean``, the prediction averaged over initialisations). It writes ``lazy.json``
(settings, ``steps``, per-curve ``train_mse``/``test_mse``, the relative gap between network and
prediction), ``lazy.png`` and, on request, the finite-width report
(:func:`~infwidth.kernels.finite_width_report`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as valid
from .._divergence import SIZE_FLOOR, first_divergence, rms_per_step
from .._memory import refuse_if_over
from ..errors import InfwidthError

__all__ = ["estimate_bytes", "lazy_data", "lazy_experiment"]

OUTPUTS = ("lazy.json", "lazy.png", "ntk_finite_width.json", "ntk_finite_width.png")


def estimate_bytes(
    n_train: int, n_test: int, n_features: int, width: int, depth: int, steps: int
) -> int:
    """Peak memory: per step, the network's and the two predictions' outputs on all
    ``n = n_train + n_test`` points (3 x 8 n bytes) and the step's JSON numbers (~800 bytes;
    measured 4.1 kB a step at n = 128); the analytic NTKs (``n_train x n``); the float64
    network (parameters, gradients, two more copies) and its activations."""
    n = n_train + n_test
    n_params = n_features * width + max(depth - 1, 0) * width**2 + width
    per_step = 3 * 8 * n + 800
    return (steps + 1) * per_step + 8 * (3 * n_train * n + 4 * n_params + 4 * n * width * depth)


def lazy_data(data: str, n_train: int, n_test: int, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: the teacher's outputs for ``"teacher"``; for an
    image data set, the parity of the label as +-1; or the arrays of a ``.npz`` file."""
    from ..data import DATASETS, load_dataset, teacher_student

    if data == "teacher":
        ts = teacher_student(n_train, n_test, seed=seed)
        return ts.x_train, ts.y_train, ts.x_test, ts.y_test
    if data in DATASETS:
        d = load_dataset(data, n_train + n_test, seed=seed)
        y = np.where(d.labels % 2 == 0, 1.0, -1.0)
        return d.x[:n_train], y[:n_train], d.x[n_train:], y[n_train:]
    if Path(data).suffix != ".npz":
        raise InfwidthError(f"--data must be teacher, {', '.join(DATASETS)} or a .npz file")
    f = valid.npz_file("--data", data, ("x_train", "y_train", "x_test", "y_test"))
    xtr, xte = (valid.data_array(f"--data {k}", f[k]) for k in ("x_train", "x_test"))
    ytr, yte = (
        valid.data_array(f"--data {k}", f[k], ndim=1, inputs=False) for k in ("y_train", "y_test")
    )
    if ytr.shape != (len(xtr),) or yte.shape != (len(xte),) or xtr.shape[1] != xte.shape[1]:
        raise InfwidthError("--data: x_* must be (n, d) and y_* (n,) with matching n and d")
    return xtr, ytr, xte, yte


def lazy_experiment(
    out_dir: str | Path,
    *,
    data: str = "teacher",
    n_train: int = 64,
    n_test: int = 64,
    seed: int = 0,
    width: int = 1024,
    depth: int = 1,
    activation: str = "erf",
    W_std: float = 1.0,
    b_std: float = 0.0,
    param: str = "ntp",
    steps: int = 200,
    learning_rate: float = 1.0,
    figures: bool = True,
    finite_width_report: str | None = None,
    max_memory_gb: float | None = None,
    settings: dict[str, Any] | None = None,
) -> dict:
    """Train, predict, compare and write ``lazy.json`` (and figures) into ``out_dir``.

    Returns the JSON content, plus ``"finite_width_report"`` (the report's content) when
    ``finite_width_report`` is ``"quick"`` or ``"full"``. ``settings`` is stored as the
    JSON's ``settings`` (the CLI's arguments). Raises :class:`InfwidthError` when the
    network diverges or would need more than ``max_memory_gb``.
    """
    import jax

    from ._dynamics import LazyPrediction, lazy_predict, learning_curves
    from ._empirical import MLPConfig, _parametrization, init_mlp, train_trajectory
    from ._mlp import mlp_kernels

    abc = _parametrization(param)
    xtr, ytr, xte, yte = lazy_data(data, n_train, n_test, seed)
    need = estimate_bytes(len(xtr), len(xte), xtr.shape[1], width, depth, steps)
    what = f"{steps} steps of a width-{width} network on {len(xtr) + len(xte)} points"
    refuse_if_over(need, max_memory_gb, what, "use fewer --steps or a smaller --width")
    out = valid.out_dir(out_dir, OUTPUTS)
    kw = dict(depth=depth, activation=activation, W_std=W_std, b_std=b_std)
    theta = mlp_kernels(xtr, **kw).ntk
    theta_te = mlp_kernels(xte, xtr, **kw).ntk
    cfg = MLPConfig(width, depth, activation.lower(), abc, W_std, b_std)
    with jax.enable_x64(True):
        params = init_mlp(jax.random.PRNGKey(seed), cfg, xtr.shape[1])
        try:
            tr, te = train_trajectory(cfg, params, xtr, ytr, xte, steps=steps,
                                      learning_rate=learning_rate)  # fmt: skip
        except FloatingPointError as exc:  # pragma: no cover - only with jax_debug_nans
            raise InfwidthError(f"training diverged: {exc}") from exc
    tr, te = np.asarray(tr), np.asarray(te)
    ts = np.arange(steps + 1)
    common = dict(ntk_test_train=theta_te, learning_rate=learning_rate, discrete=True)
    curves = {
        "network": learning_curves(LazyPrediction(ts, tr[..., None], te[..., None]), ytr, yte),
        "lazy_from_init": learning_curves(
            lazy_predict(theta, ytr, ts, f_train_0=tr[0], f_test_0=te[0], **common), ytr, yte
        ),
        "lazy_mean": learning_curves(lazy_predict(theta, ytr, ts, **common), ytr, yte),
    }
    net, pred = curves["network"], curves["lazy_from_init"]
    gap = float(np.max(np.abs(net.test_mse - pred.test_mse)) / max(pred.test_mse.max(), 1e-300))
    result = {
        "settings": dict(settings or {}),
        "n_train": len(xtr),
        "n_test": len(xte),
        "steps": ts.tolist(),
        "curves": {
            k: {"train_mse": c.train_mse.tolist(), "test_mse": c.test_mse.tolist()}
            for k, c in curves.items()
        },
        "max_relative_test_gap_network_vs_lazy_from_init": gap,
    }
    # diverged (infwidth._divergence): non-finite, or outputs 1e3 x their initial RMS, floored
    # at the targets' RMS
    floor = max(SIZE_FLOOR, float(np.sqrt(np.mean(ytr**2))))
    if first_divergence(rms_per_step(tr), net.train_mse, floor=floor) >= 0:
        raise InfwidthError("the finite network diverged; lower --lr")
    (out / "lazy.json").write_text(json.dumps(result, indent=2))
    if figures:
        title = f"lazy learning curves ({activation}, L={depth}, {data})"
        _plot(curves, out / "lazy.png", f"{param} network (width {width})", title)
    if finite_width_report:
        from . import _report  # the attribute is looked up at call time (tests stub it)

        result["finite_width_report"] = _report.finite_width_report(out, quick=finite_width_report == "quick",
                                               depth=max(depth, 1), activation=activation.lower(),
                                               seed=seed)  # fmt: skip
    return result


def _plot(curves: dict, path: Path, network: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    styles = {"network": "o", "lazy_from_init": "-", "lazy_mean": "--"}
    labels = {"network": network, "lazy_from_init": "NTK, from its f0",
              "lazy_mean": "NTK, mean over inits"}  # fmt: skip
    for k, c in curves.items():
        t = np.maximum(c.times, 0.5)
        every = max(1, len(t) // 25) if k == "network" else 1
        ax.loglog(t[::every], c.train_mse[::every], styles[k], color="C0", ms=3, alpha=0.8,
                  label=f"train: {labels[k]}")  # fmt: skip
        ax.loglog(t[::every], c.test_mse[::every], styles[k], color="C1", ms=3, alpha=0.8,
                  label=f"test: {labels[k]}")  # fmt: skip
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("MSE")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
