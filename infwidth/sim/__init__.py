"""Finite-width JAX engine: networks and optimisers built from a derived table.

* :class:`Table` reads ``infwidth.derive(...).to_json()``; :func:`scale_table` turns its
  exponents into per-tensor numbers at a width (constants fixed at a base width, muTransfer);
* :func:`build_model` gives the built-in architectures as pure ``init``/``apply`` pairs;
* :func:`table_optimizer` gives one ``optax.GradientTransformation`` with per-tensor scaling;
* :func:`train` is the one training loop (a model, an optimiser, a user ``record`` per step);
* :func:`coord_check` trains at several widths and checks the measured width exponents of
  activations, feature movement and outputs against the table's predictions (slopes and
  verdicts: :mod:`infwidth._fit`); :func:`run_coord_check` runs one from the command's
  options and writes its files;
* :func:`density_check` checks the derived sparse rule along the weight density (SμPar);
  :func:`rank_check` the LoRA rule along the rank, :func:`experts_check` the routed-expert
  rule along the number of experts (:class:`AxisSlope` per fitted slope);
* :func:`precond_check` checks K-FAC/Shampoo/FOOF/SOAP update sizes and damping against the derived
  exponents; :func:`sam_check` checks SAM's derived per-layer perturbation scaling (muP²);
* :func:`top_hessian_eigenvalue`: the sharpness (power iteration on Hessian-vector products);
* :func:`mup_transfer` brings a parametrization to a user's own JAX parameter pytree.
"""

from .._fit import Slope, fit_slope, verdict
from ._axis_check import AxisSlope
from ._check import run_coord_check
from ._coord import CoordCheckConfig, RawRecords, model_at, run_widths
from ._density import density_check
from ._experts import experts_check
from ._gqa import gqa_check
from ._heads import heads_check
from ._model import ACTIVATIONS, Model, build_model
from ._optim import OPTIMIZERS, newton_schulz, table_optimizer
from ._precond import precond_check
from ._rank import rank_check
from ._report import CoordCheckResult, analyse, coord_check
from ._sam import sam_check
from ._scaling import DEFAULT_DIMS, Scaling, scale_table
from ._sharpness import hessian_vector_product, top_hessian_eigenvalue
from ._table import Table, TensorRow
from ._train import Step, TrainState, train, train_step
from ._transfer import LeafInfo, Transfer, infer_leaves, mup_transfer
from ._vocab import vocab_check

__all__ = [
    "ACTIVATIONS",
    "LeafInfo",
    "Transfer",
    "infer_leaves",
    "mup_transfer",
    "DEFAULT_DIMS",
    "OPTIMIZERS",
    "CoordCheckConfig",
    "CoordCheckResult",
    "AxisSlope",
    "experts_check",
    "gqa_check",
    "heads_check",
    "vocab_check",
    "rank_check",
    "precond_check",
    "sam_check",
    "Model",
    "RawRecords",
    "Scaling",
    "Slope",
    "Step",
    "Table",
    "TensorRow",
    "TrainState",
    "analyse",
    "build_model",
    "coord_check",
    "density_check",
    "fit_slope",
    "model_at",
    "newton_schulz",
    "run_coord_check",
    "run_widths",
    "scale_table",
    "table_optimizer",
    "top_hessian_eigenvalue",
    "hessian_vector_product",
    "train",
    "train_step",
    "verdict",
]
