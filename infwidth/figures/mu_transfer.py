"""muTransfer (after TP5, Figure 1): the best learning rate moves with width under SP, not muP.

MLPs ``64 -> n -> n -> 10`` built from the derived SP and muP tables (constants fixed at base
width 64, where the two coincide), trained by full-batch SGD on the MSE to one-hot digits
(scikit-learn's digits, shipped with infwidth) for a fixed number of steps, over a grid of
base learning rates and several seeds. Diverged runs (:mod:`infwidth._divergence`: a non-finite
loss, or a final loss above ``GROWTH_BOUND**2`` times the initial one, floored at 1) are recorded
as diverged (``null``).

One compilation per width: seeds are vmapped and learning rates mapped over inside one jitted
program (SGD's update is linear in the learning rate, so it scales the per-tensor update of
the table's optimiser); memory stays at ``seeds`` copies of one network.

Writes ``mu_transfer.png`` and ``mu_transfer.json`` (final loss per target, width, learning
rate and seed; the best learning rate per target and width).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .._divergence import grown_beyond
from .._store import write_atomic

TARGETS = ("sp", "mup")


def _data(n_points: int, seed: int = 0):
    from ..data import load_digits

    ds = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds.labels))[:n_points]
    x = ds.x[idx]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = np.eye(10)[ds.labels[idx]]
    return x.astype(np.float32), y.astype(np.float32)


def final_losses(
    target: str, width: int, log2_lrs: np.ndarray, *, steps: int, seeds: int, n_points: int
) -> np.ndarray:
    """Final training loss, shape ``(len(log2_lrs), seeds)``; ``nan`` where it diverged."""
    import jax
    import jax.numpy as jnp
    import optax

    from ..sim import CoordCheckConfig, Table, model_at, table_optimizer

    table = Table.derive("mlp", "sgd", target=target)
    cfg = CoordCheckConfig(
        optimizer="sgd", widths=(width,), base_width=64, lr=1.0, dims={"d_in": 64, "d_out": 10}
    )
    model = model_at(table, cfg, width)
    opt = table_optimizer("sgd", model.scaling, table.names, stacked=model.stacked)
    x, y = (jnp.asarray(a) for a in _data(n_points))

    def loss_fn(params):
        f, _ = model.apply(params, x)
        return 0.5 * jnp.mean(jnp.sum((f - y) ** 2, axis=-1))

    def run(lr, key):
        params = model.init(key)
        state = opt.init(params)

        def step(carry, _):
            params, state = carry
            grads = jax.grad(loss_fn)(params)
            updates, state = opt.update(grads, state, params)
            updates = jax.tree_util.tree_map(lambda u: lr * u, updates)
            return (optax.apply_updates(params, updates), state), None

        loss0 = loss_fn(params)
        (params, _), _ = jax.lax.scan(step, (params, state), None, length=steps)
        return jnp.stack([loss0, loss_fn(params)])

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    lrs = jnp.asarray(2.0**log2_lrs, dtype=jnp.float32)
    # seeds vmapped, learning rates mapped one after another: memory ~ seeds x one network
    out = jax.jit(lambda lrs: jax.lax.map(lambda lr: jax.vmap(run, (None, 0))(lr, keys), lrs))(lrs)
    out = np.asarray(out, dtype=np.float64)  # (lrs, seeds, [initial, final])
    with np.errstate(invalid="ignore"):
        size = np.sqrt(out)  # a loss is a squared size
    final = out[..., 1].copy()
    final[grown_beyond(size[..., 1], size[..., 0])] = np.nan  # diverged
    return final


def compute(quick: bool = False) -> dict:
    widths = (64, 256, 1024) if quick else (64, 256, 1024, 2048)
    log2_lrs = np.arange(-6.0, 3.5, 1.0) if quick else np.arange(-6.0, 1.5, 0.5)
    steps, seeds, n_points = (40, 2, 256) if quick else (50, 2, 256)
    data: dict = {"widths": list(widths), "log2_lrs": log2_lrs.tolist(), "steps": steps,
                  "seeds": seeds, "n_points": n_points, "runs": {}, "best_log2_lr": {}}  # fmt: skip
    for target in TARGETS:
        for width in widths:
            losses = final_losses(target, width, log2_lrs, steps=steps, seeds=seeds,
                                  n_points=n_points)  # fmt: skip
            key = f"{target}/{width}"
            data["runs"][key] = [[None if np.isnan(v) else float(v) for v in row] for row in losses]
            mean = np.nanmean(np.where(np.isnan(losses), np.inf, losses), axis=1)
            data["best_log2_lr"][key] = float(log2_lrs[int(np.argmin(mean))])
    return data


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lr = np.asarray(data["log2_lrs"])
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(9, 3.5), sharey=True)
    for ax, target in zip(axes, TARGETS, strict=True):
        for i, width in enumerate(data["widths"]):
            runs = np.array(data["runs"][f"{target}/{width}"], dtype=float)
            with warnings.catch_warnings():  # all seeds diverged: a gap in the curve
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(runs, axis=1)
            ax.plot(lr, mean, "o-", ms=3, color=f"C{i}", label=f"n={width}")
            ax.axvline(data["best_log2_lr"][f"{target}/{width}"], color=f"C{i}", ls=":", lw=1)
        ax.set(title={"sp": "standard parametrization", "mup": "muP"}[target],
               xlabel="log2 base learning rate", yscale="log")  # fmt: skip
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"training loss after {data['steps']} steps")
    fig.suptitle(
        "muTransfer: the optimal learning rate is stable across width under muP", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def make(out: Path, quick: bool = False) -> dict:
    data = compute(quick)
    write_atomic(out / "mu_transfer.json", json.dumps(data, indent=1) + "\n")
    plot(data, out / "mu_transfer.png")
    return data
