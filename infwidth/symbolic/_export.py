"""Export a derived transformer table to the muP settings of the frameworks people train in.

What each framework does was read from its own source (public repositories, read through the
project's code search; paths relative to each repository):

* **nanoGPT-mup** (``EleutherAI/nanoGPT-mup``, ``model.py``): ``GPTConfig`` fields
  ``mup_enabled``, ``mup_width_multiplier`` (= width / base_width), ``mup_input_alpha``,
  ``mup_output_alpha``, ``mup_disable_attention_scaling``, ``mup_disable_hidden_lr_scaling``.
  Hidden init std / sqrt(m), hidden Adam lr / m, tied unembedding input ``x *= alpha/m``,
  attention ``1/d_head``, Adam eps / m for every group; hidden ``weight_decay`` *unscaled*
  on its muP path (its CompleteP path multiplies it by m).
* **Megatron-LM** (``docs/.../scaling recipes``, ``tests/unit_tests/test_mup.py``, PR #3058):
  ``--scaling-recipe mup --scaling-base-hidden-size N0 [--scaling-base-head-dim]`` (legacy
  aliases ``--use-mup``, ``--mup-base-hidden-size``, ``--mup-base-head-dim``; ``--mup-width-mult``
  is derived, hidden/base); tuning knobs ``--mup-embedding-mult``, ``--mup-output-mult``
  (1.0 means 1/width_mult), ``--mup-attn-scale-power``. Init std / sqrt(width_mult), hidden lr
  overrides / width_mult; we read ``--mup-attn-scale-power p`` as logits / head_dim**p (as
  Jais/BTLM's ``attn_scale_power``). Its Adam-epsilon handling was not found: not exported.
* **Hugging Face** ``config.json`` muP fields of the Cerebras BTLM / Jais models:
  ``mup_width_scale`` (= base_width / width), ``mup_embeddings_scale``, ``mup_output_alpha``,
  ``mup_scale_qk_dot_by_d`` (attention 1/d instead of 1/sqrt(d)); logits are multiplied by
  ``mup_output_alpha * mup_width_scale``, hidden init variance and Adam lr by
  ``mup_width_scale``; the model card's AdamW keeps ``eps=1e-8`` unscaled.
* **OLMo-core** (``allenai/OLMo-core``, ``src/olmo_core/nn/parametrization/config.py``):
  ``ParametrizationConfig(name="mup", optimizer="adam"|"adam_coupled_wd",
  scaling_strategy="constant_inputs"|"constant_lr"|"constant_init_std",
  width_hyperparams={d_model, hidden_size, n_heads, n_kv_heads, head_dim},
  base_model_width_hyperparams={...})``; ``constant_inputs`` is TP5 Table 3 (no multipliers)
  and, per its docstring, not compatible with weight tying.

Each export returns the framework's fields at the width ratio :math:`\\rho = n/n_0` and the
exponents the framework *implies* per role (embedding, hidden, output, attention); they are
compared with the table through the gauge invariants :math:`F = e_{var} + 2e_{mult}`,
:math:`U = e_{lr} + e_{mult}` (Adam), :math:`E = e_\\epsilon - e_{mult}`, and every
disagreement becomes a note (a smaller readout init than the table's is not one).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..errors import InfwidthError

FRAMEWORKS = ("nanogpt-mup", "megatron", "hf", "olmo-core")
F = Fraction
#: Role exponents (of the width) each framework applies: init variance, multiplier, lr, eps;
#: "decay_step" is the decoupled weight decay per step (torch AdamW: lr * weight_decay).
IMPLIED: dict[str, dict[str, dict[str, Fraction]]] = {
    "nanogpt-mup": {
        "embedding": {
            "init_variance": F(0),
            "multiplier": F(0),
            "learning_rate": F(0),
            "epsilon": F(-1),
        },
        "hidden": {
            "init_variance": F(-1),
            "multiplier": F(0),
            "learning_rate": F(-1),
            "epsilon": F(-1),
            "decay_step": F(-1),
        },
        "output": {
            "init_variance": F(0),
            "multiplier": F(-1),
            "learning_rate": F(0),
            "epsilon": F(-1),
        },
        "attention": {"multiplier": F(-1)},
    },
    "megatron": {
        "embedding": {"init_variance": F(0), "multiplier": F(0), "learning_rate": F(0)},
        "hidden": {"init_variance": F(-1), "multiplier": F(0), "learning_rate": F(-1)},
        "output": {"init_variance": F(-1), "multiplier": F(-1), "learning_rate": F(0)},
        "attention": {"multiplier": F(-1)},
    },
    "hf": {
        "embedding": {
            "init_variance": F(0),
            "multiplier": F(0),
            "learning_rate": F(0),
            "epsilon": F(0),
        },
        "hidden": {
            "init_variance": F(-1),
            "multiplier": F(0),
            "learning_rate": F(-1),
            "epsilon": F(0),
        },
        "output": {
            "init_variance": F(0),
            "multiplier": F(-1),
            "learning_rate": F(0),
            "epsilon": F(0),
        },
        "attention": {"multiplier": F(-1)},
    },
    "olmo-core": {
        "embedding": {"init_variance": F(0), "multiplier": F(0), "learning_rate": F(0)},
        "hidden": {"init_variance": F(-1), "multiplier": F(0), "learning_rate": F(-1)},
        "output": {"init_variance": F(-2), "multiplier": F(0), "learning_rate": F(-1)},
        "attention": {"multiplier": F(-1)},
    },
}
ROLE_KINDS = {
    "embedding": ("embedding",),
    "hidden": ("attention", "ffn", "hidden"),
    "output": ("unembedding", "output"),
}


def role_exponents(table: Mapping[str, Any]) -> dict[str, dict[str, Fraction]]:
    """The table's width exponents of the first tensor of each role (and the logit scale)."""
    out: dict[str, dict[str, Fraction]] = {}
    for role, kinds in ROLE_KINDS.items():
        row = next((t for t in table["tensors"] if t.get("kind") in kinds), None)
        if row is None:
            raise InfwidthError(f"--export needs a transformer table; it has no {role} tensor")
        w = {k: F(str(v)) for k, v in row["width"].items()}
        if "weight_decay" in w:
            w["decay_step"] = w.get("learning_rate", F(0)) + w["weight_decay"]
        out[role] = w
    op = next((o for o in table.get("operations", []) if o.get("kind") == "attention_logits"), None)
    out["attention"] = {"multiplier": F(str((op or {}).get("width", {}).get("multiplier", 0)))}
    return out


