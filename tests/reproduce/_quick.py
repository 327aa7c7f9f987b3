"""Shared by the reproduction tests: a quick run through the CLI, and one criterion's value."""

import json
import math

from infwidth.cli import main


def run_quick(tmp_path_factory, rid):
    """``infwidth reproduce RID --quick`` into a fresh folder: ``(exit code, folder,
    verdict.json, data.json)``."""
    out = tmp_path_factory.mktemp(rid)
    code = main(["reproduce", rid, "--quick", "--out", str(out)])
    verdict = json.loads((out / "verdict.json").read_text())
    data = json.loads((out / "data.json").read_text())
    return code, out, verdict, data


def value(verdict, start):
    """The measured value of the one criterion whose name starts with ``start`` (NaN if None)."""
    (c,) = [c for c in verdict["criteria"] if c["name"].startswith(start)]
    return float(c["value"]) if c["value"] is not None else math.nan
