"""The coordinate check: train the same network at several widths and record its coordinates.

For each width one jitted function initialises the network (seeds in a loop on CPU,
vmapped on accelerators), trains it for ``steps`` steps on a fixed batch with ``lax.scan``
(one compilation per width, none across steps) and returns every quantity of
:mod:`infwidth.sim._measure` after each step. Seeds differ in the initialisation only; the
data are the same for every width and seed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from .. import _validate as valid
from .._divergence import first_divergence
from .._store import Store, note, settings_key
from ._lowrank import (
    compact_grads,
    factorize,
    lowrank_power_iteration,
    sgd_append,
    worth_factoring,
)
from ._measure import (
    OUTPUT,
    as_matrix,
    feature_metrics,
    init_vectors,
    matrix_tensors,
    output_metrics,
    power_iteration,
)
from ._model import Model, build_model, model_from_table, table_fans
from ._optim import default_b1, table_optimizer
from ._scaling import DEFAULT_DIMS, Scaling, scale_table
from ._table import Table


@dataclasses.dataclass(frozen=True)
class CoordCheckConfig:
    """Everything that fixes a coordinate check (widths, steps, seeds, hyperparameters)."""

    arch: str = "mlp"
    optimizer: str = "sgd"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    base_width: int | None = None
    steps: int = 3
    seeds: int = 3
    lr: float = 0.1
    eps: float = 1e-8
    weight_decay: float = 0.0
    depth: int = 2
    base_depth: int | None = None
    batch_size: int = 32
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    activation: str = "relu"
    dtype: str = "float32"
    #: Also record ``||W_t - W_0|| / ||W_0||`` (no verdict reads it). Off by default: the
    #: denominator's power iteration reads every seed's dense ``W_0`` 60 times, which at
    #: width 8192 cost more than the rest of the check and doubled its memory (issue 10).
    spectral: bool = False
    spectral_iters: int = 3
    seed: int = 0
    factor_sgd: bool = True

    def __post_init__(self) -> None:
        # One width is a valid config (a model at that width, see model_at); the check itself
        # needs two (coord_check refuses fewer).
        s = object.__setattr__
        s(self, "widths", valid.widths("widths", self.widths))
        for name in ("steps", "seeds", "depth", "batch_size", "spectral_iters"):
            s(self, name, valid.positive_int(name, getattr(self, name)))
        for name in ("base_width", "base_depth"):
            if getattr(self, name) is not None:
                s(self, name, valid.positive_int(name, getattr(self, name)))
        s(self, "lr", valid.positive("lr", self.lr))
        s(self, "eps", valid.nonnegative("eps", self.eps))
        s(self, "weight_decay", valid.nonnegative("weight_decay", self.weight_decay))
        s(self, "dtype", valid.dtype("dtype", self.dtype))
        s(self, "seed", valid.seed("seed", self.seed))
        for k, n in dict(self.dims).items():
            valid.positive_int(f"dims[{k!r}]", n)

    @property
    def resolved_base_width(self) -> int:
        """``base_width``, by default ``min(16, smallest width)``: a small base keeps the
        output's init term (muP: ``n^{-1/2}`` relative to the base) out of the fitted slopes."""
        return self.base_width or min(16, min(self.widths))

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["widths"] = list(self.widths)
        out["dims"] = dict(self.dims)
        out["base_width"] = self.resolved_base_width
        return out


@dataclasses.dataclass(frozen=True)
class RawRecords:
    """``values[tensor, quantity]`` arrays of shape ``(widths, seeds, steps + 1)``."""

    widths: tuple[int, ...]
    seeds: int
    steps: int
    values: Mapping[tuple[str, str], np.ndarray]
    diverged: np.ndarray  # (widths, seeds): first diverged step (diverged_steps), or -1


def model_at(table: Table, cfg: CoordCheckConfig, width: int) -> Model:
    """The network of ``table`` at ``width`` with ``cfg``'s base width and constants."""
    scaling = scale_table(
        table,
        width=width,
        base_width=cfg.resolved_base_width,
        depth=cfg.depth,
        base_depth=cfg.base_depth,
        lr=cfg.lr,
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        dims=cfg.dims,
    )
    dims = _dims(cfg)
    return model_from_table(
        cfg.arch, table, scaling, dims=dims, activation=cfg.activation, dtype=_dt(cfg.dtype)
    )


