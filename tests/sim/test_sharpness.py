"""The sharpness (top Hessian eigenvalue by warm-started power iteration on HVPs) against a
dense eigensolve of ``jax.hessian`` on a tiny model."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from infwidth.sim import hessian_vector_product, top_hessian_eigenvalue


def _tiny():
    """A 3 -> 6 -> 6 -> 2 tanh MLP on 8 points, cross-entropy (92 parameters), trained a
    few GD steps so that the top eigenvalue is positive and separated."""
    k = jr.split(jr.PRNGKey(3), 5)
    params = {"W1": jr.normal(k[0], (3, 6)) / 3**0.5, "W2": jr.normal(k[1], (6, 6)) / 6**0.5,
              "W3": jr.normal(k[2], (6, 2)) / 6**0.5, "b": jnp.zeros(6)}  # fmt: skip
    x, y = jr.normal(k[3], (8, 3)), jr.randint(k[4], (8,), 0, 2)

    def loss(p):
        h = jnp.tanh(jnp.tanh(x @ p["W1"] + p["b"]) @ p["W2"])
        return optax.softmax_cross_entropy_with_integer_labels(h @ p["W3"], y).mean()

    for _ in range(20):
        params = jax.tree.map(lambda w, g: w - 0.5 * g, params, jax.grad(loss)(params))
    return loss, params


@pytest.fixture(scope="module", autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_power_iteration_matches_dense_eigh():
    loss, params = _tiny()
    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda f: loss(unravel(f)))(flat)
    eig = np.linalg.eigvalsh(np.asarray(dense))
    top = eig[np.argmax(np.abs(eig))]
    assert top > 0 and abs(eig[-2]) < 0.9 * abs(top)  # separated: power iteration converges
    lam, v = jax.jit(lambda p: top_hessian_eigenvalue(loss, p, iters=200))(params)
    assert float(lam) == pytest.approx(top, rel=1e-6)
    # the vector is the eigenvector: H v = lambda v
    hv = ravel_pytree(hessian_vector_product(loss, params, v))[0]
    assert np.allclose(hv, float(lam) * ravel_pytree(v)[0], atol=1e-6 * abs(top))
    # HVP equals the dense product along any direction
    u = jr.normal(jr.PRNGKey(9), flat.shape)
    assert np.allclose(ravel_pytree(hessian_vector_product(loss, params, unravel(u)))[0],
                       dense @ u, rtol=1e-8, atol=1e-10)  # fmt: skip


def test_warm_start_needs_fewer_iterations():
    loss, params = _tiny()
    exact, v = top_hessian_eigenvalue(loss, params, iters=300)
    cold, _ = top_hessian_eigenvalue(loss, params, iters=2, key=jr.PRNGKey(1))
    # a small step later, warm-started from the old vector: 2 iterations are enough
    p2 = jax.tree.map(lambda w, g: w - 0.01 * g, params, jax.grad(loss)(params))
    exact2, _ = top_hessian_eigenvalue(loss, p2, iters=300)
    warm, _ = top_hessian_eigenvalue(loss, p2, iters=2, v0=v)
    assert abs(float(warm - exact2)) < 1e-3 * float(exact2)
    assert abs(float(cold - exact)) > abs(float(warm - exact2))
