"""Findings and the report: one sentence a practitioner can act on per failing knob.

A fix multiplies a knob by :math:`(n/n_0)^{x}` with ``x = expected - measured`` (exponents
of the width ``n``, base width ``n_0``), written in the user's terms: ``base_width/width``
for ``x = -1``, ``sqrt(width/base_width)`` for ``x = 1/2``, and so on.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"

KNOB = {
    "init_variance": "the init variance of `{t}`",
    "multiplier": "the forward output (multiplier) of `{t}`",
    "learning_rate": "the learning rate of `{t}`",
    "epsilon": "Adam's epsilon for `{t}`",
    "weight_decay": "the weight decay of `{t}`",
    "attention_logit_scale": "the attention logits `{t}`",
}


def half(x: float) -> Fraction:
    """``x`` rounded to the nearest half (the exponents a fix is written in)."""
    return Fraction(round(2 * x), 2)


def factor(x: Fraction) -> str:
    """:math:`(n/n_0)^x` in words."""
    if x == 0:
        return "1"
    ratio = "width/base_width" if x > 0 else "base_width/width"
    a = abs(x)
    if a == 1:
        return ratio
    if a == Fraction(1, 2):
        return f"sqrt({ratio})"
    return f"({ratio})^{a}"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One tensor's quantity: expected and measured width exponents, verdict, fix."""

    tensor: str
    quantity: str
    expected: str | None
    measured: float | None
    verdict: str
    fix: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["measured"] = None if self.measured is None else round(float(self.measured), 3)
        return d

    def sentence(self) -> str:
        m = "not measurable" if self.measured is None else f"n^{self.measured:+.2f}"
        s = f"`{self.tensor}` {self.quantity}: expected n^{self.expected}, measured {m}"
        s += f" -> **{self.verdict}**."
        if self.fix:
            s += f" Fix: {self.fix}."
        if self.note:
            s += f" ({self.note})"
        return s


def fix_sentence(tensor: str, quantity: str, expected: Fraction, measured: float) -> str:
    x = expected - half(measured)
    knob = KNOB[quantity].format(t=tensor)
    if quantity == "attention_logit_scale" and x == Fraction(-1, 2):
        return f"scale {knob} by 1/d_head instead of 1/sqrt(d_head) (d_head grows with width)"
    return f"multiply {knob} by {factor(x)}"


@dataclasses.dataclass(frozen=True)
class Report:
    """All findings; ``passed`` when none fails."""

    findings: tuple[Finding, ...]
    widths: tuple[int, ...]
    base_width: int
    target: str
    optimizer: str
    alignment: tuple[dict[str, Any], ...] = ()
    transfer: dict[str, Any] | None = None
    #: the audited layers (:class:`~infwidth.doctor._alignment.Layer`), for the alignment run
    layers: tuple[Any, ...] = dataclasses.field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return not any(f.verdict == FAIL for f in self.findings)

    def failures(self) -> list[tuple[str, str]]:
        """``(tensor, quantity)`` of every failing finding."""
        return [(f.tensor, f.quantity) for f in self.findings if f.verdict == FAIL]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "optimizer": self.optimizer,
            "widths": list(self.widths),
            "base_width": self.base_width,
            "findings": [f.to_json() for f in self.findings],
            "alignment": list(self.alignment),
            "transfer": self.transfer or {},
            "pass": self.passed,
        }

    def markdown(self) -> str:
        head = f"# infwidth doctor: {self.target} with {self.optimizer}\n\n"
        head += f"Widths {', '.join(map(str, self.widths))} (base {self.base_width}). "
        fails = [f for f in self.findings if f.verdict == FAIL]
        head += "**PASS**: no finding fails.\n" if not fails else f"**{len(fails)} failing**.\n"
        body = "".join(f"- {f.sentence()}\n" for f in fails)
        rest = [f for f in self.findings if f.verdict != FAIL]
        body += "\n## Everything else\n\n" + "".join(f"- {f.sentence()}\n" for f in rest)
        if self.alignment:
            body += "\n## Alignment over training\n\n"
            body += "".join(f"- {a['sentence']}\n" for a in self.alignment)
        if self.transfer:
            body += f"\n## Transfer test\n\n{self.transfer['sentence']}\n"
        body += "\n## Figures\n\n![measured vs expected exponents](exponents.png)\n"
        if self.alignment:
            body += "![alignment over training](alignment.png)\n"
        if self.transfer:
            body += "![transfer bracket](transfer.png)\n"
        return head + "\n" + body

    def write(self, out: str | Path, *, figures: bool = True) -> Path:
        """``out/report.json``, ``out/report.md`` and (``figures``) the figures
        (:mod:`._figures`)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")
        (out / "report.md").write_text(self.markdown())
        if figures:
            from ._figures import write_figures

            write_figures(self.to_json(), out)
        return out
