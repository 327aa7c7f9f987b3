"""The abc symmetry of THEORY.md section 1, checked on trained networks (float64).

Shifting every tensor's exponents by ``t`` -- SGD: (a, b, c) -> (a + t, b - t, c - 2t);
Adam: (a, b, c, d) -> (a + t, b - t, c - t, d + t) -- rescales the trainable entries by
``rho^t`` and the multiplier by ``rho^-t`` (``rho = n / n_0``) and must leave the function
``f_t`` unchanged at every step. In the reporting form: init_variance += 2t,
multiplier -= t, learning_rate += 2t (SGD) or += t (Adam), epsilon -= t.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from infwidth.sim import CoordCheckConfig, Table, model_at, table_optimizer


def _shift(table: Table, t: Fraction, lr_factor: int) -> Table:
    for row in table.tensors:
        table = table.replace_width(
            row.name,
            init_variance=row.w("init_variance") + 2 * t,
            multiplier=row.w("multiplier") - t,
            learning_rate=row.w("learning_rate") + lr_factor * t,
            epsilon=row.w("epsilon") - t,
        )
    return table


def _trajectory(table: Table, optimizer: str, arch: str, steps: int = 6) -> np.ndarray:
    cfg = CoordCheckConfig(
        arch=arch,
        optimizer=optimizer,
        widths=(256,),
        base_width=32,
        lr=0.05 if optimizer == "sgd" else 0.003,
        eps=1e-6,
        dtype="float64",
        depth=2,
        dims={"d_in": 8, "d_out": 3},
    )
    model = model_at(table, cfg, 256)
    params = model.init(jr.PRNGKey(0))
    opt = table_optimizer(optimizer, model.scaling, params, stacked=model.stacked)
    x, y = model.batch(jr.PRNGKey(1), 16)

    @jax.jit
    def step(p, s):
        f = model.apply(p, x)[0]
        g = jax.grad(lambda p: model.loss(model.apply(p, x)[0], y))(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, f

    state, fs = opt.init(params), []
    for _ in range(steps):
        params, state, f = step(params, state)
        fs.append(f)
    return np.asarray(jnp.stack(fs))


@pytest.mark.parametrize(
    "optimizer, lr_factor, arch",
    [("sgd", 2, "mlp"), ("adam", 1, "mlp"), ("momentum", 2, "resmlp"), ("signsgd", 1, "mlp")],
)
@pytest.mark.parametrize("t", [Fraction(1, 2), Fraction(-1)])
def test_symmetry_shift_leaves_the_trajectory_unchanged(optimizer, lr_factor, arch, t):
    with jax.enable_x64(True):
        base = Table.derive(arch, optimizer, target="mup")
        f0 = _trajectory(base, optimizer, arch)
        f1 = _trajectory(_shift(base, t, lr_factor), optimizer, arch)
    assert np.all(np.isfinite(f0)) and np.abs(f0[-1] - f0[0]).max() > 1e-2  # it trains
    np.testing.assert_allclose(f1, f0, rtol=1e-6, atol=1e-9 * np.abs(f0).max())


def test_a_non_symmetry_changes_the_trajectory():
    """Control: shifting the SGD learning rate like Adam's (c - t) is not a symmetry."""
    with jax.enable_x64(True):
        base = Table.derive("mlp", "sgd", target="mup")
        f0 = _trajectory(base, "sgd", "mlp")
        f1 = _trajectory(_shift(base, Fraction(1, 2), 1), "sgd", "mlp")
    assert np.abs(f1 - f0).max() > 1e-3 * np.abs(f0).max()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("gauge", ["mup-package", "tp4"])
def test_every_gauge_of_mup_trains_the_same_function(optimizer, gauge):
    """TP5 Tables 3, 8 and 9 differ by per-tensor symmetry shifts: same f_t (float64)."""
    with jax.enable_x64(True):
        ref = _trajectory(Table.derive("mlp", optimizer, target="mup"), optimizer, "mlp")
        other = Table.derive("mlp", optimizer, target="mup", gauge=gauge)
        f = _trajectory(other, optimizer, "mlp")
    assert f.dtype == np.float64
    np.testing.assert_allclose(f, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max())
