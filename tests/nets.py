"""Test helpers around :mod:`advloss.equivalence.nets` (the small discriminators built from the
same NumPy weights in every framework)."""

from __future__ import annotations

import numpy as np

from advloss.equivalence.nets import INPUT_SHAPES, forward, numpy_forward, weights

__all__ = ["INPUT_SHAPES", "forward", "numpy_forward", "penalty_and_param_grads", "weights"]


def penalty_and_param_grads(framework, kind, params_np, penalty, inputs_np, dtype, compiled=False):
    """``penalty(D, *inputs)`` with ``D = forward(params)`` and its gradient w.r.t. the params,
    as NumPy: ``(value, {name: grad})``."""
    import advloss

    b = advloss.get_backend(framework)
    fwd = forward(framework, kind)
    names = sorted(params_np)
    inputs = [b.from_numpy(a, dtype) for a in inputs_np]
    if framework == "torch":
        import torch

        params = [b.from_numpy(params_np[k], dtype).requires_grad_(True) for k in names]

        def run(ps, xs):
            p = dict(zip(names, ps, strict=True))
            return penalty(lambda x: fwd(p, x), *xs)

        fn = torch.compile(run, fullgraph=True, dynamic=False) if compiled else run
        value = fn(params, inputs)
        # A parameter can be unconnected to a penalty (the output bias never affects the input
        # gradient): its gradient is zero.
        if not value.requires_grad:  # e.g. a lazy penalty on a skipped step: a constant 0
            return b.to_numpy(value), {k: np.zeros_like(params_np[k]) for k in names}
        grads = torch.autograd.grad(value, params, allow_unused=True)
        grads = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
        ]
        return b.to_numpy(value), {k: b.to_numpy(g) for k, g in zip(names, grads, strict=True)}
    if framework == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(b.from_numpy(params_np[k], dtype)) for k in names]

        def step(*xs):
            with tf.GradientTape() as tape:
                p = dict(zip(names, variables, strict=True))
                value = penalty(lambda x: fwd(p, x), *xs)
            return value, tape.gradient(
                value, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
            )

        if compiled:
            step = tf.function(step, jit_compile=True)
        value, grads = step(*inputs)
        return b.to_numpy(value), {k: b.to_numpy(g) for k, g in zip(names, grads, strict=True)}
    import jax

    def run(p, xs):
        return penalty(lambda x: fwd(p, x), *xs)

    vg = jax.value_and_grad(run)
    if compiled:
        vg = jax.jit(vg)
    value, grads = vg({k: b.from_numpy(params_np[k], dtype) for k in names}, inputs)
    return b.to_numpy(value), {k: b.to_numpy(grads[k]) for k in names}
