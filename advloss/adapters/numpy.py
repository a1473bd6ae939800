"""NumPy adapter: the float64 reference for values.  NumPy has no autodiff, so anything that needs
a gradient (the penalties) raises a clear error with this backend."""

from __future__ import annotations

from typing import Any

import numpy as np


class NumpyBackend:
    name = "numpy"

    def is_tensor_type(self, cls: type) -> bool:
        return issubclass(cls, (np.ndarray, np.generic))

    def asarray(self, value: Any, dtype: str) -> Any:
        return np.asarray(value, dtype=_np_dtype(dtype))

    def dtype(self, x: Any) -> str:
        return np.asarray(x).dtype.name

    def cast(self, x: Any, dtype: str) -> Any:
        return np.asarray(x).astype(_np_dtype(dtype))

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(np.shape(x))

    def softplus(self, x: Any) -> Any:
        return np.logaddexp(np.zeros((), dtype=x.dtype), x)

    def relu(self, x: Any) -> Any:
        return np.maximum(x, np.zeros((), dtype=x.dtype))

    def mean(self, x: Any) -> Any:
        return np.mean(x, dtype=x.dtype)

    def sum(self, x: Any) -> Any:
        return np.sum(x, dtype=x.dtype)

    def stop_gradient(self, x: Any) -> Any:
        return x

    def to_numpy(self, x: Any) -> Any:
        return np.array(x)

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        return np.array(a, dtype=None if dtype is None else _np_dtype(dtype))


def _np_dtype(name: str) -> Any:
    if name == "bfloat16":  # NumPy has no bfloat16; ml_dtypes (a JAX dependency) provides one.
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


BACKEND = NumpyBackend()
