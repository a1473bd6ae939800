r"""Adaptive pseudo augmentation (APA; Jiang et al. 2021, "Deceive D: Adaptive Pseudo
Augmentation for GAN Training with Limited Data"): the discriminator sees, with probability
$p$, a generated sample in place of a real one.  The public name is ``advloss.augment.apa``."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from advloss._checks import batch_shape, flag, floating, hyperparameter, not_a_number
from advloss._config import Configurable
from advloss.augment._adaptive import AdaptiveTerm
from advloss.augment._draws import Draw, resolve
from advloss.backend import LOW_PRECISION_DTYPES, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins


def apa(
    real: Any,
    fake: Any,
    p: Any,
    *,
    key: Any = None,
    draws: Any = None,
    return_draws: bool = False,
) -> Any:
    r"""Replace each real sample, with probability ``p``, by the fake sample at its index,
    detached from the generator.

    $$
    y_n = \begin{cases} \operatorname{sg}(\tilde x_n) & u_n < p \\ x_n & \text{otherwise}
    \end{cases}, \qquad u_n \sim U[0, 1)
    $$

    for a real batch $x$ and a fake batch $\tilde x$ of the same shape ``(N, ...)``
    ($\operatorname{sg}$: stop-gradient).  The discriminator step then treats $y$ as the
    real batch ("pseudo-real" fakes deceive an overconfident D); ``p`` is usually steered by
    the overfitting heuristic $r_t = \mathbb E[\operatorname{sign} D(x)]$, as StyleGAN2-ADA
    steers its augmentation probability (target 0.6 in the APA paper).  Gradients flow to the
    kept real samples only.

    Args:
        real: the real batch ``(N, ...)``, of a floating dtype.
        fake: generated samples of the same shape (e.g. the last generator step's output); cast
            to ``real``'s dtype.  Never differentiated.
        p: the replacement probability: a Python number in [0, 1] (0 returns ``real`` itself,
            with no draw), or a 0-d tensor of ``real``'s framework (a traced value, e.g. a
            controller's state; its value is not checked, which would need a host sync).
        key: the randomness, as in ``diffaugment`` (a ``torch.Generator`` or ``None``, a JAX
            key, a TF seed or ``tf.random.Generator``, a NumPy seed or Generator).
        draws: explicit draws instead of ``key``: ``{"apa": u}`` with ``u`` of shape ``(N,)``
            in [0, 1) (a tensor of ``real``'s framework or a NumPy array).
        return_draws: also return the draws used (``{}`` when ``p`` is the number 0).

    Returns:
        A batch of ``real``'s shape and dtype; with ``return_draws=True``, ``(y, draws)``.

    Examples:
        >>> import numpy as np
        >>> from advloss.augment import apa
        >>> real, fake = np.zeros((4, 2)), np.ones((4, 2))
        >>> print(apa(real, fake, 0.5, draws={"apa": np.array([0.1, 0.7, 0.4, 0.9])}))
        [[1. 1.]
         [0. 0.]
         [1. 1.]
         [0. 0.]]
    """
    where = "apa"
    return_draws = flag(where, "return_draws", return_draws)
    not_a_number(where, "real", real)
    not_a_number(where, "fake", fake)
    b = backend_for(real, fake, where=where)
    dtype = floating(where, "real", b, real)
    floating(where, "fake", b, fake)
    shape, fake_shape = b.shape(real), b.shape(fake)
    batch_shape(where, "real", shape)
    if len(fake_shape) != len(shape) or any(
        r is not None and f is not None and r != f for r, f in zip(shape, fake_shape, strict=False)
    ):
        raise AdvlossValueError(
            f"{where}: fake must have real's shape {tuple(shape)} (one fake per real sample); "
            f"received shape {tuple(fake_shape)}."
        )
    if isinstance(p, bool) or b.host_values or not b.is_tensor_type(type(p)):
        try:
            p = hyperparameter(where, "p", p)
        except AdvlossTypeError:
            raise AdvlossTypeError(
                f"{where}: p must be a Python number in [0, 1] or a 0-d {b.name} tensor; "
                f"received {type(p).__name__}."
            ) from None
        if not 0.0 <= p <= 1.0:
            raise AdvlossValueError(f"{where}: p must lie in [0, 1] (a probability); received {p}.")
        if p == 0.0:
            return (real, {}) if return_draws else real
    elif b.shape(p) != ():
        raise AdvlossValueError(
            f"{where}: p must be a scalar (0-d) tensor; received shape {tuple(b.shape(p))}."
        )
    compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    used = resolve(where, b, real, shape[0], compute, [Draw("apa")], key, draws)
    if not isinstance(p, float):
        p = b.cast(b.stop_gradient(p), compute)
    replace = b.reshape(used["apa"] < p, (-1,) + (1,) * (len(shape) - 1))
    pseudo = b.stop_gradient(fake if b.dtype(fake) == dtype else b.cast(fake, dtype))
    y = b.where(replace, pseudo, real)
    return (y, used) if return_draws else y


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class APA(AdaptiveTerm, Configurable):
    r"""``apa`` as an ``Objective`` term: the built-in ``"apa"`` of the registry's
    ``"augmentation"`` kind (``apa(p=0.1)``, or adaptive: ``apa(target=0.6)``).

    In the objective's discriminator step the real batch is replaced, sample by sample with
    probability ``p``, by the detached fake batch of the same step (which must have the real
    batch's shape); the fake batch and the generator step are left as they are, as in APA's
    training loss.  With ``target`` set, ``p`` is the initial probability and the objective
    steers it from each discriminator step's r_t — measured on the batch D saw as real, pseudo
    samples included, as the APA code does — keeping an
    ``advloss.augment.AdaptiveProbabilityState`` under the name ``"apa"``
    (``Objective.init_states``, ``next_states``).  Its one draw is ``augment.real.apa``
    (``(N,)`` uniform).

    APA takes the objective's augmentation slot, so it does not combine with ``diffaug`` or
    ``ada`` in one ``Objective``; to use both, call ``advloss.augment.apa`` on the real batch
    before an objective with ``ada(...)``.

    Examples:
        >>> import numpy as np, advloss
        >>> o = advloss.Objective.parse("ns + apa(p=0.5)")
        >>> out = o.discriminator(lambda x: x.sum(axis=1), np.ones((4, 2)), -np.ones((4, 2)),
        ...                       draws={"augment.real.apa": np.array([0.1, 0.7, 0.4, 0.9])})
        >>> print(out.stats["d_real"])  # two of the four reals were replaced by fakes
        0.0
        >>> advloss.Objective.parse("ns + apa(target=0.6, ada_kimg=100)").augment
        APA(p=0.0, target=0.6, ada_kimg=100.0, interval=4, batch_size=None)
    """

    name: ClassVar[str] = "apa"
    #: The augmentation touches the real batch of the discriminator step only.
    batches: ClassVar[tuple[tuple[str, str], ...]] = (("discriminator", "real"),)
    p: float = 0.0
    #: The r_t target that steers ``p`` (None: ``p`` is fixed).
    target: float | None = None
    ada_kimg: float = 500.0
    interval: int = 4
    batch_size: int | None = None

    def __post_init__(self) -> None:
        self._check_adaptive("APA")

    def augment_real(
        self, real: Any, fake: Any, *, key: Any = None, draws: Any = None, p: Any = None
    ) -> Any:
        """``apa(real, fake, p, key=key, draws=draws)``, with ``p`` this object's unless given
        (a Python number or a 0-d tensor: the objective passes its state's)."""
        return apa(real, fake, self.p if p is None else p, key=key, draws=draws)

    def draw_specs(self, shape: tuple[int | None, ...]) -> dict[str, tuple[str, tuple[Any, ...]]]:
        """The draw ``augment_real`` consumes for a real batch of ``shape``."""
        return {"apa": ("uniform", (shape[0],))}


_register_builtins("augmentation", APA)
