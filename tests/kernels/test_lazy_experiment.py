"""infwidth.kernels.lazy_experiment, the engine of ``infwidth lazy``, from Python."""

import json

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.kernels import lazy_experiment


def test_lazy_experiment_from_python(tmp_path):
    res = lazy_experiment(tmp_path, width=256, steps=20, n_train=8, n_test=4, figures=False,
                          settings={"note": "api"})  # fmt: skip
    assert json.loads((tmp_path / "lazy.json").read_text()) == res
    net, pred = res["curves"]["network"], res["curves"]["lazy_from_init"]
    # the prediction starts from the network's own outputs: identical at step 0
    assert net["test_mse"][0] == pytest.approx(pred["test_mse"][0], rel=1e-12)
    assert net["train_mse"][-1] < net["train_mse"][0]
    assert 0 < res["max_relative_test_gap_network_vs_lazy_from_init"] < 0.2
    assert res["settings"] == {"note": "api"} and np.shape(res["steps"]) == (21,)


def test_lazy_experiment_refuses_an_unknown_parametrization(tmp_path):
    with pytest.raises(InfwidthError, match="unknown parametrization"):
        lazy_experiment(tmp_path / "x", param="sp")
    assert not (tmp_path / "x").exists()
