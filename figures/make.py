"""Make the paper-reproduction figures (PNG + JSON/NPZ data side by side).

    python figures/make.py                       # all figures, full size, into figures/out
    python figures/make.py abc_phase_diagram --quick --out /tmp/figs

Each figure lives in ``infwidth/figures/<name>.py``; see ``figures/README.md`` for what each
reproduces, its runtime, and the test that checks its numbers.
"""

from __future__ import annotations

import argparse
import time

from infwidth.figures import FIGURES, make


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"figures to make (default: all): {', '.join(FIGURES)}")
    p.add_argument("--out", default="figures/out")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    for name in args.names or list(FIGURES):
        t0 = time.perf_counter()
        make(name, args.out, quick=args.quick)
        print(f"{name}: {time.perf_counter() - t0:.1f} s -> {args.out}/")


if __name__ == "__main__":
    main()
