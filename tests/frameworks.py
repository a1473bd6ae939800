"""One test body, every framework: build tensors from NumPy, differentiate, compile, read back.

``FRAMEWORKS`` holds a :class:`Harness` per importable framework.  Every harness returns NumPy
arrays, so tests compare frameworks pairwise and against the float64 NumPy reference.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import advloss

_ALL = ("torch", "tensorflow", "jax")


def _selected() -> list[str]:
    wanted = os.environ.get("ADVLOSS_TEST_FRAMEWORKS")
    names = [n.strip() for n in wanted.split(",")] if wanted else list(_ALL)
    return [n for n in names if n in _ALL and importlib.util.find_spec(n) is not None]


class Harness:
    """Framework-specific plumbing for tests: tensors, gradients, compilation."""

    name: str

    @property
    def backend(self) -> Any:
        return advloss.get_backend(self.name)

    def tensor(self, a: np.ndarray, dtype: str) -> Any:
        return self.backend.from_numpy(np.asarray(a, dtype=np.float64), dtype)

    def numpy(self, x: Any) -> np.ndarray:
        return self.backend.to_numpy(x)

    def value_and_grad(
        self,
        fn: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        dtype: str,
        *,
        compiled: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``fn(*tensors)`` and the gradient of its sum w.r.t. each tensor, as NumPy arrays."""
        raise NotImplementedError

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError


class TorchHarness(Harness):
    name = "torch"

    def value_and_grad(self, fn, arrays, dtype, *, compiled=False):
        import torch

        ts = [self.tensor(a, dtype).requires_grad_(True) for a in arrays]
        out = (self.compile(fn) if compiled else fn)(*ts)
        grads = torch.autograd.grad(out.sum(), ts, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(ts, grads, strict=True)]
        return self.numpy(out), [self.numpy(g) for g in grads]

    def compile(self, fn):
        import torch

        return torch.compile(fn, fullgraph=True, dynamic=False)


class TensorflowHarness(Harness):
    name = "tensorflow"

    def value_and_grad(self, fn, arrays, dtype, *, compiled=False):
        import tensorflow as tf

        def step(*ts):
            with tf.GradientTape() as tape:
                for t in ts:
                    tape.watch(t)
                out = fn(*ts)
                total = tf.reduce_sum(out)
            grads = tape.gradient(total, list(ts))
            return out, [
                tf.zeros_like(t) if g is None else g for t, g in zip(ts, grads, strict=True)
            ]

        if compiled:
            step = self.compile(step)
        out, grads = step(*[self.tensor(a, dtype) for a in arrays])
        return self.numpy(out), [self.numpy(g) for g in grads]

    def compile(self, fn):
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, reduce_retracing=False)


class JaxHarness(Harness):
    name = "jax"

    def value_and_grad(self, fn, arrays, dtype, *, compiled=False):
        import jax
        import jax.numpy as jnp

        def total(*ts):
            out = fn(*ts)
            return jnp.sum(out), out

        step = jax.value_and_grad(total, argnums=tuple(range(len(arrays))), has_aux=True)
        if compiled:
            step = self.compile(step)
        (_, out), grads = step(*[self.tensor(a, dtype) for a in arrays])
        return self.numpy(out), [self.numpy(g) for g in grads]

    def compile(self, fn):
        import jax

        return jax.jit(fn)


_HARNESSES = {"torch": TorchHarness, "tensorflow": TensorflowHarness, "jax": JaxHarness}
FRAMEWORKS: list[Harness] = [_HARNESSES[n]() for n in _selected()]
FRAMEWORK_PARAMS = [pytest.param(h, id=h.name) for h in FRAMEWORKS]
PAIRS = [
    pytest.param(a, b, id=f"{a.name}-{b.name}")
    for i, a in enumerate(FRAMEWORKS)
    for b in FRAMEWORKS[i + 1 :]
]
