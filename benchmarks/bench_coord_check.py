"""Benchmark: the coordinate check of issue 3 against its FLOP bound and PyTorch ``mup``.

Configuration: MLP 32 -> n -> n -> 10, ReLU, no biases, batch 64, widths 256..8192 (powers
of 2), 5 SGD steps at lr 0.1 under muP, 5 seeds.

1. ``infwidth.sim.run_widths`` (jit, seeds vmapped, steps scanned), timed cold (compiling
   every width) and warm (the compiled programs cached), without the spectral-norm ratio
   (PyTorch ``mup`` does not measure it) and, for information, with it. By default the wide
   hidden matrix is trained factored (``W_0 + U V^T``, :mod:`infwidth.sim._lowrank`); the
   dense update (``factor_sgd=False``) is timed too, for comparison.
2. Lower bound: the check's matmul FLOPs -- per seed and width ``T`` forward+backward passes
   (``3 F``) plus one forward (``F``), ``F = 2 B (d_in n + n^2 + n d_out)`` -- divided by the
   machine's matmul rate, measured here on a jitted 2048^3 float32 matmul (best of 5). The
   factored update needs no weight-gradient matmul: ``(2 T + 1) F`` instead of
   ``(3 T + 1) F``, so it can run below this bound.
3. PyTorch ``mup``'s ``get_coord_data`` on the same configuration (torch CPU, same process),
   skipped cleanly when torch or mup is not importable.

4. The command line as a user runs it, ``infwidth coord-check`` with its defaults on the same
   configuration, each in a fresh process with an empty XLA cache (cold: compiling every
   width) and again with the cache it filled (repeat): wall time and peak RSS of the child.
   ``--with-spectral`` also times ``--spectral`` (the default before issue 10).

Prints both ratios. Run: ``.venv/bin/python benchmarks/bench_coord_check.py [--max-width N]
[--cli-only] [--with-spectral]``; ``mup`` needs torch and mup importable by the same Python.
Not a timed test.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from infwidth.sim import CoordCheckConfig, Table, run_widths

D_IN, D_OUT, BATCH, STEPS, SEEDS, LR = 32, 10, 64, 5, 5, 0.1


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul throughput (FLOP/s) of a jitted ``size^3`` product."""
    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def init_seconds(widths: tuple[int, ...]) -> float:
    """Wall time of drawing the initial weights alone (jitted, seeds vmapped, compiled
    beforehand): random-number generation, a cost the matmul bound does not count."""
    import jax.random as jr

    from infwidth.sim import model_at

    table = Table.derive("mlp", "sgd", target="mup", depth=2)
    cfg = CoordCheckConfig(widths=widths, dims={"d_in": D_IN, "d_out": D_OUT})
    keys = jr.split(jr.PRNGKey(0), SEEDS)
    total = 0.0
    for n in widths:
        f = jax.jit(jax.vmap(model_at(table, cfg, n).init))
        jax.block_until_ready(f(keys))
        t = time.perf_counter()
        jax.block_until_ready(f(keys))
        total += time.perf_counter() - t
    return total


def skinny_rate(n: int = 4096) -> float:
    """Throughput of the check's own matmul shape: (seeds, batch, n) @ (seeds, n, n)."""
    a = jnp.ones((SEEDS, BATCH, n), jnp.float32)
    w = jnp.ones((SEEDS, n, n), jnp.float32)
    f = jax.jit(lambda a, w: jnp.einsum("sbi,sij->sbj", a, w))
    f(a, w).block_until_ready()
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        f(a, w).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * SEEDS * BATCH * n * n / best


def check_flops(widths: tuple[int, ...]) -> float:
    """Matmul FLOPs of the whole check (see the module docstring)."""
    fwd = sum(2 * BATCH * (D_IN * n + n * n + n * D_OUT) for n in widths)
    return SEEDS * (STEPS * 3 + 1) * fwd


