"""``infwidth doctor`` on a user's file and on bad input (one line, exit 2)."""

import json

from infwidth.cli import main

USER = """
import jax, jax.numpy as jnp, jax.random as jr, optax
from infwidth.doctor import UserModel

BASE = 64
HIDDEN_LR_SCALED = {scaled}

def make(n):
    k = jr.split(jr.PRNGKey(0), 3)
    p = {{"W1": jr.normal(k[0], (8, n)), "W2": jr.normal(k[1], (n, n)) / jnp.sqrt(n),
         "W3": jr.normal(k[2], (n, 4)) / n}}
    def feats(p, b):
        h1 = b[0] @ p["W1"]
        h2 = jax.nn.relu(h1) @ p["W2"]
        return {{"h1": h1, "h2": h2, "output": jax.nn.relu(h2) @ p["W3"]}}
    def loss(p, b):
        return jnp.mean((feats(p, b)["output"] - b[1]) ** 2)
    r = BASE / n
    lr = {{"W1": 1.0, "W2": r if HIDDEN_LR_SCALED else 1.0, "W3": r}}
    eps = {{"W1": r, "W2": r, "W3": 1.0}}
    opt = optax.multi_transform({{a: optax.adam(1e-2 * lr[a], eps=1e-8 * eps[a]) for a in p}},
                                {{a: a for a in p}})
    batch = (jr.normal(jr.PRNGKey(1), (16, 8)), jr.normal(jr.PRNGKey(2), (16, 4)))
    return UserModel(p, loss, opt, [batch], feats)

def raises(n):
    raise RuntimeError("cannot build")

def fixed(n):
    return make(64)

def wrong(n):
    return {{"params": 1}}
"""


def _cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_user_model_report(tmp_path, capsys):
    for scaled in (True, False):
        f = tmp_path / f"model_{scaled}.py"
        f.write_text(USER.format(scaled=scaled))
        out = tmp_path / f"out_{scaled}"
        code, _, err = _cli(
            capsys,
            "doctor",
            "--model",
            f"{f}:make",
            "--widths",
            "64,128,256",
            "--optimizer",
            "adam",
            "--out",
            out,
        )
        assert code == 0, err
        rep = json.loads((out / "report.json").read_text())
        fails = [(x["tensor"], x["quantity"]) for x in rep["findings"] if x["verdict"] == "fail"]
        assert rep["pass"] is scaled
        t = rep["transfer"]  # the default transfer test ran (5 points, 60 steps)
        assert t["steps"] == 60 and t["widths"] == [64, 128, 256] and len(t["points"]) >= 15
        assert t["verdict"] in ("transfers", "does not transfer", "inconclusive")
        assert [a["tensor"] for a in rep["alignment"]] == ["W2", "W3"]  # W1's fan-in is fixed
        assert rep["alignment"][0]["steps"] == [1, 2, 4, 8, 16]
        for png in ("exponents.png", "alignment.png", "transfer.png"):
            assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert fails == ([] if scaled else [("W2", "learning_rate")])
        assert set(rep["findings"][0]) >= {
            "tensor",
            "quantity",
            "expected",
            "measured",
            "verdict",
            "fix",
        }
        md = (out / "report.md").read_text()
        assert scaled or "multiply the learning rate of `W2` by base_width/width" in md


def test_bad_input_one_line(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(USER.format(scaled=True))
    for ref, needle in [
        (f"{f}:raises", "make(64) failed: RuntimeError: cannot build"),
        (f"{f}:make --bracket 0,1", "at least 3 evenly spaced"),
        (f"{f}:fixed", "no parameter shape grows"),
        (f"{f}:wrong", "must return infwidth.doctor.UserModel"),
        (f"{f}:nothing", "has no function 'nothing'"),
        (f"{tmp_path}/absent.py:make", "no file"),
        ("notpython:make", "FILE.py:FUNCTION"),
    ]:
        code, _, err = _cli(
            capsys,
            "doctor",
            "--model",
            *ref.split(" "),
            "--widths",
            "64,128",
            "--out",
            tmp_path / "o",
        )
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert needle in err, err
