"""One conceptual spectrally normalized layer in the three front ends (``advloss.nn.torch``,
``advloss.nn.keras``, ``advloss.nn.flax``), built from the same NumPy kernel, bias and u, v in
float64.  Each builder returns ``call(x, training) -> (output, kernel gradient of sum(output²),
stored u)`` in the torch layout conventions of the caller.  Used by the equivalence suite and
the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["flax_front_end", "keras_front_end", "torch_front_end"]


def torch_front_end(
    kind: str, w: np.ndarray, bias: np.ndarray, u: np.ndarray, v: np.ndarray
) -> Any:
    import torch

    from advloss.nn.torch import spectral_norm

    module: Any = {
        "dense": lambda: torch.nn.Linear(w.shape[1], w.shape[0]),
        "conv": lambda: torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:]),
        "conv_transpose": lambda: torch.nn.ConvTranspose2d(w.shape[0], w.shape[1], w.shape[2:]),
    }[kind]().double()
    spectral_norm(module)
    p: Any = module.parametrizations.weight
    with torch.no_grad():
        p.original.copy_(torch.from_numpy(w))
        module.bias.copy_(torch.from_numpy(bias))
        p[0].u.copy_(torch.from_numpy(u))
        p[0].v.copy_(torch.from_numpy(v))

    def call(x, training):
        module.train(training)
        xt = torch.from_numpy(x if kind == "dense" else x.transpose(0, 3, 1, 2))
        y = module(xt)
        (g,) = torch.autograd.grad((y**2).sum(), p.original)
        y = y.detach().numpy()
        return (y if kind == "dense" else y.transpose(0, 2, 3, 1)), g.numpy(), p[0].u.numpy().copy()

    return call


def keras_front_end(
    kind: str, kernel: np.ndarray, bias: np.ndarray, u: np.ndarray, v: np.ndarray
) -> Any:
    import keras
    import tensorflow as tf

    from advloss.nn.keras import SpectralNormalization

    inner = {
        "dense": lambda: keras.layers.Dense(kernel.shape[-1], dtype="float64"),
        "conv": lambda: keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], dtype="float64"),
        "conv_transpose": lambda: keras.layers.Conv2DTranspose(
            kernel.shape[-2], kernel.shape[:2], dtype="float64"
        ),
    }[kind]()
    layer = SpectralNormalization(inner, dtype="float64")
    channels = kernel.shape[-1] if kind == "conv_transpose" else kernel.shape[-2]
    layer.build((None, channels) if kind == "dense" else (None, 6, 6, channels))
    layer.layer.kernel.assign(kernel)
    layer.layer.bias.assign(bias)
    layer.u.assign(u)
    layer.v.assign(v)

    def call(x, training):
        with tf.GradientTape() as tape:
            y = layer(tf.constant(x), training=training)
            loss = tf.reduce_sum(y**2)
        g = tape.gradient(loss, layer.layer.kernel.value)
        return y.numpy(), g.numpy(), layer.u.numpy().copy()

    return call


def flax_front_end(
    kind: str, kernel: np.ndarray, bias: np.ndarray, u: np.ndarray, v: np.ndarray
) -> Any:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from advloss.nn.flax import SpectralNorm

    inner = {
        "dense": lambda: nn.Dense(kernel.shape[-1], param_dtype=jnp.float64, dtype=jnp.float64),
        "conv": lambda: nn.Conv(
            kernel.shape[-1],
            kernel.shape[:2],
            padding="VALID",
            param_dtype=jnp.float64,
            dtype=jnp.float64,
        ),
    }[kind]()
    module = SpectralNorm(inner)
    params = {"layer_instance": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}}
    state = {"batch_stats": {"kernel/u": jnp.asarray(u), "kernel/v": jnp.asarray(v)}}

    def call(x, training):
        def loss(p):
            y, new = module.apply(
                {"params": p, **state},
                jnp.asarray(x),
                update_stats=training,
                mutable=["batch_stats"],
            )
            return jnp.sum(y**2), (y, new)

        (_, (y, new)), g = jax.value_and_grad(loss, has_aux=True)(params)
        state.update(new)
        return (
            np.asarray(y),
            np.asarray(g["layer_instance"]["kernel"]),
            np.asarray(new["batch_stats"]["kernel/u"]),
        )

    return call


def _n(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), eps)


#: The kinds each front end supports (Flax's ConvTranspose flips the kernel spatially, so it is
#: not the same layer as torch's ConvTranspose2d / Keras' Conv2DTranspose).
FRONT_END_KINDS = {
    "torch": ("dense", "conv", "conv_transpose"),
    "tensorflow": ("dense", "conv", "conv_transpose"),
    "jax": ("dense", "conv"),
}


def front_end_results(
    framework: str, kind: str, seed: int = 10, calls: tuple[bool, ...] = (True, True, False)
) -> list[dict[str, np.ndarray]]:
    """Run the ``framework``'s front end (torch → ``advloss.nn.torch``, tensorflow →
    ``advloss.nn.keras``, jax → ``advloss.nn.flax``) on one conceptual layer drawn from ``seed``
    — ``kind`` is "dense", "conv" or "conv_transpose" — for a sequence of calls (``True`` =
    training): per call ``{"output", "kernel_grad", "u"}`` in torch's layouts, so the three
    frameworks' results are directly comparable.

    Layouts: torch Linear (out, in) vs Dense kernels (in, out); torch Conv2d (O, I, H, W) vs
    (H, W, I, O) kernels; ConvTranspose2d (I, O, H, W) with dim=1 vs Keras Conv2DTranspose
    (H, W, O, I) with dim=-2.  The front ends flatten the non-output axes in different orders, so
    v is permuted accordingly.
    """
    rng = np.random.default_rng(seed)
    to_kernel: Callable[[np.ndarray], np.ndarray]
    from_kernel: Callable[[np.ndarray], np.ndarray]
    v_perm: Callable[[np.ndarray], np.ndarray]
    if kind == "dense":
        w = rng.normal(size=(4, 5))  # torch (out, in)
        to_kernel = from_kernel = np.transpose
        v_perm = lambda v: v  # noqa: E731
        x = rng.normal(size=(3, 5))
    else:
        w = rng.normal(size=(4, 3, 3, 3) if kind == "conv" else (3, 4, 3, 3))
        to_kernel = lambda a: a.transpose(2, 3, 1, 0)  # noqa: E731
        from_kernel = lambda a: a.transpose(3, 2, 0, 1)  # noqa: E731
        v_perm = lambda v: v.reshape(3, 3, 3).transpose(1, 2, 0).ravel()  # noqa: E731
        x = rng.normal(size=(2, 6, 6, 3))
    bias = rng.normal(size=4)
    u = _n(rng.normal(size=4))
    v = _n(rng.normal(size=w.size // 4))
    if framework == "torch":
        call = torch_front_end(kind, w, bias, u, v)
        convert = lambda g: g  # noqa: E731
    elif framework == "tensorflow":
        call = keras_front_end(kind, to_kernel(w), bias, u, v_perm(v))
        convert = from_kernel
    elif framework == "jax":
        call = flax_front_end(kind, to_kernel(w), bias, u, v_perm(v))
        convert = from_kernel
    else:
        raise ValueError(f"front_end_results: unknown framework {framework!r}")
    out = []
    for training in calls:
        y, g, u_new = call(x, training)
        out.append({"output": y, "kernel_grad": convert(g), "u": u_new})
    return out
