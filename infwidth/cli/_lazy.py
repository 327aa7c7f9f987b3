"""``infwidth lazy``: kernel-regime learning curves, predicted and measured.

Trains one finite MLP (width ``--width``; NTK parametrization, or muP with ``--param mup``) by
full-batch gradient descent on MSE and
compares its train/test loss curves with the closed-form infinite-width predictions from the
analytic NTK: started from the network's own initial outputs (``lazy_from_init``; the two agree
up to ``O(width^-1/2)``) and from zero outputs (``lazy_mean``, the prediction averaged over
initialisations). Targets: the teacher's outputs for ``--data teacher``; for image data sets, the
parity of the digit/class label as +-1. Writes ``lazy.json`` (settings, ``steps``, per-curve
``train_mse``/``test_mse``, the relative gap between network and prediction) and ``lazy.png``;
with ``--finite-width-report`` also ``ntk_finite_width.json`` and ``.png``
(:func:`infwidth.kernels.finite_width_report`: fitted width exponents of the NTK's distance
from its limit at init and of its movement in training under NTP and muP).
JAX is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .. import _validate as valid
from .._divergence import SIZE_FLOOR, first_divergence, rms_per_step
from .._memory import add_memory_argument, refuse_if_over
from ..errors import InfwidthError

NAME = "lazy"
HELP = "predict kernel-regime learning curves and compare with a trained finite-width network"
ORDER = 41
USES_JAX = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, default=1, help="number of hidden layers L")
    parser.add_argument("--activation", default="erf", help="one of infwidth.network.ACTIVATIONS")
    parser.add_argument("--weight-std", type=float, default=1.0, help="neural-tangents' W_std")
    parser.add_argument("--bias-std", type=float, default=0.0, help="b_std; 0 means no bias")
    parser.add_argument("--width", type=int, default=1024, help="width of the trained network")
    parser.add_argument(
        "--param",
        choices=("ntp", "mup"),
        default="ntp",
        help="parametrization of the trained network: ntp (lazy: tracks the NTK prediction) or "
        "mup (same NTK at init, but features learn and the curves leave the prediction)",
    )
    parser.add_argument("--steps", type=int, default=200, help="gradient-descent steps")
    parser.add_argument("--lr", type=float, default=1.0, help="learning rate (loss 1/(2n) sum)")
    parser.add_argument(
        "--data", default="teacher", help="teacher | digits | mnist | fashion-mnist | FILE.npz"
    )
    parser.add_argument("--n-train", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument(
        "--finite-width-report",
        choices=("quick", "full"),
        default=None,
        help="also measure NTK convergence at init and NTK movement under NTP vs muP over widths "
        "(ntk_finite_width.json/png; quick: widths 16..256, seconds; full: 32..1024, minutes)",
    )
    add_memory_argument(parser)


def estimate_bytes(
    n_train: int, n_test: int, n_features: int, width: int, depth: int, steps: int
) -> int:
    """Peak memory of the command: per step, the network's and the two predictions' outputs
    on all ``n = n_train + n_test`` points (3 x 8 n bytes) and the step's JSON numbers
    (~800 bytes; measured 4.1 kB a step at n = 128); the analytic NTKs (``n_train x n``);
    the float64 network (parameters, gradients, two more copies) and its activations."""
    n = n_train + n_test
    n_params = n_features * width + max(depth - 1, 0) * width**2 + width
    per_step = 3 * 8 * n + 800
    return (steps + 1) * per_step + 8 * (3 * n_train * n + 4 * n_params + 4 * n * width * depth)


def _load(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from ..data import DATASETS, load_dataset, teacher_student

    if args.data == "teacher":
        ts = teacher_student(args.n_train, args.n_test, seed=args.seed)
        return ts.x_train, ts.y_train, ts.x_test, ts.y_test
    if args.data in DATASETS:
        d = load_dataset(args.data, args.n_train + args.n_test, seed=args.seed)
        y = np.where(d.labels % 2 == 0, 1.0, -1.0)
        n = args.n_train
        return d.x[:n], y[:n], d.x[n:], y[n:]
    if Path(args.data).suffix != ".npz":
        raise InfwidthError(f"--data must be teacher, {', '.join(DATASETS)} or a .npz file")
    f = valid.npz_file("--data", args.data, ("x_train", "y_train", "x_test", "y_test"))
    xtr, xte = (valid.data_array(f"--data {k}", f[k]) for k in ("x_train", "x_test"))
    ytr, yte = (
        valid.data_array(f"--data {k}", f[k], ndim=1, inputs=False) for k in ("y_train", "y_test")
    )
    if ytr.shape != (len(xtr),) or yte.shape != (len(xte),) or xtr.shape[1] != xte.shape[1]:
        raise InfwidthError("--data: x_* must be (n, d) and y_* (n,) with matching n and d")
    return xtr, ytr, xte, yte


def run(args: argparse.Namespace) -> int:
    valid.check_args(
        args,
        nonnegative_int=("depth",),
        positive_int=("width", "steps", "n_train", "n_test"),
        positive=("lr", "weight_std"),
        nonnegative=("bias_std",),
        seed=("seed",),
    )
    import jax

    from ..kernels import (
        MUP,
        NTP,
        LazyPrediction,
        MLPConfig,
        init_mlp,
        lazy_predict,
        learning_curves,
        mlp_kernels,
        train_trajectory,
    )

    xtr, ytr, xte, yte = _load(args)
    need = estimate_bytes(len(xtr), len(xte), xtr.shape[1], args.width, args.depth, args.steps)
    what = f"{args.steps} steps of a width-{args.width} network on {len(xtr) + len(xte)} points"
    refuse_if_over(need, args.max_memory_gb, what, "use fewer --steps or a smaller --width")
    out = valid.out_dir(args.out, ("lazy.json", "lazy.png", "ntk_finite_width.json",
                               "ntk_finite_width.png"))  # fmt: skip
    kw = dict(depth=args.depth, activation=args.activation, W_std=args.weight_std,
              b_std=args.bias_std)  # fmt: skip
    theta = mlp_kernels(xtr, **kw).ntk
    theta_te = mlp_kernels(xte, xtr, **kw).ntk
    abc = {"ntp": NTP, "mup": MUP}[args.param]
    cfg = MLPConfig(args.width, args.depth, args.activation.lower(), abc, args.weight_std,
                    args.bias_std)  # fmt: skip
    with jax.enable_x64(True):
        params = init_mlp(jax.random.PRNGKey(args.seed), cfg, xtr.shape[1])
        try:
            tr, te = train_trajectory(cfg, params, xtr, ytr, xte, steps=args.steps,
                                      learning_rate=args.lr)  # fmt: skip
        except FloatingPointError as exc:  # pragma: no cover - only with jax_debug_nans
            raise InfwidthError(f"training diverged: {exc}") from exc
    tr, te = np.asarray(tr), np.asarray(te)
    steps = np.arange(args.steps + 1)
    common = dict(ntk_test_train=theta_te, learning_rate=args.lr, discrete=True)
    curves = {
        "network": learning_curves(LazyPrediction(steps, tr[..., None], te[..., None]), ytr, yte),
        "lazy_from_init": learning_curves(
            lazy_predict(theta, ytr, steps, f_train_0=tr[0], f_test_0=te[0], **common), ytr, yte
        ),
        "lazy_mean": learning_curves(lazy_predict(theta, ytr, steps, **common), ytr, yte),
    }
    net, pred = curves["network"], curves["lazy_from_init"]
    gap = float(np.max(np.abs(net.test_mse - pred.test_mse)) / max(pred.test_mse.max(), 1e-300))
    result = {
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "n_train": len(xtr),
        "n_test": len(xte),
        "steps": steps.tolist(),
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
    if not args.no_figures:
        _plot(curves, out / "lazy.png", args)
    print(f"wrote {out / 'lazy.json'}; max relative test-loss gap network vs lazy: {gap:.3g}")
    if args.finite_width_report:
        from ..kernels import finite_width_report

        rep = finite_width_report(out, quick=args.finite_width_report == "quick",
                                  depth=max(args.depth, 1), activation=args.activation.lower(),
                                  seed=args.seed)  # fmt: skip
        slopes = ", ".join(f"{k} {rep[k]['slope']:+.2f}" for k in ("init", "ntp", "mup"))
        print(f"wrote {out / 'ntk_finite_width.json'}; fitted width exponents: {slopes}")
    return 0


def _plot(curves: dict, path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    styles = {"network": "o", "lazy_from_init": "-", "lazy_mean": "--"}
    labels = {"network": f"{args.param} network (width {args.width})",
              "lazy_from_init": "NTK, from its f0",
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
    ax.set_title(f"lazy learning curves ({args.activation}, L={args.depth}, {args.data})")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
