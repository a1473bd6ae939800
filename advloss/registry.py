"""Loss names -> loss classes: :func:`get_loss` and :func:`available_losses`."""

from __future__ import annotations

import inspect
from typing import Any

from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.losses import (
    AdversarialLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    WassersteinLoss,
)

__all__ = ["available_losses", "get_loss"]

_LOSSES: dict[str, Any] = {
    cls.name: cls
    for cls in (
        MinimaxLoss,
        NonSaturatingLoss,
        LeastSquaresLoss,
        HingeLoss,
        WassersteinLoss,
        RelativisticAverageLoss,
    )
}


def available_losses() -> list[str]:
    """The names :func:`get_loss` accepts."""
    return sorted(_LOSSES)


def get_loss(name: str, **hyperparameters: Any) -> AdversarialLoss:
    """The loss called ``name``, built with keyword ``hyperparameters``.

    Names: ``"minimax"``, ``"ns"`` (non-saturating), ``"lsgan"`` (``a``, ``b``, ``c``),
    ``"hinge"`` (``real_margin``, ``fake_margin``), ``"wgan"``, ``"ragan"``; ``"minimax"`` and
    ``"ns"`` take ``real_label`` (one-sided label smoothing).

    Example:
        >>> import advloss
        >>> advloss.get_loss("ns", real_label=0.9)
        NonSaturatingLoss(real_label=0.9)

    Raises:
        AdvlossValueError: unknown name (the message lists the known ones) or an invalid value.
        AdvlossTypeError: a hyperparameter the loss does not have.
    """
    try:
        factory = _LOSSES[name]
    except (KeyError, TypeError):
        raise AdvlossValueError(
            f"get_loss: unknown loss name {name!r}; known losses: {available_losses()}."
        ) from None
    accepted = [
        p.name for p in inspect.signature(factory).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    unknown = sorted(set(hyperparameters) - set(accepted))
    if unknown:
        raise AdvlossTypeError(
            f"get_loss: loss {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"it accepts {accepted or 'none'}."
        )
    return factory(**hyperparameters)
