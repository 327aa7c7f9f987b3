"""What the coordinate check measures, as pure functions of one network's state.

Per tensor ``W`` producing features ``h`` (pre-activations, over the batch and positions):

* ``activation_rms`` :math:`\\sqrt{\\mathrm{mean}\\, h_t^2}` and ``activation_mean_abs``
  :math:`\\mathrm{mean}\\,|h_t|` (the coordinate size);
* ``feature_movement_rms`` :math:`\\sqrt{\\mathrm{mean}\\,(h_t - h_0)^2}`;
* ``spectral_ratio`` :math:`\\lVert W_t - W_0\\rVert_2 / \\lVert W_0\\rVert_2` (weights with a
  matrix shape; stacked blocks: largest over blocks), by power iteration warm-started from the
  previous step's vector, so each step costs a few matrix-vector products, not an SVD;

and for the output ``f``: ``output_rms`` :math:`\\sqrt{\\mathrm{mean}\\,f_t^2}`,
``output_movement_rms`` :math:`\\sqrt{\\mathrm{mean}\\,(f_t - f_0)^2}`.
"""

from __future__ import annotations

from collections.abc import Collection

import jax
import jax.numpy as jnp
import jax.random as jr

OUTPUT = "output"


def rms(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def as_matrix(w: jax.Array, stacked: bool) -> jax.Array:
    """View ``w`` as a batch of ``(fan_in, fan_out)`` matrices (a leading block axis kept)."""
    if not stacked:
        w = w[None]
    return w.reshape(w.shape[0], -1, w.shape[-1])


def matrix_tensors(params: dict, stacked: Collection[str]) -> list[str]:
    """Names of the tensors that are matrices (spectral norms are defined for them)."""
    return sorted(k for k, v in params.items() if v.ndim - (k in stacked) >= 2)


def power_iteration(
    m: jax.Array, v: jax.Array, iters: int, *, unroll: bool = False
) -> tuple[jax.Array, jax.Array]:
    """``iters`` steps of :math:`v \\leftarrow M^\\top M v/\\lVert\\cdot\\rVert` on a batch of
    matrices; returns the largest spectral norm over the batch and the new vectors.
    ``unroll`` writes the loop out (cheaper to compile for a few iterations)."""

    def body(_, v):
        u = jnp.einsum("bij,bj->bi", m, v)
        v = jnp.einsum("bij,bi->bj", m, u)
        return v / (jnp.linalg.norm(v, axis=-1, keepdims=True) + 1e-30)

    if unroll:
        for i in range(iters):
            v = body(i, v)
    else:
        v = jax.lax.fori_loop(0, iters, body, v)
    sigma = jnp.linalg.norm(jnp.einsum("bij,bj->bi", m, v), axis=-1)
    return jnp.max(sigma), v


def init_vectors(key: jax.Array, params: dict, stacked: Collection[str]) -> dict:
    """Random unit start vectors for the power iterations, one per matrix (per block)."""
    names = matrix_tensors(params, stacked)
    keys = jr.split(key, max(len(names), 1))
    out = {}
    for k, name in zip(keys, names, strict=False):
        m = as_matrix(params[name], name in stacked)
        v = jr.normal(k, (m.shape[0], m.shape[2]), m.dtype)
        out[name] = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
    return out


def feature_metrics(feats: dict, feats0: dict) -> dict:
    """``{(tensor, quantity): scalar}`` for every feature tensor."""
    out = {}
    for name, h in feats.items():
        out[(name, "activation_rms")] = rms(h)
        out[(name, "activation_mean_abs")] = jnp.mean(jnp.abs(h))
        out[(name, "feature_movement_rms")] = rms(h - feats0[name])
    return out


def output_metrics(f: jax.Array, f0: jax.Array) -> dict:
    return {(OUTPUT, "output_rms"): rms(f), (OUTPUT, "output_movement_rms"): rms(f - f0)}
