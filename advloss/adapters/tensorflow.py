"""TensorFlow adapter (eager, ``tf.function`` and XLA)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


class TensorflowBackend:
    name = "tensorflow"

    def is_tensor_type(self, cls: type) -> bool:
        return issubclass(cls, (tf.Tensor, tf.Variable))

    def asarray(self, value: Any, dtype: str) -> Any:
        return tf.convert_to_tensor(value, dtype=tf.as_dtype(dtype))

    def dtype(self, x: Any) -> str:
        return x.dtype.name

    def cast(self, x: Any, dtype: str) -> Any:
        return tf.cast(x, tf.as_dtype(dtype))

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(x.shape)

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

    def to_numpy(self, x: Any) -> Any:
        if x.dtype == tf.bfloat16:
            x = tf.cast(x, tf.float32)
        return np.array(x)

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        t = tf.convert_to_tensor(np.asarray(a))
        return t if dtype is None else tf.cast(t, tf.as_dtype(dtype))


BACKEND = TensorflowBackend()
