r"""Spectral normalization for Keras 3 layers: the ``SpectralNormalization`` wrapper.

``SpectralNormalization(layer)`` evaluates ``layer`` with its kernel replaced by
``kernel / σ`` (``advloss.spectral.spectral_normalize``, output axis ``dim``), without ever
writing to the kernel: the kernel stays the trainable variable and the normalized kernel is
substituted for the call through ``keras.StatelessScope``, so **gradients flow through σ** to the
kernel — unlike ``keras.layers.SpectralNormalization``, which assigns ``kernel / σ`` into the
kernel in training (so the next forward reads a constant σ and the kernel itself is rescaled).

* State: non-trainable weights ``u`` (``(out,)``) and ``v`` (``(kernel.size // out,)``), created
  in ``build`` from a random ``u`` followed by ``warmup_iterations`` steps (15 by default).
* Train/eval: with ``training=True`` the wrapper runs ``power_iterations`` v-first steps and
  assigns the new ``u``, ``v``; otherwise (the default, as for Keras' wrapper) σ comes from the
  stored ``u``, ``v`` unchanged.
* ``dim``: the kernel's output axis, ``-1`` (Keras kernels are ``(..., in, out)``), or ``-2`` for
  ``Conv{1,2,3}DTranspose`` (kernels ``(..., out, in)``).

The wrapper works eagerly and inside ``tf.function`` (``model.fit``); the spec is written in the
framework of the kernel's tensors, so it is not tied to the TensorFlow backend of Keras.

Normalization layers for discriminators trained with a gradient penalty:
``LayerNormalization`` and ``GroupNormalization`` are ``keras.layers``' layers (same
arguments, weights and outputs) whose statistics keep their gradients.  On the TensorFlow
backend Keras computes them with ``tf.nn.moments``, which stops the gradient through the mean
inside the variance: harmless for first derivatives (the variance's derivative with respect to
its mean is zero), wrong for second ones — so R1, R2 and WGAN-GP get wrong parameter gradients
through ``keras.layers.LayerNormalization`` / ``GroupNormalization`` (measured: up to 97 %
relative error on one example; see ``docs/penalties.md``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
from keras import ops

from advloss.backend import backend_for
from advloss.errors import AdvlossValueError
from advloss.nn import WARMUP_ITERATIONS, _options
from advloss.spectral import SN_EPSILON, _layout, _state_from_u, spectral_normalize

__all__ = ["GroupNormalization", "LayerNormalization", "SpectralNormalization"]

_TRANSPOSED = tuple(
    getattr(keras.layers, n)
    for n in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
    if hasattr(keras.layers, n)
)


def _no_autocast() -> Any:
    """A scope where variables read in their own dtype: under a mixed policy Keras would hand
    the wrapper a bfloat16/float16 copy of the float32 kernel."""
    try:
        from keras.src.backend import AutocastScope
    except ImportError:  # pragma: no cover - Keras moved its private module
        return contextlib.nullcontext()
    return AutocastScope(None)


def _outer_stateless_scope() -> Any:
    try:
        from keras.src.backend.common.stateless_scope import get_stateless_scope
    except ImportError:  # pragma: no cover - Keras moved its private module
        return None
    return get_stateless_scope()


@keras.saving.register_keras_serializable(package="advloss")
class SpectralNormalization(keras.layers.Wrapper):
    """Spectral normalization of a layer's kernel, with gradients through σ.

    Args:
        layer: a Keras layer with a ``kernel`` (``Dense``, ``Conv*``, ``Conv*Transpose``, ...) or
            ``embeddings`` (``Embedding``) weight.
        power_iterations: v-first power-iteration steps per training call, an int >= 1.
        eps: ε > 0 of the normalization ``x / max(‖x‖, ε)`` (Keras' own wrapper uses
            ``keras.config.epsilon()`` = 1e-7; advloss uses torch's and Flax's 1e-12).
        dim: the kernel's output axis; ``None`` picks -2 for ``Conv*Transpose`` and -1
            otherwise.
        warmup_iterations: steps run once when the state is created.
        seed: seed of the initial ``u`` (``None``: random).
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        power_iterations: int = 1,
        eps: float = SN_EPSILON,
        dim: int | None = None,
        warmup_iterations: int = WARMUP_ITERATIONS,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(layer, **kwargs)
        self.power_iterations, self.eps, self.warmup_iterations = _options(
            type(self).__name__, power_iterations, eps, warmup_iterations, "power_iterations"
        )
        if dim is None:
            dim = -2 if _TRANSPOSED and isinstance(layer, _TRANSPOSED) else -1
        self.dim = dim
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def _kernel(self) -> Any:
        for attr in ("kernel", "embeddings"):
            var = getattr(self.layer, attr, None)
            if isinstance(var, keras.Variable):
                return var
        raise AdvlossValueError(
            f"{type(self).__name__}: the wrapped {type(self.layer).__name__} has no 'kernel' nor "
            f"'embeddings' weight to normalize; its weights are "
            f"{[w.path for w in self.layer.weights]}."
        )

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        kernel = self._kernel()
        with _no_autocast():
            value = kernel.value
        b = backend_for(value, where=type(self).__name__)
        dim, out, m = _layout(type(self).__name__, b, value, self.dim)
        dtype = "float32" if kernel.dtype in ("float16", "bfloat16") else kernel.dtype
        u0 = keras.random.normal((out,), dtype=dtype, seed=self._seed_generator)
        u0, v0 = _state_from_u(b, value, u0, dim, self.warmup_iterations, self.eps)
        self.u = self.add_weight(
            shape=(out,),
            initializer=lambda shape, dtype: u0,
            dtype=dtype,
            trainable=False,
            autocast=False,
            name="u",
        )
        self.v = self.add_weight(
            shape=(m,),
            initializer=lambda shape, dtype: v0,
            dtype=dtype,
            trainable=False,
            autocast=False,
            name="v",
        )

    def normalize(self, training: bool = False) -> Any:
        """``advloss.spectral.SpectralNormState`` of the kernel; with ``training=True``
        ``power_iterations`` steps are taken (the state is not assigned here)."""
        with _no_autocast():  # the float32 kernel and state, also under a mixed policy
            return spectral_normalize(
                self._kernel().value,
                self.u.value,
                self.v.value,
                n_power_iterations=self.power_iterations if training else 0,
                eps=self.eps,
                dim=self.dim,
            )

    def call(self, inputs: Any, training: Any = None) -> Any:
        kernel = self._kernel()
        out = self.normalize(bool(training))
        if training:
            self.u.assign(out.u)
            self.v.assign(out.v)
        mapping = [(kernel, out.weight)]
        if _outer_stateless_scope() is not None:
            # Keep the outer scope's values (e.g. Keras' stateless training on JAX) for the
            # layer's other variables: the inner scope would otherwise read the stored ones.
            with _no_autocast():
                mapping += [(w, w.value) for w in self.layer.weights if w is not kernel]
        with keras.StatelessScope(state_mapping=mapping):
            return self.layer(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "power_iterations": self.power_iterations,
            "eps": self.eps,
            "dim": self.dim,
            "warmup_iterations": self.warmup_iterations,
            "seed": self.seed,
        }


