"""Render a :class:`Derivation` as a text table, Markdown, LaTeX or JSON."""

from __future__ import annotations

import json

from ..errors import InfwidthError
from ..spec import fan_str

FORMATS = ("table", "markdown", "latex", "json")


def _columns(d) -> list[str]:
    cols = ["init_variance", "multiplier", "learning_rate"]
    if d.optimizer.epsilon:
        cols.append("epsilon")
    if d.optimizer.weight_decay:
        cols.append("weight_decay")
    cols += [f"damping_{side}" for side in d.optimizer.damping_sides]
    if d.perturbation is not None:
        cols.append("perturbation")
    return cols


#: Short column names for the exponents along the extra axes (``lr (rho^)``).
_SHORT = {
    "init_variance": "init_var",
    "multiplier": "mult",
    "learning_rate": "lr",
    "epsilon": "eps",
    "weight_decay": "wd",
    "damping_out": "damp_out",
    "damping_in": "damp_in",
    "damping_eigen": "damp_eig",
    "perturbation": "perturb",
}


def _rows(d) -> list[list[str]]:
    cols = _columns(d)
    rows = []
    for t in d.network.tensors:
        w = d.width_json(t.name)
        dep = d.depth[t.name]
        fans = f"{fan_str(t.fan_in)} -> {fan_str(t.fan_out)}"
        fans += f", density {fan_str(t.density)}" if t.density is not None else ""
        fans += f", tokens {fan_str(t.tokens)}" if t.tokens is not None else ""
        row = [t.name, t.kind, fans]
        row += [w.get(c, "-") for c in cols]
        if d.depth_alpha is not None:
            row += [dep["branch_multiplier"], dep["learning_rate"]]
        for solution in d.axes.values():
            x = solution.tensor_json(d.network, t.name, d.optimizer)
            row += [x.get(c, "-") for c in cols]
        rows.append(row)
    return rows


def _header(d) -> list[str]:
    head = ["tensor", "kind", "fans"] + _columns(d)
    if d.depth_alpha is not None:
        head += ["branch_mult (L^)", "lr (L^)"]
    for axis in d.axes:
        head += [f"{_SHORT[c]} ({axis}^)" for c in _columns(d)]
    return head


def _bases(d) -> list[str]:
    """The base of every exponent column: ``n``, then ``L`` (depth), then each axis."""
    cols = len(_columns(d))
    bases = ["n"] * cols + (["L", "L"] if d.depth_alpha is not None else [])
    for axis in d.axes:
        bases += [axis] * cols
    return bases


def _title(d) -> str:
    axes = "".join(f", {x} ({s.direction})" for x, s in d.axes.items())
    return (
        f"{d.target} for {d.network.name} under {d.optimizer.name} "
        f"(gauge {d.gauge}, alignment {d.alignment}); exponents of n{axes}"
    )


def _regime_line(d) -> str:
    c = d.classification
    kind = "muP (every layer maximal)" if c.maximal else c.regime.replace("_", " ")
    line = f"regime: {kind}" + ("" if c.r is None else f", r = {c.r}")
    radius = d.perturbation_radius()
    if radius is not None:
        line += "; SAM radius " + " ".join(
            f"{'n' if k == 'width' else k}^{v}" for k, v in radius.items()
        )
    return line


def render_table(d) -> str:
    head, rows = _header(d), _rows(d)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    out = [_title(d), line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    for op in d.network.operations:
        out.append(
            f"{op.name}: multiplier n^{d.operations[op.name]}{_op_axes(d, op.name)} "
            f"(contracts {fan_str(op.contracted)})"
        )
    out.append(_regime_line(d))
    out += [f"note: {n}" for n in d.notes]
    return "\n".join(out)


def render_markdown(d) -> str:
    head, rows = _header(d), _rows(d)
    out = [f"**{_title(d)}**", "", "| " + " | ".join(head) + " |"]
    out.append("|" + "|".join("---" for _ in head) + "|")
    out += [
        "| " + " | ".join(f"`{x}`" if i > 1 else x for i, x in enumerate(r)) + " |" for r in rows
    ]
    out.append("")
    for op in d.network.operations:
        out.append(
            f"- `{op.name}`: logit multiplier `n^{d.operations[op.name]}{_op_axes(d, op.name)}`"
        )
    out.append(f"- {_regime_line(d)}")
    out += [f"- note: {n}" for n in d.notes]
    return "\n".join(out) + "\n"


#: Cells that are not exponents: zero init, frozen tensors, fields a tensor lacks.
_WORDS = ("zero", "frozen", "-")


def _tex(s: str) -> str:
    return s.replace("_", r"\_")


def tex_base(base: str) -> str:
    """``rho`` -> ``\\rho`` (Greek names), other axis names as they are."""
    greek = {"rho", "alpha", "kappa", "gamma", "nu", "mu", "tau", "lambda", "sigma", "phi"}
    return f"\\{base}" if base in greek else _tex(base)


def _op_axes(d, name: str) -> str:
    return "".join(f" {x}^{s.operations[name]}" for x, s in d.axes.items())


def render_latex(d) -> str:
    head, rows = _header(d), _rows(d)
    out = [
        f"% {_title(d)}",
        r"\begin{tabular}{" + "l" * len(head) + "}",
        " & ".join(_tex(h) for h in head) + r" \\ \hline",
    ]
    for r in rows:
        arrow = r[2].replace("->", r"\to")
        cells = [_tex(r[0]), _tex(r[1]), f"${arrow}$"]
        cells += [
            f"${tex_base(b)}^{{{x}}}$" if x not in _WORDS else x
            for b, x in zip(_bases(d), r[3:], strict=True)
        ]
        out.append(" & ".join(cells) + r" \\")
    out.append(r"\end{tabular}")
    out.append(f"% {_regime_line(d)}")
    return "\n".join(out) + "\n"


def render(d, fmt: str) -> str:
    if fmt not in FORMATS:
        raise InfwidthError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(d.to_json(), indent=2)
    return {"table": render_table, "markdown": render_markdown, "latex": render_latex}[fmt](d)
