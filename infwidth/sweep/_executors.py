"""Where a sweep's chunks run: this process, this host's devices, or a Ray cluster.

An executor takes chunk descriptions (:class:`Chunk`: the points still to compute, all of
one width, and the size every chunk of that width is padded to) and yields each chunk's
records as it finishes, in any order. The driver (:func:`~infwidth.sweep.run_sweep`) stays
the single writer of the store: executors return numbers, they never write.

* :class:`LocalExecutor`: one chunk after another on JAX's default device.
* :class:`ShardedExecutor`: one chunk at a time, its point axis split over ``n`` local
  devices with :class:`jax.sharding.NamedSharding` (the chunk padded to a multiple of
  ``n``); everything shared (initial unit weights, data, batch orders) is replicated. Points
  are independent, so XLA partitions the vmapped program without collectives. The numbers
  equal one device's up to float32 rounding (the per-device batch of points changes XLA's
  fusion choices): relative ``1e-5`` is the tolerance tested, ``~3e-7`` is what is measured.
  On CPU, N host devices exist only if ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
  is set before JAX starts (:func:`host_device_env`; the CLI's ``--devices`` re-runs itself
  in a subprocess).
* :class:`RayExecutor`: every chunk a Ray task (``num_cpus=1``, spread over the nodes,
  retried up to ``max_retries`` times when its worker dies), on an existing cluster
  (``address``) or a local one it starts and stops. Ray is the optional extra
  ``infwidth[ray]``: imported here only when a :class:`RayExecutor` is made. Workers need
  the same ``infwidth`` importable (a local cluster inherits the driver's environment).
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..errors import InfwidthError
from ._data import TrainData
from ._spec import Point, SweepSpec

DEVICE_FLAG = "--xla_force_host_platform_device_count"
RAY_HINT = "--executor ray needs Ray: pip install 'infwidth[ray]'"


class Chunk(NamedTuple):
    """One chunk to compute: its index in the sweep, its points (one width), and the number
    of points every chunk of its width is padded to (one compiled program per width)."""

    index: int
    points: tuple[Point, ...]
    size: int


class Done(NamedTuple):
    """A computed chunk: its records (one per point, in order), seconds spent computing it,
    the node that ran it (Ray's node id; ``None`` in this process) and the device count."""

    chunk: Chunk
    records: list[dict[str, Any]]
    seconds: float
    node: str | None
    devices: int


class Executor(Protocol):
    """Runs chunks; yields a :class:`Done` per chunk as each finishes (any order)."""

    def run(
        self, spec: SweepSpec, data: TrainData, chunks: Sequence[Chunk], *, model: Any = None
    ) -> Iterator[Done]:
        """Compute every chunk of ``chunks`` (of a user's ``model`` where given)."""
        ...


def _timed(
    spec: SweepSpec, data: TrainData, chunk: Chunk, size: int, place=None, model: Any = None
) -> tuple[list[dict[str, Any]], float]:
    from ._engine import run_chunk

    t0 = time.perf_counter()
    records = run_chunk(spec, data, list(chunk.points), size, place=place, model=model)
    return records, time.perf_counter() - t0


class LocalExecutor:
    """Each chunk in turn, in this process, on JAX's default device."""

    def run(
        self, spec: SweepSpec, data: TrainData, chunks: Sequence[Chunk], *, model: Any = None
    ) -> Iterator[Done]:
        for c in chunks:
            records, dt = _timed(spec, data, c, c.size, model=model)
            yield Done(c, records, dt, None, 1)


class ShardedExecutor:
    """Each chunk in turn, its point axis sharded over the first ``devices`` of
    :func:`jax.devices` (all of them when ``None``)."""

    def __init__(self, devices: int | None = None) -> None:
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        have = jax.devices()
        n = len(have) if devices is None else devices
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InfwidthError(f"devices must be a positive integer, got {devices!r}")
        if n > len(have):
            raise InfwidthError(
                f"{n} devices asked for, JAX sees {len(have)} ({jax.default_backend()}); on CPU "
                f"set XLA_FLAGS={DEVICE_FLAG}={n} before JAX starts (the CLI's --devices does)"
            )
        mesh = Mesh(np.asarray(have[:n]), ("points",))
        self.devices = n
        self._split = NamedSharding(mesh, PartitionSpec("points"))
        self._whole = NamedSharding(mesh, PartitionSpec())

    def place(self, args: tuple, in_axes: tuple) -> tuple:
        """Put the program's arguments on the mesh: per-point ones (``in_axes`` 0) split
        along the point axis, shared ones (``None``) replicated."""
        import jax

        return tuple(
            jax.device_put(a, self._split if ax == 0 else self._whole)
            for a, ax in zip(args, in_axes, strict=True)
        )

    def run(
        self, spec: SweepSpec, data: TrainData, chunks: Sequence[Chunk], *, model: Any = None
    ) -> Iterator[Done]:
        for c in chunks:
            size = math.ceil(c.size / self.devices) * self.devices
            records, dt = _timed(spec, data, c, size, place=self.place, model=model)
            yield Done(c, records, dt, None, self.devices)


def host_device_env(n: int, env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default ``os.environ``) whose ``XLA_FLAGS`` give a fresh JAX
    process ``n`` CPU devices (replacing any device count already there)."""
    env = dict(os.environ if env is None else env)
    flags = re.sub(rf"{DEVICE_FLAG}=\S*", "", env.get("XLA_FLAGS", "")).split()
    env["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_FLAG}={n}"])
    return env


def _probe(address: str, timeout: float = 5.0) -> None:
    """Raise :class:`InfwidthError` unless something accepts TCP at ``HOST:PORT`` (Ray's own
    connect retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InfwidthError(f"--ray-address must be HOST:PORT or auto, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InfwidthError(f"no Ray cluster answers at {address}: {exc}") from None


def _ray_chunk(
    spec: SweepSpec, data: TrainData, chunk: Chunk, model: Any = None
) -> tuple[list[dict[str, Any]], float, str]:
    """A Ray task: one chunk on the worker's default device; returns its records, the
    seconds spent and the id of the node it ran on."""
    import ray

    from .._xla_cache import enable_compilation_cache

    enable_compilation_cache()  # the worker's persistent cache: a rerun skips compiling
    records, dt = _timed(spec, data, chunk, chunk.size, model=model)
    return records, dt, ray.get_runtime_context().get_node_id()


class RayExecutor:
    """Chunks as Ray tasks. ``address``: an existing cluster (``"HOST:PORT"``, ``"auto"``);
    ``None`` starts a local one on 127.0.0.1 (``num_cpus`` CPUs, default all), stopped by
    :meth:`close`. Use as a context manager."""

    #: the task body (a test replaces it to kill a worker once)
    task = staticmethod(_ray_chunk)

    def __init__(
        self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = 3
    ) -> None:
        if address is None:  # a local cluster: loopback only (read when Ray is imported)
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no traffic off this machine
        try:
            import ray
        except ImportError:
            raise InfwidthError(RAY_HINT) from None
        if address not in (None, "auto"):
            _probe(address)
        self._ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kw.update(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1")
            else:
                kw.update(address=address)
            try:
                ray.init(**kw)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or "a local cluster"
                raise InfwidthError(f"could not start Ray on {where}: {exc}") from None
        self._remote = ray.remote(num_cpus=1, max_retries=max_retries)(self.task)

    def run(
        self, spec: SweepSpec, data: TrainData, chunks: Sequence[Chunk], *, model: Any = None
    ) -> Iterator[Done]:
        ray = self._ray
        spec_ref, data_ref = ray.put(spec), ray.put(data)
        extra = () if model is None else (ray.put(model),)  # a user's model, pickled
        remote = self._remote.options(scheduling_strategy="SPREAD")
        pending = {remote.remote(spec_ref, data_ref, c, *extra): c for c in chunks}
        failed: list[str] = []
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            c = pending.pop(ref)
            try:
                records, dt, node = ray.get(ref)
            except ray.exceptions.RayError as exc:
                failed.append(f"chunk {c.index + 1}: {str(exc).splitlines()[0]}")
                continue
            yield Done(c, records, dt, node, 1)
        if failed:
            raise InfwidthError(
                f"{len(failed)} chunk(s) failed on Ray after retries (the others are stored; "
                f"rerun to retry): {failed[0]}"
            )

    def close(self) -> None:
        """Disconnect (and stop the local cluster this executor started)."""
        if self._own and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
