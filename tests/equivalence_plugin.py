"""A deliberately wrong plugin for tests/test_equivalence.py: a loss and a penalty that compute
the right value in PyTorch and JAX but are off by 1e-3 (relative) in TensorFlow only.  Importing
this module registers them (``--import tests.equivalence_plugin``)."""

from __future__ import annotations

from typing import Any

from advloss.backend import backend_for
from advloss.registry import register_loss, register_penalty


class SkewedLoss:
    """The non-saturating loss, skewed in TensorFlow."""

    name = "skewed_ns"

    def _skew(self, x: Any) -> Any:
        return x * 1.001 if backend_for(x).name == "tensorflow" else x

    def discriminator(self, real_logits: Any, fake_logits: Any, **_: Any) -> Any:
        b = backend_for(real_logits, fake_logits)
        return self._skew(b.mean(b.softplus(-real_logits)) + b.mean(b.softplus(fake_logits)))

    def generator(self, fake_logits: Any, **_: Any) -> Any:
        b = backend_for(fake_logits)
        return b.mean(b.softplus(-fake_logits))  # this side is right everywhere

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


class Drift:
    """A drift penalty (mean squared real logit), right in every framework."""

    name = "drift_ok"

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        logits = discriminator(real)
        return 1e-3 * backend_for(logits).mean(logits * logits)


register_loss("skewed_ns", SkewedLoss, overwrite=True)
register_penalty("drift_ok", Drift, overwrite=True)
