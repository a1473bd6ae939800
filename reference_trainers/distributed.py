"""Data parallelism for the JAX and TensorFlow DCGAN trainers: ``--devices N``.

* JAX: the jitted steps run over a one-axis mesh of the first N of ``jax.devices()``; every
  argument with the batch as its first axis (the real batch, the latents, advloss's draws) is
  sharded over the mesh along it, everything else (the parameters and optimizer states) is
  replicated.  ``jax.jit`` then partitions the step itself: the program still sees the global
  batch, so every mean — losses, penalties, batch norm, advloss's statistics and moving
  averages — is the global batch's (no ``replicas=`` needed), and the numbers are one device's.
* TensorFlow: the models and optimizers are built under a ``tf.distribute.MirroredStrategy``
  over N devices (the GPUs, else N logical CPU devices), each step runs in every replica on its
  shard of the batch with ``strategy.run``, the objective averages its statistics and moving
  averages over the replicas (``replicas=True``), each replica differentiates its share
  ``total / N`` of the global loss because Keras optimizers sum the replicas' gradients, and
  batch norm is Keras' synchronised one (``synchronized=True``: the global batch's statistics).

PyTorch trains data-parallel with ``torchrun`` (DDP), not with ``--devices``.  Nothing here is
imported before the trainer imports its framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

import advloss
from reference_trainers.common import TrainerError

#: The mesh axis (JAX) the batch is split along.
AXIS = "batch"


def check_devices(devices: int, framework: str, batch_size: int) -> None:
    """``--devices``: at least 1; more than 1 only for JAX and TensorFlow, and dividing the
    batch (each device trains on ``batch_size / devices`` samples)."""
    if devices < 1:
        raise TrainerError(f"--devices {devices}: expected an integer >= 1")
    if devices == 1:
        return
    if framework == "torch":
        raise TrainerError(
            f"--devices {devices}: the PyTorch trainer trains data-parallel under torchrun "
            f"(torchrun --nproc_per_node={devices} -m reference_trainers.dcgan ...)"
        )
    if batch_size % devices:
        raise TrainerError(
            f"--devices {devices}: --batch-size {batch_size} must divide by the device count "
            f"(every device trains on an equal share of the batch)"
        )


# ------------------------------------------------------------------------------------- JAX


class JaxDataParallel:
    """Shard a jitted step's batch arguments over ``devices`` devices (module docstring)."""

    def __init__(self, devices: int, batch: int) -> None:
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        available = jax.devices()
        if devices > len(available):
            hint = ""
            if available[0].platform == "cpu":
                hint = (
                    f"; on a CPU, simulate devices with "
                    f"XLA_FLAGS=--xla_force_host_platform_device_count={devices}"
                )
            raise TrainerError(
                f"--devices {devices}: JAX sees {len(available)} device"
                f"{'s' * (len(available) != 1)} ({available[0].platform}){hint}"
            )
        mesh = Mesh(np.array(available[:devices]), (AXIS,))
        self.batch = batch
        self.sharded = NamedSharding(mesh, PartitionSpec(AXIS))
        self.replicated = NamedSharding(mesh, PartitionSpec())

    def place(self, tree: Any, *, batch_axis: bool = True) -> Any:
        """``tree``'s arrays on the mesh: split along their first axis when it is the batch's
        (and ``batch_axis``), else replicated; other leaves (Python values, None) as they are."""
        import jax

        def put(x: Any) -> Any:
            if not isinstance(x, (jax.Array, np.ndarray)):
                return x
            split = batch_axis and np.ndim(x) >= 1 and np.shape(x)[0] == self.batch
            return jax.device_put(x, self.sharded if split else self.replicated)

        return jax.tree_util.tree_map(put, tree)

    def step(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn(state, *args, **kwargs)`` with ``state`` replicated and the batch arguments
        sharded."""

        def call(state: Any, *args: Any, **kwargs: Any) -> Any:
            return fn(self.place(state, batch_axis=False), *self.place(args), **self.place(kwargs))

        return call


def jax_steps(
    devices: int, batch: int, *steps: Callable[..., Any]
) -> tuple[Callable[..., Any], ...]:
    """The jitted steps, data-parallel over ``devices`` devices (unchanged for 1)."""
    if devices == 1:
        return steps
    parallel = JaxDataParallel(devices, batch)
    return tuple(parallel.step(fn) for fn in steps)


# ------------------------------------------------------------------------------ TensorFlow


def tf_scope(devices: int, device: str, single: Any) -> Any:
    """The context the TensorFlow trainer builds and trains in: ``single`` (its one-device
    placement) for 1 device, else a ``MirroredStrategy``'s scope over ``devices`` GPUs —
    or, on the CPU (``--device cpu``, or no GPU), ``devices`` logical CPU devices."""
    if devices == 1:
        return single
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device != "cpu" and gpus:
        if devices > len(gpus):
            raise TrainerError(f"--devices {devices}: TensorFlow sees {len(gpus)} GPUs")
        names = [f"/GPU:{i}" for i in range(devices)]
    elif device == "cuda":
        raise TrainerError("--device cuda: TensorFlow sees no GPU")
    else:
        physical = tf.config.list_physical_devices("CPU")[0]
        with contextlib.suppress(RuntimeError):  # TensorFlow is initialised: devices are fixed
            # before anything lists the logical devices (that initialises TensorFlow)
            if len(tf.config.get_logical_device_configuration(physical) or ()) < devices:
                tf.config.set_logical_device_configuration(
                    physical, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
                )
        names = [d.name for d in tf.config.list_logical_devices("CPU")][:devices]
        if len(names) < devices:
            raise TrainerError(
                f"--devices {devices}: TensorFlow has {len(names)} CPU device"
                f"{'s' * (len(names) != 1)} and was initialised before the trainer could split "
                f"the CPU into {devices}"
            )
    return tf.distribute.MirroredStrategy(names).scope()


def tf_batch_norm() -> dict[str, Any]:
    """Keras ``BatchNormalization``'s options under the current strategy: with several
    replicas ``synchronized=True`` (the global batch's statistics, as on one device)."""
    import tensorflow as tf

    return {"synchronized": True} if tf.distribute.get_strategy().num_replicas_in_sync > 1 else {}


class _ReplicaObjective:
    """The objective as each replica calls it: statistics and moving averages averaged over
    the replicas, and ``total`` this replica's share of the global loss (``total / N``: Keras
    optimizers sum the replicas' gradients); the rest of the objective as it is."""

    def __init__(self, objective: Any, replicas: int) -> None:
        self._objective, self._scale = objective, 1.0 / replicas

    def __getattr__(self, name: str) -> Any:
        return getattr(self._objective, name)

    def discriminator(self, *args: Any, **kwargs: Any) -> Any:
        out = self._objective.discriminator(*args, replicas=True, **kwargs)
        return out._replace(total=out.total * self._scale)

    def generator(self, *args: Any, **kwargs: Any) -> Any:
        out = self._objective.generator(*args, replicas=True, **kwargs)
        return out._replace(total=out.total * self._scale)


def tf_objective(objective: Any) -> Any:
    """``objective`` for the replicas of the current strategy (unchanged on one device)."""
    import tensorflow as tf

    n = tf.distribute.get_strategy().num_replicas_in_sync
    return objective if n == 1 else _ReplicaObjective(objective, n)


def tf_step(fn: Callable[..., Any], batch: int) -> Callable[..., Any]:
    """``fn`` (a step returning an ``ObjectiveOutput`` made by :func:`tf_objective`'s
    objective) run in every replica of the current strategy on its shard of the batch
    arguments; returns the global output: the replicas' totals summed (each is its share), the
    terms and statistics averaged.  Unchanged on one device."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    n = strategy.num_replicas_in_sync
    if n == 1:
        return fn
    share = batch // n

    def distribute(x: Any) -> Any:
        if not isinstance(x, tf.Tensor) or x.shape.rank == 0 or x.shape[0] != batch:
            return x
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * share :][:share]
        )

    @tf.function(autograph=False)
    def run(args: Any, kwargs: Any) -> Any:
        return strategy.run(fn, args=args, kwargs=kwargs)

    def reduce(out: Any) -> Any:
        """The global value of a step's output: an ``ObjectiveOutput``'s total summed (each
        replica's is its share), every other value averaged (statistics and states are equal
        on every replica already); tuples, lists and dicts of them element by element."""
        mean, total = tf.distribute.ReduceOp.MEAN, tf.distribute.ReduceOp.SUM
        if isinstance(out, advloss.ObjectiveOutput):
            return out._replace(
                total=strategy.reduce(total, out.total, axis=None),
                terms=reduce(dict(out.terms)),
                stats=reduce(dict(out.stats)),
            )
        if isinstance(out, dict):
            return {k: reduce(v) for k, v in out.items()}
        if isinstance(out, tuple) and hasattr(out, "_fields"):  # a NamedTuple state
            return type(out)(*(reduce(v) for v in out))
        if isinstance(out, (tuple, list)):
            return type(out)(reduce(v) for v in out)
        return out if out is None else strategy.reduce(mean, out, axis=None)

    def call(*args: Any, **kwargs: Any) -> Any:
        # Python values (a lazy penalty's `due`) stay Python: tf.function traces per value
        return reduce(run(tf.nest.map_structure(distribute, args),
                          tf.nest.map_structure(distribute, kwargs)))  # fmt: skip

    return call
