"""One per-framework harness: tensors from NumPy, value and gradient of a function, compilation,
and the same small network built from NumPy weights — written once for torch, TensorFlow and
JAX, and used by the test suite, ``python -m advloss.equivalence`` and the benchmarks.  A plugin
author tests a new loss or penalty with the same plumbing (see ``docs/api/testing.md``).

Importing this module imports no framework: each harness imports its framework when first used.

* `Harness.evaluate` — ``fn(tensors)`` (a dict of named outputs) and the gradient of the
  sum of all outputs with respect to the inputs named in ``diff``, eagerly or compiled, as NumPy;
* `Harness.value_and_grad` — the same for ``fn(*tensors)`` with one output;
* `Harness.gradient` — the framework-level function behind both (tensors in, tensors
  out: what a benchmark times);
* `Harness.compile` — ``torch.compile(fullgraph=True, dynamic=False)``,
  ``tf.function(jit_compile=True)`` or ``jax.jit`` (other modes and options on request);
* `Harness.params` and `Harness.net` — a functional network from NumPy weights
  (layers as in `advloss.testing.nets`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from advloss.backend import get_backend

__all__ = ["FRAMEWORKS", "Harness", "available_harnesses", "get_harness"]

#: The frameworks a harness exists for, in the order the suite reports them.
FRAMEWORKS = ("torch", "tensorflow", "jax")

#: ``fn(tensors) -> {name: tensor}``: what `Harness.evaluate` differentiates.
Fn = Callable[[dict[str, Any]], dict[str, Any]]


class Harness:
    """Framework-specific plumbing shared by tests, the equivalence suite and the benchmarks.

    Every method that returns arrays returns NumPy arrays in the dtype the framework computed,
    so results compare across frameworks and against a NumPy float64 reference."""

    name: ClassVar[str] = ""
    #: Execution modes: ``"eager"`` then the compiled ones; `compile` uses the last by default.
    modes: ClassVar[tuple[str, ...]] = ("eager",)
    #: How `compile` compiles by default, in words (reports name it).
    compiler: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def backend(self) -> Any:
        """advloss's adapter for this framework (`advloss.get_backend`)."""
        return get_backend(self.name)

    def tensor(self, a: Any, dtype: str = "float32") -> Any:
        """A framework tensor of ``dtype`` holding the values of NumPy ``a`` (rounded once from
        float64, so every framework starts from the same numbers)."""
        return self.backend.from_numpy(np.asarray(a, dtype=np.float64), dtype)

    def numpy(self, x: Any) -> np.ndarray:
        """A framework tensor as a NumPy array (same dtype)."""
        return self.backend.to_numpy(x)

    def prepare(self) -> None:
        """Process-wide settings for many compiled functions in float64 (the equivalence suite
        calls it once per framework): float64 in JAX, quiet retracing in TF, room for many
        torch.compile graphs."""

    def compile(self, fn: Callable[..., Any], mode: str | None = None, **options: Any) -> Any:
        """``fn`` compiled in ``mode`` (default: the last of `modes`); ``options`` go to
        the compiler and override this harness's defaults."""
        raise NotImplementedError

    def gradient(
        self, fn: Fn, diff: Sequence[str], *, compiled: bool = False, mode: str | None = None,
        **options: Any,
    ) -> Any:  # fmt: skip
        """``run(tensors) -> (outputs, grads)``: ``fn``'s outputs and the gradient of the sum of
        all its outputs with respect to ``tensors[k]`` for each ``k`` in ``diff`` (zeros where an
        input does not reach the outputs), as framework tensors.  In torch the tensors named in
        ``diff`` must require gradients (`evaluate` and `params` arrange it).
        ``compiled``: compiled by `compile` with ``mode`` and ``options``."""
        raise NotImplementedError

    def _leaf(self, x: Any) -> Any:
        """A tensor ready to be differentiated with respect to (torch: requires grad)."""
        return x

    def evaluate(
        self,
        fn: Fn,
        inputs: Mapping[str, Any],
        diff: Sequence[str] = (),
        dtype: str = "float64",
        *,
        compiled: bool = False,
    ) -> dict[str, np.ndarray]:
        """``fn(tensors)`` — a dict of named outputs — on ``inputs`` (NumPy arrays, made tensors
        of ``dtype``) and the gradient of the sum of all outputs with respect to each input
        named in ``diff`` (as ``"d/d <name>"``), all as NumPy arrays."""
        diff = list(diff)
        tensors = {k: self.tensor(a, dtype) for k, a in inputs.items()}
        for k in diff:
            tensors[k] = self._leaf(tensors[k])
        out, grads = self.gradient(fn, diff, compiled=compiled)(tensors)
        result = {k: self.numpy(v) for k, v in out.items()}
        for k, g in zip(diff, grads, strict=True):
            result[f"d/d {k}"] = self.numpy(g)
        return result

    def value_and_grad(
        self,
        fn: Callable[..., Any],
        arrays: Sequence[Any],
        dtype: str = "float32",
        *,
        compiled: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``fn(*tensors)`` and the gradient of its sum with respect to each tensor, as NumPy."""
        names = [f"x{i}" for i in range(len(arrays))]
        result = self.evaluate(
            _positional(fn, names), dict(zip(names, arrays, strict=True)), names, dtype,
            compiled=compiled,
        )  # fmt: skip
        return result["out"], [result[f"d/d {k}"] for k in names]

    def params(
        self, weights: Mapping[str, Any], dtype: str = "float32", *, channels_last: bool = False
    ) -> dict[str, Any]:
        """Trainable parameters from NumPy ``weights`` (torch: tensors that require gradients;
        TF: ``tf.Variable``; JAX: arrays).  ``channels_last``: 4-D conv kernels are stored in the
        framework's channels-last layout (HWIO in TF) for `net`'s ``channels_last``."""
        return {k: self._leaf(self.tensor(w, dtype)) for k, w in weights.items()}

    def net(self, layers: Sequence[tuple[Any, ...]], *, channels_last: bool = False) -> Any:
        """``f(params, x)``: the functional network ``layers`` (see `advloss.testing.nets`)
        in this framework's own operators.  Inputs are NCHW with OIHW kernels, or, with
        ``channels_last`` (where the framework prefers it), NHWC with kernels from
        ``params(..., channels_last=True)``."""
        ops = self._ops(channels_last)

        def f(p: Mapping[str, Any], x: Any) -> Any:
            for layer in layers:
                x = ops[layer[0]](p, x, *layer[1:])
            return x

        return f

    def _ops(self, channels_last: bool) -> dict[str, Callable[..., Any]]:
        raise NotImplementedError


def _positional(fn: Callable[..., Any], names: list[str]) -> Fn:
    def run(t: dict[str, Any]) -> dict[str, Any]:
        return {"out": fn(*[t[k] for k in names])}

    return run


class TorchHarness(Harness):
    name = "torch"
    modes = ("eager", "compile")
    compiler = "torch.compile(fullgraph=True)"

    def prepare(self) -> None:
        import torch._dynamo

        config = torch._dynamo.config
        for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit"):
            if hasattr(config, name):
                setattr(config, name, max(getattr(config, name), 4096))

    def compile(self, fn: Callable[..., Any], mode: str | None = None, **options: Any) -> Any:
        import torch

        if (mode or self.modes[-1]) == "eager":
            return fn
        return torch.compile(fn, **{"fullgraph": True, "dynamic": False, **options})

    def _leaf(self, x: Any) -> Any:
        return x.requires_grad_(True)

    def gradient(
        self, fn: Fn, diff: Sequence[str], *, compiled: bool = False, mode: str | None = None,
        **options: Any,
    ) -> Any:  # fmt: skip
        import torch

        diff = list(diff)
        # torch.compile compiles ``fn`` itself (dynamo caches per code object and closure);
        # the backward pass runs outside it, as in training.
        call = self.compile(fn, mode, **options) if compiled else fn

        def run(t: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            out = call(t)
            grads: list[Any] = []
            if diff:
                parts = [v.sum() for v in out.values() if v.requires_grad]
                wrt = [t[k] for k in diff]
                if parts:
                    grads = list(
                        torch.autograd.grad(torch.stack(parts).sum(), wrt, allow_unused=True)
                    )
                else:  # e.g. a lazy penalty on a skipped step: a constant 0
                    grads = [None] * len(diff)
                # An input that does not reach the outputs has a zero gradient.
                grads = [torch.zeros_like(w) if g is None else g for w, g in zip(wrt, grads, strict=True)]  # fmt: skip
            return {k: v.detach() for k, v in out.items()}, grads

        return run

    def _ops(self, channels_last: bool) -> dict[str, Callable[..., Any]]:
        import torch
        import torch.nn.functional as F

        acts: dict[str, Any] = {
            "tanh": torch.tanh,
            "softplus": F.softplus,
            "leaky_relu": F.leaky_relu,
        }
        return {
            "dense": lambda p, x, w, b: x @ p[w] + p[b],
            "conv": lambda p, x, k, b, stride, pad: F.conv2d(
                x, p[k], p[b], stride=stride, padding=pad
            ),
            "act": lambda p, x, name, *args: acts[name](x, *args),
            "mean_hw": lambda p, x: x.mean(dim=(2, 3)),
            "flatten": lambda p, x: x.flatten(1),
        }


class TensorflowHarness(Harness):
    name = "tensorflow"
    modes = ("eager", "function", "xla")
    compiler = "tf.function(jit_compile=True)"

    def prepare(self) -> None:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # one tf.function per item: retracing warnings are noise

    def compile(self, fn: Callable[..., Any], mode: str | None = None, **options: Any) -> Any:
        import tensorflow as tf

        mode = mode or self.modes[-1]
        if mode == "eager":
            return fn
        defaults = {"jit_compile": mode == "xla", "reduce_retracing": False}
        return tf.function(fn, **{**defaults, **options})

    def gradient(
        self, fn: Fn, diff: Sequence[str], *, compiled: bool = False, mode: str | None = None,
        **options: Any,
    ) -> Any:  # fmt: skip
        import tensorflow as tf

        diff = list(diff)

        def step(t: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            with tf.GradientTape() as tape:
                for k in diff:
                    tape.watch(t[k])
                values = fn(t)
                total = tf.add_n([tf.reduce_sum(tf.cast(v, tf.float64)) for v in values.values()])
            if not diff:
                return values, []
            grads = tape.gradient(
                total, [t[k] for k in diff], unconnected_gradients=tf.UnconnectedGradients.ZERO
            )
            return values, grads

        return self.compile(step, mode, **options) if compiled else step

    def params(
        self, weights: Mapping[str, Any], dtype: str = "float32", *, channels_last: bool = False
    ) -> dict[str, Any]:
        import tensorflow as tf

        def layout(w: Any) -> Any:  # OIHW -> HWIO
            return np.transpose(w, (2, 3, 1, 0)) if channels_last and np.ndim(w) == 4 else w

        return {k: tf.Variable(self.tensor(layout(w), dtype)) for k, w in weights.items()}

    def net(self, layers: Sequence[tuple[Any, ...]], *, channels_last: bool = False) -> Any:
        import tensorflow as tf

        acts = {"tanh": tf.tanh, "softplus": tf.nn.softplus, "leaky_relu": tf.nn.leaky_relu}

        # TF's CPU convolution is NHWC only: an NCHW network moves to NHWC at its first conv
        # (kernels OIHW -> HWIO inside the function, so gradients are w.r.t. the OIHW weights)
        # and back before a flatten, so that it computes what torch and JAX compute.
        def f(p: Mapping[str, Any], x: Any) -> Any:
            nhwc = channels_last
            for kind, *args in layers:
                if kind == "dense":
                    x = x @ p[args[0]] + p[args[1]]
                elif kind == "conv":
                    k, b, stride, pad = args
                    if not nhwc:
                        x, nhwc = tf.transpose(x, [0, 2, 3, 1]), True
                    kernel = p[k] if channels_last else tf.transpose(p[k], [2, 3, 1, 0])
                    padding: Any = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
                    if stride == 1 and all(2 * pad + 1 == n for n in kernel.shape[:2]):
                        padding = "SAME"  # the same padding, by TF's faster kernel for it
                    x = tf.nn.conv2d(x, kernel, stride, padding) + p[b]
                elif kind == "act":
                    x = acts[args[0]](x, *args[1:])
                elif kind == "mean_hw":
                    x = tf.reduce_mean(x, axis=[1, 2] if nhwc else [2, 3])
                elif kind == "flatten":
                    if nhwc and not channels_last:
                        x, nhwc = tf.transpose(x, [0, 3, 1, 2]), False
                    x = tf.reshape(x, (tf.shape(x)[0], -1))
                else:
                    raise ValueError(f"unknown layer {kind!r}")
            return x

        return f


class JaxHarness(Harness):
    name = "jax"
    modes = ("eager", "jit")
    compiler = "jax.jit"

    def prepare(self) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)

    def compile(self, fn: Callable[..., Any], mode: str | None = None, **options: Any) -> Any:
        import jax

        return fn if (mode or self.modes[-1]) == "eager" else jax.jit(fn, **options)

    def gradient(
        self, fn: Fn, diff: Sequence[str], *, compiled: bool = False, mode: str | None = None,
        **options: Any,
    ) -> Any:  # fmt: skip
        import jax
        import jax.numpy as jnp

        diff = list(diff)
        if not diff:
            plain = self.compile(fn, mode, **options) if compiled else fn
            return lambda t: (plain(t), [])
        # The sum in float64 where JAX has it (x64 mode), else in float32.
        wide = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32

        def total(d: dict[str, Any], c: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            values = fn({**c, **d})
            return sum(jnp.sum(v.astype(wide)) for v in values.values()), values

        vg = jax.value_and_grad(total, has_aux=True)
        if compiled:
            vg = self.compile(vg, mode, **options)

        def run(t: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            wrt = {k: t[k] for k in diff}
            (_, out), g = vg(wrt, {k: v for k, v in t.items() if k not in wrt})
            return out, [g[k] for k in diff]

        return run

    def _ops(self, channels_last: bool) -> dict[str, Callable[..., Any]]:
        import jax
        import jax.numpy as jnp

        def conv(p: Any, x: Any, k: str, b: str, stride: int, pad: int) -> Any:
            y = jax.lax.conv_general_dilated(
                x, p[k], (stride, stride), ((pad, pad), (pad, pad)),
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
            )  # fmt: skip
            return y + p[b][None, :, None, None]

        acts = {"tanh": jnp.tanh, "softplus": jax.nn.softplus, "leaky_relu": jax.nn.leaky_relu}
        return {
            "dense": lambda p, x, w, b: x @ p[w] + p[b],
            "conv": conv,
            "act": lambda p, x, name, *args: acts[name](x, *args),
            "mean_hw": lambda p, x: jnp.mean(x, axis=(2, 3)),
            "flatten": lambda p, x: jnp.reshape(x, (x.shape[0], -1)),
        }


_HARNESSES: dict[str, type[Harness]] = {
    "torch": TorchHarness,
    "tensorflow": TensorflowHarness,
    "jax": JaxHarness,
}


def get_harness(name: str) -> Harness:
    """The harness of framework ``name`` (``"torch"``, ``"tensorflow"`` / ``"tf"``,
    ``"jax"``); importing the framework is left to its first use."""
    name = {"tf": "tensorflow"}.get(name, name)
    try:
        return _HARNESSES[name]()
    except KeyError:
        raise ValueError(f"no harness for {name!r}; known: {list(_HARNESSES)}") from None


def available_harnesses(names: Sequence[str] | None = None) -> list[Harness]:
    """A harness for each of ``names`` (default: all of `FRAMEWORKS`) that is installed,
    found without importing it."""
    return [
        get_harness(n)
        for n in (names or FRAMEWORKS)
        if n in _HARNESSES and importlib.util.find_spec(n) is not None
    ]
