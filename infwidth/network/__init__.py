"""The shared network model: layers and activations, each one object with all three semantics.

A layer (:class:`Dense`, :class:`Activation`, :class:`LayerNorm`, :class:`Residual`,
:class:`Conv`, :class:`GlobalAvgPool`, :class:`Flatten`, composed by :func:`serial`) carries its
finite-width ``init``/``apply`` (neural-tangents' convention) and its infinite-width kernel map
``__call__(KernelState) -> KernelState``. An activation (:data:`ACTIVATIONS`,
:func:`get_activation`) also carries ``phi``, ``phi'``, ``phi''`` for the DMFT single-site
process and its Gaussian expectation maps for the kernel engine. The engines
(:mod:`infwidth.kernels`, :mod:`infwidth.dmft`, :mod:`infwidth.sim`) read them from here; this
package imports none of them.

Example: the NNGP map of ``tanh`` and a finite network from the same layers::

    >>> import jax, jax.numpy as jnp
    >>> from infwidth.network import Activation, Dense, get_activation, serial
    >>> net = serial(Dense(1.5, 0.1, out_dim=64), Activation("tanh"), Dense(1.5, 0.1, out_dim=1))
    >>> shape, params = net.init(jax.random.PRNGKey(0), (3, 4))
    >>> net.apply(params, jnp.ones((3, 4))).shape
    (3, 1)
    >>> round(float(get_activation("tanh").var(1.0)), 4)  # E[tanh(u)^2], u ~ N(0, 1)
    0.3943
"""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import Activation as Activation
from ._activations import get_activation as get_activation
from ._conv import Conv as Conv
from ._conv import Flatten as Flatten
from ._conv import GlobalAvgPool as GlobalAvgPool
from ._conv import spatial_input_state as spatial_input_state
from ._layers import Dense as Dense
from ._layers import KernelState as KernelState
from ._layers import LayerNorm as LayerNorm
from ._layers import Residual as Residual
from ._layers import Serial as Serial
from ._layers import input_state as input_state
from ._layers import output_kernels as output_kernels
from ._layers import pair_vars as pair_vars
from ._layers import serial as serial
