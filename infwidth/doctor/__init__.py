"""``infwidth doctor``: audit a model's *effective* parametrization and name the guilty tensor.

From a model's initial parameters, forward pass and optax optimiser at two or three widths
(:class:`UserModel`, built-in or the user's own), the doctor measures each tensor's width
exponents (init variance, forward multiplier, learning rate and Adam epsilon from probing the
optimiser, weight decay per step, attention-logit scale; :mod:`._probe`), fits them with
:func:`infwidth._fit.fit_exponent` and diffs them, up to the abc symmetries, with the table
the symbolic engine derives (:mod:`._audit`); each failing knob gets a fix in the user's terms
(:mod:`._report`).
"""

from ._audit import audit
from ._model import OUTPUT, UserModel, builtin_make
from ._report import Finding, Report
from ._run import audit_builtin, audit_user, run_doctor

__all__ = [
    "OUTPUT",
    "Finding",
    "Report",
    "UserModel",
    "audit",
    "audit_builtin",
    "audit_user",
    "builtin_make",
    "run_doctor",
]
