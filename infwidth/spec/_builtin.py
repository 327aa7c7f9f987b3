"""Built-in architectures as network specifications.

Finite dimensions are kept symbolic (``d_in``, ``d_out``, ``V``, ``T``, ``H``) so that the
derived tables read like the papers' ("1/fan_in"), and only ``n`` scales.
"""

from __future__ import annotations

from ..errors import SpecError
from ._fans import fan_str, parse_fan
from ._network import NetworkSpec, OperationSpec, TensorSpec, make_tensor

ARCHITECTURES = ("mlp", "resmlp", "transformer", "cnn")

#: Built-ins with extra scaling axes, registered by ``_extended.py`` (name -> maker).
EXTRA_MAKERS: dict = {}


def mlp(depth: int = 2, *, bias: bool = False) -> NetworkSpec:
    """An MLP with ``depth`` hidden layers (TP4's L): W1 (input), W2..WL (hidden), W_{L+1}.

    .. math:: h^1 = W^1 x + b^1,\\quad h^{l+1} = W^{l+1}\\phi(h^l) + b^{l+1},\\quad
              f = W^{L+1}\\phi(h^L) + b^{L+1}
    """
    _check_depth(depth)
    ts = _biased(bias, make_tensor("W1", "d_in", "n", "input"), "b1")
    for l in range(2, depth + 1):
        ts += _biased(bias, make_tensor(f"W{l}", "n", "n", "hidden"), f"b{l}")
    ts += _biased(bias, make_tensor(f"W{depth + 1}", "n", "d_out", "output"), f"b{depth + 1}")
    return NetworkSpec("mlp", tuple(ts))


def resmlp(*, bias: bool = False) -> NetworkSpec:
    """A residual MLP: h^{l+1} = h^l + L^{-alpha} W^{l,2} phi(W^{l,1} h^l), l = 1..L.

    The two branch tensors stand for all ``L`` blocks; their depth exponents (branch
    multiplier ``L^{-alpha}``, learning rate) are derived with the width exponents.
    """
    ts = _biased(bias, make_tensor("W_in", "d_in", "n", "input"), "b_in")
    ts += _biased(bias, make_tensor("block.fc1", "n", "n", "hidden", branch="block"), "block.b1")
    ts += _biased(bias, make_tensor("block.fc2", "n", "n", "hidden", branch="block"), "block.b2")
    ts += _biased(bias, make_tensor("W_out", "n", "d_out", "output"), "b_out")
    return NetworkSpec("resmlp", tuple(ts))


def transformer(*, ffn_ratio: int = 4, tied: bool = False) -> NetworkSpec:
    """A pre-LayerNorm decoder-only transformer with ``H`` heads of size ``d_head = n/H``.

    Tensors: token and position embeddings, per-block LayerNorm gains, q/k/v/o, FFN up
    (n -> ratio*n) and down, a final LayerNorm gain and the unembedding (optionally tied to
    the token embedding). The attention logits contract over ``d_head``.
    """
    if not isinstance(ffn_ratio, int) or ffn_ratio < 1:
        raise SpecError(f"ffn_ratio must be a positive integer, got {ffn_ratio!r}")
    up = f"{ffn_ratio}*n" if ffn_ratio != 1 else "n"
    b = "block"
    ts = [
        make_tensor("tok_emb", "V", "n", "embedding"),
        make_tensor("pos_emb", "T", "n", "position_embedding"),
        make_tensor("block.ln1", 1, "n", "layernorm_gain", branch=b),
        make_tensor("block.q", "n", "n", "attention", branch=b),
        make_tensor("block.k", "n", "n", "attention", branch=b),
        make_tensor("block.v", "n", "n", "attention", branch=b),
        make_tensor("block.o", "n", "n", "attention", branch=b),
        make_tensor("block.ln2", 1, "n", "layernorm_gain", branch=b),
        make_tensor("block.ffn_up", "n", up, "ffn", branch=b),
        make_tensor("block.ffn_down", up, "n", "ffn", branch=b),
        make_tensor("ln_f", 1, "n", "layernorm_gain"),
        make_tensor("unembed", "n", "V", "unembedding", tied_to="tok_emb" if tied else None),
    ]
    d_head = parse_fan("n/H", what="d_head")
    ops = (OperationSpec("block.attn_logits", "attention_logits", d_head, b),)
    return NetworkSpec("transformer", tuple(ts), ops)


def cnn(depth: int = 3, *, kernel_size: int = 3, bias: bool = False) -> NetworkSpec:
    """A CNN: ``depth`` k x k convolutions with ``n`` channels, global average pooling and a
    dense readout. The first convolution has fan_in ``k*k*C`` (C input channels, finite);
    the others have fan_in ``k*k*n``: hidden, by their fans alone.
    """
    _check_depth(depth)
    if not isinstance(kernel_size, int) or kernel_size < 1:
        raise SpecError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    k2 = kernel_size * kernel_size
    ts = _biased(bias, make_tensor("conv1", f"{k2}*C", "n", "conv"), "conv1.bias")
    for l in range(2, depth + 1):
        ts += _biased(bias, make_tensor(f"conv{l}", f"{k2}*n", "n", "conv"), f"conv{l}.bias")
    ts += _biased(bias, make_tensor("fc", "n", "d_out", "output"), "fc.bias")
    return NetworkSpec("cnn", tuple(ts))


def builtin(arch: str, **kwargs) -> NetworkSpec:
    """A built-in architecture by name (``mlp``, ``resmlp``, ``transformer``, ``cnn``, or one
    with extra axes: ``sparse-mlp``, ``sparse-transformer``, ``lora-mlp``,
    ``lora-transformer``, ``moe``, ``moe-growing``, ``gqa``, ``mha-heads``, ``large-vocab``;
    see ``_extended.py``)."""
    makers = {"mlp": mlp, "resmlp": resmlp, "transformer": transformer, "cnn": cnn}
    if arch in EXTRA_MAKERS:
        if kwargs:
            raise SpecError(f"{arch!r} takes no shape options ({', '.join(kwargs)})")
        return EXTRA_MAKERS[arch]()
    if arch not in makers:
        known = ", ".join((*ARCHITECTURES, *EXTRA_MAKERS))
        raise SpecError(f"unknown architecture {arch!r}; choose one of {known}")
    return makers[arch](**kwargs)


def _biased(bias: bool, weight: TensorSpec, bias_name: str) -> list[TensorSpec]:
    """``weight``, followed (``bias``) by its bias ``bias_name``: fan_in 1, the weight's fan_out
    and branch; its kind is inferred (``bias``, or ``scalar`` after a finite fan_out)."""
    if not bias:
        return [weight]
    return [weight, make_tensor(bias_name, 1, fan_str(weight.fan_out), branch=weight.branch)]


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise SpecError(f"depth must be a positive integer, got {depth!r}")
