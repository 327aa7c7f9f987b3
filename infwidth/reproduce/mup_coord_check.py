"""The ``mup`` package README's coordinate-check figure (MLP, SGD and Adam, SP vs muP).

Setup of the package (``mup/coord_check.py``, ``mup/test/models.py``), kept exactly:
MLP :math:`3072 \\to n \\to n \\to 10` with biases and ReLU,
:math:`f = m_3\\,\\phi(h^2) W^3 + b^3`, :math:`h^2 = \\phi(h^1) W^2 + b^2`, :math:`h^1 = x W^1 + b^1`;
widths :math:`n = 2^7..2^{13}`; batch size 1, the same example every step; cross-entropy;
SGD lr 0.1 or Adam lr :math:`10^{-3}` (betas 0.9/0.999, :math:`\\epsilon = 10^{-8}` unscaled,
as ``MuAdam``); 5 seeds (initialisation only). The forward pass at step ``t = 1, 2, 3`` is
recorded before that step's update (``t = 1``: at init), and every module's output is
summarised by its :math:`\\ell_1` coordinate size :math:`\\mathrm{mean}|x|` (``fc1`` = :math:`h^1`,
``relu1``, ``fc2`` = :math:`h^2`, ``relu2``, ``readout`` = :math:`f`).

* **SP** (``set_base_shapes(model, None)``): PyTorch's default ``nn.Linear`` init, weights and
  biases uniform :math:`\\pm 1/\\sqrt{\\mathrm{fan\\_in}}` (variance :math:`1/(3\\,\\mathrm{fan\\_in})`),
  readout not zeroed, one learning rate for every tensor.
* **muP** (base width 256): Kaiming fan-in normal weights (:math:`\\sigma^2 = 2/\\mathrm{fan\\_in}`),
  ``MuReadout`` (multiplier :math:`m_3 = n_0/n`) zero-initialised with its bias, the hidden
  biases PyTorch-uniform rescaled by :math:`\\sqrt{n/n_0}` (``set_base_shapes``: :math:`b^2` is
  :math:`\\pm 1/\\sqrt{n_0}`), ``MuSGD`` / ``MuAdam`` per-tensor learning rates.

The per-tensor numbers (init scale, readout multiplier, learning rates) come from the derived
tables (``Table.derive("mlp", opt, target=..., gauge="mup-package", bias=True)``; SP's
``target="sp"``) through :func:`~infwidth.sim.scale_table` at base width 256; only the
PyTorch bias convention (a bias drawn with its weight's fan-in) is written here. Training
is :func:`infwidth.sim.train` on :func:`infwidth.sim.build_model`'s MLP.

The **corrupted table** (``mup-bad``): the muP Adam table with the hidden matrix's
learning-rate exponent set to 0 (``MuAdam``'s :math:`n_0/n` left out); its coordinate check must
FAIL (a criterion of the verdict).

Input (stand-in for the package's first CIFAR-10 training image, which is not shipped): one
seeded random vector of 3072 "normalised pixels" :math:`\\mathrm{clip}(\\mathcal N(-0.05,
0.5^2), -1, 1)` (CIFAR-10 normalised to :math:`[-1, 1]` has mean :math:`\\approx -0.05`, standard
deviation :math:`\\approx 0.5`), label 6 (that image's class).

Per module and ``t`` the slope of :math:`\\log \\mathrm{mean}_s \\ell_1` against :math:`\\log n`
(:func:`infwidth._fit.fit_exponent`, bootstrap over seeds) and its coordinate-check verdict
against exponent 0 (:func:`infwidth._fit.verdict`) over :math:`n \\ge 256` (REPRODUCTIONS.md:
muP flat for :math:`n \\ge 256`). A point of ``data.json`` is one (target, optimizer, width,
seed, module, t): ``loss`` holds its :math:`\\ell_1` (the figure's y).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._run import Criterion, criterion

ID = "mup-coord-check"
TITLE = "mup README coordinate check: MLP, SGD and Adam, SP vs muP, t = 1, 2, 3"
PAPER = "microsoft/mup README (coord_checks/*_mlp_*_coord.png); TP5 Fig. 5"
STAND_IN = (
    "one seeded random CIFAR-like vector (3072 pixels ~ clip(N(-0.05, 0.5^2), -1, 1), label 6) "
    "instead of the first CIFAR-10 image; JAX float32"
)
D_IN, D_OUT, BASE, LABEL = 3072, 10, 256, 6
LR = {"sgd": 0.1, "adam": 1e-3}
MODULES = ("fc1", "relu1", "fc2", "relu2", "readout")
#: (target, optimizer) runs; mup-bad is muP Adam with the hidden LR exponent 0
RUNS = (("sp", "sgd"), ("mup", "sgd"), ("sp", "adam"), ("mup", "adam"), ("mup-bad", "adam"))
SIZES = {
    True: {"widths": (256, 1024, 4096), "seeds": 2},
    False: {"widths": tuple(2**k for k in range(7, 14)), "seeds": 5},
}
#: the smallest width of the verdict's fits (muP flat from n >= 256) and of SP's blow-up
#: slopes (read off the README figure over n >= 1024)
FIT_MIN, BLOWUP_MIN = 256, 1024
#: tolerance of a module's coordinate-check verdict (|slope - 0| with its 95% interval)
TOL = 0.15


def table(target: str, optimizer: str):
    """The derived table of ``target`` (``sp``, ``mup``, ``mup-bad``) for ``optimizer``."""
    from ..sim import Table

    if target == "sp":
        return Table.derive("mlp", optimizer, target="sp", bias=True)
    t = Table.derive("mlp", optimizer, target="mup", gauge="mup-package", bias=True)
    return t.replace_width("W2", learning_rate="0") if target == "mup-bad" else t


def network(target: str, optimizer: str, width: int):
    """``(model, init, optimizer)`` of one run at ``width`` (module docstring); ``init(key)``
    draws the package's initialisation."""
    import jax.numpy as jnp
    import jax.random as jr
    import optax

    from ..sim import build_model, scale_table, table_optimizer

    tab = table(target, optimizer)
    sp = target == "sp"
    dims = {"d_in": D_IN, "d_out": D_OUT}
    # SP: uniform +-1/sqrt(fan_in) has variance 1/(3 fan_in); muP: Kaiming normal 2/fan_in
    s = scale_table(tab, width=width, base_width=BASE, lr=LR[optimizer], init_gain=1 / 3 if sp else 2.0, dims=dims)  # fmt: skip
    # MuAdam does not scale epsilon (the table's n^-1 would be the derivation's choice)
    s = dataclasses.replace(s, epsilon={k: 1e-8 for k in s.epsilon})
    model = build_model("mlp", s, names=tab.names, dims=dims)
    model = model._replace(loss=lambda f, y: optax.softmax_cross_entropy_with_integer_labels(f, y).mean())  # fmt: skip
    shapes = {"W1": (D_IN, width), "b1": (width,), "W2": (width, width), "b2": (width,),
              "W3": (width, D_OUT), "b3": (D_OUT,)}  # fmt: skip
    # PyTorch draws a bias with its weight's fan-in; set_base_shapes rescales muP's hidden
    # bias by sqrt(n / n0) (its fan-in is infinite), so b2 is +-1/sqrt(n0)
    bias_bound = {"b1": 1 / math.sqrt(D_IN), "b2": 1 / math.sqrt(BASE if not sp else width),
                  "b3": 1 / math.sqrt(width) if sp else 0.0}  # fmt: skip

    def init(key):
        keys = dict(zip(sorted(shapes), jr.split(key, len(shapes)), strict=True))
        p = {}
        for name in ("W1", "W2", "W3"):
            std = s.init_std[name]
            if sp:
                b = math.sqrt(3) * std
                p[name] = jr.uniform(keys[name], shapes[name], jnp.float32, -b, b)
            elif name == "W3":  # MuReadout zero-initialised
                p[name] = jnp.zeros(shapes[name], jnp.float32)
            else:
                p[name] = std * jr.normal(keys[name], shapes[name], jnp.float32)
        for name, b in bias_bound.items():
            p[name] = jr.uniform(keys[name], shapes[name], jnp.float32, -b, b)
        return p

    return model, init, table_optimizer(optimizer, s, tab.names, b2=0.999)


