"""Framework front ends for ``advloss.spectral``: layers and wrappers that hold the
power-iteration state ``(u, v)`` and call ``advloss.spectral.spectral_normalize`` in their
forward pass.

* ``advloss.nn.torch`` — ``spectral_norm(module)`` / ``remove_spectral_norm(module)``, a
  ``torch.nn.utils.parametrize`` parametrization with buffers ``u`` and ``v``;
* ``advloss.nn.keras`` — ``SpectralNormalization(layer)``, a Keras 3 wrapper layer;
* ``advloss.nn.flax`` — ``SpectralNorm(layer)`` (linen, state in ``batch_stats``) and
  ``SpectralNormNNX(layer, rngs=...)`` (NNX, state in ``nnx.BatchStat`` variables).

Importing ``advloss.nn`` imports no framework; each submodule imports its own.  The three
front ends share the semantics of the spec: ``n_power_iterations`` v-first steps only while
training (then ``u``, ``v`` are stored), none in evaluation (the stored state gives the same σ as
the last training call), gradients through σ with respect to the weight, and 15 warm-up steps
when the state is created (as ``torch.nn.utils.parametrizations.spectral_norm`` does).  See
``docs/spectral_norm.md``.
"""

from __future__ import annotations

from typing import Any

from advloss.spectral import _epsilon, _iterations

__all__: list[str] = []

#: Warm-up power-iteration steps run when a front end creates its state (torch's choice).
WARMUP_ITERATIONS = 15


def _options(
    where: str, n_power_iterations: Any, eps: Any, warmup_iterations: Any, name: str
) -> tuple[int, float, int]:
    """The validated ``(n_power_iterations, eps, warmup_iterations)`` of a front end."""
    return (
        _iterations(where, name, n_power_iterations, minimum=1),
        _epsilon(where, eps),
        _iterations(where, "warmup_iterations", warmup_iterations),
    )
