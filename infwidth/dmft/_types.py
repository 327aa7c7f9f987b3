"""Problem, solver descriptions, status enum and solution object of the DMFT solvers.

Everything here is plain data: frozen dataclasses validated once at construction, and a
:class:`DMFTSolution` that every solver returns with the same fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ..network import ACTIVATIONS


class DMFTError(InfwidthError):
    """A DMFT solve failed in a way the user can fix (divergence, non-convergence)."""

    def __init__(self, message: str, solution: DMFTSolution | None = None) -> None:
        super().__init__(message)
        self.solution = solution


class RESULTS(enum.Enum):
    """Status of a solve. The value is the fix-it text shown to the user."""

    successful = ""
    max_sweeps_reached = (
        "The self-consistency loop did not reach its tolerance (or the Monte-Carlo noise floor) "
        "within max_sweeps. Try increasing max_sweeps, lowering the mixing, or raising n_sites; "
        "the residual history is in DMFTSolution.residuals."
    )
    diverged = (
        "Gradient descent diverged: eta is beyond the GD stability threshold 2/lambda_max(K). "
        "Lower eta below DMFTSolution.eta_max (the threshold at t=0; feature learning can lower "
        "it later). Finite networks diverge too: this is not a solver bug."
    )


@dataclass(frozen=True)
class DMFTProblem:
    """The training problem of DMFT.md section 1, fully specified.

    Network (``arch="mlp"``), weights i.i.d. N(0, 1)::

        h^1 = W^0 x / sqrt(D),  h^{l+1} = W^l phi(h^l) / sqrt(N),  f = w^L . phi(h^L) / (gamma0 N)

    trained on the *summed* loss  L = 1/2 sum_mu (f_mu - y_mu)^2  by discrete gradient descent
    theta_{t+1} = theta_t - eta gamma0^2 N grad L (``dynamics="gd"``), t = 0..steps-1, or by
    gradient flow in time tau = eta t (``dynamics="flow"``, lazy solver only). ``arch="resmlp"``
    is the residual net of DMFT.md 5.2 with branches beta0/sqrt(L).

    Test points ``X_test`` are appended as extra samples with zero error signal (DMFT.md 2.8).
    """

    X: np.ndarray
    y: np.ndarray
    depth: int = 1
    activation: str = "tanh"
    gamma0: float = 1.0
    eta: float = 0.05
    steps: int = 50
    X_test: np.ndarray | None = None
    arch: Literal["mlp", "resmlp"] = "mlp"
    beta0: float = 1.0
    dynamics: Literal["gd", "flow"] = "gd"

    def __post_init__(self) -> None:
        X = valid.data_array("X", self.X, shape="P x D")
        y = valid.data_array("y", self.y, ndim=(0, 1, 2), inputs=False).reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise InfwidthError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows")
        Xt = None
        if self.X_test is not None:
            Xt = valid.data_array("X_test", self.X_test, inputs=False)
            if Xt.shape[1] != X.shape[1]:
                raise InfwidthError(f"X_test must be P_test x {X.shape[1]}, got shape {Xt.shape}")
        depth = valid.positive_int("depth (number of hidden layers L)", self.depth)
        if self.activation not in ACTIVATIONS:
            raise InfwidthError(
                f"unknown activation {self.activation!r}; choose one of "
                f"{', '.join(sorted(ACTIVATIONS))}"
            )
        if self.gamma0 == 0:
            raise InfwidthError("gamma0 must be > 0 (use the Lazy solver for gamma0 -> 0)")
        gamma0 = valid.positive("gamma0", self.gamma0)
        eta = valid.positive("eta", self.eta)
        beta0 = valid.positive("beta0", self.beta0)
        steps = valid.positive_int("steps", self.steps)
        if self.arch not in ("mlp", "resmlp"):
            raise InfwidthError(f"arch must be 'mlp' or 'resmlp', got {self.arch!r}")
        if self.dynamics not in ("gd", "flow"):
            raise InfwidthError(f"dynamics must be 'gd' or 'flow', got {self.dynamics!r}")
        names = ("X", "y", "X_test", "depth", "steps", "gamma0", "eta", "beta0")
        for k, v in zip(names, (X, y, Xt, depth, steps, gamma0, eta, beta0), strict=True):
            object.__setattr__(self, k, v)

    @property
    def n_train(self) -> int:
        return self.X.shape[0]

    @property
    def X_all(self) -> np.ndarray:
        """Training inputs followed by test inputs, (P_train + P_test) x D."""
        return self.X if self.X_test is None else np.concatenate([self.X, self.X_test])

    @property
    def Kx(self) -> np.ndarray:
        """Input kernel K^x = x . x' / D on train + test points."""
        Xa = self.X_all
        return Xa @ Xa.T / Xa.shape[1]

    def settings(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "activation": self.activation,
            "gamma0": float(self.gamma0),
            "eta": float(self.eta),
            "steps": self.steps,
            "arch": self.arch,
            "beta0": float(self.beta0),
            "dynamics": self.dynamics,
            "n_train": self.n_train,
            "n_test": 0 if self.X_test is None else int(self.X_test.shape[0]),
            "input_dim": int(self.X.shape[1]),
            "loss": "summed MSE 1/2 sum (f - y)^2",
            "learning_rate": "eta * gamma0^2 * N",
        }


# --------------------------------------------------------------------------------------------
# Solvers (descriptions only; the algorithms live in their own modules)


