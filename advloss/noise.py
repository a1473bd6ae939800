r"""Instance noise on the discriminator's inputs, and an adaptive controller for its strength.

Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017) adds Gaussian noise to **both**
the real and the generated inputs of the discriminator,

$$
x \mapsto x + s\,\varepsilon, \qquad \varepsilon \sim N(0, I),
$$

so the two distributions overlap and the discriminator cannot separate them perfectly: its
gradients stay informative early in training.  ``s`` is usually annealed to 0 with a schedule
(``advloss.schedules``).  The GAN_stability authors note that R1 with γ is related to instance
noise of standard deviation about $\sqrt{2\gamma}$ (LMescheder/GAN_stability#15).

``AdaptiveNoise`` sets ``s`` the way StyleGAN2-ADA sets its augmentation probability: every
``interval`` updates it compares the overfitting heuristic
$r_t = \mathbb E[\operatorname{sign} D(x)]$ (averaged over those updates) with a target and
moves ``s`` by ``step_size`` up (the discriminator is too sure about real data) or down,
clamped to ``[0, max_std]`` — the rule of ``advloss.augment.AdaptiveProbability`` (which steers
an augmentation probability), with its step in input units; both run the same code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

from advloss._checks import floating, interval, non_negative
from advloss._config import Configurable
from advloss.augment._adaptive import advance, check_target
from advloss.backend import LOW_PRECISION_DTYPES, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = ["AdaptiveNoise", "AdaptiveNoiseState", "instance_noise"]


def instance_noise(
    inputs: Any, std: Any, *, key: Any = None, noise: Any = None, backend: str | None = None
) -> Any:
    r"""``inputs + std · ε`` with $\varepsilon \sim N(0, I)$ of the inputs' shape.

    Args:
        inputs: a batch ``(N, ...)`` of a floating dtype (real or generated samples).
        std: the standard deviation: a Python number >= 0 (0 returns ``inputs`` itself, with no
            random draw) or a 0-d tensor (e.g. a schedule evaluated at a traced step; its value
            is not checked, which would need a host sync).
        key: randomness — a ``torch.Generator`` (``None``: torch's global generator), a JAX key
            (required with JAX), a TF seed (int or shape-(2,) tensor) or ``tf.random.Generator``
            (``None``: TF's global generator).
        noise: explicit ε of the inputs' shape (to feed several frameworks the same draws).
        backend: force a framework instead of detecting it.

    Returns:
        A tensor of the inputs' shape and dtype.  float16/bfloat16 inputs get noise drawn in
        float32 and rounded once, when added.  The noise is a constant: the gradient with
        respect to ``inputs`` is the identity.

    Examples:
        >>> import numpy as np
        >>> from advloss import instance_noise
        >>> x, eps = np.zeros((2, 3)), np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -2.0]])
        >>> print(instance_noise(x, 0.1, noise=eps))
        [[ 0.1  -0.1   0.05]
         [ 0.    0.2  -0.2 ]]
    """
    where = "instance_noise"
    b = backend_for(inputs, std, noise, backend=backend, where=where)
    dtype = floating(where, "inputs", b, inputs)
    if isinstance(std, (int, float)) and not isinstance(std, bool):
        std = non_negative(where, "std", std)
        if std == 0.0:
            return inputs
    elif isinstance(std, bool) or not b.is_tensor_type(type(std)):
        raise AdvlossTypeError(
            f"{where}: std must be a Python number or a 0-d tensor; received {type(std).__name__}."
        )
    elif b.shape(std) != ():
        raise AdvlossValueError(
            f"{where}: std must be a scalar (0-d) tensor; received shape {b.shape(std)}."
        )
    shape = b.shape(inputs)
    draw_dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    if noise is None:
        eps = b.normal(key, shape, draw_dtype, inputs)
    else:
        got = b.shape(noise)
        if len(got) != len(shape) or any(
            p is not None and q is not None and p != q for p, q in zip(got, shape, strict=False)
        ):
            raise AdvlossValueError(
                f"{where}: noise must have the inputs' shape {shape}; received shape {got}."
            )
        eps = b.cast(noise, draw_dtype)
    if not isinstance(std, float):
        std = b.cast(b.stop_gradient(std), draw_dtype)
    scaled = std * eps
    return inputs + (scaled if draw_dtype == dtype else b.cast(scaled, dtype))


class AdaptiveNoiseState(NamedTuple):
    """The controller's explicit state: 0-d float32 tensors (a JAX pytree).

    Examples:
        >>> import numpy as np, advloss
        >>> ada = advloss.AdaptiveNoise()
        >>> state = ada.update(ada.init(np.zeros(())), np.array(0.9))   # one D step with r_t = 0.9
        >>> state._fields, round(float(state.r_t_sum), 4), float(state.count)
        (('std', 'r_t_sum', 'count'), 0.9, 1.0)
    """

    #: The current instance-noise standard deviation.
    std: Any
    #: Sum of r_t over the updates since the last adjustment.
    r_t_sum: Any
    #: Number of updates since the last adjustment.
    count: Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveNoise(Configurable):
    r"""Steer the instance-noise std with ADA's overfitting heuristic.

    Every ``interval`` updates, with $\bar r$ the mean of the ``r_t`` values received since
    the last adjustment:

    $$
    s \leftarrow \operatorname{clip}\big(s + \operatorname{sign}(\bar r - \text{target})
    \cdot \text{step\_size},\ 0,\ \text{max\_std}\big)
    $$

    StyleGAN2-ADA adjusts an augmentation probability with target 0.6, interval 4 and a step of
    ``batch · interval / 500k``; here the controlled quantity is the noise std, so ``step_size``
    is in input units (0.005 per adjustment reaches 0.1 in 80 steps at interval 4).

    Usage (any framework; ``update`` is pure arithmetic, so it runs inside ``jax.jit``,
    ``tf.function`` and ``torch.compile``)::

        ada = AdaptiveNoise(target=0.6)
        state = ada.init(real)                 # tensors on real's framework and device
        out = objective.discriminator(D, real, fake, noise_std=ada.std(state), ...)
        state = ada.update(state, out.stats["r_t"])

    Examples:
        >>> import numpy as np
        >>> ada = AdaptiveNoise(target=0.6, step_size=0.01, interval=2)
        >>> state = ada.init(np.zeros(1, np.float32))
        >>> for r_t in [0.9, 0.8, 0.9, 0.7, 0.1, 0.2]:
        ...     state = ada.update(state, np.float32(r_t))
        >>> print(f"{float(ada.std(state)):.2f}")
        0.01
    """

    name: ClassVar[str] = "adaptive"
    target: float = 0.6
    step_size: float = 0.005
    interval: int = 4
    initial: float = 0.0
    max_std: float = 1.0

    def __post_init__(self) -> None:
        where = "AdaptiveNoise"
        object.__setattr__(self, "target", check_target(where, self.target))
        object.__setattr__(self, "step_size", non_negative(where, "step_size", self.step_size))
        object.__setattr__(self, "interval", interval(where, "interval", self.interval))
        object.__setattr__(self, "initial", non_negative(where, "initial", self.initial))
        object.__setattr__(self, "max_std", non_negative(where, "max_std", self.max_std))
        if self.initial > self.max_std:
            raise AdvlossValueError(
                f"{where}: initial ({self.initial}) must not exceed max_std ({self.max_std})."
            )

    def init(self, like: Any, *, backend: str | None = None) -> AdaptiveNoiseState:
        """The initial state, as 0-d float32 tensors of ``like``'s framework and device."""
        b = backend_for(like, backend=backend, where="AdaptiveNoise.init")
        return AdaptiveNoiseState(
            b.full(self.initial, "float32", like),
            b.full(0.0, "float32", like),
            b.full(0.0, "float32", like),
        )

    def std(self, state: AdaptiveNoiseState) -> Any:
        """The current standard deviation (a 0-d tensor)."""
        return state.std

    def update(
        self, state: AdaptiveNoiseState, r_t: Any, *, replicas: Any = None
    ) -> AdaptiveNoiseState:
        """The state after one step whose r_t (e.g. ``out.stats["r_t"]``) is ``r_t``.
        ``replicas``: average ``r_t`` over data-parallel replicas first (not needed when it
        comes from an objective called with ``replicas=``: it is already global)."""
        if not isinstance(state, AdaptiveNoiseState):
            raise AdvlossTypeError(
                f"AdaptiveNoise.update: state must be an AdaptiveNoiseState (from init()); "
                f"received {type(state).__name__}."
            )
        std, total, count = advance(
            "AdaptiveNoise.update",
            state.std,
            state.r_t_sum,
            state.count,
            r_t,
            target=self.target,
            every=self.interval,
            step_size=self.step_size,
            maximum=self.max_std,
            replicas=replicas,
        )
        return AdaptiveNoiseState(std, total, count)


_register_builtins("noise", AdaptiveNoise)
