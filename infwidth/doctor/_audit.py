"""The audit: fit measured exponents against width, diff them with the derived table.

Per table row (tensor) with exponents ``var, mult, lr, eps, wd`` (of the width ``n``) the
dynamics depend only on combinations invariant under the abc symmetry
:math:`(a, b, c, d) \\to (a + t, b - t, c - (1 + p)t, d + t)` (degree ``p`` of the update in
the gradient: SGD 1, Adam 0; THEORY.md section 1):

.. math::
    F = e_{\\rm var} + 2 e_{\\rm mult},\\quad U = e_{\\rm lr} + (1 + p) e_{\\rm mult},\\quad
    E = e_\\epsilon - e_{\\rm mult},\\quad W = e_{\\rm lr} + e_{\\rm wd} \\ (\\text{decay/step}).

So a model in any gauge (multipliers or not) is compared through ``F, U, E, W``; ``F`` of an
output tensor may be smaller than the table's (a smaller, even zero, readout init is still
muP). A residual ``dU = (1+p) delta`` together with ``dF = 2 delta`` (and ``dE = -delta``)
is one wrong *multiplier*; otherwise each residual names its own knob (init, learning rate,
epsilon, decay). Without a features function the multiplier is unknown and taken as the
table's. Verdicts: ``fail`` beyond ``tol``, ``unknown`` when not measurable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .._fit import fit_exponent
from ..errors import InfwidthError
from ..spec import parse_fan, width_exponent
from ._alignment import Layer
from ._model import OUTPUT, UserModel, build
from ._probe import measure, stack
from ._report import FAIL, PASS, UNKNOWN, Finding, Report, fix_sentence

OUTPUT_KINDS = ("output", "unembedding")


def slope(widths: Sequence[int], values: np.ndarray) -> float | None:
    fit = fit_exponent(widths, values, n_boot=0)
    return None if fit is None else fit.slope


def _k(fan: str) -> Fraction:
    return Fraction(str(width_exponent(parse_fan(fan))))


def _finding(
    t: str,
    q: str,
    expected: Fraction,
    measured: float | None,
    tol: float,
    *,
    upper: bool = False,
    note: str | None = None,
    unknown: bool = False,
) -> Finding:
    """Measured against expected (``unknown``, or nothing measured: not judged)."""
    if measured is None or unknown:
        return Finding(t, q, str(expected), measured, UNKNOWN, note=note)
    d = measured - float(expected)
    ok = d <= tol if upper else abs(d) <= tol
    fix = None if ok else fix_sentence(t, q, expected, measured)
    return Finding(t, q, str(expected), measured, PASS if ok else FAIL, fix, note)


def _row_findings(row: Any, m: dict[str, Any], tol: float) -> list[Finding]:
    """Findings of one row from its fitted raw exponents ``m`` (module docstring)."""
    name = row.name if not row.tied_to else f"{row.name} (tied to {row.tied_to})"
    T = {k: row.w(k) for k in ("init_variance", "multiplier", "learning_rate", "epsilon")}
    p, out = m["degree"], row.kind in OUTPUT_KINDS or bool(row.tied_to)
    M = m["mult"]
    Mx = float(T["multiplier"]) if M is None else M
    TF = T["init_variance"] + 2 * T["multiplier"]
    TU = None if p is None else T["learning_rate"] + (1 + p) * T["multiplier"]
    TE = T["epsilon"] - T["multiplier"]
    dF = None if m["var"] is None else m["var"] + 2 * Mx - float(TF)
    dU = None if TU is None or m["lr"] is None else m["lr"] + (1 + p) * Mx - float(TU)
    dE = None if p != 0 or m["eps"] is None else m["eps"] - Mx - float(TE)
    mult_fix = None
    if M is not None and dU is not None and abs(dU) > tol:
        delta = dU / (1 + p)
        f_ok = dF is None or (dF - 2 * delta <= tol if out else abs(dF - 2 * delta) <= tol)
        if f_ok and (dE is None or abs(dE + delta) <= tol):
            mult_fix = delta
    res = []
    if M is None:
        note = "no feature responds to it (pass features=...)"
        res.append(_finding(name, "multiplier", T["multiplier"], None, tol, note=note))
    else:
        exp = Fraction(round(2 * (M - (mult_fix or 0))), 2)
        res.append(_finding(name, "multiplier", exp, M, tol))
    shift = mult_fix or 0.0  # residuals explained by the multiplier
    M_ok = Mx - shift
    res.append(
        _finding(
            name,
            "init_variance",
            Fraction(round(2 * (float(TF) - 2 * M_ok)), 2),
            m["var"],
            tol,
            upper=out,
            note="a smaller readout init is allowed" if out else None,
        )
    )
    if TU is None:
        note = "the update is neither linear nor invariant in the gradient"
        res.append(
            _finding(
                name, "learning_rate", T["learning_rate"], m["lr"], tol, note=note, unknown=True
            )
        )
    else:
        e = Fraction(round(2 * (float(TU) - (1 + p) * M_ok)), 2)
        res.append(_finding(name, "learning_rate", e, m["lr"], tol))
    if p == 0 and "epsilon" in row.width:
        e = Fraction(round(2 * (float(TE) + M_ok)), 2)
        res.append(_finding(name, "epsilon", e, m["eps"], tol, note=m["eps_note"]))
    if "weight_decay" in row.width and m["decay"] is not None:
        e = row.w("learning_rate") + row.w("weight_decay")
        res.append(_finding(name, "weight_decay", e, m["decay"], tol, note="decay per step"))
    return res


def _fitted(widths, per, i: int, feature: str | None, k_in: Fraction) -> dict[str, Any]:
    opt = [mw["optim"][i] for mw in per]
    degs = {o["degree"] for o in opt}
    m: dict[str, Any] = {"degree": degs.pop() if len(degs) == 1 else None}
    m["var"] = slope(widths, stack(per, i, "var"))
    m["lr"] = slope(widths, stack(per, i, "optim", "lr"))
    m["eps"] = slope(widths, stack(per, i, "optim", "eps"))
    decay = stack(per, i, "optim", "decay")
    m["decay"] = None if np.nanmax(np.abs(decay), initial=0) < 1e-12 else slope(widths, decay)
    resp = np.array([mw["forward"][i].get(feature, np.nan) if feature else np.nan for mw in per])
    s = slope(widths, resp)
    m["mult"] = None if s is None else s - float(k_in) / 2
    g, eps = stack(per, i, "grad"), stack(per, i, "optim", "eps")
    m["eps_note"] = None
    if np.all(np.isfinite(eps)):
        m["eps_note"] = f"|g|/eps = {g[0] / eps[0]:.3g} .. {g[-1] / eps[-1]:.3g} over the widths"
    return m


def audit(
    make: Callable[[int], UserModel],
    widths: Sequence[int],
    table: Any,
    *,
    leaf_names: Sequence[str],
    base_width: int,
    target: str,
    optimizer: str,
    attention: Any = None,
    tol: float = 0.25,
) -> Report:
    """Measure ``make(w)`` at every width and diff it with ``table`` (one row per tensor;
    ``leaf_names`` name the parameter leaves in ``tree_leaves`` order; a row tied to another
    is read on that leaf through the ``"output"`` feature). ``attention``: the table's
    attention-logit operation, checked on every ``*logits`` feature."""
    widths = sorted(int(w) for w in widths)
    if len(widths) < 2 or len(set(widths)) < len(widths):
        raise InfwidthError("the doctor needs at least two different widths")
    per = [measure(build(make, w)) for w in widths]
    _check_growth(per, widths)
    findings: list[Finding] = []
    layers: list[Layer] = []
    for row in table.tensors:
        leaf = row.tied_to or row.name
        if leaf not in leaf_names:
            raise InfwidthError(f"the model has no parameter {leaf!r} for table row {row.name!r}")
        i = list(leaf_names).index(leaf)
        resp = per[-1]["forward"][i]
        own = row.name if row.name in resp else next(iter(resp), None)
        feature = OUTPUT if row.tied_to else own
        findings += _row_findings(row, _fitted(widths, per, i, feature, _k(row.fan_in)), tol)
        if feature is not None and not row.tied_to:
            layers.append(Layer(row.name, i, feature, _k(row.fan_in)))
    if attention is not None:
        k = _k(attention.contracted)
        for name in per[-1]["logits"]:
            s = slope(widths, np.array([mw["logits"].get(name, np.nan) for mw in per]))
            meas = None if s is None else s - float(k) / 2
            findings.append(
                _finding(
                    name,
                    "attention_logit_scale",
                    attention.multiplier,
                    meas,
                    tol,
                    note="q.k summed over d_head: sqrt(d_head) at init",
                )
            )
    rep = Report(tuple(findings), tuple(widths), base_width, target, optimizer)
    return dataclasses.replace(rep, layers=tuple(layers))


def _check_growth(per: list[dict[str, Any]], widths: list[int]) -> None:
    if any(len(p["shapes"]) != len(per[0]["shapes"]) for p in per):
        raise InfwidthError("the parameters have different structures at different widths")
    if all(p["shapes"] == per[0]["shapes"] for p in per):
        raise InfwidthError(f"no parameter shape grows with the width ({widths})")
