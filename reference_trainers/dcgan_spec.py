"""The DCGAN architecture as data, and its weights drawn once in NumPy.

One list of :class:`Layer` describes each network; the PyTorch, Flax and Keras trainers build
their networks from it (``reference_trainers.dcgan``, ``.dcgan_jax``, ``.dcgan_tf``), and
:func:`numpy_weights` draws the DCGAN initialisation in NumPy, in PyTorch's layouts, with
converters to Flax's and Keras' layouts, so that the three frameworks can start from the same
weights.

Layouts (``k`` the kernel size):

=============  ==========================  =================================================
layer          PyTorch                     Flax / Keras
=============  ==========================  =================================================
conv           ``(out, in, k, k)``         ``(k, k, in, out)``
conv-transpose ``(in, out, k, k)``         Keras ``(k, k, out, in)``; Flax ``ConvTranspose``
                                           (``transpose_kernel=False``) the spatially
                                           flipped ``(k, k, in, out)``
activations    ``(N, C, H, W)``            ``(N, H, W, C)``
=============  ==========================  =================================================

Padding: PyTorch's ``ConvTranspose2d(padding=p)`` is Flax's ``ConvTranspose`` with explicit
padding ``k - 1 - p`` on each side (the padding of the stride-dilated input), and Keras'
``Conv2DTranspose`` with ``"same"`` for ``(k, s, p) = (4, 2, 1)`` and ``"valid"`` for ``p = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from reference_trainers.config import DCGANConfig

#: every convolution of the DCGAN has a 4×4 kernel
KERNEL = 4
#: the ε of every normalization layer (PyTorch's default; Keras' is 1e-3, Flax's GroupNorm 1e-6)
NORM_EPSILON = 1e-5
#: batch-norm running-average momentum in PyTorch's convention (Keras / Flax: 1 - 0.1 = 0.9)
BN_MOMENTUM = 0.1
PARAMETRIC = ("conv", "convT", "batch", "layer", "instance")


@dataclass(frozen=True)
class Layer:
    """One layer: ``conv`` / ``convT`` (4×4, ``stride``, ``padding``, ``bias``), a normalization
    over ``cout`` channels (``batch``, ``layer`` = one group, ``instance`` = one group per
    channel; all with a per-channel scale and shift), or an activation (``relu``, ``lrelu``
    with slope 0.2, ``tanh``)."""

    kind: str
    cin: int = 0
    cout: int = 0
    stride: int = 1
    padding: int = 0
    bias: bool = True


def generator_layers(z_dim: int, width: int, image_size: int, channels: int) -> list[Layer]:
    """z ``(N, z_dim)`` seen as a 1×1 image → ``(N, channels, S, S)`` in [-1, 1]: a 4×4
    projection, then ×2 upsampling transposed convolutions with batch norm and ReLU, halving the
    channels (Radford et al. 2016)."""
    n_up = int(math.log2(image_size)) - 2
    ch = width * 2 ** (n_up - 1) if n_up > 0 else width
    layers = [Layer("convT", z_dim, ch, 1, 0, bias=False), Layer("batch", cout=ch), Layer("relu")]
    for _ in range(n_up - 1):
        layers += [
            Layer("convT", ch, ch // 2, 2, 1, bias=False),
            Layer("batch", cout=ch // 2),
            Layer("relu"),
        ]
        ch //= 2
    return [*layers, Layer("convT", ch, channels, 2, 1), Layer("tanh")]


def discriminator_layers(width: int, image_size: int, channels: int, norm: str) -> list[Layer]:
    """image → one logit per sample: stride-2 convolutions with LeakyReLU(0.2), doubling the
    channels down to 4×4 (``norm`` after each but the first: ``batch``, ``layer``,
    ``instance`` or ``none``), then a 4×4 convolution to one channel."""
    n_down = int(math.log2(image_size)) - 2
    layers = [Layer("conv", channels, width, 2, 1), Layer("lrelu")]
    ch = width
    for _ in range(n_down - 1):
        layers.append(Layer("conv", ch, ch * 2, 2, 1, bias=norm == "none"))
        if norm != "none":
            layers.append(Layer(norm, cout=ch * 2))
        layers.append(Layer("lrelu"))
        ch *= 2
    return [*layers, Layer("conv", ch, 1, 1, 0)]


def numpy_weights(layers: list[Layer], rng: np.random.Generator, dtype: Any) -> list[Any]:
    """The DCGAN initialisation drawn from ``rng`` in PyTorch's layouts, one entry per layer:
    convolution weights N(0, 0.02) and zero biases, normalization scales N(1, 0.02) and zero
    shifts, ``None`` for activations."""
    out: list[Any] = []
    for layer in layers:
        if layer.kind == "conv":
            shape: tuple[int, ...] = (layer.cout, layer.cin, KERNEL, KERNEL)
        elif layer.kind == "convT":
            shape = (layer.cin, layer.cout, KERNEL, KERNEL)
        elif layer.kind in ("batch", "layer", "instance"):
            scale = 1.0 + 0.02 * rng.standard_normal(layer.cout)
            out.append({"weight": scale.astype(dtype), "bias": np.zeros(layer.cout, dtype)})
            continue
        else:
            out.append(None)
            continue
        w = {"weight": (0.02 * rng.standard_normal(shape)).astype(dtype)}
        if layer.bias:
            w["bias"] = np.zeros(layer.cout, dtype)
        out.append(w)
    return out


def spectral_state(
    layers: list[Layer], weights: list[Any], rng: np.random.Generator, warmup: int
) -> list[Any]:
    """Starting power-iteration states ``(u, v)`` for every convolution, computed in NumPy
    float64 with :func:`advloss.init_state` (u ~ N(0, I), ``warmup`` steps) on the PyTorch
    view of the weight, ``(out, in·k·k)``; ``None`` for other layers."""
    from advloss.spectral import init_state

    states: list[Any] = []
    for layer, w in zip(layers, weights, strict=True):
        if layer.kind != "conv":
            states.append(None)
            continue
        u, v = init_state(
            w["weight"].astype(np.float64), rng, dim=0, n_power_iterations=warmup, backend="numpy"
        )
        states.append((u, v))
    return states


def v_channels_last(v: np.ndarray, layer: Layer) -> np.ndarray:
    """A right singular vector in PyTorch's flattening of a conv weight, ``(in, k, k)``, in
    Flax's / Keras' flattening of the kernel, ``(k, k, in)``."""
    return v.reshape(layer.cin, KERNEL, KERNEL).transpose(1, 2, 0).reshape(-1)


def kernel_channels_last(w: np.ndarray, layer: Layer, *, flax: bool = False) -> np.ndarray:
    """A PyTorch conv / conv-transpose weight in the channels-last kernel layout (module
    docstring; ``flax=True`` for Flax's ``ConvTranspose`` convention)."""
    if layer.kind == "conv":
        return w.transpose(2, 3, 1, 0)
    if flax:
        return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1))
    return w.transpose(2, 3, 1, 0)


class NumpyDCGAN(NamedTuple):
    """The two networks' layer lists, weights (PyTorch layouts, float64) and the discriminator's
    spectral-norm states (``None`` without spectral norm)."""

    g_layers: list[Layer]
    d_layers: list[Layer]
    g_weights: list[Any]
    d_weights: list[Any]
    spectral: list[Any] | None


def numpy_dcgan(cfg: DCGANConfig, channels: int, norm: str, rng: np.random.Generator) -> NumpyDCGAN:
    """The DCGAN of a trainer config drawn from ``rng`` in a fixed order — G's weights, D's,
    then D's spectral-norm states — so every framework starts from the same numbers."""
    from advloss.nn import WARMUP_ITERATIONS

    g_layers = generator_layers(cfg.z_dim, cfg.width, cfg.image_size, channels)
    d_layers = discriminator_layers(cfg.width, cfg.image_size, channels, norm)
    g_weights = numpy_weights(g_layers, rng, np.float64)
    d_weights = numpy_weights(d_layers, rng, np.float64)
    sn = spectral_state(d_layers, d_weights, rng, WARMUP_ITERATIONS) if cfg.spectral_norm else None
    return NumpyDCGAN(g_layers, d_layers, g_weights, d_weights, sn)