def _dims(cfg: CoordCheckConfig) -> dict[str, int]:
    return {**DEFAULT_DIMS, **cfg.dims}


def _dt(name: str) -> Any:
    return jnp.float64 if name == "float64" else jnp.float32


_NUMBERS = ("init_std", "multiplier", "learning_rate", "epsilon", "weight_decay")
_NUMBERS += ("branch_multiplier", "operation_multiplier")


class _Static(NamedTuple):
    """Everything that fixes the compiled program (shapes, structure), none of the numbers."""

    arch: str
    optimizer: str
    names: tuple[str, ...]
    tied: tuple[tuple[str, str], ...]
    fans: tuple[tuple[str, int, int], ...]
    dims: tuple[tuple[str, int], ...]
    activation: str
    dtype: str
    width: int
    depth: int
    steps: int
    spectral: bool
    spectral_iters: int
    weight_decay: bool
    factor_sgd: bool


def _static(table: Table, cfg: CoordCheckConfig, width: int) -> _Static:
    tied = tuple(sorted((t.name, t.tied_to) for t in table.tensors if t.tied_to))
    fans = ()
    if cfg.arch == "chain":
        fans = tuple((n, *f) for n, f in table_fans(table, width, _dims(cfg)).items())
    return _Static(
        cfg.arch,
        cfg.optimizer,
        table.names,
        tied,
        fans,
        tuple(sorted(_dims(cfg).items())),
        cfg.activation,
        cfg.dtype,
        width,
        cfg.depth,
        cfg.steps,
        cfg.spectral,
        cfg.spectral_iters,
        cfg.weight_decay != 0,
        cfg.factor_sgd and cfg.optimizer in ("sgd", "momentum"),
    )


def _numbers(s: Scaling, dtype: Any) -> dict:
    return {f: {k: jnp.asarray(v, dtype) for k, v in getattr(s, f).items()} for f in _NUMBERS}


@functools.partial(jax.jit, static_argnames=("st",))
def _compiled(numbers: dict, keys: jax.Array, x: jax.Array, y: jax.Array, *, st: _Static):
    """One compilation per (structure, width): the table's numbers are traced arguments."""
    if not st.weight_decay:
        numbers = {**numbers, "weight_decay": dict.fromkeys(numbers["weight_decay"], 0.0)}
    s = Scaling(st.width, 0, st.depth, 0, **numbers)
    model = build_model(
        st.arch,
        s,
        names=st.names,
        tied=dict(st.tied),
        fans={n: (i, o) for n, i, o in st.fans},
        dims=dict(st.dims),
        activation=st.activation,
        dtype=_dt(st.dtype),
    )
    shapes = jax.eval_shape(model.init, keys[0])
    factored = frozenset()
    if st.factor_sgd and st.arch in _FACTORABLE:
        rows = x.shape[0]
        factored = frozenset(
            k
            for k, v in shapes.items()
            if worth_factoring(v.shape[k in model.stacked :], rows, st.steps)
        )
    dense = [k for k in shapes if k not in factored]
    opt = table_optimizer(st.optimizer, s, dense, stacked=model.stacked)
    beta = default_b1(st.optimizer) if st.optimizer == "momentum" else 0.0
    hyper = {k: (s.learning_rate[k], s.weight_decay[k]) for k in sorted(factored)}  # 0 unless on
    one = _one_seed(model, opt, st, factored, hyper, beta)
    if jax.default_backend() == "cpu":
        # Seeds one after the other: on CPU the loop compiles ~1.8x faster than the vmap
        # (MLP 32 -> n -> n -> 10, 5 seeds, 5 steps: 2.1-4.2 s against 4.1-7.4 s per width,
        # interleaved on loaded cores) and runs its plain matrix products faster than the
        # vmap's batched ones (width 4096: 5.3-6.3 s against 6.8-7.1 s); the records agree to
        # float32 rounding (1.5e-7 relative). Accelerators keep the vmap.
        return jax.lax.map(lambda k: one(k, x, y), keys)
    return jax.vmap(one, in_axes=(0, None, None))(keys, x, y)


# Architectures whose every matrix enters the forward pass once, as ``h @ W`` over the batch
# rows: SGD (with momentum, weight decay) there may keep wide matrices factored (_lowrank).
_FACTORABLE = ("mlp", "resmlp", "chain")


