"""Export a sweep store's points as CSV, JSON or Parquet (Parquet needs ``pyarrow``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .._store import write_atomic
from ..errors import InfwidthError
from ._db import COLUMNS, SweepStore

FORMATS = ("csv", "json", "parquet")


def export(store: str | Path, fmt: str, out: str | Path) -> int:
    """Write every stored point (key, point, metrics) of ``store`` to ``out``; returns the
    number of points. The store must exist; nothing is written to it."""
    if fmt not in FORMATS:
        raise InfwidthError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not Path(store).is_file():
        raise InfwidthError(f"no sweep store at {store}")
    with SweepStore(store) as db:
        rows = [{"key": k, **r} for k, r in sorted(db.rows().items(), key=_order)]
    for r in rows:
        r["diverged"] = bool(r["diverged"])
    names = ["key", *COLUMNS]
    if fmt == "json":
        write_atomic(out, json.dumps(rows, indent=1) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(out, buf.getvalue())
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InfwidthError("Parquet export needs pyarrow (pip install pyarrow)") from None
        table = pa.table({n: [r[n] for r in rows] for n in names})
        write_atomic(out, lambda fh: pq.write_table(table, fh))
    return len(rows)


def _order(item: tuple) -> tuple:
    key, r = item
    return (r["target"], r["width"], r["depth"], r["log2_lr"], r["seed"], key)
