"""The desiderata as linear constraints on the exponents, and an exact solver for them.

Each :class:`Constraint` is ``expr == 0`` with ``expr`` linear in the unknown exponents
(``a_t``, ``b_t``, ``c_t`` per tensor and ``w``, the backward signal's size). It remembers which
desideratum produced it, so a derivation can be explained step by step and an infeasible set
can be reported by naming a minimal conflicting subset.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..errors import NoSolutionError


@dataclasses.dataclass(frozen=True)
class Constraint:
    """``lhs == rhs`` (both linear in the unknowns), produced by ``desideratum``."""

    label: str
    desideratum: str
    lhs: sp.Expr
    rhs: sp.Expr
    tensor: str | None = None
    why: str = ""

    @property
    def expr(self) -> sp.Expr:
        return self.lhs - self.rhs

    def latex(self) -> str:
        return f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}"

    def text(self) -> str:
        return f"{sp.sstr(self.lhs)} = {sp.sstr(self.rhs)}"


def solve_exact(
    constraints: list[Constraint], unknowns: list[sp.Symbol]
) -> dict[sp.Symbol, sp.Expr]:
    """Solve the linear system exactly (``sympy.linsolve`` over the rationals).

    Raises :class:`NoSolutionError` naming a minimal infeasible subset of the constraints
    (a deletion filter: drop each constraint in turn and keep it out if the rest is still
    infeasible).
    """
    solution = sp.linsolve([c.expr for c in constraints], unknowns)
    if solution == sp.EmptySet:
        core = minimal_conflict(constraints, unknowns)
        listing = "; ".join(f"{c.label}: {c.text()}" for c in core)
        raise NoSolutionError(
            f"the desiderata have no solution; conflicting constraints: {listing}",
            tuple(c.label for c in core),
        )
    (values,) = tuple(solution)
    return dict(zip(unknowns, values, strict=True))


def minimal_conflict(constraints: list[Constraint], unknowns: list[sp.Symbol]) -> list[Constraint]:
    """A minimal subset of ``constraints`` with no common solution."""
    core = list(constraints)
    i = 0
    while i < len(core):
        trial = core[:i] + core[i + 1 :]
        if trial and sp.linsolve([c.expr for c in trial], unknowns) == sp.EmptySet:
            core = trial
        else:
            i += 1
    return core
