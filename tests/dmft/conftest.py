"""Float64 for every test in this directory, scoped to the test (as tests/kernels/conftest.py:
a module-level ``jax.config.update`` would turn x64 on for every suite collected with it)."""

import jax
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


@pytest.fixture
def small_data():
    """Seeded toy regression problem: P = 4 points in D = 8 dimensions."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 8)), rng.standard_normal(4)
