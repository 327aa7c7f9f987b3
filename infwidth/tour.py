"""The guided tour: derive, simulate and plot, into one output folder.

Each :class:`Stage` is a function ``run(out: Path, quick: bool) -> str`` returning a one-line
summary; stages write their files (figures always with their JSON/NPZ data). A finished stage
is recorded in ``out/partial/tour/<stage>.json`` (an :class:`infwidth._store.Store` entry),
keyed by the stage's full settings (``settings(quick)``: ``tour --quick`` and ``tour`` differ
wherever the stage's work does) together with the sha256 of every output it wrote. A re-run
skips the stage, printing ``(cached)``, only when the key matches and every output is still
there byte for byte; otherwise the stage runs again. Work inside a stage that is itself
resumable (the coordinate check's widths, under ``out/partial/coord-check``) is kept across a
kill, so an interrupted stage resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from ._store import Store, file_digest, note, settings_key, write_atomic
from .spec import builtin
from .symbolic import derive
from .symbolic._render import render_markdown

_OPTIMIZERS = ("sgd", "adam")
_GAUGES = ("no-multipliers", "mup-package", "tp4")


def derive_stage(out: Path, quick: bool) -> str:
    """muP tables for an MLP under SGD and Adam, in the three TP5 gauges."""
    net = builtin("mlp")
    md = ["# muP for an MLP, derived", ""]
    data = {}
    for opt in _OPTIMIZERS:
        for gauge in _GAUGES:
            d = derive(net, opt, target="mup", gauge=gauge)
            md += [render_markdown(d), ""]
            data[f"{opt}/{gauge}"] = d.to_json()
    write_atomic(out / "mup_tables.md", "\n".join(md))
    write_atomic(out / "mup_tables.json", json.dumps(data, indent=2) + "\n")
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
    data = make("mu_transfer", out, quick=True)
    shifts = ", ".join(
        f"{t}: {v['shift_octaves']:+.2f} octaves ({v['verdict']})"
        for t, v in data["transfer"].items()
        if v["shift_octaves"] is not None
    )
    widths = f"{data['widths'][0]} -> {data['widths'][-1]}"
    return f"optimum shift {widths}: {shifts} -> mu_transfer.png/.json"


def _coord_check_settings(quick: bool) -> dict:
    from .sim._tour import TARGETS, tour_config

    return {"targets": list(TARGETS), "config": tour_config(quick=quick).to_json()}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the tour: what it runs, the files it writes, the settings they depend on."""

    name: str
    run: Callable[[Path, bool], str]
    outputs: tuple[str, ...]
    settings: Callable[[bool], dict]


STAGES: list[Stage] = [
    Stage(
        "derive",
        derive_stage,
        ("mup_tables.md", "mup_tables.json"),
        lambda quick: {"arch": "mlp", "optimizers": _OPTIMIZERS, "gauges": _GAUGES},
    ),
    Stage(
        "phase-diagram",
        phase_diagram_stage,
        ("abc_phase_diagram.png", "abc_phase_diagram.json"),
        lambda quick: {"figure": "abc_phase_diagram", "quick": quick},
    ),
    Stage(
        "coord-check",
        coord_check_stage,
        ("coord_check_compare.png", "coord_check_compare.json"),
        _coord_check_settings,
    ),
    Stage(
        "mu-transfer",
        mu_transfer_stage,
        ("mu_transfer.png", "mu_transfer.json"),
        lambda quick: {"figure": "mu_transfer", "quick": True},  # always the small version
    ),
]


def stage_key(stage: Stage, quick: bool) -> str:
    """The key a finished ``stage`` is recorded under: its name and full settings."""
    from . import __version__

    return settings_key("tour stage", __version__, stage.name, stage.settings(quick))


def _finished(store: Store, stage: Stage, key: str, out: Path) -> str | None:
    """The summary of ``stage`` if it finished under ``key`` and its outputs are intact."""
    done = store.load_json(stage.name, key)
    if done is None:
        return None
    try:
        saved, summary = dict(done["outputs"]), str(done["summary"])
    except (KeyError, TypeError, ValueError):
        note(f"{store.path(stage.name, '.json')} has an unexpected layout; rerunning the stage")
        return None
    for name in stage.outputs:
        if saved.get(name) is None or file_digest(out / name) != saved[name]:
            note(f"{out / name} is missing or changed since the {stage.name} stage; rerunning it")
            return None
    return summary


def run_tour(out: str | Path, *, quick: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run every stage into ``out``; stages finished with the same settings are reused."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / "partial" / "tour")
    for stage in STAGES:
        key = stage_key(stage, quick)
        summary = _finished(store, stage, key, out)
        if summary is not None:
            log(f"[{stage.name}] (cached) {summary}")
            continue
        summary = stage.run(out, quick)
        digests = {name: file_digest(out / name) for name in stage.outputs}
        store.save_json(stage.name, key, {"summary": summary, "outputs": digests})
        log(f"[{stage.name}] {summary}")
    return out
