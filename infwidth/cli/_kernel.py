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

import numpy as np

from .. import _validate as valid
from .._memory import add_memory_argument, refuse_if_over

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


def estimate_bytes(n_points: int, n_features: int, block_size: int, figures: bool) -> int:
    """Peak memory of the command for ``P = n_points`` inputs: the two ``P x P`` float64
    outputs, the copy ``eigvalsh`` makes and the stored inputs (4 ``P^2`` numbers, measured
    3.3 at P = 3000), six more for the heatmaps (measured), and one block's working set
    (about 150 ``block^2`` numbers with quadrature, :mod:`infwidth.kernels._blocks`)."""
    p2 = n_points**2
    return 8 * ((4 + (6 if figures else 0)) * p2 + n_points * n_features + 150 * block_size**2)


def run(args: argparse.Namespace) -> int:
    valid.check_args(
        args,
        nonnegative_int=("depth",),
        positive_int=("width", "n_points", "block_size"),
        positive=("weight_std", "max_memory_gb"),
        nonnegative=("bias_std",),
        seed=("seed",),
    )
    from ..kernels import network_inputs, write_kernels  # JAX is imported here

    x, filt = network_inputs(
        args.data, args.n_points, args.seed, arch=args.arch, filter_shape=args.filter
    )
    need = estimate_bytes(len(x), int(np.prod(x.shape[1:])), args.block_size, not args.no_figures)
    refuse_if_over(need, args.max_memory_gb, f"{len(x)} x {len(x)} kernels", "use fewer --n-points")
    out = valid.out_dir(args.out, ("kernels.npz", "kernel.json", "nngp.png", "ntk.png"))
    write_kernels(
        x, out, arch=args.arch, depth=args.depth, activation=args.activation,
        parameterization=args.param, W_std=args.weight_std, b_std=args.bias_std,
        width=args.width, filter_shape=filt, readout=args.readout, block_size=args.block_size,
        figures=not args.no_figures, data=args.data,
    )  # fmt: skip
    print(f"wrote {out / 'kernels.npz'} ({x.shape[0]} x {x.shape[0]} NNGP and NTK)")
    return 0
