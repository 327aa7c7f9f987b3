"""``infwidth reproduce bp22-gamma0`` and ``bp22-alignment`` (Bordelon & Pehlevan 2022): the
quick verdicts, computed from their data, and the science behind them.

Each quick run is a module-scoped fixture (through the CLI); the other tests read its outputs.
"""

import numpy as np
import pytest

from infwidth.reproduce import reproduce

from ._quick import run_quick, value


@pytest.fixture(scope="module")
def gamma0(tmp_path_factory):
    return run_quick(tmp_path_factory, "bp22-gamma0")


@pytest.fixture(scope="module")
def align(tmp_path_factory):
    return run_quick(tmp_path_factory, "bp22-alignment")


@pytest.mark.parametrize("which", ["gamma0", "align"])
def test_contracts(which, request):
    code, out, verdict, data = request.getfixturevalue(which)
    assert code == 0 and verdict["pass"] is True and verdict["quick"] is True
    assert verdict["pass"] == all(c["pass"] for c in verdict["criteria"])
    assert verdict["computed"] == len(data["points"]) and verdict["cached"] == 0
    for p in data["points"]:
        assert {"target", "width", "seed", "loss", "diverged", "step"} <= set(p)
    assert (out / "figure.png").stat().st_size > 10_000


def test_gamma0_science(gamma0):
    _, out, verdict, data = gamma0
    rows = {r["gamma0"]: r for r in verdict["report"]["by_gamma0"]}
    assert sorted(rows) == [0.2, 1.0, 2.0, 3.0]
    # finite N = 3000 (centred) on the DMFT curve, at every gamma0
    assert value(verdict, "finite (N=3000) vs DMFT: largest |loss gap|") <= 0.015
    for g, r in rows.items():
        assert r["finite_final"] == pytest.approx(r["dmft_final"], rel=0.15), g
    # larger gamma0 trains faster and aligns the kernel more with y y^T
    finals = [rows[g]["dmft_final"] for g in sorted(rows)]
    assert finals == sorted(finals, reverse=True)
    assert finals[-1] < 0.02 < 0.3 < finals[0]
    al = [rows[g]["alignment_dmft"] for g in sorted(rows)]
    assert al == sorted(al) and al[-1] > 5 * rows[0.2]["alignment_init"]
    # gamma0 = 0.2 is within 10% of the lazy NTK curve; gamma0 = 3 is 50x below it
    assert value(verdict, "gamma0=0.2: largest |DMFT - lazy") <= 0.1
    assert rows[3.0]["lazy_final"] > 50 * rows[3.0]["dmft_final"]
    # the paper's read-offs lie within the DMFT's spread over data draws
    for g, r in rows.items():
        assert r["dmft_final_draws_min"] <= r["paper_final"] <= r["dmft_final_draws_max"], g
    # a rerun is served from its store, with the same verdict
    again = reproduce("bp22-gamma0", quick=True, out=out)
    assert again.computed == 0 and again.verdict["cached"] == len(data["points"])
    assert [c["value"] for c in again.verdict["criteria"]] == [
        c["value"] for c in verdict["criteria"]
    ]


def test_gamma0_centred_finite_network_starts_at_zero_output():
    """Centring: the finite run's loss at t = 0 is mean y^2 = 1 exactly (f - f(theta0) = 0)."""
    from infwidth.reproduce.bp22_gamma0 import T, finite_run

    run = finite_run(1.0, seed=0, width=64)
    assert run["curve"][0] == pytest.approx(1.0, abs=1e-12)
    assert len(run["curve"]) == T and run["curve"][-1] < 0.9


def test_alignment_science(align):
    _, _, verdict, data = align
    fits = verdict["report"]["fits"]
    assert len(fits) == 3
    for f in fits:  # 1 - A ~ N^-1 in every layer
        assert f["slope"] == pytest.approx(-1.0, abs=0.25)
    rows = {r["width"]: r for r in verdict["report"]["by_width"]}
    for w in rows:  # every layer aligns better as N grows (trial means)
        assert all(0.5 < a < 1 for a in rows[w]["mean"])
    widths = sorted(rows)
    for k in range(3):
        assert rows[widths[-1]]["mean"][k] > rows[widths[0]]["mean"][k]
    assert min(rows[widths[-1]]["mean"]) >= 0.97
    assert data["config"]["dmft"]["result"] != "diverged"
    assert data["config"]["dmft"]["sweeps_run"] == data["config"]["sweeps"]


def test_scaled_tanh_is_plain_tanh_on_scaled_problem():
    """phi(h) = tanh(0.8 h)/0.8 on x == tanh on 0.8 x with gamma0' = 0.8 gamma0 (module
    docstring): the same outputs from the same weights."""
    import jax
    import jax.random as jr

    from infwidth.dmft._finite import init_params
    from infwidth.reproduce.bp22_alignment import BETA, DEPTH, dataset, initial_output

    X, _ = dataset()
    N = 40
    with jax.enable_x64(True):  # the weights initial_output draws (float64)
        p = init_params(jr.PRNGKey(2), width=N, depth=DEPTH, input_dim=X.shape[1])
    phi = lambda h: np.tanh(BETA * h) / BETA  # noqa: E731
    h = np.asarray(p["W0"]) @ X.T / np.sqrt(X.shape[1])
    for W in np.asarray(p["W"]):
        h = W @ phi(h) / np.sqrt(N)
    f = np.asarray(p["w"]) @ phi(h) / (1.0 * N)  # gamma0 = 1
    assert np.allclose(initial_output(N, 2), f, atol=1e-12)
    assert np.std(f) > 1e-3  # not trivially zero
