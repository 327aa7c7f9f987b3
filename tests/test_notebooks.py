"""Lecture notebooks (jupytext Markdown) execute top to bottom, and the documentation site that
renders them (with the API and CLI references) builds under ``mkdocs build --strict``.

Each notebook is executed once: the per-notebook test writes the executed ``.ipynb`` that the
site build then renders (``INFWIDTH_DOCS_EXECUTED``, read by ``docs/hooks.py``)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))


def _hooks():
    spec = importlib.util.spec_from_file_location("infwidth_docs_hooks", ROOT / "docs" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return tmp_path_factory.mktemp("executed")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, executed, tmp_path):
    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    pytest.importorskip("mkdocs")
    import nbformat

    nb = _hooks().execute_notebook(path, tmp_path)
    nbformat.write(nb, executed / f"{path.stem}.ipynb")


def test_every_lecture_is_in_the_site_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f"course/{p.stem}.md" in nav for p in NOTEBOOKS)


def test_site_builds_strictly(executed, tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "INFWIDTH_DOCS_EXECUTED": str(executed),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    site = tmp_path / "site"
    cli = (site / "cli" / "index.html").read_text()
    assert "infwidth coord-check" in cli and "--widths" in cli
    lecture = (site / "course" / "02_ntk_and_lazy_training" / "index.html").read_text()
    assert "data:image/png;base64," in lecture  # figures rendered inline, outputs kept
    nngp = (site / "course" / "01_nngp" / "index.html").read_text()
    assert r"\(u \sim \mathcal N(0, K)\)" in nngp  # math inside a collapsed solution renders
    gallery = (site / "gallery" / "index.html").read_text()
    assert "PASS:" in gallery and "FAIL:" not in gallery  # the figures' verdicts
    api = (site / "api" / "index.html").read_text()
    assert 'id="infwidth.kernels.mlp_kernels"' in api  # re-exports documented
    assert "\\[\nK_{l+1}" in api  # a docstring's .. math:: block as display math
