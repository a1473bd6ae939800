"""NumPy adapter: the float64 reference for values.  NumPy has no autodiff, so anything that needs
a gradient (the penalties) raises a clear error with this backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from advloss._checks import NoAutodiff
from advloss.errors import AdvlossTypeError


class NumpyBackend:
    # Unlike the framework adapters, no ``__slots__``: NumPy never runs under torch.compile
    # (whose guards the slots avoid), and the equivalence suite's finite-difference reference
    # swaps ``stop_gradient`` on this instance.
    name = "numpy"
    module = "numpy"
    host_values = True
    needs_explicit_key = False
    has_autodiff = False

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

    def sqrt(self, x: Any) -> Any:
        return np.sqrt(x)

    def maximum(self, x: Any, y: Any) -> Any:
        return np.maximum(x, y)

    def minimum(self, x: Any, y: Any) -> Any:
        return np.minimum(x, y)

    def cos(self, x: Any) -> Any:
        return np.cos(x)

    def sin(self, x: Any) -> Any:
        return np.sin(x)

    def exp(self, x: Any) -> Any:
        return np.exp(x)

    def floor(self, x: Any) -> Any:
        return np.floor(x)

    def full(self, value: float, dtype: str, like: Any) -> Any:
        return np.asarray(value, dtype=_np_dtype(dtype))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return np.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        return np.moveaxis(x, source, destination)

    def matmul(self, a: Any, b: Any) -> Any:
        return np.matmul(a, b)

    def sum_per_sample(self, x: Any) -> Any:
        return np.sum(x, axis=tuple(range(1, np.ndim(x))), dtype=x.dtype)

    def uniform(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return _generator(rng).random(shape).astype(_np_dtype(dtype))

    def normal(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return _generator(rng).standard_normal(shape).astype(_np_dtype(dtype))

    def split_key(self, rng: Any, n: int) -> list[Any]:
        if isinstance(rng, (int, np.integer)):  # derived seeds: independent streams
            return [np.random.default_rng([int(rng), i]) for i in range(n)]
        return [rng] * n

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        return true_fn() if bool(pred) else false_fn()

    def host_int(self, x: Any) -> int | None:
        a = np.asarray(x)
        return int(a) if a.ndim == 0 and np.issubdtype(a.dtype, np.integer) else None

    def is_concrete(self, x: Any) -> bool:
        return True

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return np.where(cond, x, y)  # a Python number takes the array's dtype

    def mean_over(self, x: Any, axes: tuple[int, ...]) -> Any:
        return np.mean(x, axis=tuple(axes), keepdims=True, dtype=x.dtype)

    def arange(self, n: int, dtype: str, like: Any) -> Any:
        return np.arange(n, dtype=_np_dtype(dtype))

    def take_along_axis(self, x: Any, indices: Any, axis: int) -> Any:
        return np.take_along_axis(x, indices, axis)

    def to_device(self, x: Any, like: Any) -> Any:
        return x

    def input_gradient(self, fn: Any, x: Any) -> tuple[Any, Any]:
        raise NoAutodiff(
            "the numpy backend has no automatic differentiation, so penalties that need the "
            "discriminator's input gradient cannot run on NumPy arrays; use torch, tensorflow "
            "or jax tensors."
        )

    def input_gradient_through(self, fn: Any, x: Any) -> tuple[Any, Any]:
        return self.input_gradient(fn, x)  # raises: no autodiff

    def square(self, x: Any) -> Any:
        return np.square(x)

    def l2_norm(self, x: Any) -> Any:
        return np.linalg.norm(x)

    def dot(self, a: Any, b: Any) -> Any:
        return np.dot(a, b)

    def replica_mean(self, values: list[Any], replicas: Any) -> list[Any]:
        return list(values)  # one process: every replica is this one

    def to_numpy(self, x: Any) -> Any:
        return np.array(x)

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        return np.array(a, dtype=None if dtype is None else _np_dtype(dtype))


def _generator(rng: Any) -> Any:
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise AdvlossTypeError(
        f"key must be an int seed, a numpy.random.Generator or None; received {rng!r:.60} of "
        f"type {type(rng).__name__}."
    )


def _np_dtype(name: str) -> Any:
    if name == "bfloat16":  # NumPy has no bfloat16; ml_dtypes (a JAX dependency) provides one.
        try:
            import ml_dtypes
        except ImportError:
            raise AdvlossTypeError(
                "bfloat16 on NumPy arrays needs the ml_dtypes package (installed with JAX or "
                "TensorFlow): pip install ml_dtypes."
            ) from None
        return ml_dtypes.bfloat16
    return np.dtype(name)


BACKEND = NumpyBackend()