def the_input() -> tuple[np.ndarray, np.ndarray]:
    """The stand-in batch: ``x`` (1, 3072), label (1,) (module docstring)."""
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(-0.05, 0.5, (1, D_IN)), -1.0, 1.0).astype(np.float32)
    return x, np.array([LABEL], dtype=np.int32)


def coords(target: str, optimizer: str, width: int, seeds: int) -> np.ndarray:
    """:math:`\\ell_1` of every module at ``t = 1, 2, 3``: array ``(seeds, 3, modules)``."""
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    from ..sim import train

    model, init, opt = network(target, optimizer, width)
    x, y = (jnp.asarray(a) for a in the_input())

    def record(step):
        h1, h2 = step.features["W1"], step.features["W2"]
        mods = (h1, jax.nn.relu(h1), h2, jax.nn.relu(h2), step.f)
        return jnp.stack([jnp.mean(jnp.abs(m)) for m in mods])

    @jax.jit
    def run(key):
        return train(model, opt, init(key), x, y, steps=3, record=record)[1]

    return np.stack([np.asarray(run(jr.PRNGKey(s))) for s in range(seeds)])


def compute(quick: bool, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int, int]:
    """Every (run, width): ``seeds`` trainings, resumed from ``out/partial``."""
    from .._store import Store, settings_key

    z = SIZES[quick]
    store = Store(out / "partial")
    x, _ = the_input()
    config = {"widths": list(z["widths"]), "seeds": z["seeds"], "base_width": BASE,
              "lr": LR, "steps": 3, "batch": 1, "input": STAND_IN, "runs": [list(r) for r in RUNS]}  # fmt: skip
    points: list[dict[str, Any]] = []
    computed = cached = 0
    for target, opt in RUNS:
        for n in z["widths"]:
            name = f"{target}_{opt}_{n}"
            key = settings_key(ID, target, opt, n, z["seeds"], LR[opt], BASE, x, LABEL)
            vals = store.load_json(name, key)
            fresh = vals is None
            if fresh:
                vals = coords(target, opt, n, z["seeds"]).tolist()
                store.save_json(name, key, vals)
            for s, per_t in enumerate(vals):
                for t, row in enumerate(per_t, start=1):
                    for module, v in zip(MODULES, row, strict=True):
                        computed, cached = computed + fresh, cached + (not fresh)
                        ok = v is not None and math.isfinite(v)
                        points.append({
                            "sweep": f"{target}-{opt}", "target": target, "optimizer": opt,
                            "width": n, "depth": 2, "log2_lr": math.log2(LR[opt]), "seed": s,
                            "loss": v if ok else None, "diverged": not ok, "step": 3,
                            "module": module, "t": t,
                        })  # fmt: skip
    return config, points, computed, cached


