"""Raw measurements at one width: init variance, forward response, optimiser step, decay.

For every parameter leaf ``w`` of a :class:`~infwidth.doctor._model.UserModel`:

* **init variance** :math:`\\overline{w^2}` (``None`` for an all-zero leaf);
* **forward response** :math:`\\mathrm{RMS}(J_w\\,\\delta)` of a feature along unit Gaussian
  directions :math:`\\delta` (mean square over several) (``jax.jvp``). For a layer :math:`h = m\\,x w` with
  :math:`O(1)` inputs this is :math:`m\\,\\sqrt{\\mathrm{fan\\_in}}` (central limit over the
  fan-in), so the multiplier exponent is the fitted slope minus half the fan-in's;
* **optimiser probes** on the user's optax chain, first step from ``init(params)``, with
  gradient :math:`a\\,s` (:math:`s` random signs): the degree
  :math:`p = \\log_2 U(2a)/U(a)` of the update's RMS :math:`U` in the gradient (SGD 1, Adam 0),
  the learning rate :math:`U(a)/a^p` at a large ``a``, Adam's epsilon from the ``a`` where the
  step halves (:math:`U(a)/U(\\infty) = a/(a+\\epsilon)` for Adam's first step, so
  :math:`\\epsilon = a(1-r)/r`), and the decay per step with a zero gradient,
  :math:`\\lambda = -\\langle u, w\\rangle / \\langle w, w\\rangle`;
* the RMS of the true first gradient (Adam's epsilon regime: :math:`|g| \\gg \\epsilon`?);
* the RMS of every attention-logit feature at init.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InfwidthError
from ._model import OUTPUT, UserModel

A_HIGH = 1e2
A_SCAN = np.logspace(-15, 1, 17)


def _rms(x: Any) -> float:
    x = np.asarray(x, np.float32)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def _signs(leaves: Sequence[Any], seed: int) -> list[jax.Array]:
    """Random +-1 tensors shaped like ``leaves`` (NumPy: nothing to compile per shape)."""
    rng = np.random.default_rng(seed)
    return [
        jnp.asarray(np.where(rng.standard_normal(np.shape(w)) < 0, -1.0, 1.0), jnp.result_type(w))
        for w in leaves
    ]


def optimizer_probes(model: UserModel, seed: int = 0) -> list[dict[str, float | None]]:
    """Per leaf (``tree_leaves`` order): ``degree``, ``lr``, ``eps``, ``decay``."""
    leaves, tdef = jax.tree.flatten(model.params)
    signs = _signs(leaves, seed)

    @jax.jit
    def probe(a: jax.Array) -> tuple[jax.Array, jax.Array]:
        """RMS of each leaf's first update for the gradient ``a * signs``, and the decay
        ``-<u, w>/<w, w>`` it implies."""
        grads = jax.tree.unflatten(tdef, [(a * s).astype(s.dtype) for s in signs])
        state = model.optimizer.init(model.params)
        upd = jax.tree.leaves(model.optimizer.update(grads, state, model.params)[0])
        f32 = [jnp.asarray(u, jnp.float32) for u in upd]
        rms = jnp.stack([jnp.sqrt(jnp.mean(u * u)) if u.size else 0.0 for u in f32])
        ww = [jnp.vdot(jnp.asarray(w, jnp.float32), jnp.asarray(w, jnp.float32)) for w in leaves]
        dec = jnp.stack(
            [
                -jnp.vdot(u, jnp.asarray(w, jnp.float32)) / v
                for u, w, v in zip(f32, leaves, ww, strict=True)
            ]
        )
        return rms, dec

    def U(a: float) -> np.ndarray:
        return np.asarray(probe(jnp.float32(a))[0], float)

    try:
        hi, hi2 = U(A_HIGH), U(2 * A_HIGH)
        scan = np.array([U(float(a)) for a in A_SCAN])  # (scales, leaves)
        zero = np.asarray(probe(jnp.float32(0.0))[1], float)
    except Exception as exc:  # noqa: BLE001 - a user's optimiser: one clear line
        raise InfwidthError(
            f"the optimizer cannot be probed: {type(exc).__name__}: {exc}"
        ) from None
    out = []
    for i in range(len(leaves)):
        deg = float(np.log2(hi2[i] / hi[i])) if hi[i] > 0 else None
        p = None if deg is None or min(abs(deg), abs(deg - 1)) > 0.1 else round(deg)
        lr = None if p is None else hi[i] / A_HIGH**p
        eps = None
        if p == 0 and hi[i] > 0:
            r = scan[:, i] / hi[i]
            j = int(np.argmin(np.abs(np.log(np.maximum(r, 1e-30) / 0.5))))
            if 0.05 < r[j] < 0.95:
                eps = float(A_SCAN[j] * (1 - r[j]) / r[j])
        decay = None if not np.isfinite(zero[i]) else float(zero[i])
        out.append({"degree": p, "lr": lr, "eps": eps, "decay": decay})
    return out


def forward_responses(
    model: UserModel, batch: Any, seed: int = 1, draws: int = 8
) -> list[dict[str, float]]:
    """Per leaf: ``{feature: RMS of its JVP along unit Gaussian directions}`` (mean square
    over ``draws`` directions: a readout with few outputs sees few independent sums; features
    that respond, in the features' order); ``[]`` per leaf without a features function."""
    leaves, tdef = jax.tree.flatten(model.params)
    if model.features is None:
        return [{} for _ in leaves]

    def feats(p: Any) -> dict[str, jax.Array]:
        return dict(model.features(p, batch))

    @jax.jit
    def response(tangent: Any) -> dict[str, jax.Array]:
        _, dj = jax.jvp(feats, (model.params,), (tangent,))
        return {n: jnp.mean(jnp.square(jnp.asarray(v, jnp.float32))) for n, v in dj.items()}

    order = list(model.features(model.params, batch))  # jvp returns dicts sorted by key
    rng = np.random.default_rng(seed)
    zeros = [jnp.zeros_like(x) for x in leaves]
    out = []
    for i, w in enumerate(leaves):
        if not jnp.issubdtype(jnp.result_type(w), jnp.floating):
            out.append({})
            continue
        ms = {n: 0.0 for n in order}
        for _ in range(draws):
            tang = list(zeros)
            tang[i] = jnp.asarray(rng.standard_normal(np.shape(w)), jnp.result_type(w))
            r = response(jax.tree.unflatten(tdef, tang))
            ms = {n: ms[n] + float(r[n]) / draws for n in order}
        out.append({n: float(np.sqrt(ms[n])) for n in order if ms[n] > 0})
    return out


def measure(model: UserModel) -> dict[str, Any]:
    """Everything the audit fits, at one width (module docstring)."""
    batch = model.first_batch()
    leaves = jax.tree.leaves(model.params)
    try:
        grads = jax.tree.leaves(jax.jit(jax.grad(model.loss))(model.params, batch))
        feats = {} if model.features is None else dict(model.features(model.params, batch))
    except Exception as exc:  # noqa: BLE001 - a user's model: one clear line
        raise InfwidthError(f"the model fails to run: {type(exc).__name__}: {exc}") from None
    logits = {n: _rms(v) for n, v in feats.items() if n.endswith("logits") and n != OUTPUT}
    return {
        "var": [float(np.mean(np.square(np.asarray(w, np.float32)))) for w in leaves],
        "grad": [_rms(g) for g in grads],
        "optim": optimizer_probes(model),
        "forward": forward_responses(model, batch),
        "logits": logits,
        "shapes": [tuple(jnp.shape(w)) for w in leaves],
    }


def stack(per_width: Sequence[dict[str, Any]], i: int, key: str, sub: str | None = None):
    """Leaf ``i``'s ``key`` (``optim`` entries: ``sub``) across widths, NaN for ``None``."""
    vals = [m[key][i] if sub is None else m[key][i][sub] for m in per_width]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)
