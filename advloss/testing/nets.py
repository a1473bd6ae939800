"""Small discriminators built from the same NumPy weights in every framework, written
functionally (parameters are explicit, so parameter gradients can be compared).  Used by the
equivalence suite, the tests and the benchmarks.

A network is a tuple of layers, each a tuple ``(kind, *arguments)``:

* ``("dense", w, b)``: ``x @ p[w] + p[b]``;
* ``("conv", k, b, stride, pad)``: 2-D convolution of NCHW ``x`` with the OIHW kernel ``p[k]``,
  zero padding ``pad`` on each side, plus the bias ``p[b]`` per channel;
* ``("act", name, *args)``: ``tanh``, ``softplus`` or ``leaky_relu`` (``args``: the slope);
* ``("mean_hw",)``: the mean over the spatial axes; ``("flatten",)``: one row per sample.

`advloss.testing.Harness.net` builds a network in a framework's own operators,
`numpy_net` in NumPy float64 (the reference).  The named networks:

* ``mlp``: x (N, 6) -> tanh(x W1 + b1) (N, 8) -> . W2 + b2 -> (N, 1)
* ``conv``: x (N, 2, 6, 6) NCHW -> conv 3x3 stride 1 pad 1 (4 channels) -> softplus -> mean over
  space -> . W + b -> (N, 1)

Smooth activations, so second derivatives (which penalties backpropagate through) are non-trivial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["INPUT_SHAPES", "LAYERS", "forward", "numpy_forward", "numpy_net", "weights"]

Layers = tuple[tuple[Any, ...], ...]

LAYERS: dict[str, Layers] = {
    "mlp": (("dense", "w1", "b1"), ("act", "tanh"), ("dense", "w2", "b2")),
    "conv": (
        ("conv", "k", "kb", 1, 1),
        ("act", "softplus"),
        ("mean_hw",),
        ("dense", "w", "b"),
    ),
}
INPUT_SHAPES = {"mlp": (6,), "conv": (2, 6, 6)}


def weights(kind: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The weights of the named network ``kind`` (``"mlp"`` or ``"conv"``), float64."""
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


def _conv(x: np.ndarray, k: np.ndarray, stride: int, pad: int) -> np.ndarray:
    n, _, h, w = x.shape
    _, _, kh, kw = k.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, k.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = padded[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, k)
    return out


_NUMPY_ACTS: dict[str, Callable[..., np.ndarray]] = {
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0, x),
    "leaky_relu": lambda x, slope=0.01: np.where(x >= 0, x, slope * x),
}


def numpy_net(layers: Sequence[tuple[Any, ...]], p: Mapping[str, Any], x: Any) -> np.ndarray:
    """The network ``layers`` in NumPy float64 (the reference; values only)."""
    for kind, *args in layers:
        if kind == "dense":
            x = x @ p[args[0]] + p[args[1]]
        elif kind == "conv":
            k, b, stride, pad = args
            x = _conv(x, p[k], stride, pad) + p[b][None, :, None, None]
        elif kind == "act":
            x = _NUMPY_ACTS[args[0]](x, *args[1:])
        elif kind == "mean_hw":
            x = x.mean(axis=(2, 3))
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        else:
            raise ValueError(f"unknown layer {kind!r}")
    return np.asarray(x)


def numpy_forward(kind: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The named network ``kind`` in NumPy float64."""
    return numpy_net(LAYERS[kind], p, x)


def forward(framework: str, kind: str) -> Callable[[Any, Any], Any]:
    """``f(params, x)`` of the named network ``kind`` for ``framework``, with params a dict of
    that framework's tensors (``"numpy"``: the float64 reference, values only)."""
    if framework == "numpy":
        return lambda p, x: numpy_forward(kind, p, x)
    from advloss.testing.harness import get_harness

    return get_harness(framework).net(LAYERS[kind])
