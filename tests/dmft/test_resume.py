"""``infwidth dmft --compare-widths`` saves each finished width under out/partial and resumes."""

import json

import numpy as np
import pytest

import infwidth.dmft._compare as compare_mod
import infwidth.dmft._solve as solve_mod
from infwidth.cli import main
from infwidth.dmft import DeepLinear, DMFTProblem, compare_widths, solve_dmft
from infwidth.dmft._cache import cached_solve
from infwidth.dmft._finite import FiniteRun

BASE = ["dmft", "--depth", "2", "--activation", "linear", "--steps", "5", "--n-points", "3"]
BASE += ["--seeds", "2", "--no-figures"]


def _run(out, widths, *extra):
    return main([*BASE, "--out", str(out), "--compare-widths", widths, *extra])


@pytest.fixture
def calls(monkeypatch):
    """Widths the finite trainer and number of times the DMFT solver are actually run."""
    seen = {"widths": [], "solves": 0}
    train, solve = compare_mod.train_finite, solve_mod.solve_dmft

    def counting_train(problem, width, **kw):
        seen["widths"].append(width)
        return train(problem, width, **kw)

    def counting_solve(*a, **kw):
        seen["solves"] += 1
        return solve(*a, **kw)

    monkeypatch.setattr(compare_mod, "train_finite", counting_train)
    monkeypatch.setattr(solve_mod, "solve_dmft", counting_solve)
    return seen


def _forbid_work(monkeypatch):
    def boom(*a, **kw):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(compare_mod, "train_finite", boom)
    monkeypatch.setattr(solve_mod, "solve_dmft", boom)


def _rows(out):
    return json.loads((out / "dmft.json").read_text())["comparison"]["rows"]


