"""Residual nets with 1/sqrt(L) branches: the stream DMFT of DMFT.md 5.2 against finite ResNets."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from infwidth.dmft import DMFTProblem, GradientIndependence, MonteCarlo, solve_dmft, train_finite
from infwidth.dmft._finite import forward_backward, gd_step, init_params

S_SITES = 3000  # relative MC floor ~ 2.5 % for these kernels


@pytest.fixture(scope="module")
def res_problem():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, 6)), rng.standard_normal(2)
    return DMFTProblem(
        X, y, depth=4, activation="tanh", gamma0=1.5, eta=0.1, steps=12, arch="resmlp"
    )


def test_residual_update_is_gd(small_data):
    X, y = small_data
    N, g0, eta, b = 16, 1.2, 0.05, 0.5
    p = init_params(jr.PRNGKey(0), width=N, depth=3, input_dim=X.shape[1])
    new, _ = gd_step(p, X, y, activation="tanh", gamma0=g0, eta=eta, branch=b)

    def loss(p):
        f = forward_backward(p, X, activation="tanh", gamma0=g0, branch=b)[2]
        return 0.5 * jnp.sum((f - y) ** 2)

    grads = jax.grad(loss)(p)
    for k in p:
        np.testing.assert_allclose(new[k], p[k] - eta * g0**2 * N * grads[k], atol=1e-12)


def test_finite_resnets_converge_to_stream_dmft(res_problem):
    # DMFT.md 6.13 [L = 4: Phi^L error 0.071 -> 0.026 for N = 500 -> 4000; GIA does not].
    full = solve_dmft(res_problem, MonteCarlo(n_sites=S_SITES, n_response_sites=128), seed=0)
    gia = solve_dmft(res_problem, GradientIndependence(n_sites=S_SITES), seed=0)
    assert full.converged and np.all(np.diff(full.loss) < 0)
    errs = {}
    for N in (128, 1024):
        fin = train_finite(res_problem, N, seeds=(0, 1, 2, 3))

        def err(sol, layer, kern, fin=fin):
            ref = getattr(sol, kern)[layer]
            return np.mean(
                [np.linalg.norm(getattr(fin, kern)[i, layer] - ref) / np.linalg.norm(ref)
                 for i in range(4)]
            )  # fmt: skip

        errs[N] = {
            "full_Phi": err(full, -1, "Phi"),
            "full_G1": err(full, 0, "G"),
            "gia_G1": err(gia, 0, "G"),
        }
    # Full stream DMFT: Phi^L error shrinks with N (x sqrt(8) ideally, MC floor ~0.03).
    assert errs[1024]["full_Phi"] < 0.6 * errs[128]["full_Phi"]
    assert errs[1024]["full_Phi"] < 0.06
    # The response terms matter at finite depth: GIA's G^1 error stays large.
    assert errs[1024]["gia_G1"] > 0.2
    assert errs[1024]["gia_G1"] > 2.5 * errs[1024]["full_G1"]
