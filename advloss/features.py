r"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training GANs"): a
generator term that matches the batch means of the discriminator's intermediate features on
real and generated data.

With $f^{(l)}(x)$ D's features at layer $l$ (shape ``(N, ...)``), their batch means
$\mu^{(l)}_r = \operatorname{mean}_n f^{(l)}(x_n)$ and $\mu^{(l)}_f = \operatorname{mean}_n
f^{(l)}(G(z_n))$, and $d^{(l)} = \mu^{(l)}_r - \mu^{(l)}_f$ (one value per feature element):

$$
L_{FM} = \lambda \sum_l \operatorname{R}_{j}\, \phi\big(d^{(l)}_j\big), \qquad
\phi(d) = d^2 \ (\text{norm}=\text{"l2"}) \ \text{or}\ |d| \ (\text{norm}=\text{"l1"}),
$$

$\operatorname{R}$ a sum (``reduction="sum"``: the paper's
$\lVert \mu_r - \mu_f \rVert_2^2$, the default) or a mean (``reduction="mean"``) over the feature
elements $j$ of each layer.  The peers' forms:

| implementation | advloss |
|---|---|
| the paper, $\lVert \mathbb E f(x) - \mathbb E f(G(z)) \rVert_2^2$ | ``norm="l2", reduction="sum"`` (default) |
| openai/improved-gan ``T.mean(T.square(mom_gen - mom_real))`` | ``norm="l2", reduction="mean"`` |
| StudioGAN ``feature_matching_loss``: ``mean(abs(mean(fake, 0) - mean(real, 0)))`` | ``norm="l1", reduction="mean"`` |

