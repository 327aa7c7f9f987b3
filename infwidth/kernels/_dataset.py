"""``infwidth kernel`` as functions: the NNGP and NTK matrices of a data set, written to files.

:func:`network_inputs` loads the inputs (a ``.npy`` file or a named data set) in the
architecture's layout; :func:`write_kernels` computes the kernels of the MLP
(:func:`mlp_kernels`) or CNN (:func:`conv_kernels`) on them and writes ``kernels.npz``
(``nngp``, ``ntk``: P x P float64, ``x``), ``kernel.json`` (settings and summary: traces,
the NTK's smallest eigenvalue) and the heatmaps ``nngp.png`` and ``ntk.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ._conv import conv_kernels
from ._mlp import mlp_kernels


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


def _as_images(x: np.ndarray, data: str) -> np.ndarray:
    if x.ndim in (3, 4):
        return x
    side = int(round(np.sqrt(x.shape[1])))
    if data.endswith(".npy") or side * side != x.shape[1]:
        raise InfwidthError(f"--arch cnn needs (P, H, W, C) or (P, L, C) inputs, got {x.shape}")
    return x.reshape(len(x), side, side, 1)


def network_inputs(
    data: str,
    n_points: int | None = None,
    seed: int = 0,
    *,
    arch: str = "mlp",
    filter_shape: str = "3,3",
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The inputs of :func:`load_inputs` in ``arch``'s layout (``(P, D)`` for ``mlp``;
    ``(P, H, W, C)`` or ``(P, L, C)`` for ``cnn``, square images reshaped) and the cnn filter
    shape parsed from ``filter_shape`` (``"3,3"``; ``()`` for ``mlp``)."""
    x = load_inputs(data, n_points, seed)
    if arch == "mlp":
        if x.ndim != 2:
            raise InfwidthError(f"--arch mlp needs (P, D) inputs, got shape {x.shape}")
        return x, ()
    try:
        filt = tuple(int(f) for f in filter_shape.split(","))
    except ValueError as exc:
        raise InfwidthError(
            f"--filter must be integers separated by commas: {filter_shape}"
        ) from exc
    filt = tuple(valid.positive_int("--filter", f) for f in filt)
    return _as_images(x, data), filt


def write_kernels(
    x: np.ndarray,
    out: str | Path,
    *,
    arch: str = "mlp",
    depth: int = 1,
    activation: str = "relu",
    parameterization: str = "ntk",
    W_std: float = 1.0,
    b_std: float = 0.0,
    width: int | None = None,
    filter_shape: tuple[int, ...] = (),
    readout: str = "gap",
    block_size: int = 256,
    figures: bool = True,
    data: str | None = None,
) -> dict[str, Any]:
    """Kernels of ``x`` (from :func:`network_inputs`) written into ``out`` (module docstring);
    returns the ``kernel.json`` summary. ``data`` names the inputs in it."""
    out = Path(out)
    common = dict(depth=depth, activation=activation, W_std=W_std, b_std=b_std,
                  parameterization=parameterization)  # fmt: skip
    if arch == "mlp":
        k = mlp_kernels(x, width=width, block_size=block_size, **common)
    else:
        k = conv_kernels(x, filter_shape=filter_shape, readout=readout, **common)
    np.savez(out / "kernels.npz", nngp=k.nngp, ntk=k.ntk, x=x)
    summary = {
        "arch": arch,
        "depth": depth,
        "activation": activation,
        "parameterization": parameterization,
        "W_std": W_std,
        "b_std": b_std,
        "width": width,
        "data": data,
        "n_points": int(x.shape[0]),
        "input_shape": list(x.shape[1:]),
        "nngp_trace": float(np.trace(k.nngp)),
        "ntk_trace": float(np.trace(k.ntk)),
        "ntk_min_eigenvalue": float(np.linalg.eigvalsh(k.ntk)[0]),
    }
    (out / "kernel.json").write_text(json.dumps(summary, indent=2))
    if figures:
        _heatmap(k.nngp, f"NNGP ({activation}, L={depth})", out / "nngp.png")
        _heatmap(k.ntk, f"NTK ({parameterization}, L={depth})", out / "ntk.png")
    return summary


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
