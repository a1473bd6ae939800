r"""Spectral normalization for PyTorch modules: ``spectral_norm`` and
``remove_spectral_norm``.

``spectral_norm(module)`` registers a ``torch.nn.utils.parametrize`` parametrization on
``module.<name>`` (``weight`` by default): the module keeps its original weight as
``module.parametrizations.weight.original`` (the trainable parameter) and every access to
``module.weight`` returns ``weight / σ`` computed by ``advloss.spectral.spectral_normalize``.

* State: buffers ``u`` (``(out,)``) and ``v`` (``(weight.numel() // out,)``) on the
  parametrization (``module.parametrizations.weight[0]``), so they are in the ``state_dict``,
  move with ``.to()`` and are broadcast by DDP.
* Train/eval: ``n_power_iterations`` v-first steps when the module is in training mode, then the
  buffers are updated with ``copy_`` under ``torch.no_grad()`` (in place, so DataParallel
  replicas write back, as torch's own implementations do); in eval mode no step is taken and σ is
  computed from the stored ``(u, v)`` — the σ of the last training forward.
* Autograd: σ is built from fresh tensors (the results of the step, or clones of the buffers in
  eval), never from the buffers themselves, so a later in-place buffer update cannot invalidate a
  graph saved earlier — ``D(real)`` and ``D(fake)`` followed by one backward works.
* Precision: the parametrization runs with autocast disabled and computes in float32 (float64 for
  float64 weights), so it works under ``torch.autocast(..., dtype=torch.bfloat16)``; the layer
  then casts the normalized weight as autocast decides.
* ``dim`` (the output axis): 0, or 1 for ``ConvTranspose{1,2,3}d`` (whose weight is
  ``(in, out, ...)``), as in torch.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.nn import WARMUP_ITERATIONS, _options
from advloss.spectral import SN_EPSILON, init_state, spectral_normalize

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class SpectralNorm(nn.Module):
    """The parametrization ``weight ↦ weight / σ`` with buffers ``u`` and ``v``; registered on a
    module by ``spectral_norm`` (use that)."""

    u: torch.Tensor
    v: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        n_power_iterations: int = 1,
        eps: float = SN_EPSILON,
        dim: int = 0,
        warmup_iterations: int = WARMUP_ITERATIONS,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_power_iterations, self.eps, warmup = _options(
            "SpectralNorm", n_power_iterations, eps, warmup_iterations, "n_power_iterations"
        )
        self.dim = dim
        with torch.no_grad():
            u, v = init_state(
                weight.detach(), generator, dim=dim, n_power_iterations=warmup, eps=self.eps
            )
        self.register_buffer("u", u.clone())
        self.register_buffer("v", v.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            if self.training:
                out = spectral_normalize(
                    weight,
                    self.u,
                    self.v,
                    n_power_iterations=self.n_power_iterations,
                    eps=self.eps,
                    dim=self.dim,
                )
                # out.u / out.v are fresh tensors (results of the step) and are what σ saved;
                # the buffers are only written, so no tensor autograd saved is modified.
                with torch.no_grad():
                    self.u.copy_(out.u)
                    self.v.copy_(out.v)
            else:
                out = spectral_normalize(
                    weight,
                    self.u.clone(),
                    self.v.clone(),
                    n_power_iterations=0,
                    eps=self.eps,
                    dim=self.dim,
                )
        return out.weight

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        # Assigning module.weight = W stores W itself as the original weight (as torch does).
        return value

    def extra_repr(self) -> str:
        return f"n_power_iterations={self.n_power_iterations}, eps={self.eps}, dim={self.dim}"


def _find(module: nn.Module, name: str) -> SpectralNorm | None:
    if not parametrize.is_parametrized(module, name):
        return None
    for p in module.parametrizations[name]:  # type: ignore[index]
        if isinstance(p, SpectralNorm):
            return p
    return None


def spectral_norm(
    module: ModuleT,
    name: str = "weight",
    *,
    n_power_iterations: int = 1,
    eps: float = SN_EPSILON,
    dim: int | None = None,
    warmup_iterations: int = WARMUP_ITERATIONS,
    generator: torch.Generator | None = None,
) -> ModuleT:
    """Spectrally normalize ``module.<name>`` (in place; returns the module).

    Args:
        module: any ``nn.Module`` with a parameter ``name`` of rank >= 1 (``Linear``, ``Conv*``,
            ``ConvTranspose*``, ``Embedding``, ...).
        name: the parameter to normalize.
        n_power_iterations: power-iteration steps per training forward, an int >= 1.
        eps: ε > 0 of the normalization ``x / max(‖x‖, ε)``.
        dim: the weight's output axis; ``None`` picks 1 for ``ConvTranspose{1,2,3}d`` and 0
            otherwise (torch's rule).
        warmup_iterations: power-iteration steps run once now, from a random ``u`` (15, as
            ``torch.nn.utils.parametrizations.spectral_norm``).
        generator: the ``torch.Generator`` drawing the initial ``u`` (default: the global one).

    Returns:
        ``module``, with ``module.<name>`` now computed as ``original / σ``.
    """
    where = "spectral_norm"
    if not isinstance(module, nn.Module):
        raise AdvlossTypeError(
            f"{where}: module must be a torch.nn.Module; received {type(module).__name__}."
        )
    if parametrize.is_parametrized(module, name):
        if _find(module, name) is not None:
            raise AdvlossValueError(
                f"{where}: {type(module).__name__}.{name} is already spectrally normalized."
            )
        weight = module.parametrizations[name].original  # type: ignore[union-attr, index]
    else:
        weight = module._parameters.get(name)
        if weight is None:
            params = [n for n, p in module.named_parameters(recurse=False) if p is not None]
            raise AdvlossValueError(
                f"{where}: {type(module).__name__} has no parameter {name!r} to normalize; its "
                f"parameters are {params}. Pass name=<one of them>."
            )
    if isinstance(weight, nn.parameter.UninitializedParameter):
        raise AdvlossValueError(
            f"{where}: {type(module).__name__}.{name} is not initialized yet (a lazy module); run "
            f"one forward pass before applying spectral normalization."
        )
    if dim is None:
        dim = 1 if isinstance(module, _TRANSPOSED) else 0
    p = SpectralNorm(
        weight,
        n_power_iterations=n_power_iterations,
        eps=eps,
        dim=dim,
        warmup_iterations=warmup_iterations,
        generator=generator,
    )
    parametrize.register_parametrization(module, name, p)
    return module


def remove_spectral_norm(module: ModuleT, name: str = "weight") -> ModuleT:
    """Undo ``spectral_norm``: ``module.<name>`` becomes a plain parameter holding the
    current ``original / σ`` (σ from the stored state, no power-iteration step).  Like
    ``torch.nn.utils.parametrize.remove_parametrizations``, this removes every parametrization
    registered on ``module.<name>``."""
    p = _find(module, name)
    if p is None:
        raise AdvlossValueError(
            f"remove_spectral_norm: {type(module).__name__}.{name} is not spectrally normalized "
            f"by advloss.nn.torch.spectral_norm."
        )
    training = p.training
    p.eval()
    try:
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    finally:
        p.train(training)
    return module
