r"""Label transforms for the discriminator of losses with class targets (minimax, ns, lsgan).

A label transform changes the *targets* the discriminator is trained towards, never the logits.
Labels live in label space — 1 means "real", 0 means "fake" — and the loss maps them to its
targets: the logistic losses use them as cross-entropy targets, LSGAN maps a label ``y`` to the
target $a + y\,(b - a)$.  Losses without class targets (hinge, wgan, ragan) have no labels:
combining them with a label transform raises an error when the objective is built.

* ``SmoothLabels`` — one-sided label smoothing (Salimans et al. 2016): every real label
  becomes ``real`` (0.9 by default); fake labels stay 0 (smoothing them would reward the
  generator's current samples).
* ``NoisyLabels`` — per-sample labels drawn uniformly from a range, e.g. real in
  [0.8, 1.0] and fake in [0.0, 0.2] (the "noisy labels" trick of ganhacks).
* ``FlipLabels`` — each sample's label is flipped with probability ``p``: a flipped real
  sample gets the hard fake label 0 and a flipped fake sample the hard real label 1 (flips are
  drawn per sample; a PatchGAN map shares its sample's label).

Transforms apply in this order whatever order they are listed in: the value transforms
(smoothing or noisy labels — at most one of them) set the labels, then flipping swaps some of
them.  Each label is **per sample**: a tensor of shape ``(N, 1, ..., 1)`` broadcasting over the
logits' non-batch dimensions.

Randomness is explicit: the stochastic transforms draw from ``key`` (as in
``advloss.gradient_penalty``) or take their uniform draws from ``draws`` — a dict with the
names of ``label_draw_specs`` (``"flip.real"``, ``"flip.fake"``, ``"noisy.real"``,
``"noisy.fake"``), each a tensor of shape ``(N,)`` of U[0, 1) numbers — so that several frameworks
can be fed the same draws.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from advloss import registry
from advloss._checks import hyperparameter
from advloss._config import Configurable
from advloss.backend import LOW_PRECISION_DTYPES, Backend
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = [
    "FlipLabels",
    "LabelTransform",
    "NoisyLabels",
    "SmoothLabels",
    "apply_labels",
    "available_label_transforms",
    "get_label_transform",
    "label_draw_specs",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelTransform(Configurable):
    """Base class: a frozen value with ``name``, ``config()`` and ``transform``.

    The protocol of a label transform (built-in, or registered with
    ``advloss.registry.register("label_transform", name, factory)``): ``name``, ``kind``,
    ``stochastic``, ``config()``, ``check_range`` and ``transform``.

    Examples:
        >>> import advloss
        >>> t = advloss.registry.get("label_transform", {"name": "flip", "p": 0.1})
        >>> t, t.kind, t.stochastic, t.config()
        (FlipLabels(p=0.1), 'flip', True, {'name': 'flip', 'p': 0.1})
    """

    name: ClassVar[str] = ""
    #: "value" transforms set the labels; "flip" transforms swap some of them afterwards.
    kind: ClassVar[str] = "value"
    #: Whether the transform draws random numbers (one U[0, 1) number per sample and side,
    #: named ``"<name>.real"`` and ``"<name>.fake"``).
    stochastic: ClassVar[bool] = False

    def check_range(self, where: str, low: float, high: float) -> None:
        """Raise if labels this transform produces can leave ``[low, high]`` (the loss's range)."""

    def transform(
        self, b: Backend, y_real: Any, y_fake: Any, uniform: Callable[[str], Any]
    ) -> tuple[Any, Any]:
        """The labels after this transform, from the labels before it: each a Python float or
        a per-sample tensor of shape ``(N, 1, ..., 1)``.  ``uniform("real")`` /
        ``uniform("fake")`` return this transform's U[0, 1) draws for a side, in that shape and
        the computation dtype (stochastic transforms only)."""
        raise NotImplementedError


def _probability(where: str, name: str, value: Any, *, closed: bool = False) -> float:
    value = hyperparameter(where, name, value)
    if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        raise AdvlossValueError(
            f"{where}: {name} must lie in [0, {'1]' if closed else '1)'}; received {value}."
        )
    return value


def _range(where: str, name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise AdvlossTypeError(
            f"{where}: {name} must be a (low, high) pair of numbers; received {value!r}."
        )
    low = hyperparameter(where, f"{name}[0]", value[0])
    high = hyperparameter(where, f"{name}[1]", value[1])
    if low > high:
        raise AdvlossValueError(f"{where}: {name} must have low <= high; received {value!r}.")
    return low, high


@dataclasses.dataclass(frozen=True, kw_only=True)
class SmoothLabels(LabelTransform):
    r"""One-sided label smoothing: real labels become ``real``; fake labels stay 0.

    For the logistic losses the real term becomes
    $\operatorname{softplus}(-r) + (1 - y)\,r$ with $y$ = ``real``; the optimal
    discriminator then outputs $y\,p_{data} / (p_{data} + p_g)$ and stops pushing real
    logits to infinity.  Equivalent to ``get_loss("ns", real_label=real)``.  TF-GAN's
    ``label_smoothing=s`` is ``real = 1 - s/2`` here (it smooths towards 0.5).

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x                                    # logits = inputs
        >>> real, fake = np.array([[2.0], [0.5]]), np.array([[-1.0], [0.0]])
        >>> out = advloss.Objective("ns", labels=[advloss.SmoothLabels(real=0.9)]).discriminator(D, real, fake)
        >>> round(float(out.total), 4)                         # = get_loss("ns", real_label=0.9)
        0.9287
    """

    name: ClassVar[str] = "smooth"
    real: float = 0.9

    def __post_init__(self) -> None:
        where = type(self).__name__
        value = hyperparameter(where, "real", self.real)
        if not 0.0 < value <= 1.0:
            raise AdvlossValueError(
                f"{where}: real must lie in (0, 1] (0.9 is the usual one-sided smoothing); "
                f"received {value}."
            )
        object.__setattr__(self, "real", value)

    def transform(
        self, b: Backend, y_real: Any, y_fake: Any, uniform: Callable[[str], Any]
    ) -> tuple[Any, Any]:
        return self.real, y_fake


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoisyLabels(LabelTransform):
    r"""Per-sample labels drawn uniformly: real $\sim U[\text{real}_0, \text{real}_1)$,
    fake $\sim U[\text{fake}_0, \text{fake}_1)$.

    With the logistic losses both ranges must stay inside [0, 1] (a cross-entropy target above 1
    makes the loss unbounded below); LSGAN accepts any range (ganhacks' [0.7, 1.2] / [0, 0.3]).

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x                                    # logits = inputs
        >>> real, fake = np.array([[2.0], [0.5]]), np.array([[-1.0], [0.0]])
        >>> noisy = advloss.NoisyLabels(real=(0.8, 1.0))
        >>> noisy
        NoisyLabels(real=(0.8, 1.0), fake=(0.0, 0.2))
        >>> out = advloss.Objective("ns", labels=[noisy]).discriminator(D, real, fake,
        ...                                                            key=np.random.default_rng(0))
        >>> round(float(out.total), 4)
        0.9169
    """

    name: ClassVar[str] = "noisy"
    stochastic: ClassVar[bool] = True
    real: tuple[float, float] = (0.8, 1.0)
    fake: tuple[float, float] = (0.0, 0.2)

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "real", _range(where, "real", self.real))
        object.__setattr__(self, "fake", _range(where, "fake", self.fake))

    def check_range(self, where: str, low: float, high: float) -> None:
        for side in ("real", "fake"):
            lo, hi = getattr(self, side)
            if lo < low or hi > high:
                raise AdvlossValueError(
                    f"{where}: NoisyLabels {side}={getattr(self, side)} leaves the loss's label "
                    f"range [{low}, {high}] (cross-entropy targets outside [0, 1] make the loss "
                    f"unbounded below); use a range inside it, or the lsgan loss."
                )

    def transform(
        self, b: Backend, y_real: Any, y_fake: Any, uniform: Callable[[str], Any]
    ) -> tuple[Any, Any]:
        (r0, r1), (f0, f1) = self.real, self.fake
        y_real = r0 + (r1 - r0) * uniform("real")
        y_fake = f0 + (f1 - f0) * uniform("fake")
        return y_real, y_fake


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlipLabels(LabelTransform):
    """Flip each sample's label with probability ``p`` (per sample; real → 0, fake → 1).

    ``p`` = 0.05 is a common choice.  Flipping makes the discriminator's task noisier, which
    slows a discriminator that has become too confident.

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x                                    # logits = inputs
        >>> real, fake = np.array([[2.0], [0.5]]), np.array([[-1.0], [0.0]])
        >>> out = advloss.Objective("ns", labels=[advloss.FlipLabels(p=0.5)]).discriminator(
        ...     D, real, fake, key=np.random.default_rng(0))
        >>> round(float(out.total), 4)                         # 0.8037 without flips
        1.5537
    """

    name: ClassVar[str] = "flip"
    kind: ClassVar[str] = "flip"
    stochastic: ClassVar[bool] = True
    p: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _probability(type(self).__name__, "p", self.p))

    def transform(
        self, b: Backend, y_real: Any, y_fake: Any, uniform: Callable[[str], Any]
    ) -> tuple[Any, Any]:
        if self.p == 0.0:
            return y_real, y_fake
        u_real = uniform("real")
        flip_real = b.cast(u_real < self.p, b.dtype(u_real))
        u_fake = uniform("fake")
        flip_fake = b.cast(u_fake < self.p, b.dtype(u_fake))
        y_real = y_real * (1.0 - flip_real)  # flipped reals: hard fake label 0
        y_fake = y_fake * (1.0 - flip_fake) + flip_fake  # flipped fakes: hard real label 1
        return y_real, y_fake


