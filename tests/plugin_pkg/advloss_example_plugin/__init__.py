"""An example advloss plugin, written once against advloss's backend primitives so that it runs
on PyTorch, TensorFlow, JAX and NumPy alike.

* ``logistic-margin`` (:class:`LogisticMarginLoss`, hyperparameter ``margin``): the hinge loss
  with ``softplus`` in place of ``relu``::

      D: mean(softplus(margin - r)) + mean(softplus(margin + f))
      G: mean(softplus(margin - f))

  (``margin=0`` is the non-saturating loss);
* ``logistic-margin-2``: the instance ``LogisticMarginLoss(margin=2.0)``;
* ``drift`` (:class:`DriftPenalty`, hyperparameter ``weight``): ProGAN's drift penalty
  ``weight * mean(D(real)^2)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from advloss.backend import backend_for

__all__ = ["LOGISTIC_MARGIN_2", "DriftPenalty", "LogisticMarginLoss"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogisticMarginLoss:
    """Smooth hinge loss; ``get_loss("logistic-margin", margin=...)``."""

    name = "logistic-margin"
    margin: float = 1.0

    def __post_init__(self) -> None:
        if not self.margin >= 0.0:
            raise ValueError(f"LogisticMarginLoss: margin must be >= 0; received {self.margin}.")

    def discriminator(
        self, real_logits: Any, fake_logits: Any, *, backend: str | None = None, **options: Any
    ) -> Any:
        b = backend_for(real_logits, fake_logits, backend=backend, where="logistic-margin")
        return b.mean(b.softplus(self.margin - real_logits)) + b.mean(
            b.softplus(self.margin + fake_logits)
        )

    def generator(self, fake_logits: Any, *, backend: str | None = None, **options: Any) -> Any:
        b = backend_for(fake_logits, backend=backend, where="logistic-margin")
        return b.mean(b.softplus(self.margin - fake_logits))


LOGISTIC_MARGIN_2 = LogisticMarginLoss(margin=2.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DriftPenalty:
    """ProGAN's drift penalty on the real logits; ``get_penalty("drift", weight=...)``."""

    name = "drift"
    weight: float = 1e-3

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        out = discriminator(real)
        return self.weight * backend_for(out, where="drift").mean(out * out)