def time_infwidth(
    widths: tuple[int, ...], spectral: bool, factor_sgd: bool = True
) -> tuple[float, float, float]:
    """Cold and warm wall times, and the matmul rate measured right before the warm run (on
    a shared machine the bound must see the same load as the run)."""
    table = Table.derive("mlp", "sgd", target="mup", depth=2)
    cfg = CoordCheckConfig(
        optimizer="sgd",
        widths=widths,
        steps=STEPS,
        seeds=SEEDS,
        lr=LR,
        batch_size=BATCH,
        dims={"d_in": D_IN, "d_out": D_OUT},
        spectral=spectral,
        factor_sgd=factor_sgd,
    )
    t = time.perf_counter()
    raw = run_widths(table, cfg)
    cold = time.perf_counter() - t
    assert (raw.diverged < 0).all(), "muP at lr 0.1 must not diverge"
    rate = matmul_rate()
    t = time.perf_counter()
    run_widths(table, cfg)
    return cold, time.perf_counter() - t, rate


def time_mup(widths: tuple[int, ...]) -> float | None:  # pragma: no cover - needs torch
    """``mup.coord_check.get_coord_data`` on the same configuration, or None if absent."""
    try:
        import torch
        from mup import MuReadout, set_base_shapes
        from mup.coord_check import get_coord_data
    except ImportError:
        return None
    torch.set_num_threads(max(1, torch.get_num_threads()))

    class MLP(torch.nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(D_IN, n, bias=False)
            self.fc2 = torch.nn.Linear(n, n, bias=False)
            self.out = MuReadout(n, D_OUT, bias=False)

        def forward(self, x):
            return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    def lazy(n: int):
        def make():
            return set_base_shapes(MLP(n), MLP(64), delta=MLP(128))

        return make

    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, D_IN, generator=g)
    y = torch.randint(0, D_OUT, (BATCH,), generator=g)  # mup's "mse" one-hot encodes labels
    loader = [(x, y)] * STEPS
    t = time.perf_counter()
    get_coord_data(
        {n: lazy(n) for n in widths},
        loader,
        mup=True,
        lr=LR,
        optimizer="sgd",
        nseeds=SEEDS,
        nsteps=STEPS,
        lossfn="mse",
        dict_in_out=False,
        flatten_output=False,
        cuda=False,  # the default moves the models to a GPU
    )
    return time.perf_counter() - t


