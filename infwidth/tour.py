"""The guided tour: derive, (later) simulate and plot, into one output folder.

Each stage is a function ``stage(out: Path, quick: bool) -> str`` returning a one-line
summary; stages write their files (figures always with their JSON/NPZ data) and are skipped
on a re-run when their outputs already exist, so an interrupted tour resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .spec import builtin
from .symbolic import derive
from .symbolic._render import render_markdown


def derive_stage(out: Path, quick: bool) -> str:
    """muP tables for an MLP under SGD and Adam, in the three TP5 gauges."""
    net = builtin("mlp")
    md = ["# muP for an MLP, derived", ""]
    data = {}
    for opt in ("sgd", "adam"):
        for gauge in ("no-multipliers", "mup-package", "tp4"):
            d = derive(net, opt, target="mup", gauge=gauge)
            md += [render_markdown(d), ""]
            data[f"{opt}/{gauge}"] = d.to_json()
    (out / "mup_tables.md").write_text("\n".join(md))
    (out / "mup_tables.json").write_text(json.dumps(data, indent=2) + "\n")
    return "derived muP tables (SGD, Adam x 3 gauges) -> mup_tables.md, mup_tables.json"


def phase_diagram_stage(out: Path, quick: bool) -> str:
    """Where SP, NTP and muP sit: the regimes of abc-parametrizations, classified exactly."""
    from .figures import make

    data = make("abc_phase_diagram", out, quick=quick)
    n = len(data["points"])
    return f"classified {n} abc-parametrizations -> abc_phase_diagram.png/.json"


def coord_check_stage(out: Path, quick: bool) -> str:
    """Train muP, NTP and SP MLPs at growing width; measured vs derived exponents."""
    from .sim._tour import coord_check_stage as stage

    return stage(out, quick)


def mu_transfer_stage(out: Path, quick: bool) -> str:
    """SP vs muP MLPs on digits over a learning-rate grid at several widths (TP5 Fig. 1)."""
    from .figures import make

    # always the small version here (about 30 s); `python figures/make.py mu_transfer` for more
    best = make("mu_transfer", out, quick=True)["best_log2_lr"]
    text = ", ".join(f"{k}: {v:+.1f}" for k, v in best.items())
    return f"best log2 learning rate per target/width: {text} -> mu_transfer.png/.json"


STAGES: list[tuple[str, Callable[[Path, bool], str], tuple[str, ...]]] = [
    ("derive", derive_stage, ("mup_tables.md", "mup_tables.json")),
    ("phase-diagram", phase_diagram_stage, ("abc_phase_diagram.png", "abc_phase_diagram.json")),
    ("coord-check", coord_check_stage, ("coord_check_compare.png", "coord_check_compare.json")),
    ("mu-transfer", mu_transfer_stage, ("mu_transfer.png", "mu_transfer.json")),
]


def run_tour(out: str | Path, *, quick: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run every stage into ``out``; finished stages (all outputs present) are skipped."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, stage, outputs in STAGES:
        if outputs and all((out / o).exists() for o in outputs):
            log(f"[{name}] done already (outputs exist), skipping")
            continue
        log(f"[{name}] {stage(out, quick)}")
    return out