def _exact_moments(x: Any, axes: list[int]) -> tuple[Any, Any]:
    """Mean and biased variance over ``axes``, the gradient flowing through both (so their
    second derivatives are exact)."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    return mean, ops.mean(ops.square(x - mean), axis=axes, keepdims=True)


def _compute(x: Any) -> Any:
    """float16/bfloat16 inputs are normalized in float32 (as Keras does)."""
    return ops.cast(x, "float32") if keras.backend.standardize_dtype(x.dtype) in (
        "float16", "bfloat16") else x  # fmt: skip


class LayerNormalization(keras.layers.LayerNormalization):
    r"""``keras.layers.LayerNormalization`` with exact second derivatives (for discriminators
    trained with R1, R2 or WGAN-GP).

    For an input ``x`` of any shape and the normalized axes ``axis``:

    $$
    y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
    \mu = \operatorname{mean}_{\text{axis}} x, \qquad
    \sigma^2 = \operatorname{mean}_{\text{axis}} (x - \mu)^2,
    $$

    with ``gamma`` and ``beta`` of shape ``x.shape[axis]``.  Same arguments, weights and outputs
    as Keras' layer (``rms_scaling`` is not supported); the difference is that the gradient
    flows through $\mu$ inside $\sigma^2$, which ``tf.nn.moments`` (Keras'
    TensorFlow backend) stops — see the module docstring.

    Examples:
        >>> import numpy as np
        >>> from advloss.nn.keras import LayerNormalization
        >>> x = np.array([[1.0, 2.0, 4.0]])
        >>> [round(float(v), 4) for v in np.ravel(LayerNormalization(epsilon=0.0)(x))]
        [-1.069, -0.2673, 1.3363]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.rms_scaling:
            raise AdvlossValueError(
                "LayerNormalization: rms_scaling=True is not supported; use "
                "keras.layers.LayerNormalization (its RMS form has no mean to stop)."
            )

    def call(self, inputs: Any) -> Any:
        x = _compute(inputs)
        ndim = len(x.shape)
        axes = [a % ndim for a in self.axis]
        mean, var = _exact_moments(x, axes)
        y = (x - mean) * ops.rsqrt(var + self.epsilon)
        shape = [x.shape[i] if i in axes else 1 for i in range(ndim)]
        if self.gamma is not None:
            y = y * ops.reshape(ops.cast(self.gamma, y.dtype), shape)
        if self.beta is not None:
            y = y + ops.reshape(ops.cast(self.beta, y.dtype), shape)
        return ops.cast(y, self.compute_dtype)


