"""A sweep killed with SIGKILL mid-run and rerun: nothing lost, nothing recomputed."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from infwidth.sweep import SweepSpec, run_sweep

SPEC = dict(targets="mup", widths=(256,), log2_lrs="-8:-1:0.5", seeds=4, steps=150,
            batch_size=64, n_train=256, loss="mse", max_chunk=4)  # fmt: skip
CHUNK = 4


def _rows(store: Path) -> dict:
    db = sqlite3.connect(store)
    try:
        return {r[0]: r[1:] for r in db.execute("SELECT key, loss, diverged, config FROM points")}
    except sqlite3.OperationalError:  # the writer has not created the table yet
        return {}
    finally:
        db.close()


def test_sigkill_mid_sweep_then_rerun_loses_and_recomputes_nothing(tmp_path):
    store = tmp_path / "s.sqlite"
    script = textwrap.dedent(f"""
        from infwidth.sweep import SweepSpec, run_sweep
        run_sweep(SweepSpec(**{SPEC!r}), store={str(store)!r})
    """)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    total = len(SweepSpec(**SPEC).points())
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists() and len(_rows(store)) >= 2 * CHUNK:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # the PID we spawned, nothing else
    finally:
        proc.wait()
    before = _rows(store)
    assert 2 * CHUNK <= len(before) < total
    assert len(before) % CHUNK == 0  # one transaction per chunk: no half chunk
    run = run_sweep(SweepSpec(**SPEC), store=str(store))
    assert run.computed == total - len(before)
    assert run.cached == len(before)
    after = _rows(store)
    assert len(after) == total
    assert all(after[k] == v for k, v in before.items())  # stored points untouched
