"""Small discriminators built from the same NumPy weights in every framework, written
functionally (parameters are explicit, so parameter gradients can be compared).

* ``mlp``: x (N, 6) -> tanh(x W1 + b1) (N, 8) -> . W2 + b2 -> (N, 1)
* ``conv``: x (N, 2, 6, 6) NCHW -> conv 3x3 stride 1 pad 1 (4 channels) -> softplus -> mean over
  space -> . W + b -> (N, 1)

Smooth activations, so second derivatives (which penalties backpropagate through) are non-trivial.
"""

from __future__ import annotations

import numpy as np

INPUT_SHAPES = {"mlp": (6,), "conv": (2, 6, 6)}


def weights(kind: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        return {
            "w1": rng.normal(0, 0.5, (6, 8)),
            "b1": rng.normal(0, 0.1, (8,)),
            "w2": rng.normal(0, 0.5, (8, 1)),
            "b2": rng.normal(0, 0.1, (1,)),
        }
    return {
        "k": rng.normal(0, 0.3, (4, 2, 3, 3)),  # OIHW
        "kb": rng.normal(0, 0.1, (4,)),
        "w": rng.normal(0, 0.5, (4, 1)),
        "b": rng.normal(0, 0.1, (1,)),
    }


def numpy_forward(kind: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    if kind == "mlp":
        return np.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, 4, h, w))
    for i in range(h):
        for j in range(w):
            patch = padded[:, :, i : i + 3, j : j + 3]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, p["k"])
    out = np.logaddexp(0, out + p["kb"][None, :, None, None])
    return out.mean(axis=(2, 3)) @ p["w"] + p["b"]


def forward(framework: str, kind: str):
    """``f(params, x)`` for ``framework`` with params a dict of that framework's tensors."""
    if framework == "torch":
        import torch
        import torch.nn.functional as F

        if kind == "mlp":
            return lambda p, x: torch.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

        def conv(p, x):
            y = F.softplus(F.conv2d(x, p["k"], p["kb"], padding=1))
            return y.mean(dim=(2, 3)) @ p["w"] + p["b"]

        return conv
    if framework == "tensorflow":
        import tensorflow as tf

        if kind == "mlp":
            return lambda p, x: tf.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

        def conv(p, x):
            nhwc = tf.transpose(x, [0, 2, 3, 1])
            y = tf.nn.conv2d(nhwc, tf.transpose(p["k"], [2, 3, 1, 0]), 1, "SAME") + p["kb"]
            return tf.reduce_mean(tf.nn.softplus(y), axis=[1, 2]) @ p["w"] + p["b"]

        return conv
    import jax
    import jax.numpy as jnp

    if kind == "mlp":
        return lambda p, x: jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def conv(p, x):
        y = jax.lax.conv_general_dilated(
            x, p["k"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        y = jax.nn.softplus(y + p["kb"][None, :, None, None])
        return jnp.mean(y, axis=(2, 3)) @ p["w"] + p["b"]

    return conv


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