_register_builtins("label_transform", SmoothLabels, NoisyLabels, FlipLabels)


def available_label_transforms() -> list[str]:
    """Names ``get_label_transform`` accepts (``advloss.registry.available("label_transform")``).

    Examples:
        >>> from advloss.labels import available_label_transforms
        >>> available_label_transforms()
        ['flip', 'noisy', 'smooth']
    """
    return registry.available("label_transform")


def get_label_transform(spec: Any, **hyperparameters: Any) -> LabelTransform:
    """A label transform from a name (with keyword hyperparameters), a config dict
    (``{"name": "flip", "p": 0.05}``) or a transform (returned as is).

    Examples:
        >>> from advloss.labels import get_label_transform
        >>> get_label_transform("smooth", real=0.9)
        SmoothLabels(real=0.9)
        >>> get_label_transform({"name": "noisy", "real": [0.7, 1.0], "fake": [0.0, 0.3]})
        NoisyLabels(real=(0.7, 1.0), fake=(0.0, 0.3))
    """
    return registry._KINDS["label_transform"].build("get_label_transform", spec, hyperparameters)


def check_transforms(where: str, transforms: Sequence[LabelTransform]) -> None:
    """At most one value transform and one flip."""
    for kind in ("value", "flip"):
        found = [t.name for t in transforms if t.kind == kind]
        if len(found) > 1:
            raise AdvlossValueError(
                f"{where}: at most one {'of smooth/noisy' if kind == 'value' else 'flip'} "
                f"label transform; received {found}."
            )