def _one_seed(
    model: Model,
    opt: optax.GradientTransformation,
    st: _Static,
    factored: frozenset[str] = frozenset(),
    hyper: Mapping[str, tuple[Any, Any]] | None = None,
    beta: float = 0.0,
):
    """Train one seed for ``st.steps`` steps and measure after each (see module docstring).

    Tensors in ``factored`` (SGD, momentum ``beta``) are trained as :class:`LowRank` matrices
    with ``hyper[name] = (learning rate, weight decay)``; the rest through ``opt``."""
    T, iters = st.steps, st.spectral_iters

    def one(key: jax.Array, x: jax.Array, y: jax.Array) -> dict:
        k_init, k_vec = jr.split(key)
        p0 = model.init(k_init)
        names = matrix_tensors(p0, model.stacked) if st.spectral else []

        def vg(p):
            def loss(p):
                f, feats = model.apply(p, x)
                return model.loss(f, y), (f, feats)

            out, g = jax.value_and_grad(loss, has_aux=True)(p)
            return out, compact_grads(g)

        vecs = init_vectors(k_vec, p0, model.stacked) if names else {}
        norm0 = {}
        for n in names:
            norm0[n], vecs[n] = power_iteration(as_matrix(p0[n], n in model.stacked), vecs[n], 30)
        rows = x.shape[0]
        p0 = {k: factorize(v, rows, T) if k in factored else v for k, v in p0.items()}

        def measure(p, f, feats, vecs, base):
            f0, feats0 = base
            out = {**feature_metrics(feats, feats0), **output_metrics(f, f0)}
            new = {}
            for n in names:
                if n in factored:
                    w = p[n] if n in model.stacked else jax.tree.map(lambda a: a[None], p[n])
                    sig, new[n] = lowrank_power_iteration(w, vecs[n], iters, decay=st.weight_decay)
                else:
                    d = as_matrix(p[n] - p0[n], n in model.stacked)
                    sig, new[n] = power_iteration(d, vecs[n], iters, unroll=True)
                out[(n, "spectral_ratio")] = sig / norm0[n]
            return out, new

        def update(p, state, g, t):
            dense = {k: v for k, v in p.items() if k not in factored}
            upd, state = opt.update({k: g[k] for k in dense}, state, dense)
            new = optax.apply_updates(dense, upd)
            for k in sorted(factored):
                lr, wd = hyper[k]
                new[k] = sgd_append(p[k], g[k], lr, t, momentum=beta, weight_decay=wd)
            return new, state

        def step(carry, t):
            # Step t = 0..T: forward and backward at the weights of step t, measure against
            # step 0 (whose outputs and features the carry keeps), update unless t = T. One
            # copy of the forward+backward pass in the program keeps its compilation short;
            # the gradient at t = T is not used.
            p, state, vecs, base = carry
            (_, (f, feats)), g = vg(p)
            first = t == 0
            base = jax.tree.map(lambda b, c: jnp.where(first, c, b), base, (f, feats))
            m, new = measure(p, f, feats, vecs, base)
            # no movement at t = 0: the power iteration starts from the drawn vectors at t = 1
            vecs = jax.tree.map(lambda v, w: jnp.where(first, v, w), vecs, new)
            p, state = jax.lax.cond(t < T, lambda: update(p, state, g, t), lambda: (p, state))
            return (p, state, vecs, base), m

        dense0 = {k: v for k, v in p0.items() if k not in factored}
        shapes = jax.eval_shape(lambda p: model.apply(p, x), p0)
        base0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        carry = (p0, opt.init(dense0), vecs, base0)
        _, ms = jax.lax.scan(step, carry, jnp.arange(T + 1))
        return ms

    return one


_EXECUTABLES: dict = {}


