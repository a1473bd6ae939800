r"""Data augmentation for the discriminator: DiffAugment, the ADA pipeline and adaptive pseudo
augmentation (APA).

* ``diffaugment(x, policy, *, key=None, draws=None, layout="NCHW", return_draws=False)`` —
  DiffAugment's differentiable colour, translation and cutout transforms (Zhao et al. 2020), the
  reference implementation's formulas and parameters;
* ``DiffAugment`` — the same with its policy bound (the built-in ``"diffaugment"`` of the
  registry's ``"augmentation"`` kind);
* ``ada(x, p, *, ops="bgc", key=None, draws=None, layout="NCHW", return_draws=False)`` —
  StyleGAN2-ADA's pipeline (Karras et al. 2020): x-flip, 90° rotations, integer translation,
  scaling, rotation, anisotropic scaling, fractional translation (one bilinear resampling) and
  brightness, contrast, luma flip, hue, saturation (one colour matrix), each with probability
  ``p``, twice differentiable in every framework;
* ``ADA`` — the same with ``p``, ``ops`` and ``layout`` bound (the built-in ``"ada"``);
* ``apa(real, fake, p, *, key=None, draws=None, return_draws=False)`` — real samples replaced by
  detached fakes with probability ``p`` (Jiang et al. 2021);
* ``APA`` — the same as an ``Objective`` term (``apa(p=0.1)`` or adaptive ``apa(target=0.6)``);
* ``AdaptiveProbability`` — StyleGAN2-ADA's controller of ``p`` (the r_t heuristic), as explicit
  state, for ADA, APA or instance noise.

Randomness is explicit, as everywhere in advloss: a framework's key or generator, or the draws
themselves (``draws=``), which ``return_draws=True`` hands back, so that PyTorch, TensorFlow and
JAX produce the same outputs and gradients for the same draws.  The ops are written once over the
backend primitives, never read a value on the host, and trace under ``torch.compile``,
``jax.jit`` and ``tf.function``.  See ``docs/augment.md`` for the math and the pitfalls.

Examples:
    >>> import numpy as np
    >>> from advloss import augment
    >>> x = np.random.default_rng(0).normal(size=(8, 3, 16, 16))
    >>> y, draws = augment.diffaugment(x, key=1, return_draws=True)
    >>> y.shape, sorted(draws)
    ((8, 3, 16, 16), ['brightness', 'contrast', 'cutout', 'saturation', 'translation'])
    >>> bool(np.array_equal(augment.diffaugment(x, draws=draws), y))   # the same draws, the same y
    True
"""

from advloss.augment._ada import ADA, ADA_OPS, ADA_PRESETS, ada
from advloss.augment._adaptive import AdaptiveProbability, AdaptiveProbabilityState
from advloss.augment._apa import APA, apa
from advloss.augment._diffaugment import (
    DEFAULT_POLICY,
    POLICIES,
    DiffAugment,
    diffaugment,
)

__all__ = [
    "ADA",
    "ADA_OPS",
    "ADA_PRESETS",
    "APA",
    "DEFAULT_POLICY",
    "POLICIES",
    "AdaptiveProbability",
    "AdaptiveProbabilityState",
    "DiffAugment",
    "ada",
    "apa",
    "diffaugment",
]
