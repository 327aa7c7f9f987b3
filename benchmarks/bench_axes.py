"""Cold-process time of every built-in example with its axes, under SGD/Adam/K-FAC/Shampoo.

One cold ``python`` process derives (and serialises to JSON) every built-in architecture —
the width/depth ones and the ones with extra axes (density, LoRA rank, experts, K/V
groups, heads, vocabulary) — under SGD,
Adam, K-FAC and Shampoo, SAM on top of SGD for each, and prints its wall time and the ratio
against the baseline measured in the same run: a cold ``python -c "import sympy"``.
Target (issue 16, item 7): under 3 s on 2 cores.

    python benchmarks/bench_axes.py
"""

from __future__ import annotations

import subprocess
import sys
import time

OPTIMIZERS = ("sgd", "adam", "kfac", "shampoo")

SCRIPT = f"""
from infwidth.spec import ARCHITECTURES, EXTENDED, builtin
from infwidth.symbolic import derive
n = 0
for arch in (*ARCHITECTURES, *EXTENDED):
    deep = arch in ("resmlp", "transformer") or (arch in EXTENDED and not arch.endswith("mlp"))
    target = "depth-mup" if deep else "mup"
    for opt in {OPTIMIZERS!r}:
        derive(builtin(arch), opt, target=target).to_json()
        n += 1
    derive(builtin(arch), "sgd", target=target, perturbation="sam").to_json()
    n += 1
print(n)
"""


def timed(code: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout.strip()


def main() -> None:
    base = min(timed("import sympy")[0] for _ in range(3))
    runs = [timed(SCRIPT) for _ in range(3)]
    full, count = min(r[0] for r in runs), runs[0][1]
    print(f"baseline  cold `import sympy`                         {base:6.3f} s")
    print(
        f"all axes  {count} derivations (every built-in x SGD/Adam/"
        f"K-FAC/Shampoo, + SAM)  {full:6.3f} s  ({full / base:.2f}x baseline)"
        f"  target < 3 s: {'OK' if full < 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
