"""The sweep's result store: one SQLite file, written by one process, one transaction per chunk.

Each finished point is a row keyed by the sha256 of its full configuration, the package
version and the data's fingerprint (:func:`point_key`). Rows are inserted with
``INSERT OR IGNORE`` inside one transaction per chunk, in WAL mode: a process killed at any
moment leaves every committed chunk and none of the chunk in flight, and a rerun recomputes
exactly the points whose keys are missing. Extending a grid reuses every stored point whose
configuration is unchanged.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._store import settings_key
from ..errors import InfwidthError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    target TEXT NOT NULL, width INTEGER NOT NULL, depth INTEGER NOT NULL,
    log2_lr REAL NOT NULL, seed INTEGER NOT NULL,
    loss REAL, diverged INTEGER NOT NULL, loss0 REAL, final REAL,
    config TEXT NOT NULL
)
"""
_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
COLUMNS = ("target", "width", "depth", "log2_lr", "seed", "loss", "diverged", "loss0", "final")


def point_key(version: str, data_fingerprint: str, config: Mapping[str, Any]) -> str:
    """The stored key of a point: its full ``config``, the package version, the data."""
    return settings_key("sweep point", version, data_fingerprint, dict(config))


class SweepStore:
    """A SQLite file of finished points (``None``: an in-memory store).

    The file records the package version that created it; opening it with another version
    raises :class:`InfwidthError` (its keys could never match: start another store).
    """

    def __init__(self, path: str | Path | None, version: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(":memory:" if path is None else str(self.path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.execute(_SCHEMA)
                self._db.execute(_META)
                if version is not None:
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (version,))
            row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        except (OSError, sqlite3.Error) as e:
            raise InfwidthError(f"cannot open the sweep store {path}: {e}") from None
        if version is not None and row is not None and row[0] != version:
            self._db.close()
            raise InfwidthError(
                f"the sweep store {path} was written by infwidth {row[0]}, this is {version}; "
                "use another --store"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def present(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored."""
        keys = list(keys)
        out: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT key FROM points WHERE key IN ({','.join('?' * len(part))})"
            out.update(r[0] for r in self._db.execute(q, part))
        return out

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (with ``key``, :data:`COLUMNS` and ``config``) in one transaction."""
        data = [
            (r["key"], *(r[c] for c in COLUMNS), json.dumps(r["config"], sort_keys=True))
            for r in rows
        ]
        try:
            with self._db:
                self._db.executemany(
                    f"INSERT OR IGNORE INTO points VALUES ({','.join('?' * 11)})", data
                )
        except sqlite3.Error as e:
            raise InfwidthError(f"cannot write the sweep store {self.path}: {e}") from None

    def rows(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Stored rows by key (all, or those of ``keys``)."""
        q = f"SELECT key, {', '.join(COLUMNS)} FROM points"
        found = {r[0]: dict(zip(COLUMNS, r[1:], strict=True)) for r in self._db.execute(q)}
        if keys is None:
            return found
        return {k: found[k] for k in keys if k in found}

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0])
