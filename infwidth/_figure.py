"""Headless matplotlib figures: made on the Agg backend, written atomically as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._store import write_atomic


def subplots(*args: Any, **kwargs: Any):
    """``plt.subplots(*args, **kwargs)`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_png(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out (``tight_layout``), write it to ``path`` as PNG (atomically:
    :func:`infwidth._store.write_atomic`) and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
    plt.close(fig)
    return Path(path)
