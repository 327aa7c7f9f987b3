"""Weight decay from a stated desideratum: the published rules answer different questions.

Decoupled weight decay ``w <- w - eta_t (lambda w + u)`` with ``eta_t = eta n^{-c}`` and
per-step update entries ``u`` of the optimiser (Theta(1) for AdamW with the derived epsilon).

* ``timescale`` (Wang & Aitchison 2025): the EMA timescale ``1/(eta_t lambda)`` of the weights
  is a fixed number of steps (of epochs, at a fixed data set) at every width:
  ``lambda ~ n^{c}``, i.e. ``weight_decay = -learning_rate``.
* ``equilibrium``: the steady state of decay against updates keeps the weights at their
  initial scale. Successive updates are independent at equilibrium (a random walk):
  ``E|w|^2 (2 eta_t lambda) = eta_t^2`` gives ``|w|_eq^2 = eta_t / (2 lambda)``; setting it to
  the init variance ``n^{-2b}`` gives ``lambda ~ n^{2b - c}``, i.e.
  ``weight_decay = learning_rate - init_variance``. (Fan et al. 2025 fit a sublayer's
  steady-state gain empirically; Qiu et al. 2025 tune it compute-optimally with the token
  count growing with the model, a horizon this width-only desideratum does not model.)
"""

from __future__ import annotations

import sympy as sp

from ..errors import InfwidthError
from ._parametrization import TensorExponents

RULES = {
    "timescale": "the weights' EMA timescale 1/(lr*wd) is the same number of steps at every "
    "width (Wang & Aitchison 2025): wd ~ 1/lr",
    "equilibrium": "at equilibrium, decay balances the (independent) updates and keeps the "
    "weights at their init scale: wd ~ lr / init_variance",
}


def weight_decay_exponent(e: TensorExponents, rule: str) -> sp.Rational:
    """The power of the axis that ``wd`` scales with, under ``rule``."""
    if rule == "timescale":
        return e.c
    if rule == "equilibrium":
        return 2 * e.b - e.c
    raise InfwidthError(f"unknown weight-decay rule {rule!r}; choose one of {', '.join(RULES)}")


def rule_note(rule: str) -> str:
    other = "equilibrium" if rule == "timescale" else "timescale"
    return (
        f"Weight decay from the {rule} desideratum: {RULES[rule]}. The {other} desideratum "
        f"({RULES[other]}) answers a different question and gives another exponent "
        f"(--weight-decay {other})."
    )
