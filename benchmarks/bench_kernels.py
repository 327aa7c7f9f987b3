"""Benchmark: infinite-width NNGP + NTK of a 3-hidden-layer ReLU MLP (issue 4).

1. 1000 x 1000 pairs of 32-dimensional inputs, float64: ``infwidth.kernels.mlp_kernels`` against
   neural-tangents' jitted ``kernel_fn`` on the same inputs in the same run (skipped cleanly when
   neural-tangents is absent; install it with
   ``pip install --no-deps neural-tangents==0.6.5 frozendict``). Prints both medians and the ratio.
2. 10k x 10k pairs in blocks: wall time and the process's peak resident memory, measured in a
   fresh subprocess (the two float64 outputs alone are 1.6 GB; the blocks add a bounded
   working set, see ``infwidth/kernels/_blocks.py``).

Run: ``.venv/bin/python benchmarks/bench_kernels.py [--skip-10k]``. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

_BIG = """
import resource, time, numpy as np, jax
from infwidth.kernels import mlp_kernels
x = np.random.RandomState(0).randn({n}, 32)
t = time.perf_counter()
k = mlp_kernels(x, depth=3, activation="relu", W_std=1.4, b_std=0.1, block_size={block})
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(dt, rss, k.nngp.nbytes / 2**30 * 2)
"""


def _best_times(fns: dict, repeats: int) -> dict:
    """Best-of-``repeats`` wall time of each function, calls interleaved so that load from other
    processes on a shared machine hits all of them alike."""
    for fn in fns.values():
        fn()  # compile / warm up
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.min(v)) for k, v in times.items()}


def bench_1000(repeats: int = 15) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    from infwidth.kernels import mlp_kernels

    x = np.random.RandomState(0).randn(1000, 32)
    kw = dict(depth=3, activation="relu", W_std=1.4, b_std=0.1)
    result = {"pairs": "1000x1000", "dtype": "float64", "timing": f"best of {repeats}"}

    def ours():
        return mlp_kernels(x, **kw)

    try:
        from infwidth.compat.nt import load_neural_tangents

        stax = load_neural_tangents().stax
    except ImportError as exc:
        result["infwidth_s"] = _best_times({"ours": ours}, repeats)["ours"]
        result["neural_tangents"] = f"skipped: {exc}"
        return result
    _, _, kernel_fn = stax.serial(
        *[stax.Dense(512, 1.4, 0.1), stax.Relu()] * 3, stax.Dense(1, 1.4, 0.1)
    )
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    xj = jax.numpy.asarray(x)

    def nt():
        k = kernel_fn(xj, None, ("nngp", "ntk"))
        jax.block_until_ready(k)
        return k

    best = _best_times({"ours": ours, "nt": nt}, repeats)
    result["infwidth_s"], result["neural_tangents_s"] = best["ours"], best["nt"]
    ref, mine = nt(), ours()
    result["max_rel_diff"] = float(
        max(np.max(np.abs(mine.nngp - ref.nngp)) / np.max(np.abs(ref.nngp)),
            np.max(np.abs(mine.ntk - ref.ntk)) / np.max(np.abs(ref.ntk)))
    )  # fmt: skip
    result["ratio_nt_over_infwidth"] = best["nt"] / best["ours"]
    return result


def bench_blocks(n: int = 10_000, block: int = 256) -> dict:
    code = _BIG.format(n=n, block=block)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dt, rss, outputs = map(float, out.stdout.split())
    return {"pairs": f"{n}x{n}", "block_size": block, "seconds": dt, "peak_rss_gib": rss,
            "outputs_gib": outputs}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-10k", action="store_true")
    args = parser.parse_args()
    res = {"1000": bench_1000()}
    print(json.dumps(res["1000"], indent=2), flush=True)
    if not args.skip_10k:
        res["10k"] = bench_blocks()
        print(json.dumps(res["10k"], indent=2))


if __name__ == "__main__":
    main()
