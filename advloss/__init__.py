"""advloss: adversarial losses and regularizers for GAN training, written once and run on
PyTorch, TensorFlow and JAX with equal values and gradients.

Importing advloss imports no framework: the framework of each call is detected from its tensor
arguments (see ``advloss.backend``).

    >>> import advloss
    >>> loss = advloss.get_loss("ns")          # or advloss.NonSaturatingLoss()
    >>> # d_loss = loss.discriminator(D(real), D(fake.detach()))
    >>> # g_loss = loss.generator(D(fake))
"""

from advloss import augment, recipes, schedules
from advloss._version import __version__
from advloss.backend import available_backends, get_backend, register_backend, unregister_backend
from advloss.balance import (
    AdaptiveRatio,
    BalanceMonitor,
    FixedRatio,
    Verdict,
    balance_stats,
    get_ratio,
)
from advloss.combine import COMBINE_EPSILON, combine_adversarial_loss
from advloss.consistency import (
    BalancedConsistencyPenalty,
    ConsistencyPenalty,
    LatentConsistency,
    balanced_consistency_penalty,
    consistency_penalty,
    latent_consistency_generator_penalty,
    latent_consistency_penalty,
)
from advloss.errors import AdvlossError, AdvlossPluginWarning, AdvlossTypeError, AdvlossValueError
from advloss.features import FeatureMatching, feature_matching
from advloss.gradient_norm import gradient_normalize
from advloss.labels import FlipLabels, NoisyLabels, SmoothLabels
from advloss.lazy import LazyStep, lazy_step
from advloss.lecam import LeCam, LeCamState, lecam_penalty
from advloss.losses import (
    AdversarialLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    RelativisticPairingHingeLoss,
    RelativisticPairingLeastSquaresLoss,
    RelativisticPairingLoss,
    WassersteinLoss,
)
from advloss.noise import AdaptiveNoise, AdaptiveNoiseState, instance_noise
from advloss.objective import Objective, ObjectiveOutput
from advloss.path_length import PathLength, PathLengthState, path_length_penalty
from advloss.penalties import (
    DRAGAN_VARIANTS,
    GP_EPSILON,
    DraganPenalty,
    GradientPenalty,
    MaxGradientPenalty,
    R1Penalty,
    R2Penalty,
    dragan_penalty,
    gradient_penalty,
    lazy_adam,
    max_gradient_penalty,
    r1_penalty,
    r2_penalty,
)
from advloss.registry import (
    available_losses,
    available_penalties,
    get_loss,
    get_penalty,
    refresh_plugins,
    register_loss,
    register_penalty,
    unregister_loss,
    unregister_penalty,
)
from advloss.schedules import get_schedule
from advloss.spectral import SN_EPSILON, SpectralNormState, init_state, spectral_normalize

__all__ = [
    "COMBINE_EPSILON",
    "DRAGAN_VARIANTS",
    "GP_EPSILON",
    "SN_EPSILON",
    "AdaptiveNoise",
    "AdaptiveNoiseState",
    "AdaptiveRatio",
    "AdversarialLoss",
    "AdvlossError",
    "AdvlossPluginWarning",
    "AdvlossTypeError",
    "AdvlossValueError",
    "BalanceMonitor",
    "BalancedConsistencyPenalty",
    "ConsistencyPenalty",
    "DraganPenalty",
    "FeatureMatching",
    "FixedRatio",
    "FlipLabels",
    "GradientPenalty",
    "HingeLoss",
    "LatentConsistency",
    "LazyStep",
    "LeCam",
    "LeCamState",
    "LeastSquaresLoss",
    "MaxGradientPenalty",
    "MinimaxLoss",
    "NoisyLabels",
    "NonSaturatingLoss",
    "Objective",
    "ObjectiveOutput",
    "PathLength",
    "PathLengthState",
    "R1Penalty",
    "R2Penalty",
    "RelativisticAverageLoss",
    "RelativisticPairingHingeLoss",
    "RelativisticPairingLeastSquaresLoss",
    "RelativisticPairingLoss",
    "SmoothLabels",
    "SpectralNormState",
    "Verdict",
    "WassersteinLoss",
    "__version__",
    "augment",
    "available_backends",
    "available_losses",
    "available_penalties",
    "balance_stats",
    "balanced_consistency_penalty",
    "combine_adversarial_loss",
    "consistency_penalty",
    "dragan_penalty",
    "feature_matching",
    "get_backend",
    "get_loss",
    "get_penalty",
    "get_ratio",
    "get_schedule",
    "gradient_normalize",
    "gradient_penalty",
    "init_state",
    "instance_noise",
    "latent_consistency_generator_penalty",
    "latent_consistency_penalty",
    "lazy_adam",
    "lazy_step",
    "lecam_penalty",
    "max_gradient_penalty",
    "path_length_penalty",
    "r1_penalty",
    "r2_penalty",
    "recipes",
    "refresh_plugins",
    "register_backend",
    "register_loss",
    "register_penalty",
    "schedules",
    "spectral_normalize",
    "unregister_backend",
    "unregister_loss",
    "unregister_penalty",
]
