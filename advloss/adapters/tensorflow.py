"""TensorFlow adapter (eager, ``tf.function`` and XLA)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from advloss.errors import AdvlossTypeError


class TensorflowBackend:
    # No instance __dict__: torch.compile then installs no guard per primitive looked up.
    __slots__ = ()
    name = "tensorflow"
    module = "tensorflow"
    host_values = False
    needs_explicit_key = False
    has_autodiff = True

    def is_tensor_type(self, cls: type) -> bool:
        return issubclass(cls, (tf.Tensor, tf.Variable))

    def asarray(self, value: Any, dtype: str) -> Any:
        return tf.convert_to_tensor(value, dtype=tf.as_dtype(dtype))

    def dtype(self, x: Any) -> str:
        return x.dtype.name

    def cast(self, x: Any, dtype: str) -> Any:
        return tf.cast(x, tf.as_dtype(dtype))

    def shape(self, x: Any) -> tuple[int | None, ...]:
        # as_list: ~2.5x cheaper eagerly than iterating the TensorShape; both raise ValueError
        # on an unknown rank.
        return tuple(x.shape.as_list())

    def softplus(self, x: Any) -> Any:
        return tf.nn.softplus(x)

    def relu(self, x: Any) -> Any:
        return tf.nn.relu(x)

    def mean(self, x: Any) -> Any:
        return tf.reduce_mean(x)

    def sum(self, x: Any) -> Any:
        return tf.reduce_sum(x)

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def sqrt(self, x: Any) -> Any:
        return tf.sqrt(x)

    def maximum(self, x: Any, y: Any) -> Any:
        return tf.maximum(x, tf.cast(y, x.dtype) if isinstance(y, (int, float)) else y)

    def minimum(self, x: Any, y: Any) -> Any:
        return tf.minimum(x, tf.cast(y, x.dtype) if isinstance(y, (int, float)) else y)

    def cos(self, x: Any) -> Any:
        return tf.cos(x)

    def sin(self, x: Any) -> Any:
        return tf.sin(x)

    def exp(self, x: Any) -> Any:
        return tf.exp(x)

    def floor(self, x: Any) -> Any:
        return tf.floor(x)

    def full(self, value: float, dtype: str, like: Any) -> Any:
        return tf.constant(value, dtype=tf.as_dtype(dtype))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return tf.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        return tf.experimental.numpy.moveaxis(x, source, destination)

    def matmul(self, a: Any, b: Any) -> Any:
        if len(b.shape) == 1:
            return tf.linalg.matvec(a, b)
        return tf.matmul(a, b)

    def sum_per_sample(self, x: Any) -> Any:
        return tf.reduce_sum(x, axis=list(range(1, len(x.shape)))) if len(x.shape) > 1 else x

    def uniform(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return self._random("uniform", rng, shape, dtype, like)

    def normal(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return self._random("normal", rng, shape, dtype, like)

    def split_key(self, rng: Any, n: int) -> list[Any]:
        _check_seed(rng)
        if rng is None or isinstance(rng, tf.random.Generator):
            return [rng] * n  # stateful: consumed in call order
        seed = tf.constant([rng, 0], tf.int64) if isinstance(rng, int) else tf.cast(rng, tf.int64)
        seeds = tf.random.experimental.stateless_split(seed, num=n)
        return [seeds[i] for i in range(n)]

    def _random(self, kind: str, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        dt = tf.as_dtype(dtype)
        if any(s is None for s in shape):  # unknown at trace time: take it from `like`
            shape = tf.stack([tf.shape(like)[i] if s is None else s for i, s in enumerate(shape)])
        _check_seed(rng)
        if isinstance(rng, tf.random.Generator):
            return getattr(rng, kind)(shape, dtype=dt)
        if rng is None:
            return getattr(tf.random, kind)(shape, dtype=dt)
        seed = tf.constant([rng, 0], tf.int64) if isinstance(rng, int) else tf.cast(rng, tf.int64)
        return getattr(tf.random, f"stateless_{kind}")(shape, seed=seed, dtype=dt)

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        return tf.cond(pred, true_fn, false_fn)

    def host_int(self, x: Any) -> int | None:
        # Eagerly a CPU tensor's value is in host memory (tf.cond reads `pred` there anyway);
        # in a tf.function the step is symbolic: select with tf.cond.
        if not tf.executing_eagerly() or not x.dtype.is_integer or x.shape.rank != 0:
            return None
        if "GPU" in x.device.upper() or "TPU" in x.device.upper():
            return None
        return int(x.numpy())

    def is_concrete(self, x: Any) -> bool:
        return bool(tf.executing_eagerly())

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        if isinstance(x, (int, float)):
            x = tf.cast(x, y.dtype)
        elif isinstance(y, (int, float)):
            y = tf.cast(y, x.dtype)
        return tf.where(cond, x, y)

    def mean_over(self, x: Any, axes: tuple[int, ...]) -> Any:
        return tf.reduce_mean(x, axis=list(axes), keepdims=True)

    def arange(self, n: int, dtype: str, like: Any) -> Any:
        return tf.range(n, dtype=tf.as_dtype(dtype))

    def take_along_axis(self, x: Any, indices: Any, axis: int) -> Any:
        return tf.experimental.numpy.take_along_axis(x, indices, axis)

    def to_device(self, x: Any, like: Any) -> Any:
        return x  # TensorFlow copies between devices itself

    def input_gradient(self, fn: Any, x: Any) -> tuple[Any, Any]:
        # The gradient is taken while the caller's tape (if any) is recording, so the caller can
        # differentiate it again with respect to the discriminator's variables.
        x = tf.stop_gradient(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, x)  # None where `out` does not depend on x

    def input_gradient_through(self, fn: Any, x: Any) -> tuple[Any, Any]:
        # As input_gradient without the stop_gradient: the caller's tape also records how the
        # gradient depends on x.
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, x)

    def square(self, x: Any) -> Any:
        return tf.square(x)  # no Python operator dispatch (cheaper eagerly than x * x)

    def l2_norm(self, x: Any) -> Any:
        return tf.norm(x)

    def dot(self, a: Any, b: Any) -> Any:
        return tf.tensordot(a, b, 1)

    def replica_mean(self, values: list[Any], replicas: Any) -> list[Any]:
        context = tf.distribute.get_replica_context() if replicas is True else replicas
        if not isinstance(context, tf.distribute.ReplicaContext):
            raise AdvlossTypeError(
                f"replicas must be True (the current replica context) or a "
                f"tf.distribute.ReplicaContext, inside strategy.run; received {replicas!r}"
                + (
                    " (there is no replica context here: a cross-replica context)"
                    if replicas is True
                    else ""
                )
                + "."
            )
        values = [tf.stop_gradient(v) for v in values]
        return list(context.all_reduce(tf.distribute.ReduceOp.MEAN, values))

    def to_numpy(self, x: Any) -> Any:
        if x.dtype == tf.bfloat16:
            x = tf.cast(x, tf.float32)
        return np.array(x)

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        t = tf.convert_to_tensor(np.asarray(a))
        return t if dtype is None else tf.cast(t, tf.as_dtype(dtype))


def _check_seed(rng: Any) -> None:
    if rng is None or isinstance(rng, tf.random.Generator):
        return
    if isinstance(rng, int) and not isinstance(rng, bool):
        return
    if isinstance(rng, (tf.Tensor, tf.Variable)):
        integer, shape = rng.dtype.is_integer, tuple(rng.shape)
    elif isinstance(rng, np.ndarray):
        integer, shape = rng.dtype.kind in "iu", rng.shape
    else:
        integer, shape = False, ()
    if integer and shape == (2,):
        return
    raise AdvlossTypeError(
        f"key must be an int seed, a shape-(2,) integer seed tensor, a tf.random.Generator or "
        f"None (the global generator); received {rng!r:.60} of type {type(rng).__name__}."
    )


BACKEND = TensorflowBackend()
