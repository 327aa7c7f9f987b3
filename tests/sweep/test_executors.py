"""Sweep executors: a chunk sharded over 8 forced host devices, and chunks sent as tasks to a
2-node local Ray cluster (with a worker killed once), give the one-device numbers; the
driver alone writes the store."""

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infwidth.cli import main
from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec, run_sweep
from infwidth.sweep._executors import DEVICE_FLAG, ShardedExecutor, _probe, host_device_env

ROOT = Path(__file__).resolve().parents[2]
# 2 targets x 3 LRs x 2 seeds = 12 points per width: padded to 16 on 8 devices
ARGS = ["--targets", "sp,mup", "--widths", "16,32", "--log2-lrs", "-2:4:3", "--seeds", "2",
        "--steps", "5", "--batch-size", "32", "--n-train", "64", "--loss", "mse"]  # fmt: skip
SPEC = SweepSpec(targets=("sp", "mup"), widths=(16, 32), log2_lrs=(-2.0, 1.0, 4.0), seeds=2,
                 steps=5, batch_size=32, n_train=64, loss="mse")  # fmt: skip
#: float32 rounding between layouts (measured ~1e-7)
RTOL = 1e-5


def _env() -> dict[str, str]:
    env = dict(os.environ, INFWIDTH_XLA_CACHE="off")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _assert_same_numbers(points, reference) -> None:
    """``points`` and ``reference`` (dicts with target/width/log2_lr/seed/loss/diverged)
    are the same sweep: same points, same divergence, losses within ``RTOL``."""
    key = lambda r: (r["target"], r["width"], r["log2_lr"], r["seed"])  # noqa: E731
    ref = {key(r): r for r in reference}
    got = {key(r): r for r in points}
    assert got.keys() == ref.keys()
    flags = [r["diverged"] for r in ref.values()]
    assert any(flags) and not all(flags)
    for k, r in ref.items():
        assert got[k]["diverged"] == r["diverged"], k
        if not r["diverged"]:
            assert got[k]["loss"] == pytest.approx(r["loss"], rel=RTOL), k


def test_host_device_env_replaces_the_count():
    env = host_device_env(8, {"XLA_FLAGS": f"--xla_cpu_foo=1 {DEVICE_FLAG}=2"})
    assert env["XLA_FLAGS"].split() == ["--xla_cpu_foo=1", f"{DEVICE_FLAG}=8"]
    assert host_device_env(3, {})["XLA_FLAGS"] == f"{DEVICE_FLAG}=3"


def test_more_devices_than_jax_sees_is_one_line():
    import jax

    with pytest.raises(InfwidthError, match=DEVICE_FLAG):
        ShardedExecutor(len(jax.devices()) + 1)


def test_cli_devices_8_shards_and_equals_one_device(tmp_path):
    """``--devices 8`` re-runs the command with 8 forced CPU devices; each width's 12 points
    are padded to 16 and split 2 per device; the numbers are the one-device run's."""
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "infwidth", "sweep", *ARGS, "--devices", "8", "--out", str(out),
           "--no-plot"]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "chunk 2/2 width 32 on 8 devices" in proc.stderr  # both chunks ran sharded
    doc = json.loads((out / "sweep.json").read_text())
    _assert_same_numbers(doc["points"], run_sweep(SPEC).records)


def test_cli_executor_ray_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    rc = main(["sweep", *ARGS, "--executor", "ray", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "pip install 'infwidth[ray]'" in err
    assert not (tmp_path / "o" / "sweep.sqlite").exists()


def test_ray_address_is_probed_before_ray_connects():
    with pytest.raises(InfwidthError, match="HOST:PORT"):
        _probe("nonsense")
    with pytest.raises(InfwidthError, match="no Ray cluster answers at 127.0.0.1:1"):
        _probe("127.0.0.1:1")  # nothing listens on port 1: refused at once


def test_the_default_path_never_imports_ray():
    code = (
        "import sys\nfrom infwidth.cli import main\nfrom infwidth.sweep import SweepSpec, run_sweep\n"
        "run_sweep(SweepSpec(targets=('mup',), widths=(8,), log2_lrs=(0.0,), seeds=1, steps=2,"
        " batch_size=8, n_train=16))\nassert 'ray' not in sys.modules, 'ray imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cli_executor_flags_are_checked(tmp_path, capsys):
    assert main(["sweep", *ARGS, "--ray-address", "127.0.0.1:1", "--out", str(tmp_path)]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    assert main(["sweep", *ARGS, "--devices", "0", "--out", str(tmp_path)]) == 2
    assert "--devices must be a positive integer" in capsys.readouterr().err


RAY_SCRIPT = """
import json, os, sys
import ray
from ray.cluster_utils import Cluster
from infwidth.sweep import SweepSpec, run_sweep
from infwidth.sweep._executors import RayExecutor, _ray_chunk

spec = SweepSpec.from_dict(json.loads(sys.argv[1]))
marker, store = sys.argv[2], sys.argv[3]

def die_once(spec, data, chunk):
    try:  # the first task to get here kills its worker process; Ray retries the chunk
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        os._exit(1)
    except FileExistsError:
        return _ray_chunk(spec, data, chunk)

class DyingOnce(RayExecutor):
    task = staticmethod(die_once)

node = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
try:
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    reports = []
    with RayExecutor(cluster.address) as ex:
        run = run_sweep(spec, store=store, executor=ex, progress=reports.append)
        hosts = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
    one = spec.replace(widths=(spec.widths[0],))
    with DyingOnce(cluster.address) as ex:
        retried = run_sweep(one, executor=ex)
    print(json.dumps({"records": run.records, "nodes": [r.node for r in reports], "hosts": hosts,
                      "retried": retried.records, "died": os.path.exists(marker)}))
finally:
    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()
"""


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_two_node_cluster_equals_local(tmp_path):
    """A head and a worker node on 127.0.0.1, one CPU each: the sweep's 4 chunks land on both
    nodes, the driver writes every point once, the numbers equal the local executor's; a
    worker killed mid-chunk is retried and the chunk's numbers are the same."""
    spec = SPEC.replace(max_chunk=6)  # 2 chunks per width, 4 tasks
    env = _env() | {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    store = tmp_path / "s.sqlite"
    script = [sys.executable, "-c", textwrap.dedent(RAY_SCRIPT), json.dumps(spec.to_json()),
              str(tmp_path / "died"), str(store)]  # fmt: skip
    proc = subprocess.Popen(script, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # the cluster's processes are in the group we started
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    doc = json.loads(out.strip().splitlines()[-1])
    assert len(doc["nodes"]) == 4 and len(set(doc["nodes"])) == 2  # records from both nodes
    assert doc["hosts"] == ["127.0.0.1"]  # loopback only
    local = run_sweep(spec).records
    _assert_same_numbers(doc["records"], local)
    assert doc["died"]  # one worker died, its chunk was retried
    _assert_same_numbers(doc["retried"], [r for r in local if r["width"] == spec.widths[0]])
    with sqlite3.connect(store) as db:
        rows, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM points").fetchone()
    assert rows == keys == len(spec.points())
