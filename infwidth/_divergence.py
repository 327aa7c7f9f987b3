"""When a training run has diverged: one definition for every engine.

A run has diverged at the first step :math:`t` where

* a quantity it records is non-finite (NaN or inf), or
* the size :math:`s_t` of its outputs (RMS of the network outputs, or of the error signal)
  has grown beyond ``GROWTH_BOUND`` times its scale at initialisation:

  .. math::

      s_t > B \\max(s_0, s_\\mathrm{floor}), \\qquad B = \\mathtt{GROWTH\\_BOUND} = 10^3,

  on a squared loss :math:`\\sqrt{\\ell_t} > B \\max(\\sqrt{\\ell_0}, s_\\mathrm{floor})`, i.e.
  a loss :math:`10^6` times its initial value. :math:`s_\\mathrm{floor}` (default 1) is the scale
  of the targets: a network whose outputs start near 0 (muP's :math:`n^{-1/2}` readout, a
  zero-initialised head) may grow them to the targets' size without being called diverged.

Why :math:`10^3`: stable training moves the outputs from their initial size to the targets'
size, an :math:`O(1)` factor above the floor; the largest growth a check must *measure*, not
discard, is an unstable regime's (SP at a fixed learning rate, MLP widths 128..1024, 3 SGD
steps: 18x) and a catapult phase (loss up 10-100x, RMS 3-10x). Runs that have blown up are far
beyond: Adam at lr = 10 on a muP MLP reaches :math:`5 \\times 10^3`-:math:`5 \\times 10^5`
times its initial output RMS in 3 steps. The bound sits about two decades from both.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: A run's output size may grow at most this factor over its initial scale (module docstring).
GROWTH_BOUND = 1e3
#: The targets' scale: sizes below it at initialisation count as this (module docstring).
SIZE_FLOOR = 1.0


def rms_per_step(x: ArrayLike) -> np.ndarray:
    """RMS over every axis but the leading (time) one; NaN/inf propagate."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.mean(np.square(x.reshape(x.shape[0], -1)), axis=1))


def grown_beyond(
    size: ArrayLike,
    initial: ArrayLike,
    *,
    floor: float = SIZE_FLOOR,
    bound: float = GROWTH_BOUND,
) -> np.ndarray:
    """Elementwise: ``size`` is non-finite or exceeds ``bound * max(initial, floor)``."""
    size = np.asarray(size, dtype=np.float64)
    scale = np.maximum(np.nan_to_num(np.asarray(initial, dtype=np.float64), nan=0.0), floor)
    with np.errstate(over="ignore", invalid="ignore"):
        return ~np.isfinite(size) | (size > bound * scale)


def first_divergence(
    sizes: ArrayLike,
    *finite: ArrayLike,
    initial: float | None = None,
    floor: float = SIZE_FLOOR,
    bound: float = GROWTH_BOUND,
) -> int:
    """First step (leading axis) at which a run diverged, or -1 (module docstring).

    Args:
        sizes: ``(T,)`` the run's output size per step (an RMS); ``sizes[0]`` is the size at
            initialisation unless ``initial`` is given.
        finite: further arrays with leading axis ``T`` that must stay finite.
        initial: the size at initialisation (e.g. the targets' RMS for an error signal).
    """
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1)
    ref = sizes[0] if initial is None else initial
    bad = grown_beyond(sizes, ref, floor=floor, bound=bound)
    for a in finite:
        a = np.asarray(a)
        bad = bad | ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else -1


def blown_up(
    x: ArrayLike, reference: ArrayLike, *, floor: float = SIZE_FLOOR, bound: float = GROWTH_BOUND
) -> bool:
    """Whether a trajectory ``x`` (time first) diverged at some step, against the size of
    ``reference`` at initialisation (e.g. the error signal against the targets ``y``)."""
    ref = float(np.sqrt(np.mean(np.square(np.asarray(reference, dtype=np.float64)))))
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim < 2 else x
    return first_divergence(rms_per_step(x), initial=ref, floor=floor, bound=bound) >= 0
