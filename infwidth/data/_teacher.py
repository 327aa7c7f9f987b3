"""A seeded synthetic teacher-student regression task."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InfwidthError

__all__ = ["TeacherStudent", "teacher_student"]


class TeacherStudent(NamedTuple):
    """Train/test inputs (n, d) and targets (n,), and the teacher's weights."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    teacher: tuple[np.ndarray, np.ndarray]


def teacher_student(
    n_train: int,
    n_test: int = 0,
    *,
    input_dim: int = 8,
    teacher_width: int = 4,
    noise: float = 0.0,
    seed: int = 0,
) -> TeacherStudent:
    """Inputs ``x ~ N(0, I_d)`` and targets from a random one-hidden-layer tanh teacher,

    .. math::

        y = \\frac{1}{\\sqrt k} \\sum_{j=1}^{k} a_j \\tanh\\Big(\\frac{w_j \\cdot x}{\\sqrt d}\\Big)
            + \\sigma \\varepsilon,

    ``w_j ~ N(0, I_d)``, ``a_j ~ N(0, 1)``, ``eps ~ N(0, 1)`` on the training targets only
    (``k = teacher_width``, ``sigma = noise``). Everything derives from ``seed``.
    """
    if min(n_train, input_dim, teacher_width) < 1 or n_test < 0 or noise < 0:
        raise InfwidthError(
            "teacher_student needs n_train, input_dim, teacher_width >= 1, "
            "n_test >= 0 and noise >= 0"
        )
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((input_dim, teacher_width))
    a = rng.standard_normal(teacher_width)
    x = rng.standard_normal((n_train + n_test, input_dim))
    y = np.tanh(x @ w / np.sqrt(input_dim)) @ a / np.sqrt(teacher_width)
    y_train = y[:n_train] + noise * rng.standard_normal(n_train)
    return TeacherStudent(x[:n_train], y_train, x[n_train:], y[n_train:], (w, a))
