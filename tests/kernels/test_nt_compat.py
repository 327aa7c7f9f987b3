"""Cross-check against neural-tangents 0.6.5 (skipped cleanly when it is not installed).

Install: ``pip install --no-deps neural-tangents==0.6.5 frozendict``.
"""

import sys

import jax
import numpy as np
import pytest

from infwidth import kernels as K


@pytest.fixture(scope="module")
def stax():
    from infwidth.compat.nt import load_neural_tangents

    try:
        return load_neural_tangents().stax
    except ImportError as exc:
        pytest.skip(str(exc))


def test_missing_neural_tangents_names_the_install_command(monkeypatch):
    """Runs whether or not NT is installed: pretend it is absent."""
    import infwidth.compat.nt as compat

    monkeypatch.delitem(sys.modules, "neural_tangents", raising=False)
    monkeypatch.setattr(compat.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps neural-tangents==0\.6\.5"):
        compat.load_neural_tangents()


RTOL = 1e-5  # the bar; observed ~1e-15 off the diagonal, NT's own diagonal is ~3e-9 off
RNG = np.random.RandomState(3)
X, Y = RNG.randn(6, 5), RNG.randn(4, 5)


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b)))


def _compare(nt_kernel_fn, ours, x2):
    ref = nt_kernel_fn(X, x2, ("nngp", "ntk"))
    assert _rel(ours.nngp, ref.nngp) < RTOL
    assert _rel(ours.ntk, ref.ntk) < RTOL


# Every activation, parametrization and bias setting, each pair of values at least once
# (a full grid costs twice the compilations for no new code path).
@pytest.mark.parametrize(
    ("act", "param", "b_std"),
    [
        ("relu", "ntk", 0.0),
        ("relu", "standard", 0.4),
        ("erf", "ntk", 0.4),
        ("erf", "standard", 0.0),
    ],
)
@pytest.mark.parametrize("same", [True, False])
def test_mlp_matches_neural_tangents(stax, act, param, b_std, same):
    width, w_std, depth = 48, 1.3, 3
    b = b_std if b_std > 0 else None
    nt_act = {"relu": stax.Relu(), "erf": stax.Erf()}[act]
    dense = [stax.Dense(width, w_std, b, parameterization=param), nt_act] * depth
    _, _, kernel_fn = stax.serial(*dense, stax.Dense(1, w_std, b, parameterization=param))
    x2 = None if same else Y
    ours = K.mlp_kernels(
        X,
        x2,
        depth=depth,
        activation=act,
        W_std=w_std,
        b_std=b_std,
        parameterization=param,
        width=width,
    )
    _compare(kernel_fn, ours, x2)


def test_gelu_quadrature_matches_neural_tangents_closed_form(stax):
    _, _, kernel_fn = stax.serial(
        *[stax.Dense(8, 1.2, 0.1), stax.Gelu()] * 2, stax.Dense(1, 1.2, 0.1)
    )
    _compare(kernel_fn, K.mlp_kernels(X, Y, depth=2, activation="gelu", W_std=1.2, b_std=0.1), Y)


@pytest.mark.filterwarnings("ignore:`FanIn` layers assume independent inputs")
def test_layernorm_and_residual_match_neural_tangents(stax):
    alpha = 0.5
    # NT has no Gaussian-preserving scalar layer; in the NTK parametrization scaling the branch's
    # last (bias-free) W_std by alpha scales the branch's NNGP and NTK by alpha^2, as ours does.
    branch = stax.serial(stax.Dense(16, 1.1, 0.2), stax.Relu(), stax.Dense(16, alpha * 1.1))
    block = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), branch), stax.FanInSum())
    _, _, kernel_fn = stax.serial(
        stax.Dense(16, 1.4, 0.1), block, stax.LayerNorm(), stax.Erf(), stax.Dense(1, 1.4)
    )
    layers = (
        K.Dense(1.4, 0.1),
        K.Residual((K.Dense(1.1, 0.2), K.Activation("relu"), K.Dense(1.1)), alpha=alpha),
        K.LayerNorm(),
        K.Activation("erf"),
        K.Dense(1.4),
    )
    for x2 in (None, Y):
        _compare(kernel_fn, K.kernels_in_blocks(layers, X, x2), x2)


@pytest.mark.parametrize(("readout", "act"), [("gap", "relu"), ("flatten", "erf")])
def test_cnn_matches_neural_tangents(stax, readout, act):
    """2-D convolutions (odd and even filters), SAME padding, both readouts; and 1-D."""
    rng = np.random.RandomState(5)
    x, y = rng.randn(3, 3, 4, 2), rng.randn(2, 3, 4, 2)
    nt_act = {"relu": stax.Relu(), "erf": stax.Erf()}[act]
    nt_readout = {"gap": stax.GlobalAvgPool(), "flatten": stax.Flatten()}[readout]
    convs = [stax.Conv(8, (2, 3), padding="SAME", W_std=1.3, b_std=0.2), nt_act] * 2
    _, _, kernel_fn = stax.serial(*convs, nt_readout, stax.Dense(1, 1.3, 0.2))
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")  # NT's conv maps are slow op by op
    for x2 in (None, y):
        ref = kernel_fn(x, x2, ("nngp", "ntk"))
        ours = K.conv_kernels(x, x2, depth=2, activation=act, filter_shape=(2, 3), W_std=1.3,
                              b_std=0.2, readout=readout)  # fmt: skip
        assert _rel(ours.nngp, ref.nngp) < RTOL and _rel(ours.ntk, ref.ntk) < RTOL
    x1d = rng.randn(3, 5, 2)
    _, _, kernel_fn = stax.serial(stax.Conv(8, (3,), padding="SAME"), nt_act, nt_readout,
                                  stax.Dense(1))  # fmt: skip
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    ours = K.conv_kernels(x1d, depth=1, activation=act, filter_shape=(3,), readout=readout)
    assert _rel(ours.ntk, kernel_fn(x1d, None, "ntk")) < RTOL
