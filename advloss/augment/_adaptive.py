r"""The adaptive controller of StyleGAN2-ADA (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", §3 and ``training/training_loop.py``): a number steered
by the overfitting heuristic $r_t = \mathbb E[\operatorname{sign} D(x)]$, as explicit state.

``AdaptiveProbability`` drives the augmentation probability $p$ of ADA (``advloss.augment.ada``),
APA (``advloss.augment.apa``) or, scaled, an instance-noise std; ``advloss.AdaptiveNoise`` is the
same rule with its step in input units (:func:`advance` is their one implementation).  The public
names are in ``advloss.augment``."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

from advloss._checks import hyperparameter, integer, interval, positive
from advloss._config import Configurable
from advloss._replicas import replica_mean
from advloss.backend import Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError

__all__ = ["AdaptiveProbability", "AdaptiveProbabilityState", "AdaptiveTerm", "advance"]


def check_target(where: str, value: Any) -> float:
    """A target for r_t: a Python number in [-1, 1] (r_t is a mean of signs)."""
    target = hyperparameter(where, "target", value)
    if not -1.0 <= target <= 1.0:
        raise AdvlossValueError(
            f"{where}: target must lie in [-1, 1] (r_t is a mean of signs); received {target}."
        )
    return target


def check_kimg(where: str, value: Any) -> float:
    """``ada_kimg``: a Python number > 0 (thousands of real images for p to move by 1)."""
    return positive(where, "ada_kimg", value, "thousands of real images for p to move by 1")


def _r_t(where: str, b: Backend, r_t: Any, like: Any) -> Any:
    """``r_t`` as a float32 constant: a Python number, or a 0-d tensor of ``b``'s framework."""
    if isinstance(r_t, bool):
        raise AdvlossTypeError(
            f"{where}: r_t must be a 0-d tensor or a Python number; received a bool."
        )
    if isinstance(r_t, (int, float)):
        return hyperparameter(where, "r_t", r_t)
    if not b.is_tensor_type(type(r_t)):
        try:
            backend_for(r_t, where=where)
        except AdvlossTypeError:
            pass  # not a tensor of any framework: named below
        else:
            backend_for(like, r_t, where=where)  # two frameworks: names both
        raise AdvlossTypeError(
            f"{where}: r_t must be a 0-d {b.name} tensor (e.g. out.stats['r_t']) or a Python "
            f"number; received {type(r_t).__module__}.{type(r_t).__qualname__}."
        )
    if b.shape(r_t) != ():
        raise AdvlossValueError(
            f"{where}: r_t must be a scalar (0-d) tensor, the batch's mean sign; received shape "
            f"{tuple(b.shape(r_t))}."
        )
    return b.cast(b.stop_gradient(r_t), "float32")


def advance(
    where: str,
    value: Any,
    r_t_sum: Any,
    count: Any,
    r_t: Any,
    *,
    target: float,
    every: int,
    step_size: float,
    maximum: float,
    replicas: Any = None,
) -> tuple[Any, Any, Any]:
    r"""One update of the r_t controller: ``(value, r_t_sum, count)`` after a step with ``r_t``.

    With $\bar r$ the mean of the r_t values since the last adjustment (this one included),
    once ``count`` reaches ``every``:
    $v \leftarrow \operatorname{clip}(v + \operatorname{sign}(\bar r - \text{target}) \cdot
    \text{step\_size},\ 0,\ \text{maximum})$, and the sum and the count restart at 0.  Pure
    arithmetic on 0-d float32 tensors (0/1 masks instead of a branch on the count): no host
    synchronisation, traceable.  ``replicas``: average ``r_t`` over data-parallel replicas
    first (``advloss.balance_stats``' argument), so every replica takes the same decision."""
    b = backend_for(value, where=where)
    r_t = _r_t(where, b, r_t, value)
    if replicas is not None:
        if isinstance(r_t, float):
            r_t = b.full(r_t, "float32", value)
        (r_t,) = replica_mean(where, b, [r_t], replicas)
    total = r_t_sum + r_t
    count = count + 1.0
    due = b.cast(count >= float(every), "float32")
    mean = total / count
    direction = b.cast(mean > target, "float32") - b.cast(mean < target, "float32")
    value = b.minimum(b.maximum(value + due * direction * step_size, 0.0), maximum)
    keep = 1.0 - due
    return value, total * keep, count * keep


