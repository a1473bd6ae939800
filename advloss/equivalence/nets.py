"""Small discriminators built from the same NumPy weights in every framework, written
functionally (parameters are explicit, so parameter gradients can be compared).  Used by the
equivalence suite and the tests.

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
    n, _, h, w = x.shape
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
    if framework == "numpy":  # the float64 reference (values only: NumPy has no autodiff)
        return lambda p, x: numpy_forward(kind, p, x)
    if framework == "torch":
        import torch
        import torch.nn.functional as F

        if kind == "mlp":
            return lambda p, x: torch.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

        def conv_torch(p, x):
            y = F.softplus(F.conv2d(x, p["k"], p["kb"], padding=1))
            return y.mean(dim=(2, 3)) @ p["w"] + p["b"]

        return conv_torch
    if framework == "tensorflow":
        import tensorflow as tf

        if kind == "mlp":
            return lambda p, x: tf.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

        def conv_tf(p, x):
            nhwc = tf.transpose(x, [0, 2, 3, 1])
            y = tf.nn.conv2d(nhwc, tf.transpose(p["k"], [2, 3, 1, 0]), 1, "SAME") + p["kb"]
            return tf.reduce_mean(tf.nn.softplus(y), axis=[1, 2]) @ p["w"] + p["b"]

        return conv_tf
    import jax
    import jax.numpy as jnp

    if kind == "mlp":
        return lambda p, x: jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def conv_jax(p, x):
        y = jax.lax.conv_general_dilated(
            x, p["k"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        y = jax.nn.softplus(y + p["kb"][None, :, None, None])
        return jnp.mean(y, axis=(2, 3)) @ p["w"] + p["b"]

    return conv_jax
