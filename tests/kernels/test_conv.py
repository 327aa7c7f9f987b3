"""CNN kernels: reductions to the MLP kernel, symmetry/PSD, input errors."""

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.kernels import conv_kernels, mlp_kernels

RNG = np.random.RandomState(2)
X = RNG.randn(4, 3, 4, 5)  # (n, H, W, C)


def test_one_by_one_filters_with_flatten_average_the_mlp_kernel():
    """With 1x1 filters every position is an independent MLP on its C channels, and the flatten
    readout averages position by position: K = mean_p K_mlp(x_i(p), x_j(p))."""
    k = conv_kernels(X, depth=2, activation="erf", filter_shape=(1, 1), W_std=1.2, b_std=0.3,
                     readout="flatten")  # fmt: skip
    ref = np.zeros((4, 4, 2))
    for h in range(3):
        for w in range(4):
            m = mlp_kernels(X[:, h, w], depth=2, activation="erf", W_std=1.2, b_std=0.3)
            ref += np.stack(m, -1) / 12
    np.testing.assert_allclose(k.nngp, ref[..., 0], rtol=1e-12)
    np.testing.assert_allclose(k.ntk, ref[..., 1], rtol=1e-12)


def test_single_pixel_images_are_an_mlp():
    """A 1x1 image with any filter sees only the centre tap (zero padding elsewhere), so each
    conv layer scales W_std^2 by 1/|F|: a 3-tap 1-D conv is an MLP with W_std / sqrt(3)."""
    x = RNG.randn(5, 1, 4)
    k = conv_kernels(x, depth=1, activation="relu", filter_shape=(3,), W_std=1.5)
    # first conv: W^2/3; readout Dense: W^2 (a plain dense layer)
    nngp0 = 1.5**2 / 3 * x[:, 0] @ x[:, 0].T / 4
    v = np.diag(nngp0)
    s = np.sqrt(np.outer(v, v))
    th = np.arccos(np.clip(nngp0 / s, -1, 1))
    relu = s / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th))
    np.testing.assert_allclose(k.nngp, 1.5**2 * relu, rtol=1e-12)


@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_symmetric_psd(readout):
    k = conv_kernels(X, depth=2, activation="relu", readout=readout, b_std=0.1, block_size=3)
    for m in k:
        np.testing.assert_array_equal(m, m.T)
        ev = np.linalg.eigvalsh(m)
        assert ev.min() > -1e-12 * ev.max()


def test_unsupported_layer_orders_raise():
    from infwidth.kernels import Activation, Conv, Dense, Flatten, GlobalAvgPool, kernels_in_blocks

    cases = [
        ((Conv((3, 3)), GlobalAvgPool(), Activation("relu"), Dense()), X, "after GlobalAvgPool"),
        ((Dense(), Conv((3,))), RNG.randn(3, 4), "spatial axes"),
        ((Conv((3,)), Flatten(), Dense()), X, "does not match"),
        ((Conv((3, 3)), Flatten(), Conv((3, 3))), X, "spatial axes"),
    ]
    from infwidth.kernels._conv import spatial_input_state

    for layers, x, match in cases:
        first = {"input_state": spatial_input_state} if x.ndim > 2 else {}
        with pytest.raises(InfwidthError, match=match):
            kernels_in_blocks(layers, x, **first)


def test_bad_conv_inputs_raise():
    with pytest.raises(InfwidthError, match="spatial axes"):
        conv_kernels(X[:, 0], depth=1, activation="relu")  # 3-D input, 2-D filter
    with pytest.raises(InfwidthError, match="readout"):
        conv_kernels(X, depth=1, activation="relu", readout="max")
    with pytest.raises(InfwidthError, match="ntk"):
        conv_kernels(X, depth=1, activation="relu", parameterization="standard")
    with pytest.raises(InfwidthError, match="feature dimensions"):
        conv_kernels(X, RNG.randn(2, 3, 4, 6), depth=1, activation="relu")
