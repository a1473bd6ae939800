"""PyTorch adapter."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from advloss.errors import AdvlossTypeError, AdvlossValueError

_NAMES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
    torch.int8: "int8",
    torch.int16: "int16",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.uint8: "uint8",
    torch.bool: "bool",
    torch.complex64: "complex64",
    torch.complex128: "complex128",
}
_DTYPES = {name: dtype for dtype, name in _NAMES.items()}


class TorchBackend:
    # No instance __dict__: torch.compile then installs no guard per primitive looked up.
    __slots__ = ()
    name = "torch"
    module = "torch"
    host_values = False
    needs_explicit_key = False
    has_autodiff = True

    def is_tensor_type(self, cls: type) -> bool:
        return issubclass(cls, torch.Tensor)

    def asarray(self, value: Any, dtype: str) -> Any:
        return torch.as_tensor(value, dtype=_DTYPES[dtype])

    def dtype(self, x: Any) -> str:
        return _NAMES.get(x.dtype) or str(x.dtype).removeprefix("torch.")

    def cast(self, x: Any, dtype: str) -> Any:
        return x.to(_DTYPES[dtype])

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(x.shape)

    def softplus(self, x: Any) -> Any:
        # F.softplus returns x itself above `threshold`: with the default 20 the value loses
        # e^-x (~2e-9 absolute at x = 20, ~1e-10 relative) and the gradient is exactly 1 instead
        # of 1 - 2e-9 -- invisible in float32, not in float64, where 40 makes both < 1e-17.
        if x.dtype == torch.float64:
            return F.softplus(x, threshold=40.0)
        return F.softplus(x)  # no keywords: each costs ~0.3 us per eager call

    # One-op primitives are the framework's own functions (static): no Python frame per
    # call, ~0.1 µs each eagerly.
    relu = staticmethod(torch.relu)

    mean = staticmethod(torch.mean)

    sum = staticmethod(torch.sum)

    stop_gradient = staticmethod(torch.Tensor.detach)

    sqrt = staticmethod(torch.sqrt)

    def maximum(self, x: Any, y: Any) -> Any:
        return torch.clamp_min(x, y) if isinstance(y, (int, float)) else torch.maximum(x, y)

    def minimum(self, x: Any, y: Any) -> Any:
        return torch.clamp_max(x, y) if isinstance(y, (int, float)) else torch.minimum(x, y)

    cos = staticmethod(torch.cos)

    sin = staticmethod(torch.sin)

    exp = staticmethod(torch.exp)

    floor = staticmethod(torch.floor)

    def full(self, value: float, dtype: str, like: Any) -> Any:
        return torch.full((), value, dtype=_DTYPES[dtype], device=like.device)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.reshape(shape)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        return torch.movedim(x, source, destination)

    matmul = staticmethod(torch.matmul)

    def sum_per_sample(self, x: Any) -> Any:
        return x.sum(dim=tuple(range(1, x.dim()))) if x.dim() > 1 else x

    def uniform(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return torch.rand(
            shape, generator=_generator(rng), dtype=_DTYPES[dtype], device=like.device
        )

    def normal(self, rng: Any, shape: Any, dtype: str, like: Any) -> Any:
        return torch.randn(
            shape, generator=_generator(rng), dtype=_DTYPES[dtype], device=like.device
        )

    def split_key(self, rng: Any, n: int) -> list[Any]:
        return [
            _generator(rng)
        ] * n  # a torch.Generator (or None: the global one) is consumed in order

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        # A Python branch would read `pred` on the host (a sync; a graph break under compile):
        # evaluate both branches and select.  The lazy penalties reach this only with a step
        # on an accelerator or traced (`host_int` reads a CPU step); `regularize=` avoids it.
        on_true, on_false = true_fn(), false_fn()
        if isinstance(on_true, tuple):
            return tuple(torch.where(pred, a, b) for a, b in zip(on_true, on_false, strict=True))
        return torch.where(pred, on_true, on_false)

    def host_int(self, x: Any) -> int | None:
        # A CPU tensor's value is in host memory: reading it is no device sync.  `tolist`
        # dispatches no ATen op (`int(x)` would add `_local_scalar_dense`); inside a compiled,
        # traced or functorch-transformed call the value is symbolic: select with `cond`.
        if (
            type(x) is not torch.Tensor
            or x.device.type != "cpu"
            or x.dim() != 0
            or torch.compiler.is_compiling()
            or torch.jit.is_tracing()
        ):
            return None
        try:
            value = x.tolist()
        except RuntimeError:  # e.g. a functorch-wrapped tensor (vmap over steps)
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def is_concrete(self, x: Any) -> bool:
        return (
            type(x) is torch.Tensor
            and not torch.compiler.is_compiling()
            and not torch.jit.is_tracing()
            and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        )

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return torch.where(cond, x, y)

    def mean_over(self, x: Any, axes: tuple[int, ...]) -> Any:
        return x.mean(dim=tuple(axes), keepdim=True)

    def arange(self, n: int, dtype: str, like: Any) -> Any:
        return torch.arange(n, dtype=_DTYPES[dtype], device=like.device)

    def take_along_axis(self, x: Any, indices: Any, axis: int) -> Any:
        # Not torch.take_along_dim: it wraps negative indices with a `remainder` pass over the
        # indices that costs more than the gather itself on the CPU; the indices here are in
        # 0..size - 1 (the primitive's contract).  Broadcast like NumPy's (by hand: eager
        # torch.broadcast_shapes costs ~15 us), then one gather; a mismatch fails in `expand`.
        axis %= x.dim()
        shape = [q if p == 1 else p for p, q in zip(x.shape, indices.shape, strict=True)]
        x_shape, index_shape = list(shape), shape
        x_shape[axis], index_shape[axis] = x.shape[axis], indices.shape[axis]
        return torch.gather(x.expand(x_shape), axis, indices.long().expand(index_shape))

    def to_device(self, x: Any, like: Any) -> Any:
        return x.to(like.device)

    def input_gradient(self, fn: Any, x: Any) -> tuple[Any, Any]:
        x = x.detach()
        if torch.compiler.is_compiling():
            # AOTAutograd cannot differentiate autograd.grad(create_graph=True) twice; a
            # torch.func transform inside the compiled graph can (its backward is first-order).
            out, vjp = torch.func.vjp(fn, x)  # type: ignore[misc]
            (grad,) = vjp(torch.ones_like(out))
            return out, grad
        # Eager: PyTorch's documented pattern (DDP-safe; works with BatchNorm's in-place stats).
        if not torch.is_grad_enabled():
            raise _NoGrad(
                "gradient penalties need autograd, but it is disabled (torch.no_grad() or "
                "inference_mode); compute the penalty with gradients enabled."
            )
        x.requires_grad_(True)
        out = fn(x)
        if not out.requires_grad:  # independent of x (and of any parameter)
            return out, None
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
        return out, grad  # None where `out` does not depend on x: the caller raises

    def input_gradient_through(self, fn: Any, x: Any) -> tuple[Any, Any]:
        if torch.compiler.is_compiling():  # as input_gradient, without detaching x
            out, vjp = torch.func.vjp(fn, x)  # type: ignore[misc]
            (grad,) = vjp(torch.ones_like(out))
            return out, grad
        if not torch.is_grad_enabled():
            raise _NoGrad(
                "the input gradient needs autograd, but it is disabled (torch.no_grad() or "
                "inference_mode); compute it with gradients enabled."
            )
        if not x.requires_grad:  # nothing upstream to reach: a leaf of its own
            x = x.detach().requires_grad_(True)
        out = fn(x)
        if not out.requires_grad:
            return out, None
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
        return out, grad

    def square(self, x: Any) -> Any:
        # x * x (aten.mul), not torch.square (aten.pow): the ATen graph a user's ``d * d`` gives.
        return x * x

    def l2_norm(self, x: Any) -> Any:
        return torch.linalg.vector_norm(x)

    def dot(self, a: Any, b: Any) -> Any:
        return torch.dot(a, b)

    def replica_mean(self, values: list[Any], replicas: Any) -> list[Any]:
        import torch.distributed as dist

        values = [v.detach() for v in values]
        group = None if replicas is True else replicas
        if group is not None and not (dist.is_available() and isinstance(group, dist.ProcessGroup)):
            raise AdvlossTypeError(
                f"replicas must be True (the default process group) or a "
                f"torch.distributed.ProcessGroup; received {replicas!r:.60}."
            )
        if not dist.is_available() or not dist.is_initialized():
            return values  # one process
        wide = values[0].dtype
        for v in values[1:]:  # one collective in the widest dtype: float64 stays exact
            wide = torch.promote_types(wide, v.dtype)
        total = torch.stack([v.to(wide) for v in values])
        dist.all_reduce(total, group=group)  # a sum: gloo has no average
        total = total / dist.get_world_size(group)
        return [t.to(v.dtype) for t, v in zip(total.unbind(), values, strict=True)]

    def to_numpy(self, x: Any) -> Any:
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.numpy().copy()

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        a = np.asarray(a)
        if dtype == "bfloat16" or a.dtype.name == "bfloat16":
            return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        t = torch.from_numpy(a.copy())
        return t if dtype is None else t.to(_DTYPES[dtype])


class _NoGrad(AdvlossValueError, RuntimeError):
    """An advloss error that is also the RuntimeError raised here before."""


def _generator(rng: Any) -> Any:
    if rng is None or isinstance(rng, torch.Generator):
        return rng
    raise _bad_key(rng, "a torch.Generator or None (the global generator)")


def _bad_key(rng: Any, expected: str) -> AdvlossTypeError:
    return AdvlossTypeError(
        f"key must be {expected}; received {rng!r:.60} of type {type(rng).__name__}."
    )


BACKEND = TorchBackend()
