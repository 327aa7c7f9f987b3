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


def _loss_and_params():
    """A 3 -> 5 -> 5 -> 2 tanh MLP on 8 points, cross-entropy (55 parameters, float64),
    trained 20 GD steps so that the top eigenvalue is positive and separated."""
    k = jr.split(jr.PRNGKey(3), 5)
    params = {"W1": jr.normal(k[0], (3, 5)) / 3**0.5, "W2": jr.normal(k[1], (5, 5)) / 5**0.5,
              "W3": jr.normal(k[2], (5, 2)) / 5**0.5, "b": jnp.zeros(5)}  # fmt: skip
    x, y = jr.normal(k[3], (8, 3)), jr.randint(k[4], (8,), 0, 2)

    def loss(p):
        h = jnp.tanh(jnp.tanh(x @ p["W1"] + p["b"]) @ p["W2"])
        return optax.softmax_cross_entropy_with_integer_labels(h @ p["W3"], y).mean()

    def gd(p, _):
        return jax.tree.map(lambda w, g: w - 0.5 * g, p, jax.grad(loss)(p)), None

    return loss, jax.jit(lambda p: jax.lax.scan(gd, p, None, length=20)[0])(params)


@pytest.fixture(scope="module")
def tiny():
    """``(loss, params, top)``; ``top(params, v0, iters)`` is the power iteration compiled once
    (``iters`` traced)."""
    with jax.enable_x64(True):
        loss, params = _loss_and_params()
        top = jax.jit(lambda p, v0, n: top_hessian_eigenvalue(loss, p, iters=n, v0=v0))
        yield loss, params, top


def _gaussian(params, seed):
    flat, unravel = ravel_pytree(params)
    return unravel(jr.normal(jr.PRNGKey(seed), flat.shape))


def test_power_iteration_matches_dense_eigh(tiny):
    loss, params, top_eig = tiny
    flat, unravel = ravel_pytree(params)
    assert flat.dtype == jnp.float64 and flat.size == 55
    dense = np.asarray(jax.jit(jax.hessian(lambda f: loss(unravel(f))))(flat))
    eig = np.linalg.eigvalsh(dense)
    top = eig[np.argmax(np.abs(eig))]
    assert top > 0 and abs(eig[-2]) < 0.9 * abs(top)  # separated: power iteration converges
    lam, v = top_eig(params, _gaussian(params, 0), 200)
    assert float(lam) == pytest.approx(top, rel=1e-6)
    # the vector is the eigenvector: H v = lambda v
    hvp = jax.jit(lambda v: ravel_pytree(hessian_vector_product(loss, params, v))[0])
    assert np.allclose(hvp(v), float(lam) * ravel_pytree(v)[0], atol=1e-6 * abs(top))
    # HVP equals the dense product along any direction
    u = jr.normal(jr.PRNGKey(9), flat.shape)
    assert np.allclose(hvp(unravel(u)), dense @ u, rtol=1e-8, atol=1e-10)


def test_warm_start_needs_fewer_iterations(tiny):
    loss, params, top = tiny
    exact, v = top(params, _gaussian(params, 0), 300)
    cold, _ = top(params, _gaussian(params, 1), 2)
    # a small step later, warm-started from the old vector: 2 iterations are enough
    p2 = jax.jit(lambda p: jax.tree.map(lambda w, g: w - 0.01 * g, p, jax.grad(loss)(p)))(params)
    exact2, _ = top(p2, _gaussian(params, 0), 300)
    warm, _ = top(p2, v, 2)
    assert abs(float(warm - exact2)) < 1e-3 * float(exact2)
    assert abs(float(cold - exact)) > 10 * abs(float(warm - exact2))
