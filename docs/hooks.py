"""mkdocs hooks: the pages generated from the code, so the site never holds a hand-written copy.

- ``getting-started.md``: the README's "Two commands" section;
- ``architecture.md``: the top-level ``ARCHITECTURE.md``;
- ``cli.md``: the help of every parser :func:`infwidth.cli.build_parser` builds;
- ``course/<notebook>.md``: each lecture in ``notebooks/`` executed (or read already executed from
  ``$INFWIDTH_DOCS_EXECUTED/<stem>.ipynb``, which ``tests/test_notebooks.py`` writes so CI runs
  every notebook once) and rendered with its outputs, figures inlined;
- ``derivations/*.md``: the generated ``derivations/`` folder;
- ``gallery.md``: every paper-reproduction figure made (quick settings) with its data.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def execute_notebook(path: Path, workdir: Path):
    """Execute a jupytext Markdown notebook in a fresh kernel; returns the executed notebook."""
    import jupytext
    import nbclient

    nb = jupytext.read(path)
    t0 = time.perf_counter()
    # figures inline even when the caller forces a non-interactive backend (tests/conftest.py)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute(env=env)
    nb.metadata["infwidth_runtime_s"] = round(time.perf_counter() - t0, 1)
    return nb


def notebook_markdown(nb, source: str) -> str:
    """Markdown of an executed notebook: its text, code, printed output and inline figures."""
    runtime = nb.metadata.get("infwidth_runtime_s")
    note = f"; executed in {runtime} s when this site was built" if runtime else ""
    parts = [f"<small>Source: `{source}` (jupytext Markdown{note}).</small>\n"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":  # md_in_html: the solutions' math renders too
            parts.append(cell.source.replace("<details>", '<details markdown="1">'))
        elif cell.cell_type == "code":
            parts.append(f"```python\n{cell.source}\n```")
            for out in cell.get("outputs", []):
                parts.extend(_output(out))
    return "\n\n".join(parts) + "\n"


def _output(out) -> list[str]:
    if out.output_type == "stream":
        return [_text_block(out.text)]
    if out.output_type == "error":
        raise RuntimeError(f"notebook cell failed: {out.ename}: {out.evalue}")
    data = out.get("data", {})
    if "image/png" in data:
        png = data["image/png"].replace("\n", "")
        return [f'<img alt="figure" src="data:image/png;base64,{png}">']
    if "text/plain" in data:
        return [_text_block(data["text/plain"])]
    return []


def _text_block(text: str) -> str:
    return "```text\n" + re.sub(r"\x1b\[[0-9;]*m", "", text).rstrip() + "\n```"


def cli_markdown() -> str:
    """The CLI reference: ``infwidth --help`` and every subcommand's help, from the parsers."""
    from infwidth.cli import build_parser

    parser = build_parser()
    parts = [
        "# CLI reference\n",
        "Generated from `infwidth.cli.build_parser()` when the site is built.\n",
        "```text\n" + parser.format_help().rstrip() + "\n```",
    ]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        parts.append(f"## `infwidth {name}`\n\n```text\n{p.format_help().rstrip()}\n```")
    return "\n\n".join(parts) + "\n"


def getting_started_markdown() -> str:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Two commands\n(.*?)(?=^## )", readme, re.S | re.M)
    if section is None:
        raise RuntimeError("README.md has no '## Two commands' section")
    return (
        "# Getting started\n\nFrom the README (the same text):\n\n"
        + section.group(1).strip()
        + "\n\nNext: [the course](course/index.md), [the engines](engines.md), "
        "[the CLI](cli.md).\n"
    )


def _abc_verdict(data: dict) -> str:
    regimes = [p["regime"] for p in data["points"]]
    mup = [(p["c"], p["a_out"]) for p in data["points"] if p["regime"] == "mup"]
    counts = ", ".join(f"{r}: {regimes.count(r)}" for r in sorted(set(regimes)))
    ok = mup == [("0", "1/2")]
    return f"{'PASS' if ok else 'FAIL'}: muP is the single maximal point {mup} ({counts} points)"


def _transfer_verdict(data: dict) -> str:
    best, (small, large) = data["best_log2_lr"], (data["widths"][0], data["widths"][-1])
    shift = {t: best[f"{t}/{large}"] - best[f"{t}/{small}"] for t in ("sp", "mup")}
    ok = shift["sp"] <= -2 and abs(shift["mup"]) <= 1
    return (
        f"{'PASS' if ok else 'FAIL'}: best log2 learning rate from n = {small} to {large} moves "
        f"{shift['sp']:+g} octaves under SP (claim: <= -2) and {shift['mup']:+g} under muP "
        "(claim: within 1)"
    )


VERDICTS = {"abc_phase_diagram": _abc_verdict, "mu_transfer": _transfer_verdict}


def gallery(out: Path) -> str:
    """Make every figure (quick settings) into ``out``; the gallery page that shows them."""
    from infwidth.figures import FIGURES, make

    rows = {}
    for line in (ROOT / "figures" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    parts = [
        "# Reproductions gallery\n",
        "Each figure is made when the site is built (`python figures/make.py NAME --quick`; the "
        "full-size settings are in `figures/README.md`), next to the data a test checks.\n",
    ]
    for name in FIGURES:
        make(name, out, quick=True)
        row = rows.get(name, [name, "", "", "", ""])
        parts.append(
            f"## {name}\n\n**Reproduces:** {row[1]}\n\n**Data:** {row[2]}\n\n"
            f"**Checked by:** {row[3]}\n\n![{name}]({name}.png)"
        )
        data = json.loads((out / f"{name}.json").read_text())
        if name in VERDICTS:
            parts.append(f"**Verdict (these quick settings):** {VERDICTS[name](data)}")
        small = {k: v for k, v in data.items() if len(json.dumps(v)) < 300}
        if small:
            parts.append("```json\n" + json.dumps(small, indent=1)[:3000] + "\n```")
    return "\n\n".join(parts) + "\n"


def on_files(files, config):
    def add(uri: str, content: str | bytes) -> None:
        files.append(File.generated(config, uri, content=content))

    add("getting-started.md", getting_started_markdown())
    add("architecture.md", (ROOT / "ARCHITECTURE.md").read_text())
    add("cli.md", cli_markdown())
    for md in sorted((ROOT / "derivations").glob("*.md")):
        name = "index.md" if md.name == "README.md" else md.name
        add(f"derivations/{name}", md.read_text().replace("(README.md)", "(index.md)"))
    executed = os.environ.get("INFWIDTH_DOCS_EXECUTED")
    with tempfile.TemporaryDirectory() as tmp:
        for path in NOTEBOOKS:
            ready = Path(executed) / f"{path.stem}.ipynb" if executed else None
            if ready is not None and ready.is_file():
                import nbformat

                nb = nbformat.read(ready, as_version=4)
            else:
                nb = execute_notebook(path, Path(tmp))
            add(f"course/{path.stem}.md", notebook_markdown(nb, f"notebooks/{path.name}"))
        figs = Path(tmp) / "figures"
        add("gallery.md", gallery(figs))
        for f in sorted(figs.glob("*.png")):
            add(f.name, f.read_bytes())
    return files
