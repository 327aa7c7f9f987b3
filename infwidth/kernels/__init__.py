"""Infinite-width kernels (NNGP and NTK) and the lazy, kernel-regime training dynamics they predict.

- Analytic kernels: :func:`mlp_kernels` (the MLP of neural-tangents'
  ``stax.serial(*[Dense, Act] * depth, Dense(1))``, ``ntk``/``standard``/``mup``),
  :func:`conv_kernels` (CNNs with global-average-pool or flatten readout), and the kernel maps
  of the shared layers of :mod:`infwidth.network` they are built from (:class:`Dense`,
  :class:`Activation`, :class:`LayerNorm`, :class:`Residual`, :class:`Conv`,
  :class:`GlobalAvgPool`, :class:`Flatten`), composed by :func:`kernels_in_blocks` (from inputs)
  or :func:`gram_kernels` (from given input kernels), all float64, in memory-bounded blocks.
- Lazy dynamics: :func:`lazy_predict` (MSE gradient flow / descent, train and test, any time),
  :func:`nngp_posterior`, :func:`learning_curves`.
- Finite width meets the limit: :func:`empirical_ntk` of a minimal local NTP/muP MLP,
  :func:`ntk_convergence` and :func:`ntk_movement` (fitted width exponents) and the figure +
  JSON of :func:`finite_width_report`.
- Files: :func:`write_kernels` (what ``infwidth kernel`` runs) on :func:`network_inputs`.

Example (``K0 = I/3``; ``Theta = K + Theta_1 E[relu' relu']``: ``1/6 + 1/6`` on the diagonal,
``1/(6 pi)`` off it)::

    >>> import numpy as np
    >>> from infwidth.kernels import mlp_kernels
    >>> k = mlp_kernels(np.eye(3), depth=1, activation="relu", W_std=1.0)
    >>> print(np.round(k.ntk, 4))
    [[0.3333 0.0531 0.0531]
     [0.0531 0.3333 0.0531]
     [0.0531 0.0531 0.3333]]
"""

from ..network import ACTIVATIONS as ACTIVATIONS
from ..network import Activation as Activation
from ..network import Dense as Dense
from ..network import KernelState as KernelState
from ..network import LayerNorm as LayerNorm
from ..network import Residual as Residual
from ..network import get_activation as get_activation
from ..network import serial as serial
from ._blocks import Kernels as Kernels
from ._blocks import gram_kernels as gram_kernels
from ._blocks import kernels_in_blocks as kernels_in_blocks
from ._conv import Conv as Conv
from ._conv import Flatten as Flatten
from ._conv import GlobalAvgPool as GlobalAvgPool
from ._conv import conv_kernels as conv_kernels
from ._conv import conv_layers as conv_layers
from ._dataset import load_inputs as load_inputs
from ._dataset import network_inputs as network_inputs
from ._dataset import write_kernels as write_kernels
from ._dynamics import LazyPrediction as LazyPrediction
from ._dynamics import LearningCurves as LearningCurves
from ._dynamics import Posterior as Posterior
from ._dynamics import lazy_predict as lazy_predict
from ._dynamics import learning_curves as learning_curves
from ._dynamics import nngp_posterior as nngp_posterior
from ._empirical import MUP as MUP
from ._empirical import NTP as NTP
from ._empirical import MLPConfig as MLPConfig
from ._empirical import SlopeFit as SlopeFit
from ._empirical import empirical_ntk as empirical_ntk
from ._empirical import fit_slope as fit_slope
from ._empirical import init_mlp as init_mlp
from ._empirical import mlp_apply as mlp_apply
from ._empirical import ntk_convergence as ntk_convergence
from ._empirical import ntk_movement as ntk_movement
from ._empirical import train_mlp as train_mlp
from ._empirical import train_trajectory as train_trajectory
from ._lazy_experiment import lazy_experiment as lazy_experiment
from ._mlp import mlp_kernels as mlp_kernels
from ._mlp import mlp_layers as mlp_layers
from ._report import finite_width_report as finite_width_report

activation_maps = get_activation  # the registry lookup under the kernel engine's older name
