"""Every built-in architecture and optimiser builds from a derived table, jits and trains."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from infwidth.sim import (
    CoordCheckConfig,
    Table,
    model_at,
    newton_schulz,
    run_widths,
    scale_table,
    table_optimizer,
)

ARCHS = {
    "mlp": {"depth": 2, "bias": True},
    "resmlp": {"bias": False},
    "cnn": {"depth": 2},
    "transformer": {"tied": True},
}


def test_scaling_reads_exponents_relative_to_base_width():
    table = Table.derive("mlp", "adam", target="mup")
    s = scale_table(table, width=256, base_width=64, lr=0.01, eps=1e-8, dims={"d_in": 8})
    # hidden: Var = (1/64) * (256/64)^-1 = 1/256; Adam LR 0.01 * (1/4); eps 1e-8 / 4
    assert s.init_std["W2"] == pytest.approx(256**-0.5)
    assert s.learning_rate["W2"] == pytest.approx(0.0025)
    assert s.epsilon["W2"] == pytest.approx(2.5e-9)
    # output: Var = (1/64) * 4^-2; input: Var = 1/d_in, LR unscaled
    assert s.init_std["W3"] == pytest.approx((1 / 64 / 16) ** 0.5)
    assert s.init_std["W1"] == pytest.approx(8**-0.5)
    assert s.learning_rate["W1"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    "arch",
    # the mlp runs through the whole pipeline in test_cli.py
    ["resmlp"] + [pytest.param(a, marks=pytest.mark.slow) for a in ("mlp", "cnn", "transformer")],
)
def test_architectures_train_finite(arch):
    table = Table.derive(arch, "adam", target="mup", **ARCHS[arch])
    depth = 2 if arch in ("resmlp", "transformer") else ARCHS[arch].get("depth", 2)
    cfg = CoordCheckConfig(
        arch=arch,
        optimizer="adam",
        widths=(16,),
        steps=2,
        seeds=2,
        lr=1e-2,
        batch_size=4,
        depth=depth,
        spectral=arch == "resmlp",  # stacked blocks: largest ||dW_l|| over l
    )
    raw = run_widths(table, cfg)
    assert (raw.diverged < 0).all()
    moved = raw.values[(table.names[0], "feature_movement_rms")][:, :, -1]
    assert np.all(moved > 0)
    model = model_at(table, cfg, 16)
    params = model.init(jr.PRNGKey(0))
    x, _ = model.batch(jr.PRNGKey(1), 3)
    f, feats = jax.jit(model.apply)(params, x)
    assert jnp.all(jnp.isfinite(f)) and feats


@pytest.mark.parametrize("arch", ["cnn", "transformer"])
def test_architectures_forward(arch):
    """Forward pass at two widths: finite, and features of O(1) coordinates at init."""
    table = Table.derive(arch, "sgd", target="mup", **ARCHS[arch])
    for width in (16, 64):
        cfg = CoordCheckConfig(arch=arch, widths=(16,), depth=2)
        model = model_at(table, cfg, width)
        x, _ = model.batch(jr.PRNGKey(1), 2)
        f, feats = jax.jit(model.apply)(model.init(jr.PRNGKey(0)), x)
        assert jnp.all(jnp.isfinite(f))
        for name, h in feats.items():
            rms = float(jnp.sqrt(jnp.mean(h**2)))
            assert 0.05 < rms < 20, (name, width, rms)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adamw", "signsgd", "adafactor", "muon"])
def test_optimizers_decrease_the_loss(optimizer):
    table = Table.derive("mlp", optimizer, target="mup")
    cfg = CoordCheckConfig(optimizer=optimizer, widths=(32,), lr=0.02, weight_decay=0.01)
    model = model_at(table, cfg, 32)
    params = model.init(jr.PRNGKey(0))
    opt = table_optimizer(optimizer, model.scaling, params)
    x, y = model.batch(jr.PRNGKey(1), 16)

    def loss(p):
        return model.loss(model.apply(p, x)[0], y)

    @jax.jit
    def step(p, s):
        u, s = opt.update(jax.grad(loss)(p), s, p)
        return optax.apply_updates(p, u), s

    state, l0 = opt.init(params), loss(params)
    for _ in range(5):
        params, state = step(params, state)
    assert loss(params) < l0


def test_newton_schulz_orthogonalises():
    g = jr.normal(jr.PRNGKey(0), (64, 16))
    o = newton_schulz(g, steps=10)
    sv = jnp.linalg.svd(o, compute_uv=False)
    assert jnp.all((sv > 0.6) & (sv < 1.3))  # Muon's quintic lands in ~[0.7, 1.2]


def test_depth_exponents_scale_branches_and_learning_rates():
    """Depth-muP: branch multiplier and Adam LR ~ L^(-1/2), constants fixed at base depth."""
    table = Table.derive("resmlp", "adam", target="depth-mup")
    s = scale_table(table, width=64, base_width=64, depth=8, base_depth=2, lr=0.1)
    assert s.branch_multiplier["block"] == pytest.approx(0.5)
    assert s.learning_rate["block.fc1"] == pytest.approx(0.05)
    assert s.learning_rate["W_in"] == pytest.approx(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resmlp", "cnn", "transformer"])
def test_mup_coordinate_check_passes_for_every_architecture(arch):
    """muP under Adam, widths 64..512: every layer's features and the output move by O(1)
    (measured: all slopes within 0.07 of 0 except the transformer's output, -0.20)."""
    from infwidth.sim import coord_check

    kw = {"cnn": {"depth": 2}}.get(arch, {})
    cfg = CoordCheckConfig(
        arch=arch,
        optimizer="adam",
        widths=(64, 128, 256, 512),
        steps=3,
        seeds=2,
        lr=0.01,
        batch_size=8,
        depth=2,
        spectral=False,
    )
    res = coord_check(Table.derive(arch, "adam", target="mup", **kw), cfg)
    assert res.passed, [s.to_json() for s in res.failed]