def test_rerun_loads_cached_widths_and_gives_identical_numbers(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert _run(out, "8,16") == 0
    first = (out / "dmft.json").read_text()
    kernels = dict(np.load(out / "kernels.npz"))
    assert {p.name for p in (out / "partial").iterdir()} == {
        "dmft.npz",
        "width_8.npz",
        "width_16.npz",
    }
    err = capsys.readouterr().err
    assert "width 8 done in" in err and "width 16 done in" in err
    _forbid_work(monkeypatch)  # neither the DMFT solve nor any width may run again
    assert _run(out, "8,16") == 0
    assert (out / "dmft.json").read_text() == first
    for k, v in np.load(out / "kernels.npz").items():
        np.testing.assert_array_equal(v, kernels[k])
    err = capsys.readouterr().err
    assert "dmft (DeepLinear) done (cached)" in err
    assert "width 8 done (cached)" in err and "width 16 done (cached)" in err


def test_extending_widths_computes_only_the_new_width(tmp_path, calls):
    out = tmp_path / "out"
    assert _run(out, "8,16") == 0
    before = _rows(out)
    assert calls == {"widths": [8, 16], "solves": 1}
    assert _run(out, "16,8,32") == 0
    assert calls == {"widths": [8, 16, 32], "solves": 1}
    after = _rows(out)
    assert [r["width"] for r in after] == [8, 16, 32] and after[:2] == before


@pytest.mark.parametrize("change", [["--gamma0", "1.5"], ["--seed", "1"]])
def test_changed_config_does_not_reuse_stale_cache(tmp_path, calls, change):
    out = tmp_path / "out"
    assert _run(out, "8,16") == 0
    before = _rows(out)
    assert _run(out, "8,16", *change) == 0  # --seed changes the synthetic data
    assert calls == {"widths": [8, 16, 8, 16], "solves": 2}
    after = _rows(out)
    assert after[0]["deviation"] != before[0]["deviation"]
    assert after[0]["loss_mean"] != before[0]["loss_mean"]
    # the cache now holds the new configuration: a third run computes nothing
    assert _run(out, "8,16", *change) == 0
    assert calls["solves"] == 2 and len(calls["widths"]) == 4 and _rows(out) == after


def test_stale_or_corrupt_width_files_are_recomputed(tmp_path, calls):
    out = tmp_path / "out"
    assert _run(out, "8,16") == 0
    before = _rows(out)
    f8, f16 = out / "partial" / "width_8.npz", out / "partial" / "width_16.npz"
    with np.load(f8) as z:
        arrays = {k: z[k] for k in z.files}
    head = json.loads(str(arrays["__store__"])) | {"key": "0" * 64}
    np.savez(f8, **(arrays | {"__store__": np.asarray(json.dumps(head))}))  # stale key
    f16.write_bytes(f16.read_bytes()[:100])  # interrupted write of an older version
    assert _run(out, "8,16") == 0
    assert calls == {"widths": [8, 16, 8, 16], "solves": 1}
    assert _rows(out) == before


def _nan_trainer(train):
    """Width 16: seed 1 turns NaN at step 2; width 32: every seed is inf from the start."""

    def fake(problem, width, **kw):
        run = train(problem, width, **kw)
        out, loss, Phi, G = (np.array(a) for a in (run.outputs, run.loss, run.Phi, run.G))
        if width == 16:
            out[1, 2:], loss[1, 2:] = np.nan, np.nan
        if width == 32:
            out[:], loss[:], Phi[:], G[:] = np.inf, np.inf, np.inf, np.inf
        return FiniteRun(out, loss, Phi, G, run.width, run.seeds)

    return fake


def _reject_nan(token):
    raise AssertionError(f"{token} in dmft.json")


def test_diverged_finite_runs_are_recorded_not_fatal(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compare_mod, "train_finite", _nan_trainer(compare_mod.train_finite))
    out = tmp_path / "out"
    args = ["--depth", "2", "--activation", "linear", "--steps", "5", "--n-points", "3"]
    rc = main(["dmft", *args, "--seeds", "2", "--out", str(out), "--compare-widths", "8,16,32"])
    assert rc == 0
    text = (out / "dmft.json").read_text()
    res = json.loads(text, parse_constant=_reject_nan)  # strict JSON: no NaN/Infinity
    r8, r16, r32 = res["comparison"]["rows"]
    assert r8["n_diverged"] == 0 and r8["diverged_at"] == [None, None]
    assert r16["n_diverged"] == 1 and r16["diverged_at"] == [None, 2]
    assert r16["deviation_per_seed"]["Phi_L"][1] is None
    assert r16["deviation"]["Phi_L"] == r16["deviation_per_seed"]["Phi_L"][0]
    assert r32["n_diverged"] == 2 and r32["diverged_at"] == [0, 0]
    assert r32["loss_mean"] is None and set(r32["deviation"].values()) == {None}
    assert set(res["comparison"]["slopes"]) == {"rms_outputs", "loss", "Phi_L", "G_1"}
    assert (out / "deviation.png").stat().st_size > 1000
    err = capsys.readouterr().err
    assert "width 16 done in" in err and "1/2 seeds diverged" in err
    assert "width 32 done in" in err and "2/2 seeds diverged" in err
    _forbid_work(monkeypatch)  # diverged widths are cached like any other
    rc = main(["dmft", *args, "--seeds", "2", "--out", str(out), "--compare-widths", "8,16,32"])
    assert rc == 0 and (out / "dmft.json").read_text() == text


def test_library_compare_widths_and_cached_solve(tmp_path):
    problem = _small_problem()
    sol, hit = cached_solve(problem, DeepLinear(), seed=0, max_sweeps=None, cache_dir=tmp_path)
    assert not hit
    again, hit = cached_solve(problem, DeepLinear(), seed=0, max_sweeps=None, cache_dir=tmp_path)
    assert hit and again.result is sol.result and again.settings == sol.settings
    for k in ("loss", "outputs", "Phi", "G", "ntk", "A", "B", "residuals"):
        np.testing.assert_array_equal(getattr(again, k), getattr(sol, k))
    np.testing.assert_array_equal(solve_dmft(problem, DeepLinear()).Phi, sol.Phi)
    seen = []
    res = compare_widths(
        problem, sol, [16, 8], seeds=2, cache_dir=tmp_path, progress=lambda r, c: seen.append(c)
    )
    assert res["widths"] == [8, 16] and seen == [False, False]
    res2 = compare_widths(
        problem, sol, [8, 16], seeds=2, cache_dir=tmp_path, progress=lambda r, c: seen.append(c)
    )
    assert res2 == res and seen == [False, False, True, True]


def _small_problem():
    rng = np.random.default_rng(1)  # the CLI tests' shapes: compiled programs are shared
    X, y = rng.standard_normal((3, 10)), rng.standard_normal(3)
    return DMFTProblem(X, y, depth=2, activation="linear", gamma0=1.0, eta=0.05, steps=5)


def test_damaged_solution_and_width_files_are_recomputed(
    tmp_path, calls, capsys, damage, damage_kind
):
    problem = _small_problem()
    sol, _ = cached_solve(problem, DeepLinear(), seed=0, max_sweeps=None, cache_dir=tmp_path)
    res = compare_widths(problem, sol, [8], seeds=2, cache_dir=tmp_path)
    damage(tmp_path / "dmft.npz", damage_kind)
    damage(tmp_path / "width_8.npz", damage_kind)
    capsys.readouterr()
    again, hit = cached_solve(problem, DeepLinear(), seed=0, max_sweeps=None, cache_dir=tmp_path)
    assert not hit and calls["solves"] == 2
    for k in ("loss", "outputs", "Phi", "G"):
        np.testing.assert_array_equal(getattr(again, k), getattr(sol, k))
    assert compare_widths(problem, again, [8], seeds=2, cache_dir=tmp_path) == res
    assert calls["widths"] == [8, 8]
    err = capsys.readouterr().err
    assert err.count("note: ") == 2 and "dmft.npz" in err and "width_8.npz" in err, err
    # both were saved again: a third run computes nothing
    third, hit = cached_solve(problem, DeepLinear(), seed=0, max_sweeps=None, cache_dir=tmp_path)
    assert hit and compare_widths(problem, third, [8], seeds=2, cache_dir=tmp_path) == res
    assert calls == {"widths": [8, 8], "solves": 2}
