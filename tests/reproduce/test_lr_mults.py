"""``SweepSpec.lr_mults``: constant per-tensor learning-rate factors (the mup MLP demo's
``input_mult``, used by ``tp5-fig3``)."""

import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepSpec, run_sweep

SMALL = dict(targets="sp,mup", widths=(32, 64), seeds=1, steps=10, n_train=128, batch_size=64)


def _losses(run, shift=0.0):
    return {(r["target"], r["width"], r["log2_lr"] + shift): r["loss"] for r in run.records}


def test_factor_two_on_every_tensor_is_one_octave_of_the_base_rate():
    plain = run_sweep(SweepSpec(log2_lrs=(-3.0, -2.0), **SMALL))
    doubled = run_sweep(
        SweepSpec(log2_lrs=(-4.0, -3.0), lr_mults={"W1": 2, "W2": 2, "W3": 2}, **SMALL)
    )
    a, b = _losses(plain), _losses(doubled, shift=1.0)
    assert a.keys() == b.keys()
    assert all(a[k] == pytest.approx(b[k], rel=1e-5) for k in a)


def test_one_tensor_changes_only_its_points_and_keys():
    spec = SweepSpec(log2_lrs=(-2.0,), **SMALL)
    plain, slow = run_sweep(spec), run_sweep(spec.replace(lr_mults={"W1": 1 / 256}))
    assert all(p["loss"] != q["loss"] for p, q in zip(plain.records, slow.records, strict=True))
    assert spec.to_json()["lr_mults"] == {}


@pytest.mark.parametrize(
    "mults, match",
    [({"W9": 2.0}, "names no tensor"), ({"W1": 0.0}, "positive"), ({"W1": "x"}, "numbers")],
)
def test_bad_lr_mults_are_one_line_errors(mults, match):
    with pytest.raises(InfwidthError, match=match):
        run_sweep(SweepSpec(log2_lrs=(-2.0,), lr_mults=mults, **SMALL))
