"""Per-framework plumbing for the equivalence suite: build tensors from NumPy, evaluate a function
eagerly or compiled, differentiate it, read the results back as NumPy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from advloss.backend import get_backend

Fn = Callable[[dict[str, Any]], dict[str, Any]]

COMPILERS = {
    "torch": "torch.compile(fullgraph=True)",
    "tensorflow": "tf.function(jit_compile=True)",
    "jax": "jax.jit",
}


def prepare(framework: str) -> None:
    """Framework settings the suite needs: float64 in JAX, room for many torch.compile graphs."""
    if framework == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # one tf.function per item: retracing warnings are noise
    elif framework == "torch":
        import torch._dynamo

        config = torch._dynamo.config
        for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit"):
            if hasattr(config, name):
                setattr(config, name, max(getattr(config, name), 4096))


def evaluate(
    framework: str,
    fn: Fn,
    inputs: Mapping[str, np.ndarray],
    diff: Sequence[str],
    dtype: str,
    compiled: bool,
) -> dict[str, np.ndarray]:
    """``fn(tensors)`` — a dict of named outputs — and the gradient of the sum of all outputs
    with respect to each input named in ``diff`` (as ``"d/d <name>"``), all as NumPy arrays."""
    b = get_backend(framework)
    tensors = {k: b.from_numpy(np.asarray(a, dtype=np.float64), dtype) for k, a in inputs.items()}
    diff = list(diff)
    if framework == "torch":
        import torch

        for k in diff:
            tensors[k].requires_grad_(True)
        run = torch.compile(fn, fullgraph=True, dynamic=False) if compiled else fn
        out = run(tensors)
        grads: list[Any] = []
        if diff:
            parts = [v.sum() for v in out.values() if v.requires_grad]
            if parts:
                grads = list(
                    torch.autograd.grad(
                        torch.stack(parts).sum(), [tensors[k] for k in diff], allow_unused=True
                    )
                )
            else:
                grads = [None] * len(diff)
            grads = [
                torch.zeros_like(tensors[k]) if g is None else g
                for k, g in zip(diff, grads, strict=True)
            ]
        out = {k: v.detach() for k, v in out.items()}
    elif framework == "tensorflow":
        import tensorflow as tf

        def step(ts: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            with tf.GradientTape() as tape:
                for k in diff:
                    tape.watch(ts[k])
                values = fn(ts)
                total = tf.add_n([tf.reduce_sum(tf.cast(v, tf.float64)) for v in values.values()])
            if not diff:
                return values, []
            g = tape.gradient(
                total, [ts[k] for k in diff], unconnected_gradients=tf.UnconnectedGradients.ZERO
            )
            return values, g

        if compiled:
            step = tf.function(step, jit_compile=True)
        out, grads = step(tensors)
    else:
        import jax
        import jax.numpy as jnp

        def total(d: dict[str, Any], c: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            values = fn({**c, **d})
            return sum(jnp.sum(v.astype(jnp.float64)) for v in values.values()), values

        wrt = {k: tensors[k] for k in diff}
        const = {k: v for k, v in tensors.items() if k not in wrt}
        if diff:
            vg = jax.value_and_grad(total, has_aux=True)
            if compiled:
                vg = jax.jit(vg)
            (_, out), g = vg(wrt, const)
            grads = [g[k] for k in diff]
        else:
            plain = jax.jit(fn) if compiled else fn
            out, grads = plain(tensors), []
    result = {k: np.asarray(b.to_numpy(v), dtype=np.float64) for k, v in out.items()}
    for k, g in zip(diff, grads, strict=True):
        result[f"d/d {k}"] = np.asarray(b.to_numpy(g), dtype=np.float64)
    return result
