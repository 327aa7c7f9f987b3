"""The sweep's training data: a named data set or the user's arrays, standardised, fingerprinted."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._store import settings_key
from ..errors import InfwidthError


class TrainData(NamedTuple):
    """Standardised float32 inputs ``x`` (n, d), integer ``labels`` (n,), class count, and
    the sha256 ``fingerprint`` of the arrays (part of every stored point's key)."""

    x: np.ndarray
    labels: np.ndarray
    classes: int
    fingerprint: str


def load_train_data(
    name: str,
    n_train: int | None = None,
    *,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> TrainData:
    """Load ``name`` through :func:`infwidth.data.load_dataset` (``"arrays"``: use ``x`` and
    ``labels``), take a seeded subset of ``n_train`` points, and standardise every input
    feature to mean 0 and standard deviation 1 (constant features stay 0)."""
    if name == "arrays":
        if x is None or labels is None:
            raise InfwidthError("data 'arrays' needs the arrays x and labels")
        xs = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        ys = np.asarray(labels)
        if ys.shape != (len(xs),) or not np.issubdtype(ys.dtype, np.integer) or ys.min() < 0:
            raise InfwidthError("labels must be non-negative integers, one per input row")
        if n_train is not None:
            if not 1 <= n_train <= len(xs):
                raise InfwidthError(f"n_train must be in 1..{len(xs)}, got {n_train}")
            idx = np.sort(np.random.default_rng(seed).choice(len(xs), n_train, replace=False))
            xs, ys = xs[idx], ys[idx]
    else:
        from ..data import load_dataset

        ds = load_dataset(name, n_train, seed=seed)
        xs, ys = ds.x, ds.labels
    if not np.all(np.isfinite(xs)):
        raise InfwidthError("the training inputs contain NaN or inf")
    xs = (xs - xs.mean(0)) / np.where(xs.std(0) > 0, xs.std(0), 1.0)
    xs = xs.astype(np.float32)
    ys = ys.astype(np.int32)
    classes = int(ys.max()) + 1
    return TrainData(xs, ys, classes, settings_key("sweep data", xs, ys))
