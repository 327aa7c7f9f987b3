"""Gaussian initial weights from XLA's native counter-based generator.

Drawing the initial weights is the one cost of a coordinate check that no matmul bound counts:
``5 x 8192^2`` normals take 4.3-6 s with :func:`jax.random.normal` on a 2-core CPU, because
JAX builds its Threefry-2x32 hash out of XLA operations. XLA's own ``RngBitGenerator`` runs
the same Threefry-2x32 hash as one native kernel, 4x faster (1.0 s for the bits).

:func:`normal` turns its bits into normals exactly as :func:`jax.random.normal` does: a
uniform :math:`u \\in (-1, 1)` from the mantissa bits, then :math:`\\sqrt2\\,\\mathrm{erf}^{-1}(u)`.

Under :func:`jax.vmap` over keys, ``lax.rng_bit_generator``'s own batching rule would draw
every batch member from the *first* key. :func:`normal` carries its own rule (one generator
call per key: unrolled for a few keys, 1.5 s against 2.1 s through :func:`jax.lax.map` for
``5 x 8192^2``), so a vmapped call returns, member by member, what unbatched calls with the
same keys return.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import lax
from jax.custom_batching import custom_vmap

_UINT = {4: jnp.uint32, 8: jnp.uint64}
_MANTISSA = {4: 23, 8: 52}
_UNROLL = 8  # vmapped draws: up to this many members unrolled, more through lax.map


@functools.cache
def _sampler(shape: tuple[int, ...], dtype: Any) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``(words, std) -> std * N(0, 1)`` of ``shape``; ``words``: the generator's 4 uint32
    key words. Scaling inside the kernel saves a pass over the drawn matrix."""
    dt = jnp.dtype(dtype)
    size = dt.itemsize
    uint = _UINT[size]

    def draw(words: jax.Array, std: jax.Array) -> jax.Array:
        _, bits = lax.rng_bit_generator(
            words, shape, uint, algorithm=lax.RandomAlgorithm.RNG_THREE_FRY
        )
        one = lax.bitcast_convert_type(jnp.array(1.0, dt), uint)
        mantissa = bits >> jnp.array(8 * size - _MANTISSA[size], uint)
        f = lax.bitcast_convert_type(mantissa | one, dt) - jnp.array(1.0, dt)  # [0, 1)
        lo = jnp.nextafter(jnp.array(-1.0, dt), jnp.array(1.0, dt))
        u = lax.max(lo, f * (1 - lo) + lo)  # (-1, 1), as jax.random.normal
        return (std * 2.0**0.5).astype(dt) * lax.erf_inv(u)

    @custom_vmap
    def sample(words: jax.Array, std: jax.Array) -> jax.Array:
        return draw(words, std)

    @sample.def_vmap
    def _batched(axis_size: int, in_batched: list[bool], words: jax.Array, std: jax.Array):
        if not any(in_batched):
            return sample(words, std), False
        words, std = (
            a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
            for a, b in zip((words, std), in_batched, strict=True)
        )
        if axis_size <= _UNROLL:  # one generator call per member, written in place: faster
            return jnp.stack([sample(words[i], std[i]) for i in range(axis_size)]), True
        return lax.map(lambda a: sample(*a), (words, std)), True

    return sample


def _words(key: jax.Array) -> jax.Array:
    """The generator's state: the key's own 64 bits (``jr.split`` output, already hashed) and
    a zero counter. No hashing here, which also keeps the compiled program small."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jr.key_data(key)
    data = key.reshape(-1).astype(jnp.uint32)
    return jnp.pad(data, (0, max(0, 4 - data.shape[0])))[:4]  # zero-padded to 4 words


def normal(
    key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32, std: Any = 1.0
) -> jax.Array:
    """Normals :math:`N(0, \\mathrm{std}^2)` of ``shape`` from ``key`` (a JAX PRNG key), via
    XLA's native Threefry-2x32 bit generator; deterministic on a given backend."""
    words = _words(key)
    sample = _sampler(tuple(int(d) for d in shape), jnp.dtype(dtype).name)
    return sample(words, jnp.asarray(std, dtype))