def _values(points, min_width: int, **match) -> tuple[np.ndarray, np.ndarray]:
    """``(widths, l1 (widths, seeds))`` of the matching points (NaN: diverged)."""
    rows = [p for p in points if all(p.get(k) == v for k, v in match.items())]
    widths = np.array(sorted({p["width"] for p in rows if p["width"] >= min_width}))
    vals = np.array([[np.nan if p["loss"] is None else p["loss"]
                      for p in sorted(rows, key=lambda p: p["seed"]) if p["width"] == n]
                     for n in widths])  # fmt: skip
    return widths, vals


def module_slope(points, target: str, optimizer: str, module: str, t: int,
                 min_width: int = FIT_MIN) -> dict[str, Any]:  # fmt: skip
    """Slope of :math:`\\ell_1` vs width (95% bootstrap interval) and its coordinate-check
    verdict against exponent 0 (:func:`infwidth._fit.verdict`); ``zero``: every value is
    exactly 0 (the muP readout at ``t = 1``)."""
    from fractions import Fraction

    from .._fit import fit_exponent, verdict

    widths, vals = _values(points, min_width, target=target, optimizer=optimizer,
                           module=module, t=t)  # fmt: skip
    zero = bool(vals.size) and bool(np.all(vals == 0))
    fit = fit_exponent(widths, vals)
    if fit is None:
        j = verdict(None, None, None, Fraction(0), tol=TOL, widths=widths)
        return {"slope": None, "ci": None, "verdict": "PASS" if zero else j.verdict,
                "reason": "exactly 0 at every width" if zero else j.reason, "zero": zero}  # fmt: skip
    j = verdict(fit.slope, fit.ci_low, fit.ci_high, Fraction(0), tol=TOL, widths=fit.sizes)
    return {"slope": round(fit.slope, 4), "ci": [round(fit.ci_low, 4), round(fit.ci_high, 4)],
            "verdict": j.verdict, "reason": j.reason, "zero": zero}  # fmt: skip


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per run, module and ``t``: the slope and verdict (n >= 256); per run its overall
    verdict (FAIL if any module fails); SP's blow-up slopes over n >= 1024."""
    runs: dict[str, Any] = {}
    for target, opt in RUNS:
        mods = {m: {str(t): module_slope(points, target, opt, m, t) for t in (1, 2, 3)}
                for m in MODULES}  # fmt: skip
        worst = [v["verdict"] for m in mods.values() for v in m.values()]
        overall = (
            "FAIL" if "FAIL" in worst else "PASS" if set(worst) == {"PASS"} else "INCONCLUSIVE"
        )
        runs[f"{target}-{opt}"] = {"modules": mods, "verdict": overall}
    blowup = {
        "sp-adam readout t=3": module_slope(points, "sp", "adam", "readout", 3, BLOWUP_MIN),
        "sp-adam fc2 t=3": module_slope(points, "sp", "adam", "fc2", 3, BLOWUP_MIN),
        "sp-sgd readout t=2": module_slope(points, "sp", "sgd", "readout", 2, BLOWUP_MIN),
    }
    return {"runs": runs, "blowup_n>=1024": {k: v["slope"] for k, v in blowup.items()},
            "paper": "read off the README images: SP+Adam readout t=3 slope ~1.5 (n >= 1024), "
                     "hidden ~1; SP+SGD readout t=2 slope ~1; muP flat for n >= 256; muP "
                     "readout at t=1 exactly 0"}  # fmt: skip


