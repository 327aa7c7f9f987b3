"""Property tests (seeded hypothesis): kernels of any finite inputs are symmetric PSD with the
exact diagonal, also with duplicated points (where c = 1 off the diagonal)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from infwidth.kernels import activation_maps, mlp_kernels

finite = st.floats(-3.0, 3.0, allow_nan=False, width=64)


@st.composite
def inputs(draw):
    x = draw(arrays(np.float64, (5, 3), elements=finite))
    if np.any(np.sum(x * x, 1) < 1e-3):  # a zero input has zero variance: nothing to test
        x = x + 1.0
    if draw(st.booleans()):
        x[4] = x[draw(st.integers(0, 3))]  # a duplicated point
    return x


@pytest.mark.parametrize("activation", ["relu", "erf"])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(x=inputs())
def test_symmetric_psd_exact_diagonal(activation, x):
    k = mlp_kernels(x, depth=2, activation=activation, W_std=1.3, b_std=0.2)
    act = activation_maps(activation)
    v = 1.69 * np.sum(x * x, 1) / 3 + 0.04  # first-layer variances, then the 1-D recursion
    for _ in range(2):
        v = 1.69 * np.asarray(act.var(v)) + 0.04
    np.testing.assert_allclose(np.diag(k.nngp), v, rtol=1e-13)
    for m in k:
        np.testing.assert_array_equal(m, m.T)
        ev = np.linalg.eigvalsh(m)
        assert ev.min() > -1e-9 * ev.max()