def _invariants(e: Mapping[str, Fraction]) -> dict[str, Fraction]:
    m = e.get("multiplier", F(0))
    inv = {}
    if "init_variance" in e:
        inv["F"] = e["init_variance"] + 2 * m
    if "learning_rate" in e:
        inv["U"] = e["learning_rate"] + m
    if "epsilon" in e:
        inv["E"] = e["epsilon"] - m
    if "decay_step" in e:
        inv["W"] = e["decay_step"]
    if set(e) == {"multiplier"}:
        inv["A"] = m
    return inv


WHAT = {
    "F": "forward scale (init variance x multiplier^2)",
    "U": "Adam update (lr x multiplier)",
    "E": "Adam epsilon relative to the gradient",
    "W": "weight decay per step",
    "A": "attention-logit scale",
}


def notes(framework: str, table: Mapping[str, Any]) -> list[str]:
    """Where ``framework``'s built-in choice differs from the derivation (module docstring)."""
    mine = role_exponents(table)
    out = []
    for role, implied in IMPLIED[framework].items():
        theirs, ours = _invariants(implied), _invariants(mine[role])
        for k, v in theirs.items():
            if k not in ours or ours[k] == v or (k == "F" and role == "output" and v < ours[k]):
                continue
            out.append(
                f"{framework}: {role} {WHAT[k]} scales as n^{v}, the derivation as n^{ours[k]}"
            )
    return out


def export(
    table: Mapping[str, Any], framework: str, *, width: int, base_width: int, heads: int = 4
) -> dict[str, Any]:
    """``framework``'s muP settings for ``table`` at ``width`` (base ``base_width``)."""
    if framework not in FRAMEWORKS:
        raise InfwidthError(
            f"unknown --export {framework!r}; choose one of {', '.join(FRAMEWORKS)}"
        )
    if width < 1 or base_width < 1:
        raise InfwidthError("--width and --base-width must be positive")
    rho = width / base_width
    r = role_exponents(table)
    # the readout's Adam update U = lr + mult carried by the multiplier (Megatron: lr unscaled)
    out_mult = rho ** float(_invariants(r["output"])["U"])
    if framework == "nanogpt-mup":
        fields = {
            "mup_enabled": True,
            "mup_width_multiplier": rho,
            "mup_input_alpha": 1.0,
            "mup_output_alpha": 1.0,
        }
    elif framework == "megatron":
        fields = {
            "--scaling-recipe": "mup",
            "--hidden-size": width,
            "--scaling-base-hidden-size": base_width,
            "--mup-output-mult": out_mult,
            "--mup-attn-scale-power": -float(r["attention"]["multiplier"]),
        }
    elif framework == "hf":
        fields = {
            "mup_width_scale": 1 / rho,
            "mup_embeddings_scale": 1.0,
            "mup_output_alpha": 1.0,
            "mup_scale_qk_dot_by_d": r["attention"]["multiplier"] == -1,
        }
    else:

        def hp(n: int) -> dict[str, int]:
            return {
                "d_model": n,
                "hidden_size": 4 * n,
                "n_heads": heads,
                "n_kv_heads": heads,
                "head_dim": n // heads,
            }

        fields = {
            "name": "mup",
            "optimizer": "adam",
            "scaling_strategy": "constant_inputs",
            "width_hyperparams": hp(width),
            "base_model_width_hyperparams": hp(base_width),
        }
    extra = []
    if framework == "olmo-core" and any(t.get("tied_to") for t in table["tensors"]):
        extra.append(
            "olmo-core: scaling_strategy constant_inputs does not support weight "
            "tying (its docstring); use constant_lr or untie the unembedding"
        )
    return {
        "framework": framework,
        "width_ratio": rho,
        "fields": fields,
        "notes": notes(framework, table) + extra,
    }
