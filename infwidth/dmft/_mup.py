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

_DMFT_ABC: dict[str, Abc] = {
    "input": (Fraction(0), Fraction(0), Fraction(-1)),
    "hidden": (Fraction(1, 2), Fraction(0), Fraction(-1)),
    "readout": (Fraction(1), Fraction(0), Fraction(-1)),
}
_MUP_ABC: dict[str, Abc] = {
    "input": (Fraction(-1, 2), Fraction(1, 2), Fraction(0)),
    "hidden": (Fraction(0), Fraction(1, 2), Fraction(0)),
    "readout": (Fraction(1, 2), Fraction(1, 2), Fraction(0)),
}


def shift_abc(abc: Abc, theta: Fraction) -> Abc:
    """The symmetry (a, b, c) -> (a + theta, b - theta, c - 2 theta) of SGD training."""
    a, b, c = abc
    return (a + theta, b - theta, c - 2 * theta)


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
    return MuPLink(
        dmft_abc=dict(_DMFT_ABC),
        mup_abc=dict(_MUP_ABC),
        theta=Fraction(-1, 2),
        readout_multiplier=1.0 / gamma0,
        learning_rate=eta * gamma0**2,
    )
