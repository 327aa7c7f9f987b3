"""Transfer sweeps: learning rate x width x seed studies of derived parametrizations.

* :class:`SweepSpec`: a sweep as data (Python, TOML or JSON);
* :func:`run_sweep`: runs it in chunks of equal shape, one compiled program per width, into
  a crash-safe SQLite store (:class:`SweepStore`);
* ``run_sweep(spec, model=...)``: a user's own model (:class:`UserModel`), scaled by
  :func:`infwidth.mup_transfer`;
* :func:`analyse`: optimum per target and width, edge of trainability, shift across widths,
  and the transfer verdict;
* :func:`run_transfer`: a dense grid at the base width, brackets around the predicted optimum
  at the target widths, and the verdict with the compute saved;
* :func:`write_sweep`, :func:`write_transfer`: run and write the files (what the
  ``infwidth sweep`` and ``infwidth transfer`` commands run).
"""

from ._analysis import analyse
from ._db import SweepStore
from ._report import sweep_json, write, write_sweep
from ._run import ChunkReport, SweepRun, extend_grid, run_sweep
from ._spec import Point, SweepSpec, lr_schedule, parse_grid
from ._transfer import lr_exponent, run_transfer, write_transfer
from ._user import UserModel

__all__ = [
    "ChunkReport",
    "Point",
    "SweepRun",
    "SweepSpec",
    "SweepStore",
    "UserModel",
    "analyse",
    "extend_grid",
    "lr_schedule",
    "lr_exponent",
    "parse_grid",
    "run_sweep",
    "run_transfer",
    "sweep_json",
    "write",
    "write_sweep",
    "write_transfer",
]
