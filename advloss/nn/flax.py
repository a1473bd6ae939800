r"""Spectral normalization for Flax: ``SpectralNorm`` (linen) and ``SpectralNormNNX``.

Both wrap a layer and evaluate it with its kernel (``param_name``, ``"kernel"`` by default)
replaced by ``kernel / σ`` from ``advloss.spectral.spectral_normalize`` with ``dim=-1``
(Flax kernels are ``(..., in, out)``, transposed convolutions included).  The kernel stays the
parameter: gradients flow through σ to it, and it is never overwritten.

* linen — ``SpectralNorm(layer)``, called as ``module(x, update_stats=train)``: the state
  ``u`` (``(out,)``) and ``v`` (``(kernel.size // out,)``) lives in the ``batch_stats``
  collection as ``<param_name>/u`` and ``<param_name>/v`` (created at ``init`` from the
  ``'params'`` rng, then ``warmup_iterations`` steps).  ``update_stats=True`` runs ``n_steps``
  v-first steps and stores the new state (apply with ``mutable=['batch_stats']``);
  ``update_stats=False`` uses the stored state unchanged — the σ of the last training call.
  This is the argument of ``flax.linen.SpectralNorm``, with one difference: Flax runs the power
  iteration on every call and only skips *storing* it when ``update_stats=False``.
* NNX — ``SpectralNormNNX(layer, rngs=nnx.Rngs(0))``: the state is two ``nnx.BatchStat``
  variables ``u`` and ``v``; ``update_stats`` defaults to the module's mode (``.train()`` /
  ``.eval()``).  Unlike ``flax.nnx.SpectralNorm``, which writes ``kernel / σ`` into the wrapped
  layer's kernel on every call, the wrapper substitutes the normalized kernel only for the
  duration of the wrapped layer's call and restores the original afterwards.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax import nnx

from advloss.errors import AdvlossValueError
from advloss.nn import WARMUP_ITERATIONS, _options
from advloss.spectral import SN_EPSILON, init_state, spectral_normalize

__all__ = ["SpectralNorm", "SpectralNormNNX"]


def _missing(where: str, layer: Any, name: str, available: Any) -> AdvlossValueError:
    return AdvlossValueError(
        f"{where}: the wrapped {type(layer).__name__} has no parameter {name!r} to normalize; "
        f"its parameters are {sorted(available)}. Pass param_name=<one of them>."
    )


class SpectralNorm(nn.Module):
    """Spectral normalization of a linen layer's kernel, with gradients through σ.

    Attributes:
        layer_instance: the wrapped layer (``nn.Dense``, ``nn.Conv``, ``nn.ConvTranspose``, ...).
        n_steps: v-first power-iteration steps per ``update_stats=True`` call, an int >= 1.
        eps: ε > 0 of the normalization ``x / max(‖x‖, ε)``.
        dim: the kernel's output axis (-1 for Flax layers).
        warmup_iterations: steps run once when the state is created at ``init``.
        param_name: the parameter of ``layer_instance`` to normalize.
        collection_name: the variable collection holding ``u`` and ``v``.
    """

    layer_instance: nn.Module
    n_steps: int = 1
    eps: float = SN_EPSILON
    dim: int = -1
    warmup_iterations: int = WARMUP_ITERATIONS
    param_name: str = "kernel"
    collection_name: str = "batch_stats"

    @nn.compact
    def __call__(self, *args: Any, update_stats: bool, **kwargs: Any) -> Any:
        """The wrapped layer's output with its kernel spectrally normalized.

        Args:
            *args, **kwargs: passed to the wrapped layer.
            update_stats: ``True`` while training (take ``n_steps`` steps and store ``u``,
                ``v``: apply with ``mutable=['batch_stats']``), ``False`` for evaluation.
        """
        n_steps, eps, warmup = _options(
            type(self).__name__, self.n_steps, self.eps, self.warmup_iterations, "n_steps"
        )

        def trans_in(variables: Any) -> Any:
            params = dict(variables.get("params", {}))
            if self.param_name not in params:
                raise _missing(type(self).__name__, self.layer_instance, self.param_name, params)
            params[self.param_name] = self._normalize(
                params[self.param_name], n_steps if update_stats else 0, eps, warmup, update_stats
            )
            return {**variables, "params": params}

        return nn.map_variables(
            lambda layer: layer(*args, **kwargs),
            "params",
            trans_in_fn=trans_in,
            init=self.is_initializing(),
            mutable=True,
        )(self.layer_instance)

    def _normalize(self, kernel: Any, n: int, eps: float, warmup: int, update: bool) -> Any:
        col, u_name, v_name = self.collection_name, f"{self.param_name}/u", f"{self.param_name}/v"
        kernel = jnp.asarray(kernel)  # parameters may be given as NumPy arrays
        if not self.has_variable(col, u_name) or not self.has_variable(col, v_name):
            u0, v0 = init_state(
                kernel, self.make_rng("params"), dim=self.dim, n_power_iterations=warmup, eps=eps
            )
        else:
            u0 = v0 = None
        u_var = self.variable(col, u_name, lambda: u0)
        v_var = self.variable(col, v_name, lambda: v0)
        out = spectral_normalize(
            kernel, u_var.value, v_var.value, n_power_iterations=n, eps=eps, dim=self.dim
        )
        if update:
            u_var.value = out.u
            v_var.value = out.v
        return out.weight


class SpectralNormNNX(nnx.Module):
    """Spectral normalization of an NNX layer's kernel, with gradients through σ.

    Args:
        layer_instance: the wrapped layer (``nnx.Linear``, ``nnx.Conv``, ...).
        n_steps: v-first power-iteration steps per training call, an int >= 1.
        eps: ε > 0 of the normalization ``x / max(‖x‖, ε)``.
        dim: the kernel's output axis (-1 for Flax layers).
        warmup_iterations: steps run once now, from a random ``u``.
        param_name: the parameter of ``layer_instance`` to normalize.
        update_stats: the default of the call argument; ``.train()`` sets it to ``True`` and
            ``.eval()`` to ``False``.
        rngs: ``nnx.Rngs`` drawing the initial ``u`` (its ``params`` stream).
    """

    def __init__(
        self,
        layer_instance: nnx.Module,
        *,
        n_steps: int = 1,
        eps: float = SN_EPSILON,
        dim: int = -1,
        warmup_iterations: int = WARMUP_ITERATIONS,
        param_name: str = "kernel",
        update_stats: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        where = type(self).__name__
        self.n_steps, self.eps, warmup = _options(where, n_steps, eps, warmup_iterations, "n_steps")
        param = getattr(layer_instance, param_name, None)
        if not isinstance(param, nnx.Param):
            names = [
                str(path[0]) for path, _ in nnx.to_flat_state(nnx.state(layer_instance, nnx.Param))
            ]
            raise _missing(where, layer_instance, param_name, names)
        self.layer_instance = layer_instance
        self.dim = dim
        self.param_name = param_name
        # The attribute nnx's .train()/.eval() toggle (update_stats is its negation).
        self.use_running_average = not update_stats
        u, v = init_state(
            param[...], rngs.params(), dim=dim, n_power_iterations=warmup, eps=self.eps
        )
        self.u = nnx.BatchStat(u)
        self.v = nnx.BatchStat(v)

    def __call__(self, *args: Any, update_stats: bool | None = None, **kwargs: Any) -> Any:
        """The wrapped layer's output with its kernel spectrally normalized; ``update_stats``
        (default: ``not self.use_running_average``) takes ``n_steps`` steps and stores ``u``,
        ``v``."""
        if update_stats is None:
            update_stats = not self.use_running_average
        param = getattr(self.layer_instance, self.param_name)
        original = param[...]
        out = spectral_normalize(
            original,
            self.u[...],
            self.v[...],
            n_power_iterations=self.n_steps if update_stats else 0,
            eps=self.eps,
            dim=self.dim,
        )
        if update_stats:
            self.u[...] = out.u
            self.v[...] = out.v
        param[...] = out.weight
        try:
            return self.layer_instance(*args, **kwargs)
        finally:
            param[...] = original
