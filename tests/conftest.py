import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# In-process CLI runs must not write JAX's compilation cache into the home directory; the
# cache itself is tested in a subprocess (tests/sim/test_cli.py).
os.environ.setdefault("INFWIDTH_XLA_CACHE", "off")
