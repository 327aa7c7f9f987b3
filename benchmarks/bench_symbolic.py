"""Cold-CLI time of the full built-in table: every target x {SGD, Adam} x every architecture.

Prints the wall time of one cold ``infwidth derive`` process per (target, optimiser) over all
four built-in architectures (every tensor kind), and the ratio against the baseline measured in
the same run: a cold ``python -c "import sympy"``. Target (issue 2): the whole table < 2 s.

    python benchmarks/bench_symbolic.py
"""

from __future__ import annotations

import subprocess
import sys
import time

SCRIPT = """
import sys
from infwidth.spec import builtin, ARCHITECTURES
from infwidth.symbolic import derive, TARGETS
n = 0
for target in TARGETS:
    for opt in ("sgd", "adam"):
        if (target, opt) == ("umup", "sgd"):
            continue  # u-muP is defined for Adam-type optimisers only
        for arch in ARCHITECTURES:
            derive(builtin(arch), opt, target=target).to_json()
            n += 1
print(n)
"""


def timed(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    base = min(timed("import sympy") for _ in range(3))
    cli = min(timed("from infwidth.cli import main; main(['derive','--arch','transformer',"
                    "'--optimizer','adam','--format','json'])") for _ in range(3))  # fmt: skip
    full = min(timed(SCRIPT) for _ in range(3))
    print(f"baseline  cold `import sympy`                    {base:6.3f} s")
    print(
        f"cold CLI  infwidth derive transformer/adam json   {cli:6.3f} s  ({cli / base:.2f}x baseline)"
    )
    print(
        f"full table every target x SGD/Adam x every arch   {full:6.3f} s  ({full / base:.2f}x baseline)"
        f"  target < 2 s: {'OK' if full < 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
