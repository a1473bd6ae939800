"""JAX adapter.  Works on concrete arrays and on tracers (``jax.jit``, ``jax.grad``, ``vmap``).

Float64 needs ``jax.config.update("jax_enable_x64", True)``; without it JAX silently computes in
float32.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from advloss import _stats
from advloss.errors import AdvlossTypeError, AdvlossValueError

#: dtype object → name: ``x.dtype.name`` builds the string on every read (~4 µs eagerly), a
#: dict lookup on the (hashable, interned) dtype does not.  Filled as dtypes are seen.
_NAMES: dict[Any, str] = {}


def _dtype_name(dtype: Any) -> str:
    name = _NAMES[dtype] = dtype.name
    return name


class JaxBackend:
    # No instance __dict__: torch.compile then installs no guard per primitive looked up.
    __slots__ = ()
    name = "jax"
    module = "jax"
    host_values = False
    needs_explicit_key = True
    has_autodiff = True

    def is_tensor_type(self, cls: type) -> bool:
        # Tracer types are not subclasses of jax.Array (only instances pass its isinstance hook).
        return issubclass(cls, (jax.Array, jax.core.Tracer))

    def asarray(self, value: Any, dtype: str) -> Any:
        return jnp.asarray(value, dtype=dtype)

    def dtype(self, x: Any) -> str:
        dtype = x.dtype
        return _NAMES.get(dtype) or _dtype_name(dtype)

    def cast(self, x: Any, dtype: str) -> Any:
        return x.astype(dtype)

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(x.shape)

    def softplus(self, x: Any) -> Any:
        return jax.nn.softplus(x)

    def relu(self, x: Any) -> Any:
        return jax.nn.relu(x)

    def mean(self, x: Any) -> Any:
        return jnp.mean(x)

    def sum(self, x: Any) -> Any:
        return jnp.sum(x)

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def sqrt(self, x: Any) -> Any:
        return jnp.sqrt(x)

    def maximum(self, x: Any, y: Any) -> Any:
        return jnp.maximum(x, y)

    def minimum(self, x: Any, y: Any) -> Any:
        return jnp.minimum(x, y)

    def cos(self, x: Any) -> Any:
        return jnp.cos(x)

    def sin(self, x: Any) -> Any:
        return jnp.sin(x)

    def exp(self, x: Any) -> Any:
        return jnp.exp(x)

    def floor(self, x: Any) -> Any:
        return jnp.floor(x)

    def full(self, value: float, dtype: str, like: Any) -> Any:
        return jnp.asarray(value, dtype=dtype)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return jnp.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        return jnp.moveaxis(x, source, destination)

    def matmul(self, a: Any, b: Any) -> Any:
        return jnp.matmul(a, b)

    def sum_per_sample(self, x: Any) -> Any:
        return jnp.sum(x, axis=tuple(range(1, x.ndim))) if x.ndim > 1 else x

    def uniform(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return jax.random.uniform(_key(rng), shape, dtype=dtype)

    def normal(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return jax.random.normal(_key(rng), shape, dtype=dtype)

    def split_key(self, rng: Any, n: int) -> list[Any]:
        return list(jax.random.split(_key(rng), n))

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        return jax.lax.cond(pred, true_fn, false_fn)

    def host_int(self, x: Any) -> int | None:
        # A concrete array on the CPU is host memory (a traced one has no value; reading an
        # accelerator's would synchronise): then skip the `lax.cond` and its compilation.
        if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array) or x.ndim != 0:
            return None
        if not jnp.issubdtype(x.dtype, jnp.integer):
            return None
        if any(d.platform != "cpu" for d in x.devices()):
            return None
        return int(x)

    def is_concrete(self, x: Any) -> bool:
        return not isinstance(x, jax.core.Tracer)

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return jnp.where(cond, x, y)

    def mean_over(self, x: Any, axes: tuple[int, ...]) -> Any:
        return jnp.mean(x, axis=tuple(axes), keepdims=True)

    def arange(self, n: int, dtype: str, like: Any) -> Any:
        return jnp.arange(n, dtype=dtype)

    def take_along_axis(self, x: Any, indices: Any, axis: int) -> Any:
        return jnp.take_along_axis(x, indices, axis=axis)

    def to_device(self, x: Any, like: Any) -> Any:
        return x  # an array made from NumPy is uncommitted: JAX places it with `like`

    def input_gradient(self, fn: Any, x: Any) -> tuple[Any, Any]:
        out, vjp = jax.vjp(fn, jax.lax.stop_gradient(x))
        (grad,) = vjp(jnp.ones_like(out))
        return out, grad

    def input_gradient_through(self, fn: Any, x: Any) -> tuple[Any, Any]:
        out, vjp = jax.vjp(fn, x)
        (grad,) = vjp(jnp.ones_like(out))
        return out, grad

    def square(self, x: Any) -> Any:
        return jnp.square(x)  # no Python operator dispatch (cheaper eagerly than x * x)

    def l2_norm(self, x: Any) -> Any:
        return jnp.linalg.norm(x)

    def dot(self, a: Any, b: Any) -> Any:
        return jnp.dot(a, b)

    def replica_mean(self, values: list[Any], replicas: Any) -> list[Any]:
        if not isinstance(replicas, (str, tuple)) or isinstance(replicas, bool):
            raise AdvlossTypeError(
                f"replicas must be the mapped axis name (or a tuple of names) of the "
                f"shard_map / pmap that runs the step, as for jax.lax.pmean; received "
                f"{replicas!r}. Under plain jax.jit over sharded arrays the values are already "
                f"global: pass replicas=None."
            )
        return list(jax.lax.pmean([jax.lax.stop_gradient(v) for v in values], replicas))

    def to_numpy(self, x: Any) -> Any:
        a = np.asarray(x)
        return a.astype(np.float32) if a.dtype.name == "bfloat16" else a.copy()

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        return jnp.asarray(np.asarray(a), dtype=dtype)


def _key(rng: Any) -> Any:
    if rng is None:
        raise AdvlossValueError(
            "JAX has no global random state: pass key=jax.random.key(seed) (or explicit draws)."
        )
    if isinstance(rng, int) and not isinstance(rng, bool):
        return jax.random.key(rng)
    if isinstance(rng, (jax.Array, jax.core.Tracer)) and (
        jnp.issubdtype(rng.dtype, jax.dtypes.prng_key)
        or (rng.dtype == jnp.uint32 and rng.shape == (2,))
    ):
        return rng
    raise _bad_key(rng, "a JAX key (jax.random.key(seed) or jax.random.PRNGKey(seed)) or an int")


def _bad_key(rng: Any, expected: str) -> AdvlossTypeError:
    return AdvlossTypeError(
        f"key must be {expected}; received {rng!r:.60} of type {type(rng).__name__}."
    )


# The objective's lazily computed statistics flatten as the dict they stand for.
jax.tree_util.register_pytree_node(_stats.Stats, _stats.flatten, _stats.unflatten)

BACKEND = JaxBackend()
