"""Finite width meets the limit: empirical NTKs of finite MLPs, and how they approach and move.

The networks are :mod:`infwidth.sim` MLPs (its ``mlp`` model, with random biases) trained by
:func:`infwidth.sim.train`; this module only sets their numbers. They are abc-parametrized
(Yang & Hu 2021): with width ``n``, input dimension ``d``,

.. math::

    h_1 = \\frac{W_{std}}{\\sqrt d} n^{-a_1} w_1 x + b_{std} n^{-a_1} \\beta_1,\\quad
    h_{l+1} = W_{std} n^{-a_l} w_l \\phi(h_l) + b_{std} n^{-a_1}\\beta_l,\\quad
    f = W_{std} n^{-a_{L+1}} w_{L+1} \\phi(h_L) + b_{std} n^{-a_1}\\beta_{L+1},

trainable ``w_l ~ N(0, n^{-2 b_l})`` (biases ``beta`` are input-like: ``N(0, n^{-2 b_1})``) and
SGD learning rate ``eta n^{-c}``. The two parametrizations compared here:

- NTP: ``a = (0, 1/2, 1/2)``, ``b = (0, 0, 0)``, ``c = 0`` -- exactly neural-tangents'
  ``parameterization="ntk"``, so its empirical NTK ``sum_p df/dw_p df/dw_p`` converges to
  :func:`~infwidth.kernels.mlp_kernels`' ``ntk`` as ``||Theta_n - Theta|| / ||Theta|| ~ n^-1/2``;
- muP: ``a = (-1/2, 0, 1/2)``, ``b = (1/2, 1/2, 1/2)``, ``c = 0`` (THEORY.md section 3).

Both have ``Theta = O(1)``. Under NTP training is lazy, the kernel moves by ``O(n^-1/2)``; under
muP features learn and the kernel moves by ``Theta(1)`` (:func:`ntk_movement`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import fit_exponent
from ..errors import InfwidthError
from ..network import get_activation

__all__ = [
    "ABC",
    "MLPConfig",
    "MUP",
    "NTP",
    "SlopeFit",
    "empirical_ntk",
    "fit_slope",
    "init_mlp",
    "mlp_apply",
    "ntk_convergence",
    "ntk_movement",
    "train_mlp",
    "train_trajectory",
]


class ABC(NamedTuple):
    """Width exponents ``(input, hidden, output)`` of multipliers ``a`` and init ``b``; ``c``."""

    name: str
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    c: float = 0.0


def _derived(target: str, gauge: str) -> ABC:
    """A parametrization of the depth-2 MLP as the symbolic engine gives it (one global c)."""
    from ..spec import mlp
    from ..symbolic import derive

    e = derive(mlp(2), "sgd", target=target, gauge=gauge).exponents
    rows = (e["W1"], e["W2"], e["W3"])
    (c,) = {r.c for r in rows}  # both gauges below have a single learning-rate exponent
    return ABC(target, tuple(float(r.a) for r in rows), tuple(float(r.b) for r in rows), float(c))


NTP = _derived("ntp", "unit-scaled")  # a = (0, 1/2, 1/2), b = 0: neural-tangents' form
MUP = _derived("mup", "tp4")  # a = (-1/2, 0, 1/2), b = 1/2: TP4's muP
PARAMETRIZATIONS = {"ntp": NTP, "mup": MUP}


class MLPConfig(NamedTuple):
    """Static description of a finite MLP (hashable: a ``jax.jit`` static argument)."""

    width: int
    depth: int
    activation: str
    abc: ABC = NTP
    W_std: float = 1.0
    b_std: float = 0.0


def _kind(layer: int, depth: int) -> int:
    return 0 if layer == 0 else (2 if layer == depth else 1)


def _names(cfg: MLPConfig) -> tuple[str, ...]:
    ws = tuple(f"W{l}" for l in range(1, cfg.depth + 2))
    return ws + (tuple(f"b{l}" for l in range(1, cfg.depth + 2)) if cfg.b_std > 0 else ())


def _scaling(cfg: MLPConfig, input_dim: int, n, lr=0.0):
    """The abc exponents as a sim :class:`~infwidth.sim.Scaling` at width ``n`` (arrays of
    width ``cfg.width``): ``init_std = n^{-b}``, multiplier ``W_std n^{-a}`` (first layer also
    ``/sqrt(d)``), biases ``N(0, n^{-2 b_1})`` with multiplier ``b_std n^{-a_1}``, rate
    ``lr n^{-c}``."""
    from ..sim import Scaling

    std, mult = {}, {}
    a, b = cfg.abc.a, cfg.abc.b
    for layer in range(cfg.depth + 1):
        k = _kind(layer, cfg.depth)
        std[f"W{layer + 1}"] = n ** -b[k]
        mult[f"W{layer + 1}"] = cfg.W_std * n ** -a[k] / (np.sqrt(input_dim) if layer == 0 else 1)
        std[f"b{layer + 1}"], mult[f"b{layer + 1}"] = n ** -b[0], cfg.b_std * n ** -a[0]
    names = _names(cfg)
    pick = {k: std[k] for k in names}, {k: mult[k] for k in names}
    rates, zeros = dict.fromkeys(names, lr * n**-cfg.abc.c), dict.fromkeys(names, 0.0)
    return Scaling(cfg.width, cfg.width, 1, 1, *pick, rates, zeros, zeros, {}, {})


def _model(cfg: MLPConfig, input_dim: int, n=None, lr=0.0):
    """The sim MLP of ``cfg``. With ``n < cfg.width`` (may be a traced scalar) only the first
    ``n`` hidden units are active: the others are multiplied by 0, so their parameters get
    zero gradient and the function, its NTK and its training are exactly those of the
    width-``n`` network. One compilation then serves every width (compilation, not
    arithmetic, dominates these small experiments)."""
    from ..sim._archs import mlp_model

    act = get_activation(cfg.activation).phi
    phi = act
    if n is not None:
        mask = jnp.arange(cfg.width) < n
        phi = lambda z: act(z) * mask.astype(z.dtype)  # noqa: E731
    s = _scaling(cfg, input_dim, cfg.width if n is None else n, lr)
    dims, dtype = {"d_in": input_dim, "d_out": 1}, jax.dtypes.canonicalize_dtype(jnp.float64)
    return mlp_model(s, names=_names(cfg), dims=dims, phi=phi, dtype=dtype, random_biases=True)


def _to_sim(params: list[dict]) -> dict:
    out = {f"W{l}": p["w"] for l, p in enumerate(params, 1)}
    return out | {f"b{l}": p["b"] for l, p in enumerate(params, 1) if "b" in p}


def _from_sim(params: dict, depth: int) -> list[dict]:
    layers = range(1, depth + 2)
    return [{"w": params[f"W{l}"]} | ({"b": params[f"b{l}"]} if f"b{l}" in params else {})
            for l in layers]  # fmt: skip


def init_mlp(key: jax.Array, cfg: MLPConfig, input_dim: int, n=None) -> list[dict]:
    """Trainable parameters ``[{"w": (fan_in, fan_out), "b": (fan_out,)}, ...]``, float64 when
    x64 is enabled. ``w ~ N(0, n^{-2 b_l})``; biases only if ``b_std > 0``. ``n`` (default
    ``cfg.width``) may be smaller than ``cfg.width``: the arrays keep the padded shape and the
    width-``n`` network lives in the leading units (see :func:`mlp_apply`)."""
    return _from_sim(_model(cfg, input_dim, n).init(key), cfg.depth)


def mlp_apply(cfg: MLPConfig, params: list[dict], x: jnp.ndarray, n=None) -> jnp.ndarray:
    """Scalar outputs ``f(x)``, shape (batch,), of the sim MLP (module docstring); with
    ``n < cfg.width`` the width-``n`` network in the leading units."""
    return _model(cfg, x.shape[-1], n).apply(_to_sim(params), x)[0][..., 0]


def _ntk(cfg: MLPConfig, params: list[dict], x1, x2, n=None):
    def jac(x):
        return jax.jacrev(lambda p: mlp_apply(cfg, p, x, n))(params)

    j1, j2 = jac(x1), jac(x2)
    flat = jax.tree_util.tree_map(
        lambda a, b: a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T, j1, j2
    )
    return sum(jax.tree_util.tree_leaves(flat))


@partial(jax.jit, static_argnums=0)
def empirical_ntk(cfg: MLPConfig, params: list[dict], x1: jnp.ndarray, x2: jnp.ndarray):
    """``Theta_n(x, x') = sum_p df(x)/dw_p df(x')/dw_p`` over all trainable parameters,
    from the Jacobians (``jax.jacrev``); shape (n1, n2)."""
    return _ntk(cfg, params, x1, x2)


def _gd(cfg, params, x, y, steps, lr, n=None, x_test=None):
    """``steps`` of :func:`infwidth.sim.train` (SGD, rate ``lr n^{-c}`` on every tensor);
    with ``x_test``, also the outputs on ``x`` and ``x_test`` before each step."""
    from ..sim import table_optimizer, train

    model = _model(cfg, x.shape[1], n, lr)
    opt = table_optimizer("sgd", model.scaling, _names(cfg))
    rows = x if x_test is None else jnp.concatenate([x, x_test])
    record = None if x_test is None else (lambda s: s.f[:, 0])
    state, f = train(model, opt, _to_sim(params), rows, y[:, None], steps=steps,
                     record=record, n_train=x.shape[0])  # fmt: skip
    return _from_sim(state.params, cfg.depth), f


@partial(jax.jit, static_argnums=(0, 4))
def _train(cfg, params, x, y, steps, lr):
    return _gd(cfg, params, x, y, steps, lr)[0]


def train_mlp(cfg: MLPConfig, params, x, y, *, steps: int, learning_rate: float):
    """``steps`` of full-batch gradient descent on ``L = (1/2n) sum (f - y)^2`` with learning
    rate ``eta n^{-c}`` on every trainable parameter. Returns the trained parameters."""
    return _train(cfg, params, jnp.asarray(x), jnp.asarray(y), steps, learning_rate)


@partial(jax.jit, static_argnums=(0, 5))
def _trajectory(cfg, params, x, y, x_test, steps, lr):
    last, f = _gd(cfg, params, x, y, steps, lr, x_test=x_test)
    f = jnp.concatenate([f, mlp_apply(cfg, last, jnp.concatenate([x, x_test]))[None]])
    return f[:, : x.shape[0]], f[:, x.shape[0] :]


def train_trajectory(cfg: MLPConfig, params, x, y, x_test, *, steps: int, learning_rate: float):
    """Outputs on ``x`` and ``x_test`` before each of ``steps`` gradient-descent steps and after
    the last: arrays of shape ``(steps + 1, n)`` and ``(steps + 1, m)`` (same loss and update
    as :func:`train_mlp`)."""
    arrays = (jnp.asarray(a) for a in (x, y, x_test))
    return _trajectory(cfg, params, *arrays, steps, learning_rate)


class SlopeFit(NamedTuple):
    """Least-squares fit ``log err = slope log width + intercept``; ``errors`` (widths, seeds);
    ``ci_low``/``ci_high`` the 95% bootstrap interval of the slope over seeds."""

    widths: np.ndarray
    errors: np.ndarray
    slope: float
    intercept: float
    ci_low: float | None = None
    ci_high: float | None = None


def fit_slope(widths, errors) -> SlopeFit:
    """Fit the slope of the seed-averaged log error (axis 1) against log width with the one
    fitter, :func:`infwidth._fit.fit_exponent`. Averaging logs (a geometric mean) keeps one
    unlucky seed at a small width from dominating the fit."""
    widths, errors = np.asarray(widths, dtype=float), np.asarray(errors, dtype=float)
    fit = fit_exponent(widths, errors, average="geometric")
    if fit is None:
        raise InfwidthError("fewer than two widths with a finite positive error: no slope")
    return SlopeFit(widths, errors, fit.slope, fit.intercept, fit.ci_low, fit.ci_high)


def _rel(a, b):
    return jnp.linalg.norm(a - b) / jnp.linalg.norm(b)


@partial(jax.jit, static_argnums=0)
def _init_errors(cfg: MLPConfig, n, keys, x, ref):
    """Relative NTK error at init of width-``n`` nets padded to ``cfg.width``, over seeds."""

    def one(key):
        return _rel(_ntk(cfg, init_mlp(key, cfg, x.shape[1], n), x, x, n), ref)

    return jax.lax.map(one, keys, batch_size=4)  # bounded memory at large widths


def _exponent_array(abc: ABC) -> jnp.ndarray:
    return jnp.asarray((*abc.a, *abc.b, abc.c), dtype=float)


@partial(jax.jit, static_argnums=(0, 6))
def _movement(cfg: MLPConfig, exps, n, keys, x, y, steps, lr):
    # The exponents are traced, not static: NTP and muP share one compilation.
    cfg = cfg._replace(abc=ABC("traced", tuple(exps[0:3]), tuple(exps[3:6]), exps[6]))

    def one(key):
        p0 = init_mlp(key, cfg, x.shape[1], n)
        p1 = _gd(cfg, p0, x, y, steps, lr, n)[0]
        return _rel(_ntk(cfg, p1, x, x, n), _ntk(cfg, p0, x, x, n))

    return jax.lax.map(one, keys, batch_size=4)  # bounded memory at large widths


def _parametrization(name: str) -> ABC:
    if name not in PARAMETRIZATIONS:
        raise InfwidthError(f"unknown parametrization {name!r}; use 'ntp' or 'mup'")
    return PARAMETRIZATIONS[name]


def ntk_convergence(
    x: np.ndarray,
    widths,
    seeds,
    *,
    depth: int = 2,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float = 0.0,
    parametrization: str = "ntp",
) -> SlopeFit:
    """``||Theta_n - Theta|| / ||Theta||`` (Frobenius) at initialisation, against the analytic
    NTK, for each width and seed; the fitted slope should be ``-1/2``. Under muP the analytic
    NTK at init is the same (see :func:`~infwidth.kernels.mlp_kernels`, ``"mup"``)."""
    abc = _parametrization(parametrization)
    from ._mlp import mlp_kernels

    with jax.enable_x64(True):
        x = jnp.asarray(x, dtype=jnp.float64)
        ref = mlp_kernels(
            np.asarray(x), depth=depth, activation=activation, W_std=W_std, b_std=b_std
        ).ntk
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        cfg = MLPConfig(int(max(widths)), depth, activation, abc, W_std, b_std)
        errs = [_init_errors(cfg, float(n), keys, x, ref) for n in widths]
    return fit_slope(widths, np.asarray(errs))


def ntk_movement(
    x: np.ndarray,
    y: np.ndarray,
    widths,
    seeds,
    *,
    parametrization: str = "ntp",
    depth: int = 2,
    activation: str = "relu",
    steps: int = 50,
    learning_rate: float = 0.5,
) -> SlopeFit:
    """``||Theta_T - Theta_0|| / ||Theta_0||`` after ``steps`` of gradient descent on ``(x, y)``,
    for each width and seed. Expected slope: ``-1/2`` (NTP, lazy), ``0`` (muP)."""
    abc = _parametrization(parametrization)
    with jax.enable_x64(True):
        x, y = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        cfg, exps = MLPConfig(int(max(widths)), depth, activation), _exponent_array(abc)
        errs = [_movement(cfg, exps, float(n), keys, x, y, steps, learning_rate) for n in widths]
    return fit_slope(widths, np.asarray(errs))
