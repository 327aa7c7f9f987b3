"""The small transfer test: a learning-rate bracket at two or three widths, the model *as
implemented* (its own optax chain, :mod:`._train`), judged by the sweep engine's rule.

At every width ``n`` the model trains ``steps`` steps at learning rates :math:`2^{x}\\eta_n`
for ``x`` on a uniform log2 grid around 0 (:math:`\\eta_n`: the model's own rates at ``n``);
the metric is the mean training loss over the last quarter of the steps (``+inf`` when
diverged). :func:`infwidth.sweep.analyse` refines each width's optimum :math:`x^*(n)` (parabola
in log2 LR, on that width's own points) and the sweep's rule gives the verdict: the implementation transfers when
:math:`\\max_n x^*(n) - \\min_n x^*(n)` is within ``tolerance`` octaves, at this horizon only.
A width whose optimum lies on the bracket's edge gets one more point on that side, at most
``extend`` times; if it is still on the edge the spread is a lower bound, which decides
"does not transfer" when it already exceeds the tolerance (and is inconclusive otherwise).

Why not :func:`infwidth.sweep.run_sweep`: the sweep trains a *target's* table (its user-model
path rescales the user's standard initialisation to the target), while the doctor must train
the parametrization the user implemented, bugs included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InfwidthError
from ..sweep import analyse
from ..sweep._analysis import judge  # the sweep's verdict rule, on per-width optima
from ._model import UserModel, build
from ._train import stepper, train

#: the default bracket: log2 multipliers of the model's own learning rates
BRACKET = (-2.0, -1.0, 0.0, 1.0, 2.0)
TOLERANCE = 1.0


def _metric(losses: np.ndarray) -> tuple[float | None, bool]:
    tail = losses[-max(1, len(losses) // 4) :]
    if not np.all(np.isfinite(tail)):
        return None, True
    return float(np.mean(tail)), False


def check(bracket: Sequence[float], steps: int) -> list[float]:
    """The sorted bracket, or one clear line for a bad bracket or horizon."""
    grid = sorted(float(x) for x in bracket)
    if len(grid) < 3 or not np.allclose(np.diff(grid), grid[1] - grid[0]) or grid[1] == grid[0]:
        raise InfwidthError(
            f"the transfer bracket needs at least 3 evenly spaced points, got {grid}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise InfwidthError(f"the transfer test needs at least 2 steps, got {steps!r}")
    return grid


def transfer_test(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    *,
    steps: int = 40,
    bracket: Sequence[float] = BRACKET,
    tolerance: float = TOLERANCE,
    extend: int = 2,
) -> dict[str, Any]:
    """``{"verdict", "shift_octaves", "spread_octaves", "optima", "points", "sentence", ...}``
    of the implementation ``make`` at ``widths`` (module docstring)."""
    grid = check(bracket, steps)
    d = grid[1] - grid[0]
    widths = sorted(int(w) for w in widths)
    records: list[dict[str, Any]] = []
    full, optima = list(grid), []
    for w in widths:
        model = build(make, w)
        step = stepper(model)
        todo, done, ext = list(grid), [], 0
        while todo:
            for x in todo:
                loss, diverged = _metric(train(model, steps, log2_mult=x, step=step)[0])
                records.append(
                    {"target": "model", "width": w, "depth": 1, "log2_lr": x, "seed": 0,
                     "loss": loss, "loss0": None, "diverged": diverged}
                )  # fmt: skip
            done += todo
            opt = analyse([r for r in records if r["width"] == w], sorted(done))["optima"][0]
            todo = []
            if (opt["on_edge"] or opt["log2_lr"] is None) and ext < extend:
                ext += 1
                low = opt["log2_lr"] is None or opt["log2_lr"] == min(done)
                todo = [min(done) - d if low else max(done) + d]
        optima.append(opt)  # judged on the width's own points: its edges are its own
        full = sorted(set(full) | set(done))
    shift, spread, verdict = judge(optima, tolerance)
    bound = False
    if verdict == "inconclusive" and spread is not None:
        # an optimum on an edge lies at least that far out: beyond tolerance already decides
        bound = spread > tolerance
        verdict = "does not transfer" if bound else verdict
    doc = {
        "verdict": verdict,
        "lower_bound": bound,
        "shift_octaves": shift,
        "spread_octaves": spread,
        "tolerance_octaves": tolerance,
        "steps": steps,
        "widths": widths,
        "log2_lr_multipliers": full,
        "optima": [{k: o[k] for k in ("width", "log2_lr", "on_edge", "loss")} for o in optima],
        "points": [{k: r[k] for k in ("width", "log2_lr", "loss", "diverged")} for r in records],
    }
    doc["sentence"] = sentence(doc)
    return doc


def sentence(doc: dict[str, Any]) -> str:
    """The verdict in words: transfers / does not, and by how many octaves it moved."""
    w0, w1, s = doc["widths"][0], doc["widths"][-1], doc["shift_octaves"]
    least = "at least " if doc.get("lower_bound") else ""
    moved = "" if s is None else f"the optimal learning rate moved by {least}{s:+.2f} octaves"
    at = f"at this horizon ({doc['steps']} steps, widths {w0} to {w1})"
    if doc["verdict"] == "transfers":
        return f"Transfers {at}: {moved} (tolerance {doc['tolerance_octaves']:g})."
    if doc["verdict"] == "does not transfer":
        return (
            f"Does not transfer {at}: {moved}; the spread is {least}"
            f"{doc['spread_octaves']:.2f} "
            f"octaves (tolerance {doc['tolerance_octaves']:g})."
        )
    return f"Inconclusive {at}: an optimum lies on the bracket's edge or every point diverged."
