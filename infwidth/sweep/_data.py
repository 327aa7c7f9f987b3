"""The sweep's training data: a named data set or the user's arrays, standardised, fingerprinted."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._store import settings_key
from ..errors import InfwidthError

#: data sets of token sequences (for ``arch = "transformer"``)
TOKEN_DATASETS = ("shakespeare",)


class TrainData(NamedTuple):
    """Standardised float32 inputs ``x`` (n, d), integer ``labels`` (n,), class count, and
    the sha256 ``fingerprint`` of the arrays (part of every stored point's key). Token data
    (:func:`token_windows`): integer ``x`` (n, block), next-token ``labels`` (n, block) and
    the vocabulary size as ``classes``."""

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
    block: int | None = None,
) -> TrainData:
    """Load ``name`` through :func:`infwidth.data.load_dataset` (``"arrays"``: use ``x`` and
    ``labels``), take a seeded subset of ``n_train`` points, and standardise every input
    feature to mean 0 and standard deviation 1 (constant features stay 0). A token data set
    (``shakespeare``) is cut into windows of ``block`` tokens instead (:func:`token_windows`)."""
    if name != "arrays":
        return _named(name, n_train, seed, block)
    if x is None or labels is None:
        raise InfwidthError("data 'arrays' needs the arrays x and labels")
    return _prepare(name, n_train, x, labels, seed)


@functools.lru_cache(maxsize=4)
def _named(name: str, n_train: int | None, seed: int, block: int | None) -> TrainData:
    """A named data set, loaded and prepared once per process (a transfer's bracket rounds
    and a reproduction's sweeps reuse it: MNIST took ~1.2 s to decompress every time); the
    arrays are read-only."""
    if name in TOKEN_DATASETS:
        data = token_windows(name, block, n_train, seed=seed)
    else:
        data = _prepare(name, n_train, None, None, seed)
    for a in (data.x, data.labels):
        a.setflags(write=False)
    return data


def _prepare(name: str, n_train: int | None, x, labels, seed: int) -> TrainData:
    if name == "arrays":
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


def token_windows(
    name: str, block: int | None, n_train: int | None = None, *, seed: int = 0
) -> TrainData:
    """The training split of token data set ``name`` cut into non-overlapping windows:
    window :math:`i` has inputs :math:`t_{ib}, \\dots, t_{ib+b-1}` and targets
    :math:`t_{ib+1}, \\dots, t_{ib+b}` (``b = block``), so every position predicts the next
    character; ``n_train``: a seeded subset of the windows."""
    from ..data import load_shakespeare

    if name not in TOKEN_DATASETS:
        raise InfwidthError(f"{name!r} is not a token data set ({', '.join(TOKEN_DATASETS)})")
    if block is None or block < 1:
        raise InfwidthError(f"token data {name!r} needs a positive block length, got {block!r}")
    corpus = load_shakespeare("train")
    ids = corpus.tokens
    n = (len(ids) - 1) // block
    starts = np.arange(n) * block
    if n_train is not None:
        if not 1 <= n_train <= n:
            raise InfwidthError(f"n_train must be in 1..{n} windows, got {n_train}")
        starts = np.sort(np.random.default_rng(seed).choice(starts, n_train, replace=False))
    cols = starts[:, None] + np.arange(block)[None, :]
    xs, ys = ids[cols].astype(np.int32), ids[cols + 1].astype(np.int32)
    return TrainData(xs, ys, len(corpus.vocab), settings_key("sweep tokens", xs, ys))
