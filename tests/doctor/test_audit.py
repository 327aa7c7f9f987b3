"""The doctor names the guilty tensor and knob of every injected bug (issue 15, item 1).

Each test builds a built-in network (or a small user model) whose implementation differs
from the derived muP table in one knob, and asserts the measured exponents fail exactly
there, with a fix in the user's terms.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import optax
import pytest

from infwidth.doctor import UserModel, audit_builtin, audit_user
from infwidth.errors import InfwidthError
from infwidth.sim import Table

W = [64, 128, 256]


def _mlp(optimizer="adam", **kw):
    return Table.derive("mlp", optimizer, **kw)


def test_correct_mup_has_no_fail_and_exponents_match():
    rep = audit_builtin("mlp", "adam", W)
    assert rep.passed and rep.failures() == []
    lr = {f.tensor: f.measured for f in rep.findings if f.quantity == "learning_rate"}
    assert lr["W1"] == pytest.approx(0, abs=0.05) and lr["W2"] == pytest.approx(-1, abs=0.05)


def test_sp_fails_on_hidden_and_readout():
    rep = audit_builtin("mlp", "adam", W, implemented=_mlp(target="sp"))
    fails = set(rep.failures())
    assert {("W2", "learning_rate"), ("W3", "learning_rate"), ("W3", "init_variance")} <= fails
    assert not any(t == "W1" and q != "epsilon" for t, q in fails)


def test_hidden_adam_lr_not_scaled():
    rep = audit_builtin("mlp", "adam", W, implemented=_mlp().replace_width("W2", learning_rate=0))
    assert rep.failures() == [("W2", "learning_rate")]
    (f,) = [f for f in rep.findings if f.verdict == "fail"]
    assert f.fix == "multiply the learning rate of `W2` by base_width/width"


def test_update_scaled_twice():
    bug = _mlp().replace_width("W2", learning_rate=-2)  # Megatron-LM #3715, Muon scaled twice
    rep = audit_builtin("mlp", "adam", W, implemented=bug)
    assert rep.failures() == [("W2", "learning_rate")]
    assert "width/base_width" in rep.findings[[f.verdict for f in rep.findings].index("fail")].fix


def test_readout_multiplier_missing():
    bug = _mlp(gauge="mup-package").replace_width("W3", multiplier=0)
    assert audit_builtin("mlp", "adam", W, implemented=_mlp(gauge="mup-package")).passed
    rep = audit_builtin("mlp", "adam", W, implemented=bug)
    assert rep.failures() == [("W3", "multiplier")]


def test_adam_epsilon_not_scaled():
    rep = audit_builtin("mlp", "adam", W, implemented=_mlp().replace_width("W2", epsilon=0))
    assert rep.failures() == [("W2", "epsilon")]


@pytest.mark.parametrize("wd", ["0", "2"])  # not scaled at all / scaled twice
def test_decoupled_weight_decay(wd):
    bug = _mlp("adamw").replace_width("W2", weight_decay=wd)
    rep = audit_builtin("mlp", "adamw", W, implemented=bug, weight_decay=1e-2)
    assert rep.failures() == [("W2", "weight_decay")]


def test_tied_embedding_treated_as_input_only():
    bug = Table.derive("transformer", "adam", tied=True).replace_width("unembed", multiplier=0)
    rep = audit_builtin("transformer", "adam", [32, 64, 128], tied=True, implemented=bug)
    assert rep.failures() == [("unembed (tied to tok_emb)", "multiplier")]


def _attention_make(tau_power):
    """One attention layer, d_head = width, logits scaled by d_head**tau_power."""

    def make(n):
        k = jr.split(jr.PRNGKey(0), 4)
        p = {
            "emb": jr.normal(k[0], (16, n)),
            "q": jr.normal(k[1], (n, n)) / jnp.sqrt(n),
            "k": jr.normal(k[2], (n, n)) / jnp.sqrt(n),
            "out": jr.normal(k[3], (n, 16)) / n,
        }

        def feats(p, x):
            h = p["emb"][x]
            q, kk = h @ p["q"], h @ p["k"]
            logits = n**tau_power * jnp.einsum("btd,bsd->bts", q, kk)
            f = jax.nn.softmax(logits) @ h @ p["out"]
            return {"emb": h, "q": q, "k": kk, "attn_logits": logits, "output": f}

        def loss(p, x):
            return jnp.mean(feats(p, x)["output"] ** 2)

        lr = {"emb": 1.0, "q": 64 / n, "k": 64 / n, "out": 64 / n}
        eps = {"emb": 64 / n, "q": 64 / n, "k": 64 / n, "out": 1.0}
        opt = optax.multi_transform(
            {a: optax.adam(1e-2 * lr[a], eps=1e-8 * eps[a]) for a in p},
            {a: a for a in p},
        )
        x = jr.randint(jr.PRNGKey(1), (4, 8, 6), 0, 16)
        return UserModel(p, loss, opt, x, feats)

    return make


def test_attention_scaled_by_sqrt_dhead():
    good = audit_user(_attention_make(-1.0), W, optimizer="adam")
    assert ("attn_logits", "attention_logit_scale") not in good.failures()
    rep = audit_user(_attention_make(-0.5), W, optimizer="adam")
    assert ("attn_logits", "attention_logit_scale") in rep.failures()
    (f,) = [f for f in rep.findings if f.quantity == "attention_logit_scale"]
    assert "1/d_head instead of 1/sqrt(d_head)" in f.fix


def test_bad_user_models_one_line():
    def raises(n):
        raise RuntimeError("boom")

    with pytest.raises(InfwidthError, match="make\\(64\\) failed"):
        audit_user(raises, W, optimizer="adam")
    fixed = _attention_make(-1.0)(64)
    with pytest.raises(InfwidthError, match="grows"):
        audit_user(lambda n: fixed, W, optimizer="adam")
    bad = UserModel(fixed.params, fixed.loss, object(), fixed.batches, fixed.features)
    with pytest.raises(InfwidthError):
        audit_user(lambda n: bad if n > 64 else _attention_make(-1.0)(n), W, optimizer="adam")
