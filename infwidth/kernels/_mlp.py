"""Infinite-width NNGP and NTK of fully connected networks (the public ``mlp_kernels``)."""

from __future__ import annotations

import numpy as np

from .. import _validate as valid
from ..errors import InfwidthError
from ..network import Dense, get_activation
from ._blocks import DEFAULT_BLOCK, Kernels, check_inputs, kernels_in_blocks

__all__ = ["mlp_kernels", "mlp_layers"]

PARAMETERIZATIONS = ("ntk", "standard", "mup")


def mlp_layers(
    input_dim: int,
    *,
    depth: int,
    activation: str,
    W_std: float = 1.0,
    b_std: float = 0.0,
    parameterization: str = "ntk",
    width: int | None = None,
) -> tuple:
    """The layers of ``[Dense(width), Act()] * depth + [Dense(1)]`` (:mod:`infwidth.network`).

    Their kernel maps give :func:`mlp_kernels`; with ``width`` they are also the finite network
    (``serial(*layers).init/apply``), and ``width`` enters the standard parametrization's NTK.
    """
    if parameterization not in PARAMETERIZATIONS:
        raise InfwidthError(
            f"unknown parameterization {parameterization!r}; choose 'ntk', 'standard' or 'mup'"
        )
    depth = valid.nonnegative_int("depth", depth)
    W_std, b_std = valid.positive("W_std", W_std), valid.nonnegative("b_std", b_std)
    if width is not None:
        width = valid.positive_int("width", width)
    act = get_activation(activation)  # validates the name
    has_bias = b_std > 0
    layers = []
    for layer in range(depth + 1):
        if width is None:  # the limit Theta / width: first layer and biases drop out
            fan_in, bias_grad = (0.0 if layer == 0 else 1.0), 0.0
        else:
            fan_in, bias_grad = float(input_dim if layer == 0 else width), float(has_bias)
        out_dim = None if width is None else (width if layer < depth else 1)
        layers.append(
            Dense(float(W_std), float(b_std), parameterization, fan_in, bias_grad, out_dim)
        )
        if layer < depth:
            layers.append(act)
    return tuple(layers)


def mlp_kernels(
    x1,
    x2=None,
    *,
    depth: int,
    activation: str,
    W_std: float = 1.0,
    b_std: float = 0.0,
    parameterization: str = "ntk",
    width: int | None = None,
    block_size: int = DEFAULT_BLOCK,
) -> Kernels:
    """Infinite-width NNGP and NTK of an MLP, exactly as neural-tangents 0.6.5 computes them for

    ``stax.serial(*[Dense(w, W_std, b_std, parameterization=p), Act()] * depth,
    Dense(1, W_std, b_std, parameterization=p))`` (``b_std=0`` here is ``b_std=None`` there).

    Recursion (``d`` = input dimension, ``K0 = x.x'/d``, ``Theta0 = 0``), for each ``Dense``:

    .. math::

        K_{l+1} = W_{std}^2\\, E[\\phi(u)\\phi(v)] + b_{std}^2, \\qquad
        \\Theta_{l+1} = K_{l+1} + W_{std}^2\\, \\Theta_l\\, E[\\phi'(u)\\phi'(v)]
        \\quad(\\text{ntk}),

    with ``(u, v) ~ N(0, K_l)`` (``phi`` = identity before the first layer). Under
    ``parameterization="standard"`` the NNGP is the same and
    ``Theta_{l+1} = n_l E[phi phi] + W_std^2 Theta_l E[phi' phi'] + 1[bias]`` with ``n_0 = d``,
    ``n_l = width``: the standard NTK grows linearly with the width, so it needs ``width`` to
    match neural-tangents. With ``width=None`` (default) it returns the finite limit
    ``Theta / width`` as ``width -> inf`` (first-layer weights and biases drop out; this is the
    kernel of standard-parametrized SGD with learning rate ``~ 1/width``, Sohl-Dickstein et al.
    2020). ``width`` is ignored under ``"ntk"``.

    ``parameterization="mup"`` gives the infinite-width kernels *at initialisation* of muP in the
    abc gauge of :mod:`._empirical` (``a = (-1/2, 0, 1/2)``, ``b = (1/2, 1/2, 1/2)``, SGD). They
    differ from NTP's only in the NNGP of the output, which vanishes (the readout's variance is
    ``~ 1/n``); the hidden NNGPs are identical and so is the NTK, since muP's smaller readout
    (``n^-1/2``) exactly offsets its larger hidden/input multipliers (``n^1/2``) in every
    gradient. Not a kernel regime: under muP the NTK then moves by ``Theta(1)``
    (:func:`~infwidth.kernels.ntk_movement`).

    Args:
        x1: inputs, shape ``(n1, d)``.
        x2: inputs, shape ``(n2, d)``; ``None`` means ``x1`` (the result is then exactly
            symmetric).
        depth: number of hidden layers ``L`` (``L = 0`` is a linear model).
        activation: a name in :data:`infwidth.network.ACTIVATIONS`: ``"linear"``, ``"relu"``,
            ``"erf"`` (closed forms), ``"tanh"``, ``"gelu"``, ``"silu"`` (quadrature;
            absolute error ``< 1e-12`` per layer for variances ``<= 4``, see
            :mod:`infwidth.network._quadrature`).
        W_std, b_std: neural-tangents' weight and bias standard deviations.
        parameterization: ``"ntk"``, ``"standard"`` (neural-tangents) or ``"mup"`` (above).
        width: hidden width, for the standard NTK only.
        block_size: pairs are processed in ``block_size^2`` blocks (memory bound in
            :mod:`._blocks`).

    Returns:
        ``Kernels(nngp, ntk)``, float64 arrays of shape ``(n1, n2)``.

    Raises:
        InfwidthError: non-finite or mis-shaped inputs, unknown activation or parameterization.
    """
    a, _ = check_inputs(x1, x2)
    mup = parameterization == "mup"
    layers = mlp_layers(
        a.shape[1],
        depth=depth,
        activation=activation,
        W_std=W_std,
        b_std=b_std,
        parameterization="ntk" if mup else parameterization,
        width=width,
    )
    k = kernels_in_blocks(layers, x1, x2, block_size)
    return Kernels(np.zeros_like(k.nngp), k.ntk) if mup else k
