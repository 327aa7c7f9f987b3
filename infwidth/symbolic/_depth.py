"""Depth exponents for residual networks: ``h^{l+1} = h^l + L^{-alpha} F_l(h^l)``.

Depth is handled like width: every quantity's size is a power of ``L`` and the desiderata
become linear equations in the exponents. For a tensor on a residual branch, with learning
rate ``eta L^{-gamma}`` and an optimiser of gradient power ``p``:

* **init** (residual stream Theta(1)): the ``L`` branches are independent at init, so the
  stream's variance grows like ``L * L^{-2 alpha}``: stability needs ``alpha >= 1/2``;
* **training** (each block moves the stream by ``Theta(1/L)``, so that depth adds up to a
  Theta(1) feature update, TP6/B23): the branch's gradient carries ``L^{-alpha}`` (back-prop
  through the multiplier), its update ``L^{-gamma} (L^{-alpha})^p``, and its effect on the
  stream another ``L^{-alpha}``: ``-gamma - (1 + p) alpha = -1``, i.e.
  ``gamma = 1 - (1 + p) alpha``;
* Adam's epsilon follows the gradient: ``epsilon ~ L^{-alpha}``; decoupled weight decay keeps
  ``lr * wd`` fixed: ``wd ~ L^{gamma}``.

The choice of ``alpha`` is where the papers disagree: TP6 (Yang et al. 2023) and B23 take
``alpha = 1/2`` (the largest branches that keep the stream stable at init: feature
diversity); CompleteP (Dey et al. 2025) takes ``alpha = 1`` (each block stays non-lazy:
"complete feature learning"). The engine derives both and says so.
"""

from __future__ import annotations

import sympy as sp

from ._optimizers import Optimizer

#: target -> (alpha, source)
DEPTH_TARGETS: dict[str, tuple[sp.Rational, str]] = {
    "depth-mup": (sp.Rational(1, 2), "TP6 (Yang et al. 2023), B23 (Bordelon et al. 2023)"),
    "completep": (sp.Integer(1), "CompleteP (Dey et al. 2025)"),
}

DEPTH_CONFLICT = (
    "Papers disagree on the depth exponent: TP6/B23 take alpha = 1/2 (the largest stable "
    "branches: maximal feature diversity across depth), CompleteP takes alpha = 1 (every "
    "block learns non-lazily). Both satisfy init stability and Theta(1/L) block updates; "
    "choose with --target depth-mup or --target completep."
)


def branch_learning_rate_exponent(opt: Optimizer, alpha: sp.Rational) -> sp.Rational:
    """``gamma = 1 - (1 + p) alpha``: branch learning rate ``~ L^{-gamma}``."""
    return 1 - (1 + opt.gradient_power) * alpha


def depth_json(
    opt: Optimizer, alpha: sp.Rational | None, on_branch: bool, *, with_wd: bool
) -> dict[str, str]:
    """Depth exponents (powers of ``L``) of one tensor in the JSON contract's form."""
    zero = "0"
    out = {
        "init_variance": zero,
        "multiplier": zero,
        "learning_rate": zero,
        "branch_multiplier": zero,
    }
    if opt.epsilon:
        out["epsilon"] = zero
    if with_wd:
        out["weight_decay"] = zero
    if alpha is None or not on_branch:
        return out
    gamma = branch_learning_rate_exponent(opt, alpha)
    out["branch_multiplier"] = str(-alpha)
    out["learning_rate"] = str(-gamma)
    if opt.epsilon:
        out["epsilon"] = str(-alpha)
    if with_wd:
        out["weight_decay"] = str(gamma)
    return out
