"""advloss: adversarial losses and regularizers for GAN training, written once and run on
PyTorch, TensorFlow and JAX with equal values and gradients.

Importing advloss imports no framework: the framework of each call is detected from its tensor
arguments (see :mod:`advloss.backend`).

    >>> import advloss
    >>> loss = advloss.get_loss("ns")          # or advloss.NonSaturatingLoss()
    >>> # d_loss = loss.discriminator(D(real), D(fake.detach()))
    >>> # g_loss = loss.generator(D(fake))
"""

from advloss._version import __version__
from advloss.backend import available_backends, get_backend
from advloss.errors import AdvlossError, AdvlossTypeError, AdvlossValueError
from advloss.losses import (
    AdversarialLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    WassersteinLoss,
)
from advloss.penalties import (
    GP_EPSILON,
    GradientPenalty,
    R1Penalty,
    R2Penalty,
    gradient_penalty,
    r1_penalty,
    r2_penalty,
)
from advloss.registry import available_losses, get_loss
from advloss.spectral import SN_EPSILON, SpectralNormState, init_state, spectral_normalize

__all__ = [
    "GP_EPSILON",
    "SN_EPSILON",
    "AdversarialLoss",
    "AdvlossError",
    "AdvlossTypeError",
    "AdvlossValueError",
    "GradientPenalty",
    "HingeLoss",
    "LeastSquaresLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "R1Penalty",
    "R2Penalty",
    "RelativisticAverageLoss",
    "SpectralNormState",
    "WassersteinLoss",
    "__version__",
    "available_backends",
    "available_losses",
    "get_backend",
    "get_loss",
    "gradient_penalty",
    "init_state",
    "r1_penalty",
    "r2_penalty",
    "spectral_normalize",
]
