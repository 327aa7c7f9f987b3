"""The tour reuses a stage only when it finished with the same settings and its files are intact."""

import json

import pytest

import infwidth.sim._coord as coord
import infwidth.tour as tour
from infwidth.sim._tour import coord_check_stage


@pytest.fixture
def fake_stages(monkeypatch):
    """Two cheap stages: 'sized' depends on --quick, 'fixed' does not. Returns the run log."""
    runs = []

    def sized(out, quick):
        runs.append(("sized", quick))
        (out / "sized.json").write_text(json.dumps({"n": 3 if quick else 30}))
        return f"sized n={3 if quick else 30}"

    def fixed(out, quick):
        runs.append(("fixed", quick))
        (out / "fixed.txt").write_text("same either way")
        return "fixed"

    monkeypatch.setattr(
        tour,
        "STAGES",
        [
            tour.Stage("sized", sized, ("sized.json",), lambda quick: {"quick": quick}),
            tour.Stage("fixed", fixed, ("fixed.txt",), lambda quick: {}),
        ],
    )
    return runs


def _tour(out, quick):
    lines = []
    tour.run_tour(out, quick=quick, log=lines.append)
    return lines


def test_quick_results_are_not_presented_as_the_full_tour(tmp_path, fake_stages):
    assert _tour(tmp_path, quick=True) == ["[sized] sized n=3", "[fixed] fixed"]
    assert _tour(tmp_path, quick=False) == ["[sized] sized n=30", "[fixed] (cached) fixed"]
    assert json.loads((tmp_path / "sized.json").read_text()) == {"n": 30}
    assert _tour(tmp_path, quick=False) == [
        "[sized] (cached) sized n=30",
        "[fixed] (cached) fixed",
    ]
    assert fake_stages == [("sized", True), ("fixed", True), ("sized", False)]
    assert _tour(tmp_path, quick=True)[0] == "[sized] sized n=3"  # and back again


def test_truncated_or_missing_output_reruns_its_stage(tmp_path, fake_stages, capsys):
    _tour(tmp_path, quick=True)
    path = tmp_path / "sized.json"
    path.write_bytes(path.read_bytes()[:5])  # a stage killed while writing, say
    assert _tour(tmp_path, quick=True) == ["[sized] sized n=3", "[fixed] (cached) fixed"]
    assert json.loads(path.read_text()) == {"n": 3}
    (tmp_path / "fixed.txt").unlink()
    assert _tour(tmp_path, quick=True) == ["[sized] (cached) sized n=3", "[fixed] fixed"]
    err = capsys.readouterr().err
    assert err.count("note: ") == 2 and "sized.json" in err and "fixed.txt" in err


def test_damaged_stage_record_reruns_the_stage(tmp_path, fake_stages, damage, capsys):
    _tour(tmp_path, quick=True)
    damage(tmp_path / "partial" / "tour" / "sized.json", "garbage")
    assert _tour(tmp_path, quick=True) == ["[sized] sized n=3", "[fixed] (cached) fixed"]
    assert "note: " in capsys.readouterr().err


def test_real_stages_are_keyed_by_their_full_settings():
    keys = {s.name: (tour.stage_key(s, True), tour.stage_key(s, False)) for s in tour.STAGES}
    assert set(keys) == {"derive", "phase-diagram", "coord-check", "mu-transfer"}
    # the work of these two depends on --quick: quick results never stand in for full ones
    assert keys["phase-diagram"][0] != keys["phase-diagram"][1]
    assert keys["coord-check"][0] != keys["coord-check"][1]
    # derive is the same either way; the tour always runs the small mu-transfer
    assert keys["derive"][0] == keys["derive"][1]
    assert keys["mu-transfer"][0] == keys["mu-transfer"][1]
    assert len({k for pair in keys.values() for k in pair}) == 6


class _Killed(Exception):
    pass


def test_coord_check_stage_resumes_its_finished_widths(tmp_path, monkeypatch, capsys):
    real = coord._executables

    def killed_after_one_width(jobs):
        exes = real(jobs)

        def kill(*args):
            raise _Killed

        return exes[:1] + [kill] * (len(exes) - 1)

    monkeypatch.setattr(coord, "_executables", killed_after_one_width)
    with pytest.raises(_Killed):
        coord_check_stage(tmp_path, quick=True)
    saved = sorted(p.name for p in (tmp_path / "partial" / "coord-check" / "mup").iterdir())
    assert saved == ["width_128.npz"]
    compiled = []
    monkeypatch.setattr(
        coord, "_executables", lambda jobs: compiled.append(len(jobs)) or real(jobs)
    )
    capsys.readouterr()
    line = coord_check_stage(tmp_path, quick=True)
    assert compiled == [3, 4, 4]  # mup's finished width is loaded, everything else runs
    assert "mup width 128 done (cached)" in capsys.readouterr().err
    data = json.loads((tmp_path / "coord_check_compare.json").read_text())
    assert data["mup"]["regime"] == "feature_learning" and data["mup"]["verdict"] == "PASS"
    assert "mup" in line and "sp" in line
