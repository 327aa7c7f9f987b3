"""The one activation registry: derivatives, closed forms, SiLU's quadrature, one object per name."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infwidth.dmft as dmft
import infwidth.kernels as kernels
import infwidth.sim as sim
from infwidth.errors import InfwidthError
from infwidth.network import ACTIVATIONS, Activation, get_activation

NAMES = sorted(ACTIVATIONS)


def test_engines_share_the_registry():
    # Same objects, not copies: an activation added to infwidth.network reaches every engine.
    assert kernels.ACTIVATIONS is ACTIVATIONS is dmft.ACTIVATIONS is sim.ACTIVATIONS
    assert kernels.activation_maps is get_activation is dmft.get_activation
    assert set(NAMES) == {"linear", "relu", "erf", "tanh", "gelu", "silu"}
    # The layer spelling is the registry entry (equal, same hash: a static jit argument).
    for name in NAMES:
        assert Activation(name) == ACTIVATIONS[name] and hash(Activation(name)) == hash(
            ACTIVATIONS[name]
        )
    assert get_activation("SiLU") is ACTIVATIONS["silu"]
    assert get_activation("tanh", order=301) is get_activation("tanh", order=301)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_are_those_of_phi(name):
    """phi' and phi'' against jax.grad of phi (away from relu's kink)."""
    act = get_activation(name)
    x = jnp.linspace(-4.0, 4.0, 81) + 0.013
    d = jax.vmap(jax.grad(act.phi))(x)
    dd = jax.vmap(jax.grad(jax.grad(act.phi)))(x)
    np.testing.assert_allclose(act.dphi(x), d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act.ddphi(x), dd, rtol=1e-4, atol=1e-5)
    if act.phi_dphi is not None:
        phi, dphi = act.phi_dphi(x)
        np.testing.assert_allclose(phi, act.phi(x), rtol=1e-6)
        np.testing.assert_allclose(dphi, act.dphi(x), rtol=1e-6)


def test_silu_is_x_sigmoid_x():
    x = np.linspace(-6, 6, 13)
    np.testing.assert_allclose(get_activation("silu").phi(x), x / (1 + np.exp(-x)), rtol=1e-6)


def test_linear_closed_forms():
    act = get_activation("linear")
    k12, k11, k22 = jnp.array([0.3, -0.2]), jnp.array([1.0, 2.0]), jnp.array([0.5, 0.7])
    nngp, dot = act.nngp_dot(k12, k11, k22)
    np.testing.assert_array_equal(nngp, k12)
    np.testing.assert_array_equal(dot, 1.0)
    np.testing.assert_array_equal(act.var(k11), k11)
    np.testing.assert_array_equal(act.dvar(k11), 1.0)
    # ... and quadrature of phi(x) = x agrees with them.
    with jax.enable_x64(True):
        quad = get_activation("linear", order=201).nngp(
            *(np.asarray(a, float) for a in (k12, k11, k22))
        )
    np.testing.assert_allclose(quad, np.asarray(k12, float), atol=1e-12)


def _grid_errors(a, b, kmin=0.25, kmax=4.0):
    with jax.enable_x64(True):
        k = jnp.linspace(kmin, kmax, 5)
        k11, k22 = jnp.meshgrid(k, k, indexing="ij")
        c = jnp.linspace(-0.999, 0.999, 7)
        k12 = c[:, None, None] * jnp.sqrt(k11 * k22)[None]
        pairs = (a.nngp_dot(k12, k11, k22), b.nngp_dot(k12, k11, k22))
        errs = [float(jnp.max(jnp.abs(x - y))) for x, y in zip(*pairs, strict=True)]
        errs += [float(jnp.max(jnp.abs(a.var(k) - b.var(k)))),
                 float(jnp.max(jnp.abs(a.dvar(k) - b.dvar(k))))]  # fmt: skip
    return errs


def test_silu_quadrature_accuracy():
    """The default rule (137 trapezoid nodes) against a 401-node rule and Gauss-Hermite 128:
    < 1e-12 for variances <= 4 (sigmoid's poles at z = i pi / sqrt(k) are twice as far as
    tanh's), < 1e-10 up to 25."""
    default = get_activation("silu")
    assert max(_grid_errors(default, get_activation("silu", order=401))) < 1e-12
    assert max(_grid_errors(default, get_activation("silu", order=128, rule="hermite"))) < 1e-10
    assert max(_grid_errors(default, get_activation("silu", order=401), 4.0, 25.0)) < 1e-10


def test_silu_maps_match_monte_carlo_and_price():
    act = get_activation("silu")
    rng = np.random.RandomState(1)
    cov = np.array([[1.5, 0.6], [0.6, 0.8]])
    uv = rng.multivariate_normal([0, 0], cov, size=200_000)
    for f, m in ((act.phi, act.nngp), (act.dphi, act.dot)):
        v = np.asarray(f(uv))
        prod = v[:, 0] * v[:, 1]
        assert abs(prod.mean() - float(m(0.6, 1.5, 0.8))) < 5 * prod.std() / np.sqrt(len(prod))
    with jax.enable_x64(True):  # Price: d E[phi phi] / d k12 = E[phi' phi']
        h = 1e-5
        fd = (act.nngp(0.4 + h, 1.3, 0.7) - act.nngp(0.4 - h, 1.3, 0.7)) / (2 * h)
        assert abs(fd - act.dot(0.4, 1.3, 0.7)) < 1e-7


def test_bad_names_raise_one_error():
    with pytest.raises(InfwidthError, match="unsupported activation 'swish'.*silu"):
        get_activation("swish")
    with pytest.raises(InfwidthError, match="unsupported activation"):
        Activation("softplus")
    with pytest.raises(InfwidthError, match="quadrature rule"):
        get_activation("tanh", order=11, rule="simpson")