def _executables(jobs: list) -> list:
    """Compile the per-width programs, several at once (XLA compiles outside the GIL), and
    cache them: a later check with the same structure and shapes compiles nothing."""

    def key(job):
        numbers, keys, x, y, st = job
        return (
            st,
            keys.shape,
            x.shape,
            str(x.dtype),
            y.shape,
            str(y.dtype),
            jax.config.x64_enabled,
        )

    # XLA's default backend optimisation level: level 1 compiles no faster for these programs
    # (1.17 s against 1.29 s at width 8192) and runs them 2x slower (13.1 s against 6.3 s).
    x64 = jax.config.x64_enabled  # a thread-local setting: carry it into the workers

    def compile_one(job):
        numbers, keys, x, y, st = job
        with jax.enable_x64(x64):
            lowered = _compiled.lower(numbers, keys, x, y, st=st)
        return lowered.compile()

    todo = [j for j in jobs if key(j) not in _EXECUTABLES]
    workers = max(1, min(len(todo), os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for job, exe in zip(todo, pool.map(compile_one, todo), strict=True):
            _EXECUTABLES[key(job)] = exe
    return [_EXECUTABLES[key(j)] for j in jobs]


def _width_key(table: Table, cfg: CoordCheckConfig, width: int) -> str:
    """What a finished width's records depend on: the table, the configuration except the
    list of widths (so a check extended to more widths reuses the finished ones), the width."""
    from .. import __version__

    settings = cfg.to_json() | {"widths": None}
    return settings_key("coord-check width", __version__, repr(table), settings, int(width))


def _well_formed(arrays: Mapping, cfg: CoordCheckConfig) -> bool:
    """Whether loaded records have the names and shapes this check records (else recompute)."""
    shape = (cfg.seeds, cfg.steps + 1)
    ok = bool(arrays) and all(
        isinstance(k, tuple) and len(k) == 2 and v.shape == shape for k, v in arrays.items()
    )
    if not ok:
        note("a cached coordinate-check width has an unexpected layout; recomputing it")
    return ok


def run_widths(
    table: Table, cfg: CoordCheckConfig, *, progress: Any = None, cache_dir: Any = None
) -> RawRecords:
    """Run the check at every width of ``cfg``; returns all recorded values.

    Every width's program is compiled first (in parallel), then the widths run one after
    the other, all seeds of a width at once. Seeds differ in initialisation only. With
    ``cache_dir``, each finished width is saved there as it completes (``width_<n>.npz``, a
    :class:`infwidth._store.Store` entry keyed by the table and configuration) and a re-run
    loads it instead of recomputing: an interrupted check resumes without losing finished
    widths; damaged or stale files are recomputed. ``progress(width, cached)`` is called as
    each width is done (``cached``: loaded, not computed).
    """
    table.check_optimizer(cfg.optimizer)  # warns when the table's exponents are another's
    k_data, k_seeds = jr.split(jr.PRNGKey(cfg.seed))
    seed_keys = jr.split(k_seeds, cfg.seeds)
    values: dict[tuple[str, str], list] = {}
    store = Store(cache_dir)
    done: dict[int, dict] = {}
    for width in cfg.widths:
        hit = store.load_arrays(f"width_{width}", _width_key(table, cfg, width))
        if hit is not None and _well_formed(hit.arrays, cfg):
            done[width] = hit.arrays
    jobs = []
    todo = [w for w in cfg.widths if w not in done]
    for width in todo:
        model = model_at(table, cfg, width)
        x, y = model.batch(k_data, cfg.batch_size)
        numbers = _numbers(model.scaling, _dt(cfg.dtype))
        jobs.append((numbers, seed_keys, x, y, _static(table, cfg, width)))
    runs = dict(zip(todo, zip(_executables(jobs), jobs, strict=True), strict=True))
    for width in cfg.widths:
        if width in done:
            out = done[width]
        else:
            exe, job = runs[width]
            out = {
                k: np.asarray(v, dtype=np.float64) for k, v in jax.device_get(exe(*job[:4])).items()
            }
            store.save_arrays(f"width_{width}", _width_key(table, cfg, width), out)
        for k, v in out.items():
            values.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
        if progress is not None:
            progress(width, width in done)
    arrays = {k: np.stack(v) for k, v in values.items()}
    return RawRecords(tuple(cfg.widths), cfg.seeds, cfg.steps, arrays, diverged_steps(arrays))


def diverged_steps(values: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
    """``(widths, seeds)``: the step at which each run diverged, or -1 (the definition of
    :mod:`infwidth._divergence`: a non-finite record, or the output RMS beyond
    ``GROWTH_BOUND`` times its initial value, floored at the targets' unit scale)."""
    size = values[(OUTPUT, "output_rms")]
    out = np.full(size.shape[:2], -1)
    for i, s in np.ndindex(*out.shape):
        out[i, s] = first_divergence(size[i, s], *(v[i, s] for v in values.values()))
    return out
