"""The sweep's transformer settings: validated once, one line each; absent from the keys of
the mlp/resmlp points (their stores keep their keys); the memory estimate counts tokens."""

import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec
from infwidth.sweep._engine import _dims, _layers, point_config

TRANSFORMER = dict(arch="transformer", data="shakespeare", optimizer="adam", widths=(32, 64),
                   block=32, head_dim=16)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": "digits"}, "trains on token data"),
        ({"head_dim": None}, "positive integer head_dim"),
        ({"block": 0}, "positive integer block"),
        ({"widths": (32, 40)}, r"widths \[40\] are not multiples of head_dim 16"),
        ({"grad_clip": -1.0}, "grad_clip must be non-negative"),
        ({"adam_b2": 1.0}, r"adam_b2 must be in \(0, 1\)"),
    ],
)
def test_bad_transformer_settings_are_one_line(change, message):
    with pytest.raises(InfwidthError, match=message):
        SweepSpec(**{**TRANSFORMER, **change})
    with pytest.raises(InfwidthError, match="trains on token data"):
        SweepSpec(data="shakespeare")  # an MLP on characters


def test_mlp_keys_do_not_name_the_transformer_settings():
    spec = SweepSpec()
    cfg = point_config(spec, spec.points()[0])
    assert not {"block", "head_dim", "grad_clip", "adam_b2"} & set(cfg)
    t = SweepSpec(**TRANSFORMER, grad_clip=1.0, adam_b2=0.95)
    cfg = point_config(t, t.points()[0])
    assert (cfg["block"], cfg["head_dim"], cfg["grad_clip"], cfg["adam_b2"]) == (32, 16, 1.0, 0.95)
    assert SweepSpec.from_dict(t.to_json()) == t
    # the FFN is exact GELU whatever `activation` says: keyed so, not by the unused activation
    assert cfg["ffn"] == "gelu" and "activation" not in cfg


def test_transformer_ffn_is_the_layer_librarys_exact_gelu():
    import jax
    import jax.numpy as jnp
    from jax.scipy.stats import norm

    from infwidth.sim._transformer import _GELU

    x = jnp.linspace(-5.0, 5.0, 101)
    exact = x * norm.cdf(x)
    assert float(jnp.max(jnp.abs(_GELU(x) - exact))) < 1e-6
    # not the tanh approximation (which differs by up to ~5e-4 around |x| ~ 2)
    assert float(jnp.max(jnp.abs(_GELU(x) - jax.nn.gelu(x, approximate=True)))) > 1e-4


def test_heads_of_fixed_size_and_token_activations():
    t = SweepSpec(**TRANSFORMER)
    assert _dims("transformer", 32, 82, 64, 16) == {"V": 82, "T": 32, "H": 4}
    assert _dims("mlp", 784, 10, 64, None) == {"d_in": 784, "d_out": 10}
    # 20 width-sized activations per token and block, times the block's 32 tokens
    assert _layers(t, 2, 12) == 20 * 2 * 32
