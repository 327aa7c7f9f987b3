"""Shared pieces of the finite-size checks along an axis other than the width (rank, experts).

A check trains a small network at a fixed width ``n`` and several values ``X`` of one declared
axis, with every tensor scaled by the derived table of a built-in,

.. math:: \\sigma_t^2 = n^{v^n_t} X^{v^X_t},\\qquad \\eta_t = \\eta\\, n^{l^n_t} X^{l^X_t}

(``rule="derived"``) or with every ``X`` exponent dropped (``rule="blind"``: the width rule
alone, blind to the axis). A measured quantity's log-log slope against ``X``
(:func:`infwidth._fit.fit_exponent`) is judged (:func:`infwidth._fit.verdict`) against the
engine's prediction along ``X`` for the same rule: ``-r_t`` of ``_scaling.feature_r`` on the
network seen along ``X`` (what a tensor's update moves its output by).

The shared machinery lives here; an axis module keeps its network and what it measures:
:func:`trainer` (the table's multipliers and learning rates at one ``(n, X)``, and a
``fit`` that trains), :func:`draw` (Gaussian tensors at the table's init variance) and
:class:`Check` (derive, run every ``X`` with the seeds vmapped, fit and judge).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import Design, fit_exponent, verdict
from ..errors import InfwidthError
from ..spec import builtin
from ..symbolic import derive
from ..symbolic._scaling import (
    backward_exponents,
    feature_r,
    output_self_r,
    step_exponent,
    theta,
    update_entry_exponent,
)
from ._core import Model, mse
from ._optim import table_optimizer
from ._scaling import Scaling
from ._train import train

Rule = Literal["derived", "blind"]


@dataclasses.dataclass(frozen=True)
class AxisSlope:
    """One fitted slope along ``axis`` and its verdict."""

    axis: str
    rule: str
    optimizer: str
    tensor: str
    quantity: str
    predicted: Fraction
    slope: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    reason: str | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"predicted": str(self.predicted)}


def check_rule(rule: str, optimizer: str) -> None:
    if rule not in ("derived", "blind"):
        raise InfwidthError(f"rule is 'derived' or 'blind', got {rule!r}")
    if optimizer not in ("sgd", "adam"):
        raise InfwidthError(f"this check trains sgd or adam, got {optimizer!r}")


def fields(d, axis: str, rule: Rule) -> tuple[dict, dict]:
    """Per tensor, the width section and the ``axis`` section (zeros under any rule but
    ``"derived"``: ``"blind"``, density's ``"mup"``) of the derived table ``d``."""
    names = [t.name for t in d.network.tensors]
    width = {t: d.width_json(t) for t in names}
    sol = d.axes[axis]
    along = {t: sol.tensor_json(d.network, t, d.optimizer) for t in names}
    if rule != "derived":
        keep = ("zero", "frozen")
        along = {t: {k: v if v in keep else "0" for k, v in f.items()} for t, f in along.items()}
    return width, along


def predicted_update_slope(d, axis: str, along: dict, tensor: str) -> Fraction:
    """``-r_t`` along ``axis`` for ``tensor`` under the exponents ``along`` (one section per
    tensor, as :func:`fields`): the slope of what its update moves its output by."""
    view = d.network.along(axis)
    opt, ex = d.optimizer, {}
    for t in view.tensors:
        f = along[t.name]
        a = -Fraction(f["multiplier"])
        b = Fraction(0) if f["init_variance"] == "zero" else -Fraction(f["init_variance"]) / 2
        c = Fraction(0) if f["learning_rate"] == "frozen" else -Fraction(f["learning_rate"])
        ex[t.name] = (a, b, c)
    th, lam = step_exps(opt, ex)
    w = readout_backward(view, opt, th, lam, d.axes[axis].direction)
    back = backward_exponents(view, opt, th, lam, w)
    return -update_r(opt, view.tensor(tensor), lam[tensor], back[tensor], d.alignment)


def step_exps(opt, ex: dict) -> tuple[dict, dict]:
    """Per tensor, ``theta_t = a_t + b_t`` and the step exponent ``lambda_t`` of the exponents
    ``ex[t] = (a_t, b_t, c_t)``."""
    th = {t: theta(a, b) for t, (a, b, _) in ex.items()}
    return th, {t: step_exponent(opt, *e) for t, e in ex.items()}


def update_r(opt, t, lam, w, alignment) -> Fraction:
    """``r_t``: tensor ``t``'s update (step exponent ``lam``, backward signal ``w``) moves its
    output by ``n^{-r_t}``; the readout moves the output itself (``dL/df = Theta(1)``)."""
    if t.role == "output":
        return Fraction(str(output_self_r(opt, t, lam, alignment)))
    return Fraction(str(feature_r(opt, t, lam, w, alignment)))


def readout_backward(view, opt, th: dict, lam: dict, direction: str):
    """The backward signal's exponent ``w`` under the exponents ``th``/``lam``, as the engine
    sets it (``symbolic._derive``): the main readout's weights ``theta_o`` or its update's
    entries, whichever is larger (the smaller exponent along a growing axis). A rule that
    changes the readout's exponents along the axis (``blind`` along the heads) changes ``w``."""
    outs = [t for t in view.tensors if t.role == "output"]
    main = max(outs, key=lambda t: t.fan_in_exponent)
    if main.frozen:
        return th[main.name]
    pick = max if direction == "shrinks" else min
    return pick(th[main.name], update_entry_exponent(opt, main, lam[main.name], 0))


def judge(
    sizes: tuple[float, ...], values: np.ndarray, predicted: Fraction, *, tol: float, design: Design
) -> tuple[float | None, float | None, float | None, str, str | None]:
    """Slope, 95% interval, verdict and reason of ``values`` ``(points, seeds)``."""
    fit = fit_exponent(sizes, values)
    slope, lo, hi = (None, None, None) if fit is None else (fit.slope, fit.ci_low, fit.ci_high)
    pts = np.asarray(sizes, dtype=float) if fit is None else fit.sizes
    j = verdict(slope, lo, hi, predicted, tol=tol, widths=pts, design=design)
    return slope, lo, hi, j.verdict, j.reason


def judge_rows(
    axis: str, rule: str, optimizer: str, sizes, values: np.ndarray, rows, tol: float, design
) -> list[AxisSlope]:
    """One :class:`AxisSlope` per ``rows[i] = (tensor, quantity, predicted)`` of
    ``values[:, :, i]`` ``(points, seeds, rows)``."""
    out = []
    for i, (t, q, p) in enumerate(rows):
        got = judge(sizes, values[:, :, i], p, tol=tol, design=design)
        out.append(AxisSlope(axis, rule, optimizer, t, q, p, *got))
    return out


def scale(width: dict, along: dict, tensor: str, field: str, n: int, x: float) -> float:
    """``n^{width exponent} x^{axis exponent}`` of ``field`` for ``tensor``."""
    v, u = (float(Fraction(sec[tensor][field])) for sec in (width, along))
    return float(n) ** v * float(x) ** u


def draw(keys, shapes: dict, sc: Callable[[str, str], float], base: dict | None = None) -> dict:
    """Per tensor ``t`` of ``shapes`` (one key each, in order), Gaussian entries of variance
    ``base_t sc(t, "init_variance")`` (``base_t = 1`` unless given): the table's init."""
    base = base or {}
    return {
        t: jax.random.normal(k, shp) * np.sqrt(base.get(t, 1.0) * sc(t, "init_variance"))
        for (t, shp), k in zip(shapes.items(), keys, strict=True)
    }


class Options(NamedTuple):
    """A trained check's run: seeds, width, optimiser, batch, steps, base learning rate, the
    input and output sizes, and one option of the check's own (``extra``)."""

    seeds: int
    n: int
    optimizer: str
    batch: int
    steps: int
    lr: float
    d_in: int = 16
    d_out: int = 4
    extra: Any = None


def trainer(
    src: dict,
    secs: tuple[dict, dict],
    x: float,
    o: Options,
    *,
    arch: str,
    readout: str,
    loss: Callable = mse,
    size: int | None = None,
) -> tuple[Callable[[str, str], float], dict, Callable]:
    """The trained tensors ``src`` (the check's name -> the built-in tensor whose rule it takes)
    at width ``o.n`` and axis value ``x`` under the sections ``secs = (width, along)``:
    ``sc(t, field) = n^{v^n} x^{v^X}`` (:func:`scale`; a name not in ``src`` is its own
    built-in tensor), the multipliers, and ``fit(params, apply, xs, ys)``: the params after
    ``o.steps`` steps of ``o.optimizer`` at learning rates ``o.lr sc(t, "learning_rate")``
    (the scaling's width is ``size``, default ``o.n``)."""

    def sc(t: str, field: str) -> float:
        return scale(*secs, src.get(t, t), field, o.n, x)

    names = tuple(src)
    mult = {t: sc(t, "multiplier") for t in names}
    lrs = {t: o.lr * sc(t, "learning_rate") for t in names}
    zero = {t: 0.0 for t in names}
    s = Scaling(
        size or o.n, size or o.n, 1, 1, zero, mult, lrs, {t: 1e-12 for t in names}, zero, {}, {}
    )
    opt = table_optimizer(o.optimizer, s, names)

    def fit(params: dict, apply: Callable, xs, ys) -> dict:
        model = Model(lambda _: params, apply, loss, None, s, frozenset(), (readout,), arch)
        return train(model, opt, params, xs, ys, steps=o.steps)[0].params

    return sc, mult, fit


def in_float32(check):
    """Run ``check`` in float32 whatever the global ``jax_enable_x64``: the same seed gives
    the same draws and numbers in a process that turned x64 on (a test suite, a notebook)."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with jax.enable_x64(False):
            return check(*args, **kwargs)

    return run


class Check(NamedTuple):
    """An axis check's fixed parts: the built-in it scales by (derived with ``derive_kw``),
    the axis, its design's label and smallest size, and the tensors whose ``update_rms`` it
    judges."""

    network: str
    axis: str
    label: str
    min_size: float
    tensors: tuple[str, ...]
    derive_kw: dict[str, Any] = {}

    @in_float32
    def run(self, rule: str, sizes, net: Callable, o: Options, tol: float) -> list[AxisSlope]:
        """At every axis value ``x`` of ``sizes``, ``net(x, (width, along), o)`` gives
        ``one(key)`` -> a scalar or one value per tensor, run for seeds ``0..o.seeds-1``
        (vmapped, one compilation per ``x``); each tensor's slope judged against its
        prediction."""
        d = derive(builtin(self.network), o.optimizer, **self.derive_kw)
        secs = fields(d, self.axis, rule)
        keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(o.seeds))
        values = np.array([jax.jit(jax.vmap(net(x, secs, o)))(keys) for x in sizes])
        values = values.reshape(len(sizes), o.seeds, -1)
        design = Design(self.label, min_points=3, min_ratio=4.0, min_size=self.min_size)
        rows = [
            (t, "update_rms", predicted_update_slope(d, self.axis, secs[1], t))
            for t in self.tensors
        ]
        return judge_rows(self.axis, rule, o.optimizer, sizes, values, rows, tol, design)
