r"""LeCam regularization (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under
Limited Data"): a penalty on the discriminator's *logits*, anchored at moving averages of them.

With $r = D(x)$, $f = D(G(z))$ and $\alpha_R$, $\alpha_F$ exponential moving averages of
$\operatorname{mean} r$ and $\operatorname{mean} f$ over the training steps:

$$
R_{LC} = \lambda\Big(\operatorname{mean}\big[\operatorname{relu}(r - \alpha_F)^2\big]
       + \operatorname{mean}\big[\operatorname{relu}(\alpha_R - f)^2\big]\Big)
$$

D's outputs on real data are pulled down towards the fakes' average and its outputs on fake data
up towards the reals' average, which keeps D from becoming over-confident on a small dataset.

The averages are **explicit state** (``LeCamState``), as an optimizer's: ``LeCam.init`` makes it,
``LeCam.update`` (or ``LeCam.__call__``, which also returns the penalty) returns the next one.
In an ``Objective`` (the term ``lecam``) the state goes in with ``states=`` and comes back in
the output's statistics (``Objective.init_states``, ``Objective.next_states``).
Everything is arithmetic on tensors (the means are taken with no gradient): nothing reads a
value on the host, so the update runs inside ``torch.compile``, ``tf.function`` and ``jax.jit``,
with the step a Python int or an integer tensor.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

from advloss._checks import batch_shape, floating, hyperparameter, integer, non_negative
from advloss._checks import step as check_step
from advloss._config import Configurable
from advloss._replicas import replica_mean
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for, square
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = ["LeCam", "LeCamState", "lecam_penalty"]


class LeCamState(NamedTuple):
    r"""LeCam's explicit state: the moving averages $\alpha_R$ of ``mean(D(x))`` and $\alpha_F$
    of ``mean(D(G(z)))``, 0-d tensors of the logits' computation dtype (a JAX pytree).

    Examples:
        >>> import numpy as np, advloss
        >>> lecam = advloss.LeCam(decay=0.9, start=0)
        >>> state = lecam.update(lecam.init(np.zeros(())), np.array([1.0, 3.0]), np.array([-1.0]), step=0)
        >>> state._fields, round(float(state.ema_real), 4), round(float(state.ema_fake), 4)
        (('ema_real', 'ema_fake'), 0.2, -0.1)
    """

    #: $\alpha_R$, the moving average of the mean logit on real data.
    ema_real: Any
    #: $\alpha_F$, the moving average of the mean logit on generated data.
    ema_fake: Any


def _step(where: str, step: Any) -> Any:
    """A Python int or an integer tensor (a NumPy integer becomes an int)."""
    check_step(where, step)
    if not isinstance(step, int) and type(step).__module__ == "numpy":
        return int(step)
    return step


def _logits(where: str, b: Backend, name: str, x: Any) -> Any:
    if x is None:
        raise AdvlossTypeError(f"{where}: {name} is required; received None.")
    batch_shape(where, name, b.shape(x))
    dtype = floating(where, name, b, x)
    return b.cast(x, "float32") if dtype in LOW_PRECISION_DTYPES else x


def _anchor(where: str, b: Backend, name: str, value: Any, dtype: str) -> Any:
    """A moving average: a Python number, or a tensor (used with no gradient)."""
    if isinstance(value, bool):
        raise AdvlossTypeError(
            f"{where}: {name} must be a number or a 0-d tensor; received a bool."
        )
    if isinstance(value, (int, float)):
        return hyperparameter(where, name, value)
    if b.shape(value) != ():
        raise AdvlossValueError(
            f"{where}: {name} must be a 0-d tensor (a moving average of mean logits); received "
            f"shape {b.shape(value)}."
        )
    return b.cast(b.stop_gradient(value), dtype)


def lecam_penalty(
    real_logits: Any,
    fake_logits: Any,
    ema_real: Any,
    ema_fake: Any,
    *,
    weight: float = 1.0,
    backend: str | None = None,
) -> Any:
    r"""The LeCam penalty for given anchors:
    $\lambda\big(\operatorname{mean}[\operatorname{relu}(r - \alpha_F)^2]
    + \operatorname{mean}[\operatorname{relu}(\alpha_R - f)^2]\big)$.

    Args:
        real_logits, fake_logits: ``D(x)`` and ``D(G(z))``, shape ``(N, ...)`` (the batches may
            differ in size; each mean is over all elements of its own batch).
        ema_real, ema_fake: $\alpha_R$ and $\alpha_F$: Python numbers or 0-d tensors (no
            gradient flows into them).
        weight: λ >= 0.
        backend: force a framework instead of detecting it.

    Returns:
        A 0-d tensor of the logits' framework (float32 for float16/bfloat16 logits).

    Examples:
        >>> import numpy as np, advloss
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> float(advloss.lecam_penalty(r, f, 1.0, -0.5))   # (2.5² + 1²) / 2 + (2² + 1²) / 2
        6.125
    """
    where = "lecam_penalty"
    weight = non_negative(where, "weight", weight)
    b = backend_for(real_logits, fake_logits, ema_real, ema_fake, backend=backend, where=where)
    r = _logits(where, b, "real_logits", real_logits)
    f = _logits(where, b, "fake_logits", fake_logits)
    if b.dtype(r) != b.dtype(f):
        raise AdvlossTypeError(
            f"{where}: real_logits and fake_logits must share a dtype; received {b.dtype(r)} "
            f"and {b.dtype(f)}."
        )
    dtype = b.dtype(r)
    a_real = _anchor(where, b, "ema_real", ema_real, dtype)
    a_fake = _anchor(where, b, "ema_fake", ema_fake, dtype)
    over = b.relu(r - a_fake)
    under = b.relu(a_real - f)
    return weight * (b.mean(square(b, over)) + b.mean(square(b, under)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeCam(Configurable):
    r"""LeCam regularization with its moving averages, as StudioGAN computes it
    (``LOSS.apply_lecam``; ``lecam_reg`` and ``LeCamEMA``).

    Each discriminator step, with the step index $t$:

    1. update the averages with this batch, $\alpha \leftarrow d\,\alpha + (1 - d)\,
       \operatorname{mean}(\text{logits})$, where $d$ = ``decay`` from step ``start`` on and
       $d = 0$ before (the average is then the current batch's mean);
    2. the penalty $R_{LC}$ (``lecam_penalty``) with the updated averages, applied only when
       $t >$ ``start`` (0 before).

    Defaults: λ = ``weight`` = 0.3 (StudioGAN's and the paper's CIFAR-10 BigGAN value),
    ``decay`` = 0.99 and ``start`` = 1000 (StudioGAN's ``lecam_ema_decay`` and
    ``lecam_ema_start_iter``).  ``initial`` is the averages' starting value: it is forgotten at the
    first update before ``start`` (StudioGAN initialises to 7777; pass ``initial=7777`` with
    ``start=0`` to reproduce it exactly).

    Usage (any framework)::

        lecam = advloss.LeCam()
        state = lecam.init(real_logits)                       # once, before training
        value, state = lecam(state, D(real), D(fake), step=step)
        d_total = d_loss + value

    Examples:
        >>> import numpy as np, advloss
        >>> lecam = advloss.LeCam(weight=1.0, decay=0.5, start=1)
        >>> state = lecam.init(np.zeros(()))
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> for step, (rs, fs) in enumerate([(r, f), (r + 1, f - 1), (r, f)]):
        ...     value, state = lecam(state, rs, fs, step=step)
        ...     print(step, float(value), float(state.ema_real), float(state.ema_fake))
        0 0.0 1.25 -0.5
        1 0.0 1.75 -1.0
        2 8.8125 1.5 -0.75
    """

    name: ClassVar[str] = "lecam"
    #: A term with explicit state: an ``Objective`` runs it on the logits it computed, with the
    #: state given in ``states=`` (see ``Objective.init_states`` / ``next_states``).
    stateful: ClassVar[bool] = True
    #: Its ``logits_term``/``latent_term`` take ``replicas=`` (state averaged over replicas).
    takes_replicas: ClassVar[bool] = True
    #: The type of the state (``Objective.next_states`` rebuilds it from the output's stats).
    state_type: ClassVar[type] = LeCamState
    weight: float = 0.3
    decay: float = 0.99
    start: int = 1000
    initial: float = 0.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        decay = hyperparameter(where, "decay", self.decay)
        if not 0.0 <= decay < 1.0:
            raise AdvlossValueError(
                f"{where}: decay must lie in [0, 1) (0.99 is StudioGAN's); received {decay}."
            )
        object.__setattr__(self, "decay", decay)
        object.__setattr__(
            self, "start", integer(where, "start", self.start, note="(the first averaged step)")
        )
        object.__setattr__(self, "initial", hyperparameter(where, "initial", self.initial))

    def init(self, like: Any, *, backend: str | None = None) -> LeCamState:
        """The initial state: both averages ``initial``, as 0-d tensors of ``like``'s framework,
        device and computation dtype (float32 for float16/bfloat16, else ``like``'s)."""
        where = "LeCam.init"
        b = backend_for(like, backend=backend, where=where)
        dtype = floating(where, "like", b, like)
        dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
        return LeCamState(b.full(self.initial, dtype, like), b.full(self.initial, dtype, like))

    def update(
        self,
        state: LeCamState,
        real_logits: Any,
        fake_logits: Any,
        *,
        step: Any,
        replicas: Any = None,
    ) -> LeCamState:
        """The state after a step that saw ``real_logits`` and ``fake_logits`` (their means are
        taken with no gradient).  ``step``: a Python int or an integer tensor (traced).
        ``replicas``: under data-parallel training, the replicas to average the means over
        (``advloss.balance_stats``' argument), so every replica keeps the global averages."""
        where = "LeCam.update"
        b, r, f = self._prepare(where, state, real_logits, fake_logits)
        step = _step(where, step)
        dtype = b.dtype(state.ema_real)
        if isinstance(step, int):
            decay: Any = self.decay if step >= self.start else 0.0
        else:
            decay = b.cast(step >= self.start, dtype) * self.decay
        mean_r = b.cast(b.stop_gradient(b.mean(r)), dtype)
        mean_f = b.cast(b.stop_gradient(b.mean(f)), dtype)
        mean_r, mean_f = replica_mean(where, b, [mean_r, mean_f], replicas)
        return LeCamState(
            decay * state.ema_real + (1.0 - decay) * mean_r,
            decay * state.ema_fake + (1.0 - decay) * mean_f,
        )

    def penalty(self, state: LeCamState, real_logits: Any, fake_logits: Any) -> Any:
        """$R_{LC}$ with the averages of ``state`` (no step gating)."""
        where = "LeCam.penalty"
        _, r, f = self._prepare(where, state, real_logits, fake_logits)
        return lecam_penalty(r, f, state.ema_real, state.ema_fake, weight=self.weight)

    def __call__(
        self,
        state: LeCamState,
        real_logits: Any,
        fake_logits: Any,
        *,
        step: Any,
        replicas: Any = None,
    ) -> tuple[Any, LeCamState]:
        """``(penalty, next state)`` for one discriminator step, in StudioGAN's order: the
        averages are updated with this batch first (over ``replicas``, as ``update``), and the
        penalty is 0 until ``step > start``."""
        step = _step("LeCam", step)
        b = self._prepare("LeCam", state, real_logits, fake_logits)[0]
        state = self.update(state, real_logits, fake_logits, step=step, replicas=replicas)
        value = self.penalty(state, real_logits, fake_logits)
        if isinstance(step, int):
            return (value if step > self.start else 0.0 * value), state
        return value * b.cast(step > self.start, b.dtype(state.ema_real)), state

    def logits_term(
        self,
        real_logits: Any,
        fake_logits: Any,
        *,
        state: LeCamState,
        step: Any,
        replicas: Any = None,
    ) -> tuple[Any, LeCamState]:
        """The protocol of stateful ``Objective`` terms: ``(penalty, next state)`` from the
        logits the objective computed (``__call__``)."""
        return self(state, real_logits, fake_logits, step=step, replicas=replicas)

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        """Not available: LeCam acts on logits with explicit state, not on inputs alone."""
        raise AdvlossTypeError(
            "LeCam.term: LeCam acts on the discriminator's logits with explicit state (its "
            "moving averages), so it has no term(discriminator, real, fake): use it in an "
            "Objective with states=objective.init_states(...), or call "
            "LeCam(...)(state, real_logits, fake_logits, step=...)."
        )

    def _prepare(
        self, where: str, state: Any, real_logits: Any, fake_logits: Any
    ) -> tuple[Backend, Any, Any]:
        if not isinstance(state, LeCamState):
            raise AdvlossTypeError(
                f"{where}: state must be a LeCamState (from LeCam.init); received "
                f"{type(state).__name__}."
            )
        b = backend_for(state.ema_real, real_logits, fake_logits, where=where)
        return (
            b,
            _logits(where, b, "real_logits", real_logits),
            _logits(where, b, "fake_logits", fake_logits),
        )


_register_builtins("penalty", LeCam)
