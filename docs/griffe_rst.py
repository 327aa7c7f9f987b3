"""Griffe extension: the reStructuredText bits of infwidth's docstrings as Markdown + math.

``.. math::`` blocks become ``$$ ... $$`` (rendered by arithmatex/MathJax), ``:math:`x``` becomes
``$x$`` and ``:func:`x``` / ``:class:`x``` / ``:mod:`x``` become code; ``::`` literal blocks
become fenced code. Packages without ``__all__`` export their ``import x as x`` names."""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^( *)\.\. math::\n\n((?:\1 +.*\n|\n)+)", re.M)
_LITERAL = re.compile(r"::\n\n((?:    .*\n|\n)+)")


def rst_to_markdown(text: str) -> str:
    def math(m: re.Match) -> str:
        body = "\n".join(line.strip() for line in m.group(2).strip("\n").splitlines())
        return f"{m.group(1)}$$\n{body}\n$$\n\n"

    def literal(m: re.Match) -> str:
        body = "\n".join(line[4:] for line in m.group(1).rstrip("\n").splitlines())
        return f":\n\n```\n{body}\n```\n\n"

    text = _MATH_BLOCK.sub(math, text + "\n")
    text = _LITERAL.sub(literal, text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    return _ROLE.sub(r"`\1`", text).rstrip("\n")


class RstToMarkdown(griffe.Extension):
    def on_module_members(self, *, mod, **kwargs) -> None:
        """A package without ``__all__`` exports its explicit re-exports (``import x as x``)."""
        if mod.exports is None:
            mod.exports = [
                name
                for name, member in mod.members.items()
                if member.is_alias
                and not name.startswith("_")
                and member.target_path.rsplit(".", 1)[-1] == name
            ]

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
