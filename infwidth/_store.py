"""Crash-safe resume: one folder of finished work, each entry keyed by the settings it came from.

Long runs (the coordinate check's widths, the DMFT solve and its finite widths, the tour's
stages) save each finished piece of work as an *entry* of a :class:`Store`: a file in the
store's folder named by the caller (``width_64.npz``, ``derive.json``) that holds the piece's
data together with its *key*, the sha256 of the canonical JSON of everything the data depend
on (:func:`settings_key`). A re-run asks for the entry under the key of its own settings and
gets the saved data back, or ``None`` -- recompute -- when

* the file is missing (silently: nothing was saved yet);
* it was saved under another key (*stale*: other settings, or an older format);
* it cannot be read: empty, truncated, garbage bytes, a pickled object, a ``.npy`` where an
  ``.npz`` belongs, or a layout this version does not know.

Every case but the first prints one ``note:`` line to stderr. Nothing is ever unpickled
(``np.load(allow_pickle=False)``, JSON only). Saves write a temporary file in the same folder,
``fsync`` it and ``os.replace`` it into place, so a kill at any moment leaves either the old
entry or the new one, never half of one; a save that fails (disk full, read-only folder) is
reported by a note and the run goes on with its result in memory.

Array entries (``.npz``) keep their array names as JSON, so a name may be any string or tuple
of strings -- ``("W|1", "feature_movement_rms")`` comes back exactly as it went in.

Typical use::

    store = Store(out / "partial")
    key = settings_key("coord-check width", table_repr, cfg_json, width)
    hit = store.load_arrays(f"width_{width}", key)
    if hit is None:
        arrays = compute(...)
        store.save_arrays(f"width_{width}", key, arrays)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# Bump when the layout of entries changes: entries saved by other formats then read as stale.
FORMAT = 2

#: An array's name inside an entry: a string or a tuple of strings (stored as JSON).
Name = str | tuple[str, ...]

# What reading a damaged file may raise (np.load, zipfile, zlib, json, our own checks).
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError)
_UNREADABLE += (zipfile.BadZipFile, zlib.error, UnicodeDecodeError)


def _canonical(obj: Any) -> Any:
    """``obj`` as plain JSON data: arrays by dtype, shape and the sha256 of their bytes."""
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        digest = hashlib.sha256(a.tobytes()).hexdigest()
        return {"__array__": [a.dtype.str, list(a.shape), digest]}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    raise TypeError(f"settings_key: cannot key a {type(obj).__name__}; pass JSON data or arrays")


def settings_key(*parts: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``parts`` and the store :data:`FORMAT`.

    ``parts`` are JSON data (dicts are sorted by key, tuples read as lists, numpy scalars as
    Python numbers) and numpy arrays (by dtype, shape and the sha256 of their bytes). Equal
    settings give equal keys in every process; any difference, however small, gives another.
    Anything else (an object whose ``repr`` might hold a memory address) is refused with
    ``TypeError``: pass its JSON or an explicit ``repr`` string instead.
    """
    blob = json.dumps(
        [f"infwidth-store/{FORMAT}", _canonical(list(parts))],
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def file_digest(path: str | Path) -> str | None:
    """sha256 (hex) of the bytes of ``path``; ``None`` if it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def note(message: str) -> None:
    """Print ``note: message`` as one line on stderr (how the store reports what it skips)."""
    sys.stderr.write(f"note: {' '.join(str(message).split())}\n")


def write_atomic(path: str | Path, data: bytes | str | Callable[[Any], None]) -> Path:
    """Write ``path`` so that it is, at every moment, either its old content or the new one.

    ``data`` is the bytes or text to write, or a function ``write(binary_file)`` that writes
    it (``np.savez``, ``fig.savefig``). The content goes to a temporary file in the same
    folder, is flushed and ``fsync``-ed, then renamed over ``path`` (``os.replace`` is
    atomic on POSIX and Windows). The folder is created if needed. Raises ``OSError``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable too (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Arrays(NamedTuple):
    """An array entry as loaded: its arrays by name and the JSON ``meta`` saved beside them."""

    arrays: dict[Name, np.ndarray]
    meta: Any


class Store:
    """A folder of resumable entries (module docstring).

    Entry names are plain file stems (``width_64``): array entries live in ``<name>.npz``,
    JSON entries in ``<name>.json``. ``Store(None)`` is a store that holds nothing and saves
    nothing, so callers need no ``if cache_dir`` branches.
    """

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = None if folder is None else Path(folder)

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r})" if self.folder is not None else "Store(None)"

    def path(self, name: str, suffix: str) -> Path | None:
        """Where entry ``name`` with ``suffix`` (``.npz``, ``.json``) lives (None: no folder)."""
        if self.folder is None:
            return None
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"store entry names are plain file stems, got {name!r}")
        return self.folder / f"{name}{suffix}"

    # ----------------------------------------------------------------- arrays (.npz)

    def load_arrays(self, name: str, key: str) -> Arrays | None:
        """Entry ``name``'s arrays and meta if it was saved under ``key``; else ``None``."""
        path = self.path(name, ".npz")
        if path is None or not path.exists():
            return None
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                if "__store__" not in z.files:  # an .npz from before the store, or foreign
                    return _stale(path)
                head = json.loads(str(z["__store__"][()]))
                if head.get("format") != FORMAT or head.get("key") != key:
                    return _stale(path)
                names = [tuple(n) if isinstance(n, list) else str(n) for n in head["names"]]
                arrays = {n: np.array(z[f"a{i}"]) for i, n in enumerate(names)}
                return Arrays(arrays, head.get("meta"))
        except _UNREADABLE as e:
            return _unreadable(path, e)

    def save_arrays(
        self, name: str, key: str, arrays: Mapping[Name, Any], meta: Any = None
    ) -> bool:
        """Save ``arrays`` (and JSON ``meta``) as entry ``name`` under ``key``, atomically.

        Array names may be strings or tuples of strings; object arrays are refused
        (``ValueError``), since they could only be read back by unpickling. Returns whether
        the entry was written (a failed write is a note, not an error).
        """
        path = self.path(name, ".npz")
        if path is None:
            return False
        names, payload = [], {}
        for i, (n, v) in enumerate(arrays.items()):
            a = np.asarray(v)
            if a.dtype.hasobject:
                raise ValueError(f"store entry {name!r}: array {n!r} holds Python objects")
            names.append(list(n) if isinstance(n, tuple) else str(n))
            payload[f"a{i}"] = a
        head = json.dumps({"format": FORMAT, "key": key, "names": names, "meta": meta})
        return _save(path, lambda fh: np.savez(fh, __store__=np.asarray(head), **payload))

    # ----------------------------------------------------------------- JSON (.json)

    def load_json(self, name: str, key: str) -> Any | None:
        """Entry ``name``'s JSON data if it was saved under ``key``; else ``None``."""
        path = self.path(name, ".json")
        if path is None or not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT or doc.get("key") != key:
                return _stale(path)
            return doc["data"]
        except _UNREADABLE as e:
            return _unreadable(path, e)

    def save_json(self, name: str, key: str, data: Any) -> bool:
        """Save JSON ``data`` as entry ``name`` under ``key``, atomically (see :meth:`save_arrays`)."""
        path = self.path(name, ".json")
        if path is None:
            return False
        text = json.dumps({"format": FORMAT, "key": key, "data": data}, indent=1) + "\n"
        return _save(path, text)


def _stale(path: Path) -> None:
    note(f"{path} was saved with other settings; recomputing it")
    return None


def _unreadable(path: Path, error: BaseException) -> None:
    why = type(error).__name__
    note(f"{path} is unreadable ({why}: {str(error)[:80]}); recomputing it")
    return None


def _save(path: Path, data: Any) -> bool:
    try:
        write_atomic(path, data)
    except OSError as e:
        note(f"could not save {path} ({e.strerror or e}); the run goes on without it")
        return False
    return True
