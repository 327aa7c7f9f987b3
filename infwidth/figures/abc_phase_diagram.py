"""The regimes of abc-parametrizations (after TP4, Figure 2), computed by the symbolic engine.

A two-parameter slice of SGD abc-parametrizations of an MLP with two hidden layers, in TP4's
own form: input ``(a, b) = (-1/2, 1/2)``, hidden ``(0, 1/2)``, readout ``(a_out, 1/2)``, and one
global learning-rate exponent ``c``. Every grid point is classified exactly (unstable /
trivial / kernel / feature learning / muP). muP is the single point ``(c, a_out) = (0, 1/2)``;
the feature-learning points form the line ``r = 0``; the kernel regime fills the region above.

Writes ``abc_phase_diagram.png`` and ``abc_phase_diagram.json`` (every point's regime and r).
"""

from __future__ import annotations

import json
from pathlib import Path

import sympy as sp

from .._figure import save_png, subplots
from .._store import write_atomic
from ..spec import mlp
from ..symbolic import TensorExponents, classify_parametrization, get_optimizer

H = sp.Rational(1, 2)
REGIME_CODE = {"unstable": 0, "trivial": 1, "kernel": 2, "feature_learning": 3, "mup": 4}


def classify_grid(step: sp.Rational = H / 4) -> dict:
    net, opt = mlp(2), get_optimizer("sgd")
    cs = [sp.Rational(-1) + i * step for i in range(int(3 / step) + 1)]
    a_outs = [i * step for i in range(int(sp.Rational(3, 2) / step) + 1)]
    points = []
    for c in cs:
        for a_out in a_outs:
            params = {
                "W1": TensorExponents(-H, H, c),
                "W2": TensorExponents(sp.Integer(0), H, c),
                "W3": TensorExponents(a_out, H, c),
            }
            cl = classify_parametrization(net, params, opt)
            regime = "mup" if cl.maximal else cl.regime
            points.append({"c": str(c), "a_out": str(a_out), "regime": regime,
                           "r": None if cl.r is None else str(cl.r)})  # fmt: skip
    return {"family": "TP4 form: a=(-1/2,0,a_out), b=1/2, global c, SGD", "points": points}


def plot(data: dict, path: Path) -> None:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    pts = data["points"]
    cs = sorted({float(sp.Rational(p["c"])) for p in pts})
    aos = sorted({float(sp.Rational(p["a_out"])) for p in pts})
    grid = [[0] * len(cs) for _ in aos]
    for p in pts:
        i = aos.index(float(sp.Rational(p["a_out"])))
        j = cs.index(float(sp.Rational(p["c"])))
        grid[i][j] = REGIME_CODE[p["regime"]]
    cmap = ListedColormap(["#d9d9d9", "#fdd49e", "#9ecae1", "#31a354", "#e6550d"])
    fig, ax = subplots(figsize=(6, 4))
    ax.imshow(grid, origin="lower", cmap=cmap, vmin=0, vmax=4, aspect="auto",
              extent=(cs[0], cs[-1], aos[0], aos[-1]), interpolation="nearest")  # fmt: skip
    ax.plot([0], [0.5], "k*", ms=12)
    ax.annotate("muP", (0, 0.5), xytext=(0.15, 0.65))
    handles = [Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(5)]
    ax.legend(handles, ["unstable", "trivial", "kernel", "feature learning", "muP"],
              fontsize=7, loc="upper right")  # fmt: skip
    ax.set_xlabel("global learning-rate exponent c  (lr ~ n^-c)")
    ax.set_ylabel("readout multiplier exponent a_out")
    ax.set_title("abc-parametrizations of an MLP under SGD (TP4 form)")
    save_png(fig, path, dpi=120)


def make(out: Path, quick: bool = False) -> dict:
    """Compute, save ``abc_phase_diagram.json`` and plot ``abc_phase_diagram.png`` in ``out``."""
    data = classify_grid(H / 2 if quick else H / 4)
    write_atomic(out / "abc_phase_diagram.json", json.dumps(data, indent=1) + "\n")
    plot(data, out / "abc_phase_diagram.png")
    return data
