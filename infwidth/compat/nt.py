"""Import neural-tangents 0.6.5 on current JAX, without TensorFlow.

neural-tangents (NT) is the field's reference implementation of infinite-width kernels; ``infwidth``
uses it only as an external cross-check. Its last release (0.6.5, Dec 2023) cannot be imported as is
on recent JAX for two reasons, both worked around here without touching NT's files:

1. ``neural_tangents/__init__.py`` imports ``experimental``, whose only module
   (``empirical_tf``) imports TensorFlow through ``jax2tf``. We put an empty stand-in module for
   ``neural_tangents.experimental`` into :data:`sys.modules` before importing NT, so the
   TensorFlow path is never executed (``nt.experimental`` is then empty).
2. NT imports names that JAX has since removed from its public modules: ``jax.core.{Jaxpr,
   JaxprEqn, Literal, Var, Primitive}`` (now in ``jax.extend.core``), ``jax.util.{safe_map,
   safe_zip}`` (``jax.util`` is gone) and ``jax.interpreters.ad.zeros_like_p``. We re-attach each
   missing name from where JAX keeps it now. Names already present are never overwritten.

Install NT lean (its declared dependencies pull in TensorFlow)::

    pip install --no-deps neural-tangents==0.6.5 frozendict

Use::

    from infwidth.compat.nt import load_neural_tangents
    nt = load_neural_tangents()          # raises ImportError with the install command if absent
    init_fn, apply_fn, kernel_fn = nt.stax.serial(nt.stax.Dense(1))
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["INSTALL_HINT", "load_neural_tangents"]

INSTALL_HINT = "pip install --no-deps neural-tangents==0.6.5 frozendict"

# (module, name, [candidate modules holding the name today]).
_SHIMS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    ("jax.core", name, ("jax.extend.core", "jax._src.core"))
    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "ShapedArray", "Value")
) + (
    ("jax.core", "AbstractValue", ("jax._src.core",)),
    ("jax.core", "eval_context", ("jax._src.core",)),
    ("jax.interpreters.ad", "zeros_like_p", ("jax._src.ad_util",)),
)


def _shim_jax() -> None:
    """Re-attach the JAX names NT 0.6.5 imports and that current JAX no longer exports."""
    for mod_name, name, sources in _SHIMS:
        mod = importlib.import_module(mod_name)
        if hasattr(mod, name):
            continue
        for src in sources:
            try:
                value = getattr(importlib.import_module(src), name)
            except (ImportError, AttributeError):
                continue
            setattr(mod, name, value)
            break
    if "jax.util" not in sys.modules:
        try:
            importlib.import_module("jax.util")
        except ImportError:
            from jax._src import util as _util

            stub = types.ModuleType("jax.util")
            stub.safe_map = _util.safe_map  # type: ignore[attr-defined]
            stub.safe_zip = _util.safe_zip  # type: ignore[attr-defined]
            sys.modules["jax.util"] = stub


def load_neural_tangents() -> Any:
    """Return the ``neural_tangents`` module, imported without TensorFlow on current JAX.

    Raises:
        ImportError: NT is not installed, or it fails to import even with the shims; the message
            names the install command.
    """
    if "neural_tangents" in sys.modules:
        return sys.modules["neural_tangents"]
    if importlib.util.find_spec("neural_tangents") is None:
        raise ImportError(f"neural-tangents is not installed; install it with: {INSTALL_HINT}")
    _shim_jax()
    stub_name = "neural_tangents.experimental"
    if stub_name not in sys.modules:
        stub = types.ModuleType(stub_name)
        stub.__doc__ = "Stand-in installed by infwidth.compat.nt (the real one needs TensorFlow)."
        sys.modules[stub_name] = stub
    try:
        return importlib.import_module("neural_tangents")
    except Exception as exc:  # any import-time failure is an incompatibility, reported as one
        sys.modules.pop("neural_tangents", None)
        raise ImportError(
            f"neural-tangents is installed but could not be imported on jax "
            f"{importlib.import_module('jax').__version__} ({type(exc).__name__}: {exc}); "
            f"infwidth supports exactly: {INSTALL_HINT}"
        ) from exc
