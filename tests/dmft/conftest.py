import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def small_data():
    """Seeded toy regression problem: P = 4 points in D = 8 dimensions."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 8)), rng.standard_normal(4)