class AdaptiveProbabilityState(NamedTuple):
    """``AdaptiveProbability``'s explicit state: 0-d float32 tensors (a JAX pytree).

    Examples:
        >>> import numpy as np
        >>> from advloss.augment import AdaptiveProbability
        >>> ada = AdaptiveProbability(batch_size=64)
        >>> state = ada.update(ada.init(np.zeros(())), np.float32(0.9))
        >>> state._fields, round(float(state.r_t_sum), 4), float(state.count)
        (('p', 'r_t_sum', 'count'), 0.9, 1.0)
    """

    #: The current probability, in [0, 1].
    p: Any
    #: Sum of r_t over the updates since the last adjustment.
    r_t_sum: Any
    #: Number of updates since the last adjustment.
    count: Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveProbability(Configurable):
    r"""StyleGAN2-ADA's adaptive probability $p$: up while the discriminator overfits, down
    while it does not.

    Every ``interval`` discriminator steps, with $\bar r_t$ the mean of the overfitting
    heuristic $r_t = \mathbb E[\operatorname{sign} D(x)]$ over those steps (``out.stats["r_t"]``
    of an objective's discriminator step, on the reals D saw — augmented ones with ADA, as in
    StyleGAN2-ADA):

    $$
    p \leftarrow \operatorname{clip}\Big(p + \operatorname{sign}(\bar r_t - \text{target})
    \cdot \frac{\text{batch\_size} \cdot \text{interval}}{\text{ada\_kimg} \cdot 1000},
    \ 0,\ 1\Big)
    $$

    so $p$ can move from 0 to 1 in ``ada_kimg`` thousand real images.  The defaults are
    StyleGAN2-ADA's (``ada_target=0.6``, ``ada_interval=4``, ``ada_kimg=500``); APA
    (Jiang et al. 2021) uses the same rule for its pseudo-augmentation probability.

    **Short runs: lower ``ada_kimg``.**  At the default, $p$ moves by at most
    ``batch_size · steps / 500 000`` over a run — 0.2 in 1,500 steps of batch 64 — so a short
    run never reaches the $p$ it needs.  ``ada_kimg`` is the speed knob: with ``ada_kimg=50``
    the same run can move $p$ by 1 in 780 steps.  Too fast and $p$ oscillates around its
    target (each adjustment overshoots); StyleGAN2-ADA finds the result insensitive to it
    within a factor of a few.

    StyleGAN2-ADA clamps $p$ at 0 only (values above 1 act as 1 in every use); this
    controller clamps at 1 too, so it comes down from 1 at once when D stops overfitting.
    The same rule drives instance noise: pass ``max_std * controller.p(state)`` as
    ``noise_std`` (``advloss.AdaptiveNoise`` is this rule with its step in input units).

    Usage (any framework; ``update`` is pure arithmetic, so it runs inside ``jax.jit``,
    ``tf.function`` and ``torch.compile``)::

        controller = AdaptiveProbability(batch_size=64, ada_kimg=50)
        state = controller.init(real)             # 0-d tensors on real's framework and device
        for step in ...:
            p = controller.p(state)
            real_in = ada(real, p, key=...)       # or apa(real, fake, p, key=...)
            out = objective.discriminator(D, real_in, ada(fake, p, key=...))
            state = controller.update(state, out.stats["r_t"])

    Examples:
        >>> import numpy as np
        >>> controller = AdaptiveProbability(batch_size=50, ada_kimg=1, interval=2)
        >>> state = controller.init(np.zeros((), np.float32))
        >>> print(controller.step_size)  # 50 * 2 / (1 * 1000)
        0.1
        >>> for r_t in [0.9, 0.8, 0.9, 0.7, 0.1, 0.2]:
        ...     state = controller.update(state, np.float32(r_t))
        >>> print(f"{float(controller.p(state)):.2f}")
        0.10
    """

    name: ClassVar[str] = "adaptive_probability"
    #: The samples per discriminator step (the global batch under data parallelism).
    batch_size: int
    target: float = 0.6
    ada_kimg: float = 500.0
    interval: int = 4
    initial: float = 0.0

    def __post_init__(self) -> None:
        where = "AdaptiveProbability"
        object.__setattr__(
            self, "batch_size", integer(where, "batch_size", self.batch_size, minimum=1)
        )
        object.__setattr__(self, "target", check_target(where, self.target))
        object.__setattr__(self, "ada_kimg", check_kimg(where, self.ada_kimg))
        object.__setattr__(self, "interval", interval(where, "interval", self.interval))
        initial = hyperparameter(where, "initial", self.initial)
        if not 0.0 <= initial <= 1.0:
            raise AdvlossValueError(
                f"{where}: initial must lie in [0, 1] (a probability); received {initial}."
            )
        object.__setattr__(self, "initial", initial)

    @property
    def step_size(self) -> float:
        """How far one adjustment moves p: ``batch_size · interval / (ada_kimg · 1000)``."""
        return self.batch_size * self.interval / (self.ada_kimg * 1000.0)

    def init(self, like: Any, *, backend: str | None = None) -> AdaptiveProbabilityState:
        """The initial state (``p = initial``), as 0-d float32 tensors of ``like``'s framework
        and device."""
        b = backend_for(like, backend=backend, where="AdaptiveProbability.init")
        return AdaptiveProbabilityState(
            b.full(self.initial, "float32", like),
            b.full(0.0, "float32", like),
            b.full(0.0, "float32", like),
        )

    def p(self, state: AdaptiveProbabilityState) -> Any:
        """The current probability (a 0-d float32 tensor)."""
        return _checked(state, "AdaptiveProbability.p").p

    def update(
        self, state: AdaptiveProbabilityState, r_t: Any, *, replicas: Any = None
    ) -> AdaptiveProbabilityState:
        """The state after one discriminator step whose heuristic is ``r_t`` (a 0-d tensor,
        e.g. ``out.stats["r_t"]``, or a Python number); no gradient flows through it.
        ``replicas``: average ``r_t`` over data-parallel replicas first (not needed when it
        comes from an objective called with ``replicas=``: it is already global)."""
        where = "AdaptiveProbability.update"
        state = _checked(state, where)
        return AdaptiveProbabilityState(
            *advance(
                where,
                state.p,
                state.r_t_sum,
                state.count,
                r_t,
                target=self.target,
                every=self.interval,
                step_size=self.step_size,
                maximum=1.0,
                replicas=replicas,
            )
        )


