"""A small pre-LayerNorm decoder-only transformer from a table.

.. math::
    h^0 &= m_{tok} E_{x_t} + m_{pos} P_t,\\\\
    h &\\leftarrow h + \\beta_L\\, m_o\\,\\mathrm{Attn}(g_1 \\odot \\mathrm{LN}(h))\\,W_o,\\qquad
    \\mathrm{logits}_{ts} = \\tau\\, q_t\\cdot k_s \\ (\\text{causal}),\\\\
    h &\\leftarrow h + \\beta_L\\, m_{down}\\,\\mathrm{gelu}(m_{up}\\,
        g_2\\odot\\mathrm{LN}(h)\\,W_{up})\\,W_{down},\\\\
    f &= m_{unembed}\\,(g_f\\odot\\mathrm{LN}(h))\\,U,

with ``H`` heads of size ``d_head = n / H``, the logit scale ``tau`` and the branch multiplier
``beta_L`` read from the table (so muP's ``1/d_head`` comes from the derivation). LayerNorm
gains start at the constant ``sigma_g`` (1 at the base width in the no-multiplier gauge).
``U`` is the token embedding transposed when the table ties them. The FFN's GELU is the
layer library's exact :math:`x\\,\\Phi(x)` (``infwidth.network``, as nanoGPT's ``nn.GELU``); its
tanh approximation (``jax.nn.gelu``'s default) made XLA's CPU backward 1.4x (width 128, 256
tokens) to 2.4x (4096 tokens) slower per training step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr

from ..errors import InfwidthError
from ..network import get_activation
from ._core import Model, Params, normal_init
from ._scaling import Scaling

_GELU = get_activation("gelu").phi


def _ln(h: jax.Array) -> jax.Array:
    mu = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean((h - mu) ** 2, axis=-1, keepdims=True)
    return (h - mu) * jax.lax.rsqrt(var + 1e-5)


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean next-token cross entropy."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[..., None], axis=-1))


def transformer_model(
    s: Scaling,
    *,
    names: tuple[str, ...],
    dims: Mapping[str, int],
    phi: Any,
    dtype: Any,
    tied: Mapping[str, str] | None = None,
) -> Model:
    """Build the transformer (``phi`` is ignored: the FFN uses GELU)."""
    del phi
    n, L, V, T, H = s.width, s.depth, dims["V"], dims["T"], dims["H"]
    ratio = int(dims.get("ffn_ratio", 4))
    if n % H:
        raise InfwidthError(f"width {n} is not divisible by the number of heads H={H}")
    tied = dict(tied or {})
    untied_unembed = "unembed" not in tied
    shapes = {
        "tok_emb": (V, n),
        "pos_emb": (T, n),
        "block.q": (L, n, n),
        "block.k": (L, n, n),
        "block.v": (L, n, n),
        "block.o": (L, n, n),
        "block.ffn_up": (L, n, ratio * n),
        "block.ffn_down": (L, ratio * n, n),
    }
    if untied_unembed:
        shapes["unembed"] = (n, V)
    gains = {"block.ln1": (L, n), "block.ln2": (L, n), "ln_f": (n,)}
    missing = set(shapes) - set(names) | set(gains) - set(names)
    if missing:
        raise InfwidthError(f"the transformer table lacks tensor(s) {', '.join(sorted(missing))}")
    m, beta = s.multiplier, s.branch_multiplier.get("block", 1.0)
    tau = next(iter(s.operation_multiplier.values()), (n // H) ** -0.5)

    def init(key: jax.Array) -> Params:
        params = normal_init(key, shapes, s.init_std, dtype)
        params.update({g: jnp.full(sh, s.init_std[g], dtype) for g, sh in gains.items()})
        return params

    def apply(params: Params, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        B, t = x.shape
        h = m["tok_emb"] * params["tok_emb"][x] + m["pos_emb"] * params["pos_emb"][:t]
        mask = jnp.tril(jnp.ones((t, t), bool))

        def body(h, blk):
            f = {}
            a = f["block.ln1"] = m["block.ln1"] * blk["block.ln1"] * _ln(h)
            qkv = []
            for name in ("block.q", "block.k", "block.v"):
                f[name] = m[name] * (a @ blk[name])
                qkv.append(f[name].reshape(B, t, H, n // H))
            logits = tau * jnp.einsum("bthd,bshd->bhts", qkv[0], qkv[1])
            logits = jnp.where(mask, logits, -jnp.inf)
            att = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(logits, -1), qkv[2])
            f["block.o"] = m["block.o"] * (att.reshape(B, t, n) @ blk["block.o"])
            h = h + beta * f["block.o"]
            a = f["block.ln2"] = m["block.ln2"] * blk["block.ln2"] * _ln(h)
            f["block.ffn_up"] = m["block.ffn_up"] * (a @ blk["block.ffn_up"])
            u = _GELU(f["block.ffn_up"])
            f["block.ffn_down"] = m["block.ffn_down"] * (u @ blk["block.ffn_down"])
            return h + beta * f["block.ffn_down"], f

        blocks = {k: v for k, v in params.items() if k.startswith("block.")}
        emb = h
        h, feats = jax.lax.scan(body, h, blocks)
        a = m["ln_f"] * params["ln_f"] * _ln(h)
        U = params["unembed"] if untied_unembed else params[tied["unembed"]].T
        out = m["unembed"] * (a @ U)
        return out, {"tok_emb": emb, **feats, "ln_f": a}

    def batch(key: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
        kx, ky = jr.split(key)
        return jr.randint(kx, (size, T), 0, V), jr.randint(ky, (size, T), 0, V)

    stacked = frozenset(k for k in (*shapes, *gains) if k.startswith("block."))
    return Model(init, apply, cross_entropy, batch, s, stacked, ("unembed",), "transformer")
