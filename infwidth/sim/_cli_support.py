"""Old home of the coordinate-check command's helpers, kept for old imports: the options
-> table/config mapping is :mod:`infwidth.sim._check`, the memory estimate
:mod:`infwidth.sim._peak`, the text summary :meth:`CoordCheckResult.summary`."""

from ._check import build_config, load_table
from ._peak import check_memory, estimate_bytes
from ._report import CoordCheckResult

summary = CoordCheckResult.summary

__all__ = ["build_config", "check_memory", "estimate_bytes", "load_table", "summary"]