class GroupNormalization(keras.layers.GroupNormalization):
    r"""``keras.layers.GroupNormalization`` with exact second derivatives (for discriminators
    trained with R1, R2 or WGAN-GP).

    The ``C`` channels of axis ``axis`` are split into ``groups`` groups; each sample is
    normalized per group over its channels and every other non-batch axis, then scaled and
    shifted per channel by ``gamma`` and ``beta`` (shape ``(C,)``).  ``groups=1`` is PyTorch's
    ``GroupNorm(1, C)`` ("layer norm" over C, H, W), ``groups=C`` is instance normalization.
    Same arguments, weights and outputs as Keras' layer; the gradient flows through the mean
    inside the variance (see ``LayerNormalization``).

    Examples:
        >>> import numpy as np
        >>> from advloss.nn.keras import GroupNormalization
        >>> x = np.array([[[1.0, 2.0], [4.0, 5.0]]])          # (N=1, W=2, C=2)
        >>> [round(float(v), 4) for v in np.ravel(GroupNormalization(groups=2, epsilon=0.0)(x))]
        [-1.0, -1.0, 1.0, 1.0]
        >>> [round(float(v), 4) for v in np.ravel(GroupNormalization(groups=1, epsilon=0.0)(x))]
        [-1.2649, -0.6325, 0.6325, 1.2649]
    """

    def call(self, inputs: Any) -> Any:
        x = _compute(inputs)
        ndim = len(x.shape)
        axis = self.axis % ndim
        channels = x.shape[axis]
        dynamic = ops.shape(x)
        grouped = [dynamic[i] if i else -1 for i in range(ndim)]
        grouped[axis : axis + 1] = [self.groups, channels // self.groups]
        g = ops.reshape(x, grouped)
        reduce = [i for i in range(1, ndim + 1) if i != axis]
        mean, var = _exact_moments(g, reduce)
        y = ops.reshape((g - mean) * ops.rsqrt(var + self.epsilon), dynamic)
        shape = [channels if i == axis else 1 for i in range(ndim)]
        if self.gamma is not None:
            y = y * ops.reshape(ops.cast(self.gamma, y.dtype), shape)
        if self.beta is not None:
            y = y + ops.reshape(ops.cast(self.beta, y.dtype), shape)
        return ops.cast(y, self.compute_dtype)