def label_draw_specs(
    transforms: Sequence[LabelTransform], n_real: int | None, n_fake: int | None
) -> dict[str, tuple[str, tuple[int | None, ...]]]:
    """The uniform draws the transforms consume: ``{name: ("uniform", (N,))}``, in the order
    they are drawn from a key."""
    specs: dict[str, tuple[str, tuple[int | None, ...]]] = {}
    for t in sorted(transforms, key=lambda t: t.kind != "value"):
        if t.stochastic:
            specs[f"{t.name}.real"] = ("uniform", (n_real,))
            specs[f"{t.name}.fake"] = ("uniform", (n_fake,))
    return specs


def apply_labels(
    b: Backend,
    transforms: Sequence[LabelTransform],
    real_logits: Any,
    fake_logits: Any,
    *,
    keys: Mapping[str, Any] | None = None,
    draws: Mapping[str, Any] | None = None,
    real_label: float = 1.0,
    where: str = "apply_labels",
) -> tuple[Any, Any]:
    """The per-sample ``(real_labels, fake_labels)`` after ``transforms``: Python floats where
    no transform changed them (1.0 and 0.0), else tensors of shape ``(N, 1, ..., 1)`` in the
    logits' computation dtype (float32 for float16/bfloat16 logits).

    ``keys`` maps each draw name of ``label_draw_specs`` to a random source (one of
    ``Backend.split_key``'s outputs); ``draws`` gives explicit U[0, 1) tensors instead.
    ``real_label`` is the real label before the transforms (a loss's own ``real_label``).

    Examples:
        >>> import numpy as np
        >>> from advloss import get_backend
        >>> from advloss.labels import FlipLabels, SmoothLabels, apply_labels
        >>> r, f = np.zeros((4, 1)), np.zeros((3, 1))
        >>> u = {"flip.real": np.array([0.5, 0.01, 0.9, 0.2]), "flip.fake": np.array([0.03, 0.6, 0.7])}
        >>> y_r, y_f = apply_labels(get_backend("numpy"), [SmoothLabels(real=0.9), FlipLabels(p=0.05)],
        ...                         r, f, draws=u)
        >>> print(y_r.ravel(), y_f.ravel())
        [0.9 0.  0.9 0.9] [1. 0. 0.]
    """
    draws = dict(draws or {})
    keys = dict(keys or {})
    dtype = b.dtype(real_logits)
    dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    y_real: Any = real_label
    y_fake: Any = 0.0

    def uniform(name: str, logits: Any) -> Any:
        shape = b.shape(logits)
        if name in draws:
            u = draws.pop(name)
            got = b.shape(u)
            if len(got) != 1 or (
                got[0] is not None and shape[0] is not None and got[0] != shape[0]
            ):
                raise AdvlossValueError(
                    f"{where}: draws[{name!r}] must have shape ({shape[0]},) (one U[0, 1) number "
                    f"per sample); received shape {got}."
                )
            u = b.cast(u, dtype)
        else:
            u = b.uniform(keys.get(name), (shape[0],), dtype, logits)
        return b.reshape(u, (-1,) + (1,) * (len(shape) - 1))

    logits = {"real": real_logits, "fake": fake_logits}
    for t in sorted(transforms, key=lambda t: t.kind != "value"):
        draw = functools.partial(lambda name, side: uniform(f"{name}.{side}", logits[side]), t.name)
        y_real, y_fake = t.transform(b, y_real, y_fake, draw)
    return y_real, y_fake


def label_range(loss: Any) -> tuple[float, float]:
    """The label values a loss accepts: [0, 1] for cross-entropy targets, any for LSGAN."""
    return (-math.inf, math.inf) if getattr(loss, "name", "") == "lsgan" else (0.0, 1.0)
