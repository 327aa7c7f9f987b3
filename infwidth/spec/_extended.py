"""Built-in networks with scaling axes besides the width: sparse, LoRA, mixture of experts.

Each is plain data (fans, densities, token fractions, zero-init / frozen / feeds flags and the
declared axes); nothing in the solver knows these names.

* ``sparse-mlp``, ``sparse-transformer``: a static random mask of density ``rho`` (axis
  ``rho``, shrinks) on the hidden projections (the transformer: its FFN); embeddings, gains
  and readout stay dense (SμPar, Dey, Bergsma, Hestness 2024).
* ``lora-mlp``, ``lora-transformer``: a frozen base; trainable ``B A`` adapters (``A``:
  ``n -> r`` random, ``B``: ``r -> n`` zero-initialised) on the hidden layer (the MLP) or on
  the attention's ``q`` and ``v`` (the transformer); axis ``r`` (rank, grows). LoRA (Hu et
  al. 2021), LoRA+ (Hayou, Ghosh, Yu 2024).
* ``moe``, ``moe-growing``: a transformer whose FFN is routed to ``E`` experts, top-``k``: a
  router ``n -> E`` and expert FFNs that each see a fraction ``k/E`` of the tokens (written
  ``1/E``: the fixed ``k`` changes no exponent). ``moe``
  keeps ``E`` finite in width (the router is an output-like weight) and declares ``E`` as an
  axis (grows); ``moe-growing`` ties ``E`` to the width (``E = n``: the router is hidden).
* ``gqa``: grouped-query attention (Ainslie et al. 2023; GQA-μP, arXiv 2605.15290): ``H``
  query heads share ``H/g`` key/value heads, so ``k`` and ``v`` map ``n -> n/g`` (axis ``g``,
  the query heads per K/V head, grows). A shared K/V head is read by ``g`` query heads: its
  gradient sums ``g`` (token, reader) pairs where an unshared one sums one, declared as the
  tensor's ``tokens`` count ``g`` (the same property as a routed expert's ``1/E``).
* ``mha-heads``: multi-head attention with ``H`` heads of size ``N`` as two axes (Bordelon,
  Chaudhry, Pehlevan 2024): ``d_model = H N``, the width ``n`` *is* the head size ``N`` (the
  ``width`` section: more head size at fixed heads) and ``H`` is a declared axis (grows: more
  heads of fixed size). The attention logits contract over the head size only.
* ``large-vocab``: the transformer with its vocabulary ``V`` as an axis (grows, as fast as
  one likes relative to the width: a rule for ``V = n^k`` adds ``k`` times the ``V``
  exponent to the width's). The token embedding's input is one-hot: its forward sum has one
  non-zero term of ``V`` (declared as the density ``1/V`` of that contraction); a row of the
  embedding or the unembedding gets gradient from the ``~1/V`` of the tokens that are (or
  target) its token (``tokens``: ``1/V``, uniform token frequencies).
"""

from __future__ import annotations

import dataclasses

from ._builtin import EXTRA_MAKERS, mlp, transformer
from ._fans import fan_str, parse_fan, width_exponent
from ._network import NetworkSpec, TensorSpec, make_tensor

EXTENDED = (
    "sparse-mlp",
    "sparse-transformer",
    "lora-mlp",
    "lora-transformer",
    "moe",
    "moe-growing",
    "gqa",
    "mha-heads",
    "large-vocab",
)


def _with(
    net: NetworkSpec, name: str, tensors: list[TensorSpec], axes: dict[str, str]
) -> NetworkSpec:
    return dataclasses.replace(net, name=name, tensors=tuple(tensors), axes=tuple(axes.items()))


def _edited(
    base: NetworkSpec, name: str, edits: dict[str, dict], axes: dict[str, str]
) -> NetworkSpec:
    """``base`` with the fields ``edits[t.name]`` replaced in each tensor ``t`` it names."""
    ts = [dataclasses.replace(t, **edits.get(t.name, {})) for t in base.tensors]
    return _with(base, name, ts, axes)


def _masked(base: NetworkSpec, name: str, masked) -> NetworkSpec:
    """``base`` with the tensors ``masked(t)`` selects masked with density ``rho``."""
    ts = [dataclasses.replace(t, density=_parse("rho")) if masked(t) else t for t in base.tensors]
    return _with(base, name, ts, {"rho": "shrinks"})


def sparse_mlp(depth: int = 2) -> NetworkSpec:
    """An MLP whose hidden layers are masked with density ``rho``."""
    return _masked(mlp(depth), "sparse-mlp", lambda t: t.role == "hidden")


