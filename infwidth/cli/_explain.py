"""``infwidth explain``: write (or check) the generated derivations folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "explain"
HELP = "write the step-by-step derivations (Markdown) for every optimiser x architecture"
ORDER = 12


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="derivations", help="folder to write (default: derivations)")
    p.add_argument("--check", action="store_true", help="exit 1 if the folder is stale")


def run(args: argparse.Namespace) -> int:
    from .._validate import out_dir
    from ..symbolic._library import derivation_files

    out = Path(args.out)
    files = derivation_files()
    if args.check:
        stale = [n for n, text in files.items() if not (out / n).is_file()
                 or (out / n).read_text() != text]  # fmt: skip
        for n in stale:
            sys.stderr.write(f"stale: {out / n}\n")
        return 1 if stale else 0
    out_dir(out, files)
    for name, text in files.items():
        (out / name).write_text(text)
    sys.stdout.write(f"wrote {len(files)} derivations to {out}/\n")
    return 0