The real features are targets: no gradient flows into them (StudioGAN detaches them); the
gradient reaches the generator through the fake features.  $|d|$ has derivative 0 at 0 (as
PyTorch's ``abs``).  Nothing here reads a value on the host.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from advloss._checks import batch_shape, floating, non_negative
from advloss._config import Configurable
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = ["FEATURE_MATCHING_NORMS", "FeatureMatching", "feature_matching"]

#: The element distances of ``feature_matching(norm=...)``.
FEATURE_MATCHING_NORMS = ("l2", "l1")


def _options(where: str, norm: Any, reduction: Any) -> None:
    if not isinstance(norm, str) or norm not in FEATURE_MATCHING_NORMS:
        raise AdvlossValueError(
            f"{where}: norm must be one of {list(FEATURE_MATCHING_NORMS)}; received {norm!r}."
        )
    if not isinstance(reduction, str) or reduction not in ("sum", "mean"):
        raise AdvlossValueError(
            f"{where}: reduction must be 'sum' (the squared L2 norm of the paper) or 'mean' "
            f"(over the feature elements); received {reduction!r}."
        )


def _layers(where: str, name: str, features: Any) -> list[Any]:
    if isinstance(features, (list, tuple)):
        if not features:
            raise AdvlossValueError(f"{where}: {name} is an empty list; expected >= 1 tensor.")
        return list(features)
    if features is None or isinstance(features, (str, bytes, dict)):
        raise AdvlossTypeError(
            f"{where}: {name} must be a tensor of shape (N, ...) or a list of them (one per "
            f"layer); received {type(features).__name__}."
        )
    return [features]


def feature_matching(
    real_features: Any,
    fake_features: Any,
    *,
    weight: float = 1.0,
    norm: str = "l2",
    reduction: str = "sum",
    backend: str | None = None,
) -> Any:
    r"""The feature-matching term $L_{FM}$ (module docstring) for the generator.

    Args:
        real_features: D's features on a real batch, a tensor ``(N, ...)`` or a list of
            tensors (one per layer); no gradient flows into them.
        fake_features: D's features on a generated batch, the same number of layers, each of
            the matching real layer's shape apart from the batch size ``M``.
        weight: λ >= 0.
        norm: ``"l2"`` (squared differences, default) or ``"l1"`` (absolute differences).
        reduction: ``"sum"`` (default: $\lVert\cdot\rVert_2^2$ for ``"l2"``) or ``"mean"``
            over each layer's feature elements; layers are summed.
        backend: force a framework instead of detecting it.

    Returns:
        A 0-d tensor (float32 for float16/bfloat16 features).

    Examples:
        >>> import numpy as np, advloss
        >>> real = np.array([[1.0, 2.0], [3.0, 2.0]])        # batch means (2, 2)
        >>> fake = np.array([[0.0, 1.0], [0.0, 0.0]])        # batch means (0, 0.5)
        >>> float(advloss.feature_matching(real, fake))      # 2² + 1.5²
        6.25
        >>> float(advloss.feature_matching(real, fake, norm="l1", reduction="mean"))   # StudioGAN
        1.75
    """
    where = "feature_matching"
    weight = non_negative(where, "weight", weight)
    _options(where, norm, reduction)
    reals = _layers(where, "real_features", real_features)
    fakes = _layers(where, "fake_features", fake_features)
    if len(reals) != len(fakes):
        raise AdvlossValueError(
            f"{where}: real_features and fake_features must hold the same number of layers; "
            f"received {len(reals)} and {len(fakes)}."
        )
    b = backend_for(*reals, *fakes, backend=backend, where=where)
    total: Any = None
    for i, (r, f) in enumerate(zip(reals, fakes, strict=True)):
        total_i = _layer_term(where, b, i, len(reals), r, f, norm, reduction)
        total = total_i if total is None else total + total_i
    return weight * total


def _layer_term(
    where: str, b: Backend, i: int, n: int, r: Any, f: Any, norm: str, reduction: str
) -> Any:
    names = ("real_features", "fake_features")
    if n > 1:
        names = (f"real_features[{i}]", f"fake_features[{i}]")
    shapes = []
    for name, x in zip(names, (r, f), strict=True):
        if not b.is_tensor_type(type(x)):
            raise AdvlossTypeError(
                f"{where}: {name} must be a {b.name} tensor of shape (N, ...); received "
                f"{type(x).__name__}."
            )
        floating(where, name, b, x)
        shape = tuple(b.shape(x))
        batch_shape(where, name, shape)
        if len(shape) < 2:
            raise AdvlossValueError(
                f"{where}: {name} must have shape (N, features...), at least 2-d; received "
                f"shape {shape}."
            )
        shapes.append(shape)
    (sr, sf) = shapes
    if len(sr) != len(sf) or any(
        p is not None and q is not None and p != q for p, q in zip(sr[1:], sf[1:], strict=False)
    ):
        raise AdvlossValueError(
            f"{where}: {names[0]} and {names[1]} must have the same shape apart from the batch "
            f"size; received {sr} and {sf}."
        )
    if b.dtype(r) != b.dtype(f):
        raise AdvlossTypeError(
            f"{where}: {names[0]} and {names[1]} must share a dtype; received {b.dtype(r)} and "
            f"{b.dtype(f)}."
        )
    if b.dtype(r) in LOW_PRECISION_DTYPES:
        r, f = b.cast(r, "float32"), b.cast(f, "float32")
    d = b.mean_over(b.stop_gradient(r), (0,)) - b.mean_over(f, (0,))
    distance = d * d if norm == "l2" else b.relu(d) + b.relu(-d)
    return b.sum(distance) if reduction == "sum" else b.mean(distance)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeatureMatching(Configurable):
    """``feature_matching`` with its hyperparameters bound, a **generator-side** term of an
    ``Objective`` (``"ns + feature_matching(weight=1)"``): ``Objective.generator`` computes it
    from ``features=(real_features, fake_features)``, D's intermediate features, which only
    the caller's network can give (``Objective.discriminator`` skips it).

    Examples:
        >>> import numpy as np, advloss
        >>> fm = advloss.FeatureMatching(weight=2.0)
        >>> float(fm(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])))   # 2 * (2 - 0.5)²
        4.5
    """

    name: ClassVar[str] = "feature_matching"
    #: A term of the generator's objective (``Objective.generator``), on D's features.
    side: ClassVar[str] = "generator"
    weight: float = 1.0
    norm: str = "l2"
    reduction: str = "sum"

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        _options(where, self.norm, self.reduction)

    def __call__(self, real_features: Any, fake_features: Any, **options: Any) -> Any:
        return feature_matching(
            real_features,
            fake_features,
            weight=self.weight,
            norm=self.norm,
            reduction=self.reduction,
            **options,
        )

    def features_term(self, real_features: Any, fake_features: Any) -> Any:
        """The protocol of generator-side ``Objective`` terms: the term from D's features."""
        return self(real_features, fake_features)

    def draw_specs(self, n_real: Any, n_fake: Any, **shapes: Any) -> dict[str, Any]:
        """No random draws."""
        return {}

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        """Not available: feature matching acts on D's intermediate features."""
        raise AdvlossTypeError(
            "FeatureMatching.term: feature matching acts on the discriminator's intermediate "
            "features, which a discriminator callable returning logits does not give: use it "
            "in an Objective's generator step with features=(real_features, fake_features), "
            "or call advloss.feature_matching(real_features, fake_features)."
        )


_register_builtins("penalty", FeatureMatching)
