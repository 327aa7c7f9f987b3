"""User-facing errors.

Every mistake a user can make (a malformed spec, an unknown optimiser, a fan that is not a
monomial in the width, a desideratum set with no solution) raises a subclass of
:class:`InfwidthError`. The CLI turns these into one line on stderr and exit code 2.
"""

from __future__ import annotations


class InfwidthError(ValueError):
    """Base class of every error caused by bad input rather than by a bug."""


class SpecError(InfwidthError):
    """A network specification (built-in arguments or a spec file) is malformed."""


class NoSolutionError(InfwidthError):
    """A set of desiderata and pinned exponents has no solution.

    ``conflict`` lists the labels of a minimal set of constraints that cannot hold together.
    """

    def __init__(self, message: str, conflict: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.conflict = conflict


class OptimizerMismatchWarning(UserWarning):
    """A table derived for one optimiser is trained with another whose width exponents differ
    (an SGD muP table under Adam is not muP)."""
