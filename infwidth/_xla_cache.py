"""JAX's persistent compilation cache for the command line.

Every width of a coordinate check, every DMFT solve and every kernel sweep is a separate XLA
program; compiling them dominates a first run (the issue-3 coordinate check: 18.4 s cold, of
which ~10 s is compilation). With the cache on disk a repeated command skips compilation
(measured: 9.8 s for the same check in a fresh process). JAX keys entries by program,
backend and version, so a stale entry is never reused.

The directory is ``$INFWIDTH_XLA_CACHE`` if set (``off`` disables the cache), else
``$XDG_CACHE_HOME/infwidth/xla`` (default ``~/.cache/infwidth/xla``).
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = ("", "0", "off", "none", "false")


def cache_dir() -> Path | None:
    """Where compiled programs are kept, or None when the cache is disabled."""
    env = os.environ.get("INFWIDTH_XLA_CACHE")
    if env is not None:
        return None if env.strip().lower() in OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "infwidth" / "xla"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (imports JAX)."""
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache rather than fail
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path
