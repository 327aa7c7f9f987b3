"""SGD on factored matrices (W_0 + U V^T) is SGD: same records as the dense update, and the
fast Gaussian generator is Gaussian, reproducible, and vmap-consistent."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from infwidth.sim import CoordCheckConfig, Table, run_widths
from infwidth.sim._lowrank import (
    LowRank,
    factorize,
    lowrank_power_iteration,
    sgd_append,
    worth_factoring,
)
from infwidth.sim._rng import normal

_BASE = dict(  # 2 T R = 48 = width: the hidden matrices are factored, d_in and d_out are not
    widths=(48,),
    steps=3,
    seeds=2,
    batch_size=8,
    lr=0.5,
    depth=2,
    dims={"d_in": 5, "d_out": 3},
    dtype="float64",
    spectral=True,
)


def _dense_and_factored(table: Table, **overrides) -> tuple[dict, dict]:
    """The records of the same float64 check with the dense and the factored update."""
    with jax.enable_x64(True):
        return tuple(
            run_widths(table, CoordCheckConfig(**{**_BASE, **overrides, "factor_sgd": f})).values
            for f in (False, True)
        )


def _assert_same_records(dense: dict, fact: dict) -> None:
    assert dense.keys() == fact.keys()
    for k in dense:
        np.testing.assert_allclose(fact[k], dense[k], rtol=1e-9, atol=1e-12, err_msg=str(k))


@pytest.mark.parametrize(
    "arch, optimizer, weight_decay",
    [("mlp", "sgd", 0.0), ("resmlp", "sgd", 0.0), ("mlp", "momentum", 0.1), ("mlp", "sgd", 0.1)],
)
def test_factored_sgd_records_equal_the_dense_update(arch, optimizer, weight_decay):
    kw = {"depth": 2} if arch == "mlp" else {}
    table = Table.derive(arch, optimizer, target="mup", **kw)
    dense, fact = _dense_and_factored(
        table, arch=arch, optimizer=optimizer, weight_decay=weight_decay
    )
    moved = dense[("output", "output_movement_rms")][..., -1]
    assert (moved > 1e-2).all()  # it trains
    assert [k for k in dense if k[1] == "spectral_ratio"], "spectral ratios must be recorded"
    _assert_same_records(dense, fact)


def test_factored_matmul_gradient_carries_the_weight_gradient():
    """The probe cotangent is [h, dL/dz]; h^T dL/dz is the dense weight gradient."""
    k1, k2, k3 = jr.split(jr.PRNGKey(0), 3)
    h, w = jr.normal(k1, (4, 6)), jr.normal(k2, (6, 5))
    target = jr.normal(k3, (4, 5))

    def loss(w):
        return jnp.sum(jnp.tanh(h @ w) * target)

    g = jax.grad(loss)(w)
    lr = factorize(w, rows=4, steps=2)
    probe = jax.grad(lambda p: loss(p))(lr).probe
    np.testing.assert_allclose(probe[:, :6].T @ probe[:, 6:], g, rtol=1e-5, atol=1e-6)
    stepped = sgd_append(lr, probe, jnp.asarray(0.1), jnp.asarray(1))
    dense = w - 0.1 * g
    np.testing.assert_allclose(_dense(stepped), dense, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(stepped.u[:, :4]) == 0)  # slot 1 written, slot 0 untouched
    x = jr.normal(k3, (3, 6))
    np.testing.assert_allclose(x @ stepped, x @ dense, rtol=1e-5, atol=1e-5)


def _dense(w: LowRank) -> jax.Array:
    return w.scale[..., None, None] * w.w0 + (w.u * w.coef[..., None, :]) @ jnp.swapaxes(
        w.v, -1, -2
    )


def test_momentum_and_weight_decay_in_factored_form():
    """Three steps of m = beta m + G, W = (1 - lr wd) W - lr m, done densely and factored."""
    keys = jr.split(jr.PRNGKey(2), 8)
    w = jr.normal(keys[0], (6, 5))
    lr, wd, beta = 0.1, 0.3, 0.9
    fact, dense, m = factorize(w, rows=2, steps=3), w, jnp.zeros_like(w)
    for t in range(3):
        h, zbar = jr.normal(keys[1 + 2 * t], (2, 6)), jr.normal(keys[2 + 2 * t], (2, 5))
        m = beta * m + h.T @ zbar
        dense = (1 - lr * wd) * dense - lr * m
        probe = jnp.concatenate([h, zbar], axis=-1)
        fact = sgd_append(fact, probe, lr, jnp.asarray(t), momentum=beta, weight_decay=wd)
        np.testing.assert_allclose(_dense(fact), dense, rtol=1e-5, atol=1e-5)
    delta = np.asarray(dense - w)
    batch = jax.tree.map(lambda a: a[None], fact)
    sigma, _ = lowrank_power_iteration(batch, jr.normal(keys[7], (1, 5)), 300, decay=True)
    assert float(sigma) == pytest.approx(np.linalg.norm(delta, 2), rel=1e-4)


def test_lowrank_power_iteration_finds_the_spectral_norm():
    k1, k2, k3 = jr.split(jr.PRNGKey(1), 3)
    u, v = jr.normal(k1, (1, 30, 4)), jr.normal(k2, (1, 20, 4))
    w = LowRank(
        jnp.zeros((1, 30, 20)), u, v, jnp.ones((1, 4)), jnp.zeros((1, 4)), jnp.ones(1), None
    )
    sigma, _ = lowrank_power_iteration(w, jr.normal(k3, (1, 20)), 200)
    exact = np.linalg.norm(np.asarray(u[0] @ v[0].T), 2)
    assert float(sigma) == pytest.approx(exact, rel=1e-4)


def test_worth_factoring_only_when_the_factors_are_smaller():
    assert worth_factoring((512, 512), rows=64, steps=4)
    assert not worth_factoring((256, 512), rows=64, steps=4)
    assert not worth_factoring((512,), rows=1, steps=1)
    assert not worth_factoring((64, 512, 512), rows=1, steps=1)  # callers drop a block axis
    assert isinstance(factorize(jnp.ones((2, 8, 8)), 2, 2), LowRank)


def test_fast_normal_is_standard_normal_and_vmap_consistent():
    keys = jr.split(jr.PRNGKey(3), 3)
    batched = jax.jit(jax.vmap(lambda k: normal(k, (7, 5))))(keys)
    one_by_one = jnp.stack([normal(k, (7, 5)) for k in keys])
    np.testing.assert_array_equal(batched, one_by_one)  # each key its own stream
    assert not np.allclose(batched[0], batched[1])
    np.testing.assert_array_equal(normal(keys[0], (7, 5)), normal(keys[0], (7, 5)))
    np.testing.assert_allclose(normal(keys[0], (7, 5), std=3.0), 3 * batched[0], rtol=1e-6)
    x = np.asarray(normal(jr.PRNGKey(4), (400_000,)), np.float64)
    assert abs(x.mean()) < 5 * 400_000**-0.5
    assert x.var() == pytest.approx(1.0, abs=0.01)
    assert stats.kurtosis(x) == pytest.approx(0.0, abs=0.05)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01


def test_fast_normal_in_float64():
    with jax.enable_x64(True):
        x = normal(jr.PRNGKey(5), (100_000,), jnp.float64)
        assert x.dtype == jnp.float64
        # 52 mantissa bits: far more distinct values than a float32 draw could give
        assert len(np.unique(np.asarray(x))) == x.size
        assert float(jnp.std(x)) == pytest.approx(1.0, abs=0.01)


def test_fast_normal_vmap_over_many_keys_uses_the_same_streams():
    keys = jr.split(jr.PRNGKey(6), 11)  # more members than are unrolled: the lax.map path
    batched = jax.jit(jax.vmap(lambda k: normal(k, (3,))))(keys)
    np.testing.assert_array_equal(batched, jnp.stack([normal(k, (3,)) for k in keys]))


def test_stacked_biases_stay_dense_when_blocks_outnumber_the_rank():
    """resmlp with biases and L = 6 blocks >= 2 T R = 4: block matrices are factored, the
    stacked (L, n) biases are not (they are no matmul); records equal the dense update."""
    table = Table.derive("resmlp", "sgd", target="mup", bias=True)
    dense, fact = _dense_and_factored(
        table, arch="resmlp", widths=(8,), steps=1, seeds=1, batch_size=2, depth=6
    )
    _assert_same_records(dense, fact)
