"""Finite-size check of SAM's derived perturbation scaling (muP², Haas et al. 2024).

The ``mlp`` (no multipliers, muP for SGD) at several widths; SAM's ascent at init,

.. math:: \\epsilon_t = \\rho\\, n^{R}\\, n^{P_t}\\, g_t / \\lVert g \\rVert,

with the derived radius exponent ``R`` and per-layer scalings ``P_t``
(``derive(..., perturbation="sam")``; ``rule="mup2"``) or standard SAM at the same radius,
every ``P_t = 0`` (``rule="standard"``). Measured per tensor, RMS per seed: what its
perturbation moves its output by, ``X_t epsilon_t`` (``perturbation_effect``). Predicted: flat
for every layer under muP² (every layer effectively perturbed); ``n^{-P_t}`` under standard
SAM, so only the readout (``P = 0``) stays perturbed. Slopes and verdicts as in
:mod:`infwidth.sim._precond`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import jax.numpy as jnp
import numpy as np

from .._fit import Slope
from ..errors import InfwidthError
from ._axis_check import in_float32
from ._precond import TENSORS, _judge, mlp_draw, mlp_grads, mlp_table

Rule = Literal["mup2", "standard"]


def _run(seed: int, n: int, width: dict, exps: dict[str, float], cfg) -> list[float]:
    """Per tensor ``t``, the RMS of ``X_t epsilon_t`` with ``epsilon_t = rho n^{exps_t} g_t / |g|``."""
    d_in, d_out, batch, rho = cfg
    params, x, y = mlp_draw(seed, n, width, d_in, d_out, batch)
    grads = mlp_grads(params, x, y)
    norm = jnp.sqrt(sum(jnp.sum(grads[t][2] ** 2) for t in TENSORS))
    out = []
    for t in TENSORS:
        X, _, G = grads[t]
        eps = rho * n ** exps[t] * G / norm
        out.append(float(jnp.sqrt(jnp.mean((X @ eps) ** 2))))
    return out


@in_float32
def sam_check(
    rule: Rule = "mup2",
    *,
    optimizer: str = "sgd",
    widths: tuple[int, ...] = (128, 256, 512, 1024),
    seeds: int = 3,
    rho: float = 0.1,
    batch: int = 8,
    tol: float = 0.15,
) -> list[Slope]:
    """Perturb at every width and judge each layer's perturbation effect (module docstring)."""
    if rule not in ("mup2", "standard"):
        raise InfwidthError(f"rule is 'mup2' or 'standard', got {rule!r}")
    d, width = mlp_table(optimizer, perturbation="sam")
    p = d.perturbation
    layers = {t: Fraction(str(v)) for t, v in p.layers.items()}
    pred = {
        (t, "perturbation_effect"): Fraction(0) if rule == "mup2" else -layers[t] for t in TENSORS
    }
    exps = {
        t: float(Fraction(str(p.radius)) + (layers[t] if rule == "mup2" else 0)) for t in TENSORS
    }
    values = [[_run(s, n, width, exps, (16, 4, batch, rho)) for s in range(seeds)] for n in widths]
    return _judge(widths, np.array(values), pred, tol)