@dataclass(frozen=True)
class AbstractDMFTSolver:
    """Base of the solver descriptions accepted by :func:`solve_dmft`."""

    approximation: str | None = field(default=None, init=False)


@dataclass(frozen=True)
class Lazy(AbstractDMFTSolver):
    """gamma0 -> 0: static NNGP/NTK kernels (DMFT.md 3.1); Delta(t) = (I - eta K)^t y."""


@dataclass(frozen=True)
class TwoLayerParticles(AbstractDMFTSolver):
    """L = 1, any activation: exact single-site particle dynamics (DMFT.md 3.3).

    ``n_sites`` particles (drawn in antithetic pairs (u, r), (u, -r) so that f(0) = 0 exactly);
    no self-consistency loop. Monte-Carlo error O(n_sites^{-1/2}).
    """

    n_sites: int = 4000

    def __post_init__(self) -> None:
        valid.positive_int("n_sites", self.n_sites, minimum=2)


@dataclass(frozen=True)
class DeepLinear(AbstractDMFTSolver):
    """phi(h) = h, any depth: closed-form matrix equations (DMFT.md 3.2), no sampling,
    solved exactly by one causal pass in time (no sweeps: ``residuals`` is empty)."""


@dataclass(frozen=True)
class MonteCarlo(AbstractDMFTSolver):
    """Deep networks, any activation: alternating Monte Carlo WITH response functions (4.2).

    ``n_sites`` sites estimate Phi, G; ``n_response_sites`` (<= n_sites) sites estimate the
    response functions A-hat, B-hat by forward-mode Jacobians of the site-averaged paths
    (DMFT.md 4.5), in batches of ``batch`` sites. ``mixing`` is beta in X <- (1-beta) X + beta X~.
    ``response_dtype="float32"`` propagates the Jacobians in single precision (about 2x faster;
    roundoff ~1e-7, far below the Monte-Carlo error); kernels and fields stay float64.
    ``response_every=k`` re-estimates the responses only every k-th sweep (same fixed point,
    about k times cheaper Jacobians; MLP solver only).
    """

    n_sites: int = 2000
    n_response_sites: int = 256
    mixing: float = 0.8
    batch: int = 16
    response_dtype: Literal["float64", "float32"] = "float64"
    response_every: int = 1

    def __post_init__(self) -> None:
        valid.positive_int("n_sites", self.n_sites, minimum=2)
        for k in ("n_response_sites", "batch", "response_every"):
            valid.positive_int(k, getattr(self, k))
        if not 0 < valid.finite("mixing", self.mixing) <= 1:
            raise InfwidthError(f"mixing must be in (0, 1], got {self.mixing}")
        if self.response_dtype not in ("float64", "float32"):
            raise InfwidthError(
                f"response_dtype must be float64 or float32, got {self.response_dtype!r}"
            )


@dataclass(frozen=True)
class GradientIndependence(MonteCarlo):
    """APPROXIMATION: the gradient-independence ansatz, A-hat = B-hat = 0.

    Not the DMFT: it drops the response functions and is accurate only as gamma0 -> 0 or at
    early times (DMFT.md 4.5, 6.7). Results are labelled ``approximation="gradient-independence
    ansatz"``.
    """

    approximation: str | None = field(default="gradient-independence ansatz", init=False)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DMFTSolution:
    """What every solver returns. Shapes: T = steps, P = P_train + P_test (train first).

    * ``loss`` (T,): 1/2 sum_{train} Delta(t)^2 with Delta = y - f.
    * ``outputs`` (T, P): f_mu(t) on train and test points (f(0) = 0 at infinite width).
    * ``Phi`` (L, T, P, T, P): feature kernels Phi^l_{mu alpha}(t, s), l = 1..L.
    * ``G`` (L, T, P, T, P): gradient kernels G^l_{mu alpha}(t, s), l = 1..L.
    * ``ntk`` (T, P, P): K(t, t) = sum_l G^{l+1} * Phi^l (DMFT.md 2.6).
    * ``A``, ``B`` (L-1, T, P, T, P) or None: discrete responses A-hat^l, B-hat^l (DMFT.md 2.7),
      l = 1..L-1, where the solver uses them. :class:`DeepLinear` stores them collapsed over the
      (sample-independent) backward index: A (L-1, T, P, T) = sum_a A[t, mu, s, a] and
      B (L-1, T, T, P).
    * ``residuals`` (n_sweeps,): relative change per sweep; ``noise_floor`` the Monte-Carlo
      floor estimate per sweep (zeros for deterministic solvers); ``stop_reason`` says which
      stopping rule fired ("tolerance", or "plateau" of the residual at its noise level).
    """

    result: RESULTS
    loss: np.ndarray
    outputs: np.ndarray
    Phi: np.ndarray
    G: np.ndarray
    ntk: np.ndarray
    A: np.ndarray | None
    B: np.ndarray | None
    residuals: np.ndarray
    noise_floor: np.ndarray
    eta_max: float
    n_train: int
    settings: dict[str, Any]
    seed: int | None
    solver: str
    approximation: str | None = None
    wall_time: float = 0.0
    stop_reason: str | None = None

    @property
    def converged(self) -> bool:
        return self.result is RESULTS.successful

    @property
    def train_outputs(self) -> np.ndarray:
        return self.outputs[:, : self.n_train]

    @property
    def test_outputs(self) -> np.ndarray:
        return self.outputs[:, self.n_train :]