def _max_abs(points, target: str, optimizer: str) -> float | None:
    """Largest |slope| over every module and t of a run (None if any is missing)."""
    s = [module_slope(points, target, optimizer, m, t) for m in MODULES for t in (1, 2, 3)]
    vals = [abs(v["slope"]) for v in s if not v["zero"]]
    return None if any(v["slope"] is None and not v["zero"] for v in s) else max(vals)


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    rep = report(points)
    verdicts = {k: v["verdict"] for k, v in rep["runs"].items()}
    blow = rep["blowup_n>=1024"]
    readout0 = max(abs(p["loss"]) for p in points if p["target"] == "mup"
                   and p["module"] == "readout" and p["t"] == 1)  # fmt: skip
    bad = [module_slope(points, "mup-bad", "adam", m, 3)["slope"] for m in MODULES]
    # the README's slopes are read off at n <= 8192; quick fits n = 1024, 4096 only
    lo = (
        {"readout": 1.0, "hidden": 0.4, "sgd": 0.5}
        if quick
        else {"readout": 1.2, "hidden": 0.5, "sgd": 0.6}
    )
    return [
        criterion("muP SGD: every module's coord check PASSes (1 = yes)",
                  float(verdicts["mup-sgd"] == "PASS"), ">=", 1),
        criterion("muP Adam: every module's coord check PASSes (1 = yes)",
                  float(verdicts["mup-adam"] == "PASS"), ">=", 1),
        criterion("muP: largest |slope| over modules, t, SGD and Adam (n >= 256)",
                  max(_max_abs(points, "mup", o) or math.inf for o in LR), "<=", TOL),
        criterion("muP readout at t=1 (zero readout): largest |f|", readout0, "<=", 0.0),
        criterion("SP Adam: readout slope at t=3, n >= 1024 (README ~1.5)",
                  blow["sp-adam readout t=3"], ">=", lo["readout"]),
        criterion("SP Adam: fc2 slope at t=3, n >= 1024 (README ~1)",
                  blow["sp-adam fc2 t=3"], ">=", lo["hidden"]),
        criterion("SP SGD: readout slope at t=2, n >= 1024 (README ~1)",
                  blow["sp-sgd readout t=2"], ">=", lo["sgd"]),
        criterion("SP fails its coord check, SGD and Adam (1 = both FAIL)",
                  float(verdicts["sp-sgd"] == verdicts["sp-adam"] == "FAIL"), ">=", 1),
        criterion("corrupted table (Adam hidden LR unscaled) FAILs (1 = yes)",
                  float(verdicts["mup-bad-adam"] == "FAIL"), ">=", 1),
        criterion("corrupted table: largest module slope at t=3 (n >= 256)",
                  None if None in bad else max(bad), ">=", 0.2),
    ]  # fmt: skip


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    """As ``mup.coord_check.plot_coord_data``: per run a row, per ``t`` a panel, one line
    per module (seed mean, log2 axes); the legend carries each module's fitted slope
    (n >= 256) and verdict."""
    from ._plot import save, subplots

    fig, axes = subplots(len(RUNS), 3, figsize=(12, 2.6 * len(RUNS)), squeeze=False)
    for row, (target, opt) in zip(axes, RUNS, strict=True):
        for ax, t in zip(row, (1, 2, 3), strict=True):
            for i, m in enumerate(MODULES):
                widths, vals = _values(points, 0, target=target, optimizer=opt, module=m, t=t)
                mean = np.nanmean(vals, axis=1)
                ok = mean > 0
                s = module_slope(points, target, opt, m, t)
                lab = f"{m}: " + ("0" if s["zero"] else f"{s['slope']:+.2f} {s['verdict']}")
                ax.plot(widths[ok], mean[ok], "o-", ms=3, color=f"C{i}", label=lab)
            ax.set(xscale="log", yscale="log", title=f"{target} {opt} lr={LR[opt]:g}, t={t}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
            ax.title.set_fontsize(8)
            ax.legend(fontsize=5, title="slope (n>=256)", title_fontsize=5)
        row[0].set_ylabel("l1 = mean |x|")
    for ax in axes[-1]:
        ax.set_xlabel("width")
    save(fig, path, TITLE + " (quick)" * quick, dpi=110)
