"""SiLU, defined once in ``infwidth.network``, works in the DMFT solver and the finite-width engine
(its kernel maps are checked against finite networks in ``test_layers.py``)."""

import jax
import numpy as np
import pytest

from infwidth.dmft import DMFTProblem, Lazy, MonteCarlo, TwoLayerParticles, solve_dmft
from infwidth.sim import CoordCheckConfig, Table, coord_check


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 8)), rng.standard_normal(4)


def test_dmft_silu_lazy_limit(data):
    """At gamma0 -> 0 the DMFT single-site solvers (phi, phi', phi'' sampled on sites) follow the
    static-NTK dynamics of the kernel engine's quadrature maps, up to Monte-Carlo error."""
    X, y = data
    with jax.enable_x64(True):
        prob = DMFTProblem(X, y, depth=1, activation="silu", gamma0=1e-4, eta=0.05, steps=30)
        lazy = solve_dmft(prob, Lazy())
        part = solve_dmft(prob, TwoLayerParticles(n_sites=20000), seed=3)
        deep = DMFTProblem(X, y, depth=2, activation="silu", gamma0=1e-3, eta=0.05, steps=10)
        lazy2 = solve_dmft(deep, Lazy())
        mc = solve_dmft(deep, MonteCarlo(n_sites=3000, n_response_sites=64), seed=0)
    assert lazy.converged and part.converged and mc.converged
    assert np.max(np.abs(lazy.outputs - part.outputs)) < 2e-2
    assert np.linalg.norm(part.ntk[0] - lazy.ntk[0]) / np.linalg.norm(lazy.ntk[0]) < 3e-2
    assert np.max(np.abs(lazy2.outputs - mc.outputs)) < 3e-2
    assert np.linalg.norm(mc.ntk[0] - lazy2.ntk[0]) / np.linalg.norm(lazy2.ntk[0]) < 5e-2
    assert lazy.loss[-1] < 0.5 * lazy.loss[0]  # it learns


def test_sim_coord_check_silu_passes_under_mup():
    cfg = CoordCheckConfig(
        optimizer="sgd",
        widths=(128, 256, 512),
        base_width=16,
        steps=3,
        seeds=2,
        lr=0.1,
        batch_size=32,
        spectral=False,
        activation="silu",
    )
    res = coord_check(Table.derive("mlp", "sgd", target="mup"), cfg, tol=0.2)
    assert res.passed, [s.to_json() for s in res.failed]
    for tensor in ("W1", "W2"):
        s = res.slope(tensor, "feature_movement_rms")
        assert s.verdict == "PASS" and abs(s.slope) < 0.2, s
