"""Optimisers as data: how the size of an update depends on the gradient.

The derivation never looks at an optimiser's name, only at this description. Write
``W_eff = n^{-a} w`` for a tensor's forward weight, ``eta * n^{-c}`` for its learning rate and
``G`` for the gradient with respect to ``W_eff``. One step changes the forward weight by

.. math:: \\Delta W_{\\rm eff} = n^{-a}\\,\\eta n^{-c}\\,
          \\big(\\mathrm{RMS}(w)\\big)^{s}\\, Q\\big((n^{-a} G)\\big),

where ``Q`` is homogeneous of degree ``p`` in the gradient (``p = 1`` for SGD: Q is the
identity; ``p = 0`` for Adam with epsilon -> 0, SignSGD and orthogonalised updates: the
gradient's scale drops out) and ``s = 1`` for parameter-scaled optimisers (Adafactor's
relative step). ``structure`` says whether Q acts entrywise (its output has entries of the
size of the normalised gradient) or orthogonalises the matrix (``U V^T``: spectral norm 1,
so a rank-one update has entries ``1/sqrt(fan_in * fan_out)``).

A new optimiser is one more :class:`Optimizer` line, not new solver code.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import sympy as sp

from ..errors import InfwidthError


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """Scaling-relevant description of an optimiser.

    Attributes:
        name: CLI name.
        gradient_power: degree ``p`` of the update in the gradient's scale (1 or 0).
        structure: ``"entrywise"`` or ``"orthogonal"``.
        param_scaled: the step is multiplied by the RMS of the parameter (Adafactor).
        epsilon: has a denominator epsilon whose scaling must be derived (Adam's d).
        weight_decay: supports decoupled weight decay ``w <- w - lr * wd * w``.
        momentum: uses a momentum buffer (does not change any exponent).
        description: one line for tables.
    """

    name: str
    gradient_power: int
    structure: Literal["entrywise", "orthogonal"] = "entrywise"
    param_scaled: bool = False
    epsilon: bool = False
    weight_decay: bool = False
    momentum: bool = False
    description: str = ""

    @property
    def c_shift(self) -> sp.Rational:
        """How ``c`` moves under the symmetry ``(a, b) -> (a + t, b - t)``: ``c -> c + k t``.

        The effective step ``n^{-(1+p) a - c - s b}`` must stay fixed, so
        ``k = -(1 + p) + s``: SGD ``-2`` (TP4), Adam ``-1`` (TP4b), Adafactor ``0``.
        """
        return sp.Integer(-(1 + self.gradient_power) + int(self.param_scaled))

    @property
    def family(self) -> str:
        """``"sgd"`` for gradient-linear updates (TP4), ``"entrywise"`` for TP4b's class."""
        return "sgd" if self.gradient_power == 1 else "entrywise"


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", 1, description="plain (stochastic) gradient descent"),
        Optimizer("momentum", 1, momentum=True, description="SGD with heavy-ball momentum"),
        Optimizer("adam", 0, epsilon=True, description="Adam (epsilon scaling derived as d)"),
        Optimizer(
            "adamw",
            0,
            epsilon=True,
            weight_decay=True,
            description="AdamW, decoupled weight decay lr*wd*w",
        ),
        Optimizer("signsgd", 0, description="sign of the gradient (Adam with b1=b2=0, eps=0)"),
        Optimizer(
            "adafactor",
            0,
            param_scaled=True,
            epsilon=True,
            description="factored second moment, step relative to RMS(w)",
        ),
        Optimizer(
            "muon",
            0,
            structure="orthogonal",
            momentum=True,
            description="orthogonalised update U V^T (Muon-like)",
        ),
    )
}


def get_optimizer(name: str | Optimizer) -> Optimizer:
    """Look an optimiser up by name (or pass an :class:`Optimizer` through)."""
    if isinstance(name, Optimizer):
        return name
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise InfwidthError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]