def _checked(state: Any, where: str) -> AdaptiveProbabilityState:
    if not isinstance(state, AdaptiveProbabilityState):
        raise AdvlossTypeError(
            f"{where}: state must be an AdaptiveProbabilityState (from init()); received "
            f"{type(state).__name__}."
        )
    return state


#: The adaptive settings of an augmentation term (``ADA``, ``APA``), left out of its config and
#: repr while it is not adaptive (``target=None``).
ADAPTIVE_FIELDS = ("target", "ada_kimg", "interval", "batch_size")


class AdaptiveTerm:
    """Mixin of the augmentation terms whose probability an ``Objective`` can steer itself
    (``ADA``, ``APA``): with ``target`` set, ``p`` is the initial probability and the term keeps
    an ``AdaptiveProbabilityState`` (``Objective.init_states`` / ``next_states``), updated after
    each discriminator step from that step's r_t by ``AdaptiveProbability``'s rule.  The class
    declares the fields ``p``, ``target``, ``ada_kimg``, ``interval`` and ``batch_size``."""

    __slots__ = ()

    #: The objective keeps this term's state on its discriminator side.
    side: ClassVar[str] = "discriminator"
    state_type: ClassVar[type] = AdaptiveProbabilityState

    p: float
    target: float | None
    ada_kimg: float
    interval: int
    batch_size: int | None

    def _check_adaptive(self, where: str) -> None:
        p = hyperparameter(where, "p", self.p)
        if not 0.0 <= p <= 1.0:
            raise AdvlossValueError(f"{where}: p must lie in [0, 1] (a probability); received {p}.")
        object.__setattr__(self, "p", p)
        if self.target is not None:
            object.__setattr__(self, "target", check_target(where, self.target))
        if self.batch_size is not None:
            object.__setattr__(
                self, "batch_size", integer(where, "batch_size", self.batch_size, minimum=1)
            )
        object.__setattr__(self, "ada_kimg", check_kimg(where, self.ada_kimg))
        object.__setattr__(self, "interval", interval(where, "interval", self.interval))

    @property
    def stateful(self) -> bool:
        """Whether ``p`` adapts (``target`` set): then the term keeps explicit state."""
        return self.target is not None

    def controller(self, batch_size: int) -> AdaptiveProbability:
        """The ``AdaptiveProbability`` that steers ``p``: ``batch_size`` is this term's, or the
        real batch's size (the global batch under data parallelism: set ``batch_size=``)."""
        return AdaptiveProbability(
            batch_size=self.batch_size or batch_size,
            target=0.6 if self.target is None else self.target,
            ada_kimg=self.ada_kimg,
            interval=self.interval,
            initial=self.p,
        )

    def init(self, like: Any, *, backend: str | None = None) -> AdaptiveProbabilityState:
        """The initial state (``p`` as this term's ``p``), as 0-d float32 tensors of
        ``like``'s framework."""
        return self.controller(1).init(like, backend=backend)

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = Configurable.config(self)  # type: ignore[arg-type]
        if self.target is None:
            for name in ADAPTIVE_FIELDS:
                out.pop(name, None)
        return out

    def __repr__(self) -> str:
        fields = {k: v for k, v in self.config().items() if k != "name"}
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__name__}({args})"