def sparse_transformer() -> NetworkSpec:
    """The transformer with its FFN (up and down projections) masked with density ``rho``."""
    return _masked(transformer(), "sparse-transformer", lambda t: t.kind == "ffn")


def _adapter(on: str, branch: str | None = None) -> list[TensorSpec]:
    return [
        make_tensor(f"{on}.lora_A", "n", "r", "adapter", branch=branch, feeds=f"{on}.lora_B"),
        make_tensor(f"{on}.lora_B", "r", "n", "adapter", branch=branch, init="zero"),
    ]


def _frozen(t: TensorSpec) -> TensorSpec:
    return dataclasses.replace(t, frozen=True)


def lora_mlp() -> NetworkSpec:
    """A frozen MLP with a LoRA adapter on its hidden layer ``W2``."""
    base = mlp(2)
    ts = [_frozen(t) for t in base.tensors]
    ts[2:2] = _adapter("W2")
    return _with(base, "lora-mlp", ts, {"r": "grows"})


def lora_transformer() -> NetworkSpec:
    """A frozen transformer with LoRA adapters on every block's ``q`` and ``v``."""
    base = transformer()
    ts: list[TensorSpec] = []
    for t in base.tensors:
        ts.append(_frozen(t))
        if t.name in ("block.q", "block.v"):
            ts += _adapter(t.name, t.branch)
    return _with(base, "lora-transformer", ts, {"r": "grows"})


def moe(growing: bool = False) -> NetworkSpec:
    """The transformer with a routed FFN: a router ``n -> E`` and experts (up/down) that each
    see a fraction ``k/E`` of the tokens (``1/E`` up to the fixed ``k``). ``growing``: ``E = n`` (experts grow with width)."""
    base = transformer()
    experts = "n" if growing else "E"
    ts: list[TensorSpec] = []
    for t in base.tensors:
        if t.name == "block.ffn_up":
            ts.append(make_tensor("block.router", "n", experts, "router", branch=t.branch))
        if t.kind == "ffn":  # block.ffn_up / ffn_down -> block.expert_up / expert_down
            t = make_tensor(
                t.name.replace("ffn", "expert"), fan_str(t.fan_in), fan_str(t.fan_out), "expert",
                branch=t.branch, tokens=f"1/{experts}",
            )  # fmt: skip
        ts.append(t)
    name = "moe-growing" if growing else "moe"
    return _with(base, name, ts, {} if growing else {"E": "grows"})


def gqa() -> NetworkSpec:
    """The transformer with grouped-query attention: ``k`` and ``v`` map ``n -> n/g`` and each
    K/V head is read by ``g`` query heads (``tokens``: ``g``)."""
    kv = {"fan_out": _parse("n/g"), "tokens": _parse("g")}
    return _edited(transformer(), "gqa", {"block.k": kv, "block.v": kv}, {"g": "grows"})


def mha_heads() -> NetworkSpec:
    """The transformer with ``d_model = H n``: ``H`` heads (axis, grows) of size ``n``."""
    base = transformer()
    heads = _parse("H")

    def scaled(fan):  # n -> H n in a monomial C n^k: times H^k
        return fan * heads ** width_exponent(fan)

    ts = [
        dataclasses.replace(t, fan_in=scaled(t.fan_in), fan_out=scaled(t.fan_out))
        for t in base.tensors
    ]
    ops = tuple(dataclasses.replace(o, contracted=_parse("n")) for o in base.operations)
    net = _with(base, "mha-heads", ts, {"H": "grows"})
    return dataclasses.replace(net, operations=ops)


def large_vocab() -> NetworkSpec:
    """The transformer with its vocabulary ``V`` as an axis: a one-hot embedding (one term of
    ``V`` in its forward sum) and embedding/unembedding rows reached by ``1/V`` of the tokens."""
    v = _parse("1/V")
    edits = {"tok_emb": {"density": v, "tokens": v}, "unembed": {"tokens": v}}
    return _edited(transformer(), "large-vocab", edits, {"V": "grows"})


EXTRA_MAKERS.update(
    {
        "sparse-mlp": sparse_mlp,
        "sparse-transformer": sparse_transformer,
        "lora-mlp": lora_mlp,
        "lora-transformer": lora_transformer,
        "moe": moe,
        "moe-growing": lambda: moe(growing=True),
        "gqa": gqa,
        "mha-heads": mha_heads,
        "large-vocab": large_vocab,
    }
)


def _parse(text: str):
    return parse_fan(text, what="density")
