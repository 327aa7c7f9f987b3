"""The finite-size checks along an axis other than the width, by name (``infwidth axis-check``).

Each check trains a small network scaled by a derived table at several values of one axis
and judges the fitted log-log slopes of what its updates move against the engine's
prediction (:mod:`infwidth.sim._axis_check`): under the derived rule every judged quantity
is flat in the axis; under the check's *baseline* (the same table blind to the axis, one
width-independent damping, or standard SAM) the predicted slopes are not, and the check
measures them too.

==========  ======  =========================================  ==========================
check       axis    network (built-in)                         baseline rule
==========  ======  =========================================  ==========================
density     rho     masked hidden matrix (``sparse-mlp``)      ``mup`` (blind to rho)
rank        r       LoRA adapter (``lora-mlp``)                ``blind``
experts     E       routed experts (``moe``)                   ``blind``
gqa         g       shared K/V heads (``gqa``)                 ``blind``
heads       H       heads at fixed head size (``mha-heads``)   ``blind``
vocab       V       embedding/unembedding (``large-vocab``)    ``blind``
precond     n       K-FAC/Shampoo/SOAP/FOOF step (``mlp``)     ``fixed-damping``
sam         n       SAM perturbation (``mlp``)                 ``standard``
==========  ======  =========================================  ==========================
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from ..errors import InfwidthError


class AxisCheck(NamedTuple):
    """A check: where it lives, its axis, its two rules and its default optimiser."""

    module: str
    function: str
    axis: str
    derived: str
    baseline: str
    optimizer: str


CHECKS: dict[str, AxisCheck] = {
    "density": AxisCheck("_density", "density_check", "rho", "derived", "mup", "sgd"),
    "rank": AxisCheck("_rank", "rank_check", "r", "derived", "blind", "adam"),
    "experts": AxisCheck("_experts", "experts_check", "E", "derived", "blind", "sgd"),
    "gqa": AxisCheck("_gqa", "gqa_check", "g", "derived", "blind", "sgd"),
    "heads": AxisCheck("_heads", "heads_check", "H", "derived", "blind", "adam"),
    "vocab": AxisCheck("_vocab", "vocab_check", "V", "derived", "blind", "sgd"),
    "precond": AxisCheck("_precond", "precond_check", "n", "derived", "fixed-damping", "kfac"),
    "sam": AxisCheck("_sam", "sam_check", "n", "mup2", "standard", "sgd"),
}


def run_axis_check(
    check: str, *, optimizer: str | None = None, baseline: bool = False, **options: Any
) -> tuple[AxisCheck, str, list]:
    """Run check ``check`` (a key of :data:`CHECKS`) under its derived rule, or its baseline;
    returns the check, the rule and its slopes (``predicted``, ``slope``, ``ci_low``,
    ``ci_high``, ``verdict`` per judged quantity). ``options`` go to the check (``seeds``)."""
    if check not in CHECKS:
        raise InfwidthError(f"unknown check {check!r}; choose one of {', '.join(CHECKS)}")
    c = CHECKS[check]
    fn = getattr(importlib.import_module(f"{__package__}.{c.module}"), c.function)
    rule = c.baseline if baseline else c.derived
    return c, rule, fn(rule=rule, optimizer=optimizer or c.optimizer, **options)
