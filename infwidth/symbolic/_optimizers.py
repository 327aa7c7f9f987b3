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

Matrix-preconditioned updates ``P_out^{-q_out} G P_in^{-q_in}`` (K-FAC, Shampoo, FOOF; Ishikawa
& Karakida 2024) are described by their :class:`Factor` s. In the rank-one view ``G = g x^T``
(``g`` the gradient on the tensor's output, before its multiplier; ``x`` its input) each factor
has one non-zero eigenvalue ``|g|^{2 k_g} |x|^{2 k_x}`` (K-FAC's ``B = g g^T``: ``(1, 0)``,
``A = x x^T``: ``(0, 1)``; Shampoo's ``G G^T`` and ``G^T G``: ``(1, 1)``), so the update is

.. math:: \\Delta W \\propto |g|^{-u}\\,|x|^{-v}\\, g x^T,\\qquad
          u = 2\\sum q\\,k_g,\\quad v = 2\\sum q\\,k_x,

homogeneous of degree ``p = 1 - u`` in the gradient. The damping added to each factor must
track that eigenvalue (damping far below it: the factor acts undamped; far above: it drops
out and K-FAC silently becomes FOOF or SGD), which gives the damping exponents
(``_precondition.py``). An orthogonalised update is the case ``u = v = 1`` (Shampoo with
``q = 1/4`` on both sides is Muon's geometry).

SOAP (Vyas et al., ICLR 2025, arXiv 2409.11321) runs Adam in the eigenbasis ``Q_L, Q_R`` of
Shampoo's factors: ``Q_L (m / (sqrt(v) + eps)) Q_R^T`` with ``m, v`` Adam's moments of the
rotated gradient ``Q_L^T G Q_R``. In the rank-one view the rotated gradient has one non-zero
entry ``|g||x|`` (on the top eigenvectors ``g/|g|``, ``x/|x|``), Adam normalises it to ``+-1``
and rotating back gives ``g x^T / (|g||x|)``: Shampoo's (and Muon's) geometry, ``u = v = 1``,
so the same learning-rate exponents. Its factors are used only for their eigenvectors, which a
damping ``rho I`` does not change; the damping that matters is Adam's ``eps``, added to
``sqrt(v) = |g||x|``: one factor on the rotated coordinates (side ``"eigen"``) whose
"eigenvalue" is ``|g|^{2 k_g} |x|^{2 k_x}`` with ``k_g = k_x = 1/2`` and power 1, so its
damping exponent is half of Shampoo's.

A new optimiser is one more :class:`Optimizer` line, not new solver code.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import sympy as sp

from ..errors import InfwidthError


@dataclasses.dataclass(frozen=True)
class Factor:
    """One preconditioner factor ``P^{-power}`` on the ``side`` (``"out"``: left, acting on the
    output index; ``"in"``: right, on the input index; ``"eigen"``: entrywise on the rotated
    coordinates, SOAP's Adam denominator) whose non-zero eigenvalue in the rank-one view is
    ``|g|^{2 grad} |x|^{2 inputs}``."""

    side: Literal["out", "in", "eigen"]
    power: sp.Rational
    grad: sp.Rational | int
    inputs: sp.Rational | int


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
        preconditioner: the factors of a matrix-preconditioned update (``structure ==
            "preconditioned"``); each gets a damping whose exponent is derived.
    """

    name: str
    gradient_power: int
    structure: Literal["entrywise", "orthogonal", "preconditioned"] = "entrywise"
    param_scaled: bool = False
    epsilon: bool = False
    weight_decay: bool = False
    momentum: bool = False
    description: str = ""
    preconditioner: tuple[Factor, ...] = ()

    @property
    def norm_powers(self) -> tuple[sp.Rational, sp.Rational]:
        """``(u, v)``: the update is ``|g|^{-u} |x|^{-v} g x^T`` in the rank-one view."""
        if self.structure == "orthogonal":
            return sp.Integer(1), sp.Integer(1)
        u = sum((2 * f.power * f.grad for f in self.preconditioner), sp.Integer(0))
        v = sum((2 * f.power * f.inputs for f in self.preconditioner), sp.Integer(0))
        return u, v

    @property
    def damping_sides(self) -> tuple[str, ...]:
        """``"out"``/``"in"`` for every damped factor (empty: no damping to derive)."""
        return tuple(f.side for f in self.preconditioner)

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
        Optimizer(
            "kfac",
            -1,
            structure="preconditioned",
            preconditioner=(Factor("out", sp.Integer(1), 1, 0), Factor("in", sp.Integer(1), 0, 1)),
            description="K-FAC: (B + rho_B)^-1 G (A + rho_A)^-1",
        ),
        Optimizer(
            "shampoo",
            0,
            structure="preconditioned",
            preconditioner=(
                Factor("out", sp.Rational(1, 4), 1, 1),
                Factor("in", sp.Rational(1, 4), 1, 1),
            ),
            description="Shampoo: (GG^T + rho_L)^-1/4 G (G^TG + rho_R)^-1/4",
        ),
        Optimizer(
            "foof",
            1,
            structure="preconditioned",
            preconditioner=(Factor("in", sp.Integer(1), 0, 1),),
            description="FOOF: G (A + rho_A)^-1, the input factor of K-FAC only",
        ),
        Optimizer(
            "soap",
            0,
            structure="preconditioned",
            momentum=True,
            preconditioner=(Factor("eigen", sp.Integer(1), sp.Rational(1, 2), sp.Rational(1, 2)),),
            description="SOAP: Adam in the eigenbasis of Shampoo's factors, eps on sqrt(v)",
        ),
    )
}

#: The first-order optimisers (the classic table of ``derivations/``).
FIRST_ORDER = tuple(n for n, o in OPTIMIZERS.items() if o.structure != "preconditioned")


def get_optimizer(name: str | Optimizer) -> Optimizer:
    """Look an optimiser up by name (or pass an :class:`Optimizer` through)."""
    if isinstance(name, Optimizer):
        return name
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise InfwidthError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]