def time_cli(widths: tuple[int, ...], cache: str, *extra: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of ``infwidth coord-check`` with its defaults on the
    benchmark's configuration, in a fresh process whose XLA cache is ``cache``."""
    import os
    import subprocess
    import sys
    import tempfile

    cmd = [sys.executable, "-m", "infwidth", "coord-check", "--widths", ",".join(map(str, widths))]
    cmd += ["--steps", str(STEPS), "--seeds", str(SEEDS), "--batch-size", str(BATCH)]
    cmd += ["--input-dim", str(D_IN), "--output-dim", str(D_OUT), "--lr", str(LR), *extra]
    # peak RSS of the child alone: a wrapper process whose only child is the command
    wrap = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    with tempfile.TemporaryDirectory() as out:
        env = os.environ | {"INFWIDTH_XLA_CACHE": cache}
        res = subprocess.run(
            [sys.executable, "-c", wrap, *cmd, "--no-plot", "--out", out],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    seconds, rss_kb = res.stdout.split()
    return float(seconds), int(rss_kb) / 2**20


def cli_report(widths: tuple[int, ...], with_spectral: bool) -> list[tuple[str, float]]:
    """Cold and repeat CLI runs (see the module docstring); returns (label, seconds)."""
    import tempfile

    runs = [("default", ())] + ([("--spectral", ("--spectral",))] if with_spectral else [])
    times = []
    for label, extra in runs:
        with tempfile.TemporaryDirectory() as cache:
            cold, cold_rss = time_cli(widths, cache, *extra)
            rep, rep_rss = time_cli(widths, cache, *extra)
        print(
            f"CLI coord-check {label}: cold process {cold:.2f} s, peak RSS {cold_rss:.2f} GiB; "
            f"repeat (XLA cache filled) {rep:.2f} s, peak RSS {rep_rss:.2f} GiB"
        )
        times += [(f"{label} cold", cold), (f"{label} repeat", rep)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-width", type=int, default=8192)
    parser.add_argument("--cli-only", action="store_true", help="only the CLI runs and mup")
    parser.add_argument("--with-spectral", action="store_true", help="also time --spectral")
    args = parser.parse_args()
    widths = tuple(2**k for k in range(8, 14) if 2**k <= args.max_width)
    print(
        f"coord check: MLP {D_IN}->n->n->{D_OUT}, widths {widths}, batch {BATCH}, "
        f"{STEPS} SGD steps lr {LR}, {SEEDS} seeds, muP; devices {jax.devices()}"
    )
    if args.cli_only:
        cli = cli_report(widths, args.with_spectral)
        t_mup = time_mup(widths)
        if t_mup is None:
            print("PyTorch mup comparison skipped: torch and/or mup not importable")
            return
        print(f"PyTorch mup get_coord_data (this process): {t_mup:.2f} s")
        for label, seconds in cli:
            print(f"  CLI {label}: {seconds / t_mup:.2f}x mup's time")
        return
    flops = check_flops(widths)
    cold, warm, rate = time_infwidth(widths, spectral=False)
    bound = flops / rate
    print(
        f"check FLOPs {flops / 1e9:.1f} G; matmul rate {rate / 1e9:.1f} GFLOP/s "
        f"(measured just before the warm run); lower bound {bound:.2f} s"
    )
    print(f"infwidth (no spectral ratio): cold {cold:.2f} s (incl. compile), warm {warm:.2f} s")
    print(f"  ratio to FLOP bound: warm {warm / bound:.2f}x, cold {cold / bound:.2f}x")
    t_init = init_seconds(widths)
    print(
        f"  of which drawing the initial weights (RNG, not matmuls): {t_init:.2f} s; "
        f"warm / (bound + init) = {warm / (bound + t_init):.2f}x"
    )
    skinny = skinny_rate()
    print(
        f"  the check's own matmul shape (5 x 64 x 4096 @ 5 x 4096 x 4096) runs at "
        f"{skinny / 1e9:.1f} GFLOP/s (square 2048^3: {rate / 1e9:.1f})"
    )
    factored = flops * (2 * STEPS + 1) / (3 * STEPS + 1)
    floor = factored / rate + t_init
    print(
        f"  the factored update's own matmul FLOPs: {factored / 1e9:.1f} G "
        f"({factored / rate:.2f} s at the square rate, {factored / skinny:.2f} s at the "
        f"check's shape); floor = those matmuls at the square rate + init = {floor:.2f} s"
    )
    d_cold, d_warm, d_rate = time_infwidth(widths, spectral=False, factor_sgd=False)
    print(
        f"infwidth, dense update (factor_sgd=False): cold {d_cold:.2f} s, warm {d_warm:.2f} s "
        f"({d_warm / (flops / d_rate):.2f}x bound); factored is {d_warm / warm:.2f}x faster warm"
    )
    s_cold, s_warm, s_rate = time_infwidth(widths, spectral=True)
    print(
        f"infwidth (with ||dW||/||W||): cold {s_cold:.2f} s, warm {s_warm:.2f} s "
        f"({s_warm / (flops / s_rate):.2f}x bound)"
    )
    t_mup = time_mup(widths)
    if t_mup is None:
        print("PyTorch mup comparison skipped: torch and/or mup not importable")
    else:
        print(
            f"PyTorch mup get_coord_data: {t_mup:.2f} s; speed-up: {t_mup / cold:.2f}x cold, "
            f"{t_mup / warm:.2f}x warm; the floor above would be {t_mup / floor:.2f}x "
            f"(3x needs {t_mup / 3:.2f} s)"
        )


if __name__ == "__main__":
    main()
