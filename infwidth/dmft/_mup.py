"""The DMFT parametrization as muP (DMFT.md 1.4).

In Tensor-Programs abc form a layer is W_eff = n^{-a} w, w ~ N(0, n^{-2b}), trained with learning
rate eta n^{-c}; training is invariant under (a, b, c) -> (a + theta, b - theta, c - 2 theta)
layerwise. Treating D and gamma0 as O(1), the DMFT network of DMFT.md 1.1 (global learning rate
eta gamma0^2 N, i.e. c = -1) has::

    input (0, 0, -1),   hidden (1/2, 0, -1),   readout (1, 0, -1)

and the shift theta = -1/2 gives (-1/2, 1/2, 0), (0, 1/2, 0), (1/2, 1/2, 0) = muP. The O(1)
constants left over: a readout multiplier 1/gamma0 and the learning rate eta gamma0^2. So
gamma0 = 1 is plain muP with unit multipliers. (Argument for SGD / gradient flow only.)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

Abc = tuple[Fraction, Fraction, Fraction]


def _derived_abc(gauge: str) -> dict[str, Abc]:
    """muP of the DMFT MLP as the symbolic engine derives it, in ``gauge``.

    ``mean-field`` is the DMFT network's own form, ``tp4`` is TP4's muP; no exponent is typed
    in here, so the DMFT and the symbolic engine share one definition.
    """
    from ..spec import mlp
    from ..symbolic import derive

    e = derive(mlp(2), "sgd", target="mup", gauge=gauge).exponents
    frac = lambda x: Fraction(str(x))  # noqa: E731
    rows = {"input": e["W1"], "hidden": e["W2"], "readout": e["W3"]}
    return {k: (frac(v.a), frac(v.b), frac(v.c)) for k, v in rows.items()}


@dataclass(frozen=True)
class MuPLink:
    """How (gamma0, eta) of the DMFT network map to a muP network.

    ``dmft_abc`` / ``mup_abc``: exponents per layer kind; ``theta``: the shift relating them;
    ``readout_multiplier`` = 1/gamma0 multiplies the muP readout; ``learning_rate`` = eta gamma0^2
    is the (width-independent) muP SGD learning rate of every layer.
    """

    dmft_abc: dict[str, Abc]
    mup_abc: dict[str, Abc]
    theta: Fraction
    readout_multiplier: float
    learning_rate: float


def mup_link(gamma0: float, eta: float) -> MuPLink:
    """The muP network equivalent to the DMFT network with (gamma0, eta) (DMFT.md 1.4)."""
    dmft_abc, mup_abc = _derived_abc("mean-field"), _derived_abc("tp4")
    return MuPLink(
        dmft_abc=dmft_abc,
        mup_abc=mup_abc,
        theta=mup_abc["hidden"][0] - dmft_abc["hidden"][0],
        readout_multiplier=1.0 / gamma0,
        learning_rate=eta * gamma0**2,
    )
