"""Infinite-width feature-learning dynamics (DMFT) of muP networks.

One entry point, :func:`solve_dmft` (problem data positional, knobs keyword-only), returning a
:class:`DMFTSolution` with loss, outputs (train and test points), feature kernels Phi^l(t,s),
gradient kernels G^l(t,s), the NTK K(t), response functions and convergence diagnostics.

Solvers: :class:`Lazy` (gamma0 -> 0), :class:`TwoLayerParticles` (L = 1, any activation),
:class:`DeepLinear` (closed form), :class:`MonteCarlo` (deep nonlinear, with responses; also the
residual "stream" DMFT for ``DMFTProblem(arch="resmlp")``) and the labelled approximation
:class:`GradientIndependence`. Finite-width networks of exactly the same parametrization:
:func:`train_finite`, measured against a solution at several widths by :func:`compare_widths`
(resumable from an on-disk cache), all written to files by :func:`write_report` (what
``infwidth dmft`` runs); the muP reading of (gamma0, eta): :func:`mup_link`. The
specification is ``shared/DMFT.md``.

Example (deep linear closed form, deterministic)::

    >>> import numpy as np
    >>> from infwidth.dmft import DMFTProblem, DeepLinear, solve_dmft
    >>> X, y = np.eye(3) * np.sqrt(3), np.array([1.0, -0.5, 0.8])
    >>> sol = solve_dmft(DMFTProblem(X, y, depth=2, activation="linear", gamma0=1.0,
    ...                              eta=0.05, steps=20), DeepLinear())
    >>> bool(sol.converged and sol.loss[-1] < sol.loss[0])
    True
"""

from ..network import ACTIVATIONS, Activation, get_activation
from ._compare import compare_widths
from ._finite import FiniteRun, train_finite
from ._lazy import gd_threshold, lazy_kernels, lazy_ntk
from ._mup import MuPLink, mup_link
from ._report import SOLVERS, load_data, make_solver, solver_name, write_report
from ._solve import divergence_message, solve_dmft
from ._types import (
    RESULTS,
    AbstractDMFTSolver,
    DeepLinear,
    DMFTError,
    DMFTProblem,
    DMFTSolution,
    GradientIndependence,
    Lazy,
    MonteCarlo,
    TwoLayerParticles,
)

__all__ = [
    "ACTIVATIONS",
    "RESULTS",
    "SOLVERS",
    "AbstractDMFTSolver",
    "Activation",
    "DMFTError",
    "DMFTProblem",
    "DMFTSolution",
    "FiniteRun",
    "DeepLinear",
    "GradientIndependence",
    "Lazy",
    "MonteCarlo",
    "MuPLink",
    "TwoLayerParticles",
    "compare_widths",
    "divergence_message",
    "gd_threshold",
    "get_activation",
    "lazy_kernels",
    "lazy_ntk",
    "load_data",
    "make_solver",
    "mup_link",
    "solve_dmft",
    "solver_name",
    "train_finite",
    "write_report",
]
