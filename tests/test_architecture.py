"""The layout shows the architecture: a static (AST) check of every import inside ``infwidth``.

Every ``import`` statement counts, at module level or inside a function (a lazy import is
still a dependency) or under ``TYPE_CHECKING``. The checks:

* no import cycle between modules;
* nothing imports "upward": the shared bottom (``infwidth.network``, the network model;
  ``infwidth.spec``; ``infwidth.data``; the top-level helpers ``infwidth._fit``,
  ``infwidth._store``, ...) imports no engine; no engine imports a consumer (``infwidth.cli``,
  ``infwidth.figures``, ``infwidth.tour``); only ``infwidth.cli`` and ``infwidth.__main__``
  import the CLI;
* every engine -> engine edge is declared in :data:`ALLOWED` (a new one must be added there,
  on purpose).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import infwidth

ROOT = Path(infwidth.__file__).parent
#: The engines, above the shared network model and the spec, below the CLI.
ENGINES = ("symbolic", "kernels", "dmft", "sim", "sweep", "doctor")
#: What sits on top of the engines and uses them.
CONSUMERS = ("cli", "figures", "reproduce", "tour", "__main__")
#: The engine -> engine (and engine -> spec/network) edges the design allows.
ALLOWED = {
    ("symbolic", "spec"),  # derive a table from a network spec
    ("kernels", "spec"),  # the empirical NTK of a derived parametrization
    ("kernels", "symbolic"),
    ("kernels", "network"),
    ("kernels", "sim"),  # finite networks train through infwidth.sim (issue 12, "trainer")
    ("dmft", "spec"),  # the muP reading of (gamma0, eta): mup_link
    ("dmft", "symbolic"),
    ("dmft", "network"),
    ("dmft", "kernels"),  # the lazy limit is the NTK
    ("dmft", "sim"),  # the finite-width comparison trains through infwidth.sim ("trainer")
    ("sim", "spec"),
    ("sim", "symbolic"),
    ("sim", "network"),
    ("sweep", "sim"),
    ("sweep", "spec"),
    ("sweep", "symbolic"),
    ("sweep", "network"),
    ("doctor", "sim"),  # built-in networks and infer_leaves (issue 15, doctor)
    ("doctor", "sweep"),
    ("doctor", "spec"),
    ("doctor", "symbolic"),
    ("doctor", "network"),
}
#: Cycles being removed on another branch of the same issue (the lead deletes these at merge).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``infwidth`` modules that ``name`` (at ``path``) imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            while t and t not in known:  # ``import infwidth.sim.x`` -> the deepest known module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(module: str) -> str:
    """``infwidth.sim._coord`` -> ``sim``; top-level modules name themselves."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "infwidth"


def _edges(graph: dict[str, set[str]]) -> set[tuple[str, str, str, str]]:
    return {(_layer(a), _layer(b), a, b) for a, targets in graph.items() for b in targets}


def test_the_analysis_sees_lazy_relative_and_type_checking_imports(tmp_path):
    mod = tmp_path / "m.py"
    mod.write_text(
        "from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n"
        "    from .c import X\ndef f():\n    from ..top import y\n    import pkg.d.e\n"
    )
    known = {"pkg", "pkg.sub", "pkg.sub.b", "pkg.sub.c", "pkg.top", "pkg.d"}
    assert _imports("pkg.sub.m", mod, known) == {"pkg.sub.b", "pkg.sub.c", "pkg.top", "pkg.d"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [frozenset("abc")]


def test_no_import_cycles():
    cycles = [sorted(c) for c in _cycles(_graph()) if c not in KNOWN_CYCLES]
    assert not cycles, f"import cycles: {cycles}"


def _bottom(layer: str) -> bool:
    """The shared bottom: the network model, the spec, the data, the top-level helpers."""
    return layer in ("network", "spec", "data", "errors") or layer[:1] == "_" != layer[1:2]


def test_the_shared_bottom_imports_no_engine_and_no_consumer():
    top = {*ENGINES, *CONSUMERS, "infwidth"}  # "infwidth": the package (it imports symbolic)
    bad = {(a, b) for la, lb, a, b in _edges(_graph()) if _bottom(la) and lb in top}
    assert not bad, bad


def test_engines_import_no_consumer():
    bad = {(a, b) for la, lb, a, b in _edges(_graph()) if la in ENGINES and lb in CONSUMERS}
    assert not bad, bad


def test_only_the_cli_and_main_import_the_cli():
    bad = {
        (a, b)
        for la, lb, a, b in _edges(_graph())
        if lb == "cli" and la != "cli" and a != "infwidth.__main__"
    }
    assert not bad, bad


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_edges_are_declared(engine):
    layers = {*ENGINES, "spec", "network"}
    used = {(la, lb) for la, lb, _, _ in _edges(_graph()) if la == engine and lb in layers}
    undeclared = {e for e in used if e[0] != e[1] and e not in ALLOWED}
    where = sorted((a, b) for la, lb, a, b in _edges(_graph()) if (la, lb) in undeclared)
    assert not undeclared, f"undeclared engine edges {sorted(undeclared)}: {where}"


def test_architecture_md_matches_the_code():
    """ARCHITECTURE.md names every package, and every path it names exists."""
    import re

    text = (ROOT.parent / "ARCHITECTURE.md").read_text()
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(p for p in packages if f"infwidth/{p}/" not in text)
    assert not missing, f"packages ARCHITECTURE.md does not place: {missing}"
    paths = set(re.findall(r"`((?:infwidth/)?[a-z_]+/[a-z_/]*\.py)`", text))
    assert len(paths) >= 8
    for path in paths:
        rel = path if path.startswith(("infwidth/", "tests/")) else f"infwidth/{path}"
        assert (ROOT.parent / rel).is_file(), f"ARCHITECTURE.md names {path}, which is gone"
    for src, dst in ALLOWED:  # every declared engine edge is explained there
        if src in ("kernels", "dmft", "sweep") and dst in ("sim", "kernels"):
            assert f"{src} -> {dst}" in text, f"ARCHITECTURE.md omits the edge {src} -> {dst}"
