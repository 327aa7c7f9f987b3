"""infwidth: the infinite-width theory of neural-network parametrizations.

Three engines that check each other:

* ``infwidth.symbolic`` (SymPy): derive, classify and explain abc(d) width/depth scalings;
* ``infwidth.kernels`` / ``infwidth.dmft`` (JAX): infinite-width kernels and feature dynamics;
* ``infwidth.sim`` (JAX): finite-width networks built from a derived parametrization.

The top-level API mirrors the CLI: :func:`derive`, :func:`classify`, :func:`load_spec`.
Importing ``infwidth`` does not import JAX.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infwidth")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from .errors import InfwidthError, NoSolutionError, SpecError
from .spec import NetworkSpec, builtin, load_spec, spec_from_dict
from .symbolic import classify, derive, get_optimizer

__all__ = [
    "InfwidthError",
    "NetworkSpec",
    "NoSolutionError",
    "SpecError",
    "__version__",
    "builtin",
    "classify",
    "derive",
    "get_optimizer",
    "load_spec",
    "spec_from_dict",
]
