"""Moved to :mod:`infwidth._fit` (the one fitter of every engine); kept for old imports."""

from .._fit import design_reason, fit_slope, verdict

__all__ = ["design_reason", "fit_slope", "verdict"]
