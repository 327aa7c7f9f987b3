"""Input validation at the boundary: the one place that says what a valid number, seed, width
list, dtype, data array or output folder is.

Every public entry point (CLI commands and the public Python API) calls these helpers on its
inputs before any computation. Each helper returns the value in canonical form (a ``float``,
an ``int``, a sorted ``tuple`` of widths, a float64 array, a ``Path``) or raises
:class:`~infwidth.errors.InfwidthError` with one line naming the argument (``name``: ``"lr"``
from the API, ``"--lr"`` from the CLI) and the value it got. The CLI turns that into one stderr
line and exit code 2. Nothing here imports JAX.
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InfwidthError

__all__ = [
    "check_args",
    "data_array",
    "dtype",
    "finite",
    "flag",
    "nonnegative",
    "nonnegative_int",
    "npy_file",
    "npz_file",
    "out_dir",
    "positive",
    "positive_int",
    "seed",
    "widths",
]

#: Seeds are what both ``numpy.random.default_rng`` and ``jax.random.PRNGKey`` take unchanged.
SEED_MAX = 2**32 - 1
#: Float dtypes the JAX engines compute in.
DTYPES = ("float32", "float64")


def flag(dest: str) -> str:
    """The CLI flag of an argparse destination: ``"max_memory_gb"`` -> ``"--max-memory-gb"``."""
    return "--" + dest.replace("_", "-")


# ------------------------------------------------------------------------------------ numbers


def finite(name: str, x: Any) -> float:
    """``x`` as a finite ``float`` (not NaN, not +-inf; bools and strings are refused)."""
    real = isinstance(x, numbers.Real | np.number) and not isinstance(x, np.complexfloating)
    if isinstance(x, bool) or not real:
        raise InfwidthError(f"{name} must be a real number, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise InfwidthError(f"{name} must be finite, got {v}")
    return v


def positive(name: str, x: Any) -> float:
    """``x`` as a finite ``float`` > 0."""
    v = finite(name, x)
    if v <= 0:
        raise InfwidthError(f"{name} must be > 0, got {v:g}")
    return v


def nonnegative(name: str, x: Any) -> float:
    """``x`` as a finite ``float`` >= 0."""
    v = finite(name, x)
    if v < 0:
        raise InfwidthError(f"{name} must be >= 0, got {v:g}")
    return v


def _integer(name: str, x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral | np.integer):
        raise InfwidthError(f"{name} must be an integer, got {x!r}")
    return int(x)


def positive_int(name: str, x: Any, *, minimum: int = 1) -> int:
    """``x`` as an ``int`` >= ``minimum`` (default 1). Floats (``2.5``, even ``2.0``) are
    refused: a count that is not an integer is a mistake, not something to round."""
    v = _integer(name, x)
    if v < minimum:
        raise InfwidthError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def nonnegative_int(name: str, x: Any) -> int:
    """``x`` as an ``int`` >= 0."""
    return positive_int(name, x, minimum=0)


def seed(name: str, x: Any) -> int:
    """A PRNG seed: an integer in ``0..2**32 - 1`` (what NumPy's ``default_rng`` and JAX's
    ``PRNGKey`` both accept and use unchanged)."""
    v = _integer(name, x)
    if not 0 <= v <= SEED_MAX:
        raise InfwidthError(f"{name} must be an integer in 0..{SEED_MAX}, got {v}")
    return v


def widths(name: str, values: str | Iterable[Any], *, min_count: int = 1) -> tuple[int, ...]:
    """Distinct positive integer widths, sorted; ``values`` is a sequence or the CLI's
    comma-separated text. At least ``min_count`` of them (2 for a slope in the width)."""
    if isinstance(values, str):
        try:
            ws = [int(w) for w in values.split(",") if w.strip()]
        except ValueError:
            raise InfwidthError(
                f"{name} must be comma-separated integers, got {values!r}"
            ) from None
    else:
        try:
            ws = [_integer(name, w) for w in values]
        except TypeError:
            raise InfwidthError(f"{name} must be a sequence of integers, got {values!r}") from None
    if any(w < 1 for w in ws):
        raise InfwidthError(f"{name} must be positive integers, got {values!r}")
    if len(set(ws)) != len(ws):
        raise InfwidthError(f"{name} must be distinct, got {values!r}")
    if len(ws) < min_count:
        count = {1: "one width", 2: "two widths"}.get(min_count, f"{min_count} widths")
        raise InfwidthError(f"{name} needs at least {count}, got {values!r}")
    return tuple(sorted(ws))


def dtype(name: str, x: Any) -> str:
    """A float dtype name, ``"float32"`` or ``"float64"``."""
    if x not in DTYPES:
        raise InfwidthError(f"{name} must be one of {', '.join(DTYPES)}, got {x!r}")
    return str(x)


# --------------------------------------------------------------------------------------- data


def data_array(
    name: str,
    x: Any,
    *,
    ndim: int | tuple[int, ...] = 2,
    inputs: bool = True,
    min_points: int = 1,
    shape: str | None = None,
) -> np.ndarray:
    """``x`` as a finite float64 array of ``ndim`` dimensions (one of them, for a tuple).

    The first axis counts points, the others features: at least ``min_points`` points and at
    least one feature. Complex, non-numeric (strings, objects) and boolean arrays are refused,
    as are inputs (``inputs=True``) that are all zeros: every kernel and feature is then zero
    and nothing can be learnt or normalised. Targets (``inputs=False``) may be zero. ``shape``
    describes the expected layout in messages (``"(P, D)"``).
    """
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise InfwidthError(f"{name} is not a rectangular numeric array ({exc})") from None
    if np.issubdtype(a.dtype, np.complexfloating):
        raise InfwidthError(f"{name} has complex values (dtype {a.dtype}); real data only")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number):
        raise InfwidthError(f"{name} must be a numeric array, got dtype {a.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if a.ndim not in dims:
        want = shape or " or ".join(f"{d}-D" for d in dims)
        raise InfwidthError(f"{name} must be a {want} array, got shape {a.shape}")
    if a.ndim >= 1 and a.shape[0] < min_points:
        raise InfwidthError(f"{name} has {a.shape[0]} points, needs at least {min_points}")
    if a.ndim >= 2 and 0 in a.shape[1:]:
        raise InfwidthError(f"{name} has no features (shape {a.shape})")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise InfwidthError(f"{name} contains non-finite values (nan or inf)")
    if inputs and a.size and not np.any(a):
        raise InfwidthError(f"{name} is all zeros: no kernel or feature can be formed")
    return a


def _suffix(name: str, path: Path, suffix: str) -> None:
    if path.suffix != suffix:
        raise InfwidthError(f"{name} must be a {suffix} file, got {str(path)!r}")
    if not path.is_file():
        raise InfwidthError(f"{name}: no such file {str(path)!r}")


def npz_file(name: str, path: str | Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` file ``path`` (pickled objects refused), raw: pass
    them to :func:`data_array`."""
    p = Path(path)
    _suffix(name, p, ".npz")
    try:  # our own handle: np.load leaks its file when the archive is corrupt
        with open(p, "rb") as fh:
            f = np.load(fh, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise InfwidthError(f"{name} {str(p)!r} is not an .npz archive")
            with f:
                missing = [k for k in keys if k not in f.files]
                if missing:
                    raise InfwidthError(
                        f"{name} {str(p)!r} must hold arrays {', '.join(keys)} "
                        f"(missing: {', '.join(missing)})"
                    )
                return {k: f[k] for k in keys}
    except InfwidthError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InfwidthError(f"{name} {str(p)!r} is not a readable .npz file ({exc})") from None


def npy_file(name: str, path: str | Path) -> np.ndarray:
    """The array in the ``.npy`` file ``path`` (pickled objects refused), raw."""
    p = Path(path)
    _suffix(name, p, ".npy")
    try:
        with open(p, "rb") as fh:
            return np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InfwidthError(f"{name} {str(p)!r} is not a readable .npy array ({exc})") from None


# ------------------------------------------------------------------------------------ outputs


def out_dir(
    path: str | Path,
    files: Iterable[str] = (),
    *,
    folders: Iterable[str] = (),
    name: str = "--out",
) -> Path:
    """Make sure ``path`` is (or can be made) a writable folder before any work is done.

    Refused: an existing file at ``path`` or at one of its parents, a folder that cannot be
    created or written (checked by creating and deleting a temporary file in it), a folder
    sitting where one of the output ``files`` will be written and a file sitting where one of
    the sub``folders`` will be. Creates ``path``.
    """
    p = Path(path)
    if str(path) == "":
        raise InfwidthError(f"{name} must name a folder, got ''")
    for q in (p, *p.parents):
        if q.exists() and not q.is_dir():
            what = "is an existing file" if q == p else f"is under the file {str(q)!r}"
            raise InfwidthError(f"{name} {str(p)!r} {what}, not a folder")
    for f in files:
        if (p / f).is_dir():
            raise InfwidthError(f"{name} {str(p)!r} holds a folder {f!r} where an output file goes")
    for f in folders:
        if (p / f).exists() and not (p / f).is_dir():
            raise InfwidthError(f"{name} {str(p)!r} holds a file {f!r} where a folder goes")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InfwidthError(f"{name} {str(p)!r} is not writable ({reason})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise InfwidthError(f"{name} {str(p)!r} is not writable")
    return p


# ------------------------------------------------------------------------------------ the CLI


_RULES = {
    "finite": finite,
    "positive": positive,
    "nonnegative": nonnegative,
    "positive_int": positive_int,
    "nonnegative_int": nonnegative_int,
    "seed": seed,
}


def check_args(args: argparse.Namespace, **rules: Sequence[str]) -> None:
    """Apply the rules to a parsed command line, e.g.
    ``check_args(args, positive=("lr",), seed=("seed",))``; messages name the flags
    (``--lr``). Destinations whose value is ``None`` (an unset optional flag) are skipped."""
    for rule, dests in rules.items():
        check = _RULES[rule]
        for dest in dests:
            value = getattr(args, dest)
            if value is not None:
                check(flag(dest), value)
