"""The ``infwidth`` command line: a thin argument-parsing layer over the public API.

Each subcommand lives in its own module ``infwidth.cli._<name>`` defining ``NAME`` (the
subcommand), ``HELP`` (one line), ``ORDER`` (position in ``--help``), ``add_arguments(parser)``
and ``run(args) -> int``; modules are discovered, so adding a command touches no other file. Command
modules must not import JAX at module level (``derive`` and ``classify`` answer from a cold
start in well under a second); those that run JAX set ``USES_JAX = True`` and get JAX's
persistent compilation cache (:mod:`infwidth._xla_cache`).
Bad input raises :class:`infwidth.errors.InfwidthError` (the checks live in
:mod:`infwidth._validate`), which becomes one line on stderr and exit code 2 — never a
traceback; so does any ``OSError`` (a disk that fills up, a file removed mid-run).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import InfwidthError


def _command_modules() -> list:
    import pkgutil

    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(mod, "NAME") and hasattr(mod, "run"):
                mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="infwidth", description=__doc__.splitlines()[0])
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"infwidth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _uses_jax=getattr(mod, "USES_JAX", False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``infwidth`` console script. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # to re-run in a subprocess
    if args._uses_jax:
        from .._xla_cache import enable_compilation_cache

        enable_compilation_cache()
    try:
        return int(args._run(args) or 0)
    except InfwidthError as exc:
        sys.stderr.write(f"infwidth {args.command}: error: {exc}\n")
        return 2
    except OSError as exc:  # last resort: outputs are checked up front (infwidth._validate)
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"infwidth {args.command}: error: {exc.strerror or exc}{where}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"infwidth {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
