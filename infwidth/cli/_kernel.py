"""``infwidth kernel``: infinite-width NNGP and NTK matrices of an MLP or a CNN on a data set.

Writes into ``--out``: ``kernels.npz`` with ``nngp`` and ``ntk`` (P x P, float64) and ``x`` (the
P inputs used), ``kernel.json`` (settings and summary), and heatmaps ``nngp.png``, ``ntk.png``.
The network is neural-tangents' ``stax.serial(*[Dense(w, W_std, b_std), Act()] * L, Dense(1))``
(``--bias-std 0``: no bias). ``--arch cnn`` is ``[Conv(C, F, SAME), Act()] * L`` followed by
``GlobalAvgPool()`` (or ``Flatten()`` with ``--readout flatten``) and ``Dense(1)``, NTK
parametrization; square image data sets are reshaped to ``(P, H, W, 1)``, ``.npy`` inputs must
then be ``(P, H, W, C)`` or ``(P, L, C)``. JAX is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .. import _validate as valid
from .._memory import add_memory_argument, refuse_if_over
from ..errors import InfwidthError

NAME = "kernel"
HELP = "infinite-width NNGP and NTK of an MLP or CNN on a data set (kernels.npz + heatmaps)"
ORDER = 40
USES_JAX = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--depth", type=int, default=1, help="number of hidden layers L")
    parser.add_argument("--activation", default="relu", help="one of infwidth.network.ACTIVATIONS")
    parser.add_argument("--param", choices=("ntk", "standard"), default="ntk")
    parser.add_argument("--weight-std", type=float, default=1.0, help="neural-tangents' W_std")
    parser.add_argument("--bias-std", type=float, default=0.0, help="b_std; 0 means no bias")
    parser.add_argument(
        "--width",
        type=int,
        default=None,
        help="hidden width for the standard-parametrization NTK (default: the limit NTK/width)",
    )
    parser.add_argument(
        "--data", required=True, help="FILE.npy (P x D) or digits | mnist | fashion-mnist"
    )
    parser.add_argument("--n-points", type=int, default=None, help="P (a seeded subset)")
    parser.add_argument("--filter", default="3,3", help="cnn filter shape, e.g. 3,3 or 5")
    parser.add_argument("--readout", choices=("gap", "flatten"), default="gap", help="cnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-size", type=int, default=256, help="pairs per block side")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-figures", action="store_true")
    add_memory_argument(parser)


def load_inputs(data: str, n_points: int | None, seed: int) -> np.ndarray:
    """Inputs from a ``.npy`` file (first ``n_points`` rows) or a named data set (a seeded
    subset). Raises :class:`InfwidthError` on anything malformed."""
    from ..data import DATASETS, load_dataset

    if data in DATASETS:
        return load_dataset(data, n_points, seed=seed).x
    if Path(data).suffix != ".npy":
        raise InfwidthError(f"--data must be a .npy file or one of {', '.join(DATASETS)}")
    want = "(P, D) (or, for --arch cnn, (P, H, W, C) or (P, L, C))"
    x = valid.data_array(
        f"--data {data}", valid.npy_file("--data", data), ndim=(2, 3, 4), shape=want
    )
    if n_points is not None:
        if not 1 <= n_points <= len(x):
            raise InfwidthError(f"--n-points must be in 1..{len(x)}, got {n_points}")
        x = x[:n_points]
    return x


def estimate_bytes(n_points: int, n_features: int, block_size: int, figures: bool) -> int:
    """Peak memory of the command for ``P = n_points`` inputs: the two ``P x P`` float64
    outputs, the copy ``eigvalsh`` makes and the stored inputs (4 ``P^2`` numbers, measured
    3.3 at P = 3000), six more for the heatmaps (measured), and one block's working set
    (about 150 ``block^2`` numbers with quadrature, :mod:`infwidth.kernels._blocks`)."""
    p2 = n_points**2
    return 8 * ((4 + (6 if figures else 0)) * p2 + n_points * n_features + 150 * block_size**2)


def _heatmap(m: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.6), constrained_layout=True)
    im = ax.imshow(m, cmap="viridis")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    ax.set_xlabel("input j")
    ax.set_ylabel("input i")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _as_images(x: np.ndarray, data: str) -> np.ndarray:
    if x.ndim in (3, 4):
        return x
    side = int(round(np.sqrt(x.shape[1])))
    if data.endswith(".npy") or side * side != x.shape[1]:
        raise InfwidthError(f"--arch cnn needs (P, H, W, C) or (P, L, C) inputs, got {x.shape}")
    return x.reshape(len(x), side, side, 1)


def _prepare(args: argparse.Namespace, x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """The inputs in the architecture's layout and the cnn filter shape, checked."""
    if args.arch == "mlp":
        if x.ndim != 2:
            raise InfwidthError(f"--arch mlp needs (P, D) inputs, got shape {x.shape}")
        return x, ()
    try:
        filt = tuple(int(f) for f in args.filter.split(","))
    except ValueError as exc:
        raise InfwidthError(
            f"--filter must be integers separated by commas: {args.filter}"
        ) from exc
    filt = tuple(valid.positive_int("--filter", f) for f in filt)
    return _as_images(x, args.data), filt


def _kernels(args: argparse.Namespace, x: np.ndarray, filt: tuple[int, ...]):
    from ..kernels import conv_kernels, mlp_kernels

    common = dict(depth=args.depth, activation=args.activation, W_std=args.weight_std,
                  b_std=args.bias_std, parameterization=args.param)  # fmt: skip
    if args.arch == "mlp":
        return mlp_kernels(x, width=args.width, block_size=args.block_size, **common)
    return conv_kernels(x, filter_shape=filt, readout=args.readout, **common)


def run(args: argparse.Namespace) -> int:
    valid.check_args(
        args,
        nonnegative_int=("depth",),
        positive_int=("width", "n_points", "block_size"),
        positive=("weight_std", "max_memory_gb"),
        nonnegative=("bias_std",),
        seed=("seed",),
    )
    x, filt = _prepare(args, load_inputs(args.data, args.n_points, args.seed))
    need = estimate_bytes(len(x), int(np.prod(x.shape[1:])), args.block_size, not args.no_figures)
    refuse_if_over(need, args.max_memory_gb, f"{len(x)} x {len(x)} kernels", "use fewer --n-points")
    out = valid.out_dir(args.out, ("kernels.npz", "kernel.json", "nngp.png", "ntk.png"))
    k = _kernels(args, x, filt)
    np.savez(out / "kernels.npz", nngp=k.nngp, ntk=k.ntk, x=x)
    summary = {
        "arch": args.arch,
        "depth": args.depth,
        "activation": args.activation,
        "parameterization": args.param,
        "W_std": args.weight_std,
        "b_std": args.bias_std,
        "width": args.width,
        "data": args.data,
        "n_points": int(x.shape[0]),
        "input_shape": list(x.shape[1:]),
        "nngp_trace": float(np.trace(k.nngp)),
        "ntk_trace": float(np.trace(k.ntk)),
        "ntk_min_eigenvalue": float(np.linalg.eigvalsh(k.ntk)[0]),
    }
    (out / "kernel.json").write_text(json.dumps(summary, indent=2))
    if not args.no_figures:
        _heatmap(k.nngp, f"NNGP ({args.activation}, L={args.depth})", out / "nngp.png")
        _heatmap(k.ntk, f"NTK ({args.param}, L={args.depth})", out / "ntk.png")
    print(f"wrote {out / 'kernels.npz'} ({x.shape[0]} x {x.shape[0]} NNGP and NTK)")
    return 0
