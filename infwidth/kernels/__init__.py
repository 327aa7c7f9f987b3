"""Infinite-width kernels (NNGP and NTK) and the lazy, kernel-regime training dynamics they predict.

Layers carry their kernel maps (neural-tangents' ``stax`` idea) and are composed with
:func:`serial`; :func:`mlp_kernels` is the fully connected network most users want.
"""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import activation_maps as activation_maps
from ._blocks import Kernels as Kernels
from ._blocks import kernels_in_blocks as kernels_in_blocks
from ._dynamics import LazyPrediction as LazyPrediction
from ._dynamics import LearningCurves as LearningCurves
from ._dynamics import Posterior as Posterior
from ._dynamics import lazy_predict as lazy_predict
from ._dynamics import learning_curves as learning_curves
from ._dynamics import nngp_posterior as nngp_posterior
from ._layers import Activation as Activation
from ._layers import Dense as Dense
from ._layers import KernelState as KernelState
from ._layers import LayerNorm as LayerNorm
from ._layers import Residual as Residual
from ._layers import serial as serial
from ._mlp import mlp_kernels as mlp_kernels
from ._mlp import mlp_layers as mlp_layers
