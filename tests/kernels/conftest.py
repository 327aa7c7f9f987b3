"""Float64 for every test in this directory, scoped to the test (other suites keep their JAX
configuration: a module-level ``jax.config.update`` would leak into them at collection)."""

import jax
import pytest


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield
