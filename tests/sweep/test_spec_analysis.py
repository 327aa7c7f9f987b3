"""SweepSpec parsing/validation and the analysis on synthetic loss tables (exact numbers)."""

import json

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec, analyse, parse_grid
from infwidth.sweep._analysis import eta_fail, refine


def test_grid_is_inclusive_and_exact():
    assert parse_grid("-9:-2:1") == tuple(float(v) for v in range(-9, -1))
    assert len(parse_grid("-6:0:0.5")) == 13
    assert parse_grid("-1,0,2") == (-1.0, 0.0, 2.0)
    assert parse_grid("0:1:0.3") == (0.0, 0.3, 0.6, 0.9)  # hi off the grid: not included


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"targets": ""}, "targets axis is empty"),
        ({"widths": []}, "widths axis is empty"),
        ({"log2_lrs": []}, "log2-LR axis is empty"),
        ({"widths": "64,64"}, "repeats"),
        ({"log2_lrs": "0:-3:1"}, "lo <= hi"),
        ({"log2_lrs": "1,0"}, "increasing"),
        ({"log2_lrs": "a:b"}, "lo:hi:step"),
        ({"seeds": 0}, "seeds must be a positive"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"optimizer": "lion"}, "unknown optimizer"),
        ({"widths": "64,x"}, "widths must be integers"),
        ({"metric_fraction": 0}, "metric_fraction"),
        ({"colour": 1}, "unknown sweep setting"),
    ],
)
def test_bad_specs_are_one_line_errors(changes, message):
    with pytest.raises(InfwidthError, match=message) as e:
        SweepSpec.from_dict(changes)
    assert "\n" not in str(e.value)


def test_spec_from_toml_and_json_equals_python(tmp_path):
    py = SweepSpec(targets=("sp", "mup"), widths=(32, 64), log2_lrs="-3:0:1", seeds=2, steps=7)
    (tmp_path / "a.toml").write_text(
        '[sweep]\ntargets = "sp,mup"\nwidths = [32, 64]\nlog2-lrs = "-3:0:1"\nseeds = 2\nsteps = 7\n'
    )
    (tmp_path / "a.json").write_text(json.dumps(py.to_json()))
    assert SweepSpec.from_file(tmp_path / "a.toml") == py
    assert SweepSpec.from_file(tmp_path / "a.json") == py
    assert len(py.points()) == 2 * 2 * 4 * 2
    (tmp_path / "bad.toml").write_text("widths = [")
    with pytest.raises(InfwidthError, match="malformed"):
        SweepSpec.from_file(tmp_path / "bad.toml")


def _records(curves, seeds=2, diverged=()):
    """Points from ``curves[(target, width)] = losses over the grid``; ``diverged``:
    (target, width, grid index, seed) that diverged."""
    out = []
    for (t, w), ys in curves.items():
        for i, y in enumerate(ys):
            for s in range(seeds):
                bad = (t, w, i, s) in diverged
                out.append(
                    dict(
                        target=t,
                        width=w,
                        depth=2,
                        log2_lr=float(GRID[i]),
                        seed=s,
                        loss=None if bad else float(y) + (0.01 if s else -0.01),
                        diverged=bad,
                        loss0=10.0,
                    )  # fmt: skip
                )
    return out


GRID = np.arange(-6.0, 1.0, 1.0)


def test_parabola_recovers_the_exact_optimum_and_flags_edges():
    c = -2.3
    assert refine(GRID, (GRID - c) ** 2 + 1) == (pytest.approx(c), False)
    # a tie with the right neighbour puts the vertex half a step over, the most it moves
    best, edge = refine(GRID, np.array([9, 9, 9, 9, 1.0, 1.0, 9]))
    assert best == pytest.approx(-1.5) and not edge
    # the same on an uneven grid: half of that side's step
    best, _ = refine([0.0, 1.0, 5.0], [3.0, 1.0, 1.0])
    assert best == pytest.approx(3.0)
    assert refine(GRID, GRID) == (-6.0, True)  # falls to the edge
    assert refine(GRID, np.full(7, np.inf)) == (None, False)
    # a diverged neighbour: no refinement
    y = np.array([5, 4, 3, 2, 1, np.inf, np.inf])
    assert refine(GRID, y) == (-2.0, False)


def test_eta_fail_is_the_first_failure_above_the_first_success():
    loss0 = np.full(7, 10.0)
    # too slow (above half the initial loss), succeeding, then a failure band and a recovery
    mean = np.array([8.0, 4.0, 2.0, np.inf, 3.0, np.inf, np.inf])
    assert eta_fail(GRID, mean, loss0) == -3.0
    assert eta_fail(GRID, np.array([8.0, 7, 6, 4, 3, 2, 1]), loss0) is None
    assert eta_fail(GRID, np.full(7, 9.0), loss0) is None


def test_shift_spread_and_verdict_on_synthetic_tables():
    curves = {}
    centres = {"mup": (-2.25, -2.0, -1.75), "sp": (-1.0, -2.5, -4.0)}
    for t, cs in centres.items():
        for w, c in zip((64, 128, 256), cs, strict=True):
            curves[(t, w)] = (GRID - c) ** 2 + 1
    res = analyse(_records(curves), GRID, tolerance=1.0, steps=50)
    opt = {(o["target"], o["width"]): o["log2_lr"] for o in res["optima"]}
    for t, cs in centres.items():
        for w, c in zip((64, 128, 256), cs, strict=True):
            assert opt[(t, w)] == pytest.approx(c, abs=1e-9)
    mup, sp = res["transfer"]["mup"], res["transfer"]["sp"]
    assert mup["shift_octaves"] == pytest.approx(0.5) and mup["spread_octaves"] == pytest.approx(
        0.5
    )
    assert mup["verdict"] == "transfers" and mup["steps"] == 50
    assert sp["shift_octaves"] == pytest.approx(-3.0) and sp["verdict"] == "does not transfer"
    # the fitted exponent of eta* against width: +1/4 and -3/2 octaves per octave of width
    assert mup["lr_exponent"] == pytest.approx(0.25) and sp["lr_exponent"] == pytest.approx(-1.5)
    # one diverged seed makes the grid point's mean +inf: the optimum moves off it
    div = {("mup", 64, 4, 1)}  # grid -2, closest to -2.25
    res = analyse(_records(curves, diverged=div), GRID)
    o = next(o for o in res["optima"] if o["target"] == "mup" and o["width"] == 64)
    assert o["log2_lr"] == -3.0 and o["eta_fail"] == -2.0


def test_optimum_on_the_edge_makes_the_verdict_inconclusive():
    curves = {("mup", 64): (GRID - 0.0) ** 2, ("mup", 256): (GRID - 0.2) ** 2}
    res = analyse(_records(curves), GRID)
    assert all(o["on_edge"] for o in res["optima"])
    assert res["transfer"]["mup"]["verdict"] == "inconclusive"
    assert res["transfer"]["mup"]["on_edge_widths"] == [64, 256]
