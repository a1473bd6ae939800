r"""Consistency regularization of the discriminator: CR (Zhang et al. 2020, "Consistency
Regularization for Generative Adversarial Networks"), bCR and zCR (Zhao et al. 2021, "Improved
Consistency Regularization for GANs").

With $T$ a random semantics-preserving transform of an image batch (by default a horizontal flip
with probability ½ then a translation by up to an eighth of the image side with reflected
borders, ``flip_translate``: the transform of both papers and of StudioGAN), and
$\operatorname{msd}(a, b) = \operatorname{mean}\,(a - b)^2$ the mean over all elements:

$$
\begin{aligned}
\text{CR:}\quad & \lambda \operatorname{msd}\big(D(x), D(T(x))\big) \\
\text{bCR:}\quad & \lambda_{\text{real}} \operatorname{msd}\big(D(x), D(T(x))\big)
    + \lambda_{\text{fake}} \operatorname{msd}\big(D(\tilde x), D(T(\tilde x))\big) \\
\text{zCR (D):}\quad & \lambda_{\text{dis}} \operatorname{msd}\big(D(G(z)), D(G(z + \Delta z))\big)
    \qquad \text{zCR (G):}\quad -\lambda_{\text{gen}} \operatorname{msd}\big(G(z), G(z + \Delta z)\big)
\end{aligned}
$$

with $\Delta z = \sigma \varepsilon$, $\varepsilon \sim N(0, I)$.  Gradients flow through both
logits of each pair (neither side is a fixed target).  zCR's discriminator term treats the
generated images as constants; its generator term (to add to the generator's loss) pushes
$G(z)$ and $G(z + \Delta z)$ apart.

The mean over all elements is StudioGAN's ``nn.MSELoss`` (for one logit per sample, the papers'
$\lVert\cdot\rVert^2$ averaged over the batch; for images, the zCR generator term, the papers'
per-sample $\lVert G(z) - G(z + \Delta z)\rVert^2$ divided by $C \cdot H \cdot W$).  The
defaults are StudioGAN's: ``cr_lambda`` 10, bCR ``real_lambda`` = ``fake_lambda`` = 10, zCR
``d_lambda`` 20, ``g_lambda`` 0.5, ``radius`` (σ) 0.05.  See ``docs/regularizers/consistency.md``.

Randomness is explicit: a key, or the draws themselves (``draws=``).  Nothing here needs input
gradients, so the terms also run on NumPy arrays; nothing reads a value on the host.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from advloss._checks import batch_shape, flag, floating, hyperparameter, non_negative, not_a_number
from advloss._checks import discriminator as check_discriminator
from advloss._checks import step as check_step
from advloss._config import Configurable
from advloss.augment._draws import Draw, resolve
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for, square
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.penalties import _checked_discriminator, _inputs, _lazy, _Penalty
from advloss.registry import _KINDS, _register_builtins

__all__ = [
    "BalancedConsistencyPenalty",
    "ConsistencyPenalty",
    "FlipTranslate",
    "LatentConsistency",
    "balanced_consistency_penalty",
    "consistency_penalty",
    "flip_translate",
    "latent_consistency_generator_penalty",
    "latent_consistency_penalty",
]

Discriminator = Callable[[Any], Any]
Generator = Callable[[Any], Any]

#: ``layout`` -> (height axis, width axis).
_LAYOUTS = {"NCHW": (2, 3), "NHWC": (1, 2)}
_INDEX = "int32"


# ------------------------------------------------------------------------------ the transform


def _layout(where: str, layout: Any) -> tuple[int, int]:
    try:
        return _LAYOUTS[layout]
    except (KeyError, TypeError):
        raise AdvlossValueError(
            f"{where}: layout must be one of {list(_LAYOUTS)}; received {layout!r}."
        ) from None


def _probability(where: str, name: str, value: Any) -> float:
    value = hyperparameter(where, name, value)
    if not 0.0 <= value <= 1.0:
        raise AdvlossValueError(f"{where}: {name} must lie in [0, 1]; received {value}.")
    return value


def _ratio(where: str, value: Any) -> float:
    value = hyperparameter(where, "translation", value)
    if not 0.0 <= value < 1.0:
        raise AdvlossValueError(
            f"{where}: translation (the largest shift as a fraction of the side) must lie in "
            f"[0, 1); received {value}."
        )
    return value


def _draw_specs(flip: float, ratio: float) -> list[Draw]:
    """The transform's U[0, 1) draws: one per sample for the flip, two (rows, columns) for the
    shift."""
    specs = [Draw("flip")] if flip > 0 else []
    return specs + ([Draw("translation", columns=2)] if ratio > 0 else [])


def _resolve(
    where: str, b: Backend, like: Any, dtype: str, specs: list[Draw], key: Any, draws: Any
) -> dict[str, Any]:
    """The draws of ``specs`` (``augment``'s resolution: from ``draws``, exactly these names,
    or from ``key``), with a clear error for a framework without global random state."""
    if draws is None and specs and key is None and b.needs_explicit_key:
        raise AdvlossValueError(
            f"{where}: the {b.name} backend has no global random state: pass key= or "
            f"draws={{{', '.join(repr(d.name) for d in specs)}}}."
        )
    return resolve(where, b, like, b.shape(like)[0], dtype, specs, key, draws)


def _per_sample(b: Backend, v: Any) -> Any:
    return b.reshape(v, (-1, 1, 1, 1))


def _along(b: Backend, n: int, axis: int, like: Any) -> Any:
    shape = [1, 1, 1, 1]
    shape[axis] = n
    return b.reshape(b.arange(n, _INDEX, like), tuple(shape))


def flip_translate(
    x: Any,
    *,
    flip: float = 0.5,
    translation: float = 0.125,
    key: Any = None,
    draws: Any = None,
    layout: str = "NCHW",
    return_draws: bool = False,
) -> Any:
    r"""CR's transform $T$: a random horizontal flip, then a random translation with reflected
    borders (StudioGAN's ``apply_cr_aug``, the augmentation of the CR and bCR papers).

    For images $x$ ``(N, C, H, W)`` (``layout="NCHW"``) or ``(N, H, W, C)``, per-sample draws
    $u_n \sim U[0, 1)$ and $(v_n, w_n) \sim U[0, 1)^2$, and
    $m_H = \lfloor \rho H \rfloor$, $m_W = \lfloor \rho W \rfloor$ ($\rho$ = ``translation``):

    $$
    \begin{aligned}
    \text{flip:}\quad & x_{n,c,i,j} \leftarrow x_{n,c,i,W-1-j} \quad \text{if } u_n < p \\
    \text{translation:}\quad & x_{n,c,i,j} \leftarrow x_{n,c,\,R_H(i + \delta_n),\,R_W(j + \epsilon_n)},
      \quad \delta_n = \lfloor v_n (2 m_H + 1) \rfloor - m_H,
      \ \epsilon_n = \lfloor w_n (2 m_W + 1) \rfloor - m_W
    \end{aligned}
    $$

    with $p$ = ``flip`` and $R_S(k)$ reflecting an index into $0..S-1$ without repeating the
    edge ($R(-1) = 1$, $R(S) = S - 2$: ``F.pad(mode="reflect")``), so the shifts are uniform
    on $-m..m$ as StudioGAN's ``torch.randint(-m, m + 1)``.  ``flip=0`` or ``translation=0``
    leaves that transform (and its draw) out.  Differentiable with respect to ``x`` (a gather).

    Args:
        x: images of rank 4 and a floating dtype; ``H`` and ``W`` known when traced.
        flip: the flip probability $p$ in [0, 1] (StudioGAN's 0.5).
        translation: $\rho$ in [0, 1), the largest shift as a fraction of the side (0.125).
        key: the randomness (a ``torch.Generator``, a JAX key, a TF seed or
            ``tf.random.Generator``, a NumPy seed or ``numpy.random.Generator``; ``None``: the
            framework's global generator, not in JAX).
        draws: instead of ``key``, ``{"flip": (N,), "translation": (N, 2)}`` U[0, 1) floats
            (columns: height, width), for the transforms that are on; a shift $t$ is the draw
            $(t + m + \tfrac12) / (2m + 1)$.
        layout: ``"NCHW"`` or ``"NHWC"``.
        return_draws: also return the draws used.

    Returns:
        The transformed batch (``x``'s framework, shape and dtype); with ``return_draws``,
        ``(y, draws)``.

    Examples:
        >>> import numpy as np
        >>> from advloss.consistency import flip_translate
        >>> x = np.arange(8.0).reshape(1, 1, 2, 4)
        >>> print(flip_translate(x, translation=0.0, draws={"flip": np.array([0.2])})[0, 0])
        [[3. 2. 1. 0.]
         [7. 6. 5. 4.]]
        >>> x = np.arange(16.0).reshape(1, 1, 1, 16)   # m_W = 2: shifts -2..2, draw (t + 2.5) / 5
        >>> y = flip_translate(x, flip=0.0, draws={"translation": np.array([[0.5, 0.1]])})
        >>> print(y[0, 0, 0, :4])                       # shifted by -2: reflected at the edge
        [2. 1. 0. 1.]
    """
    where = "flip_translate"
    flip = _probability(where, "flip", flip)
    ratio = _ratio(where, translation)
    height_axis, width_axis = _layout(where, layout)
    return_draws = flag(where, "return_draws", return_draws)
    not_a_number(where, "x", x)
    b = backend_for(x, where=where)
    dtype = floating(where, "x", b, x)
    shape = b.shape(x)
    if len(shape) != 4:
        names = "(N, H, W, C)" if layout == "NHWC" else "(N, C, H, W)"
        raise AdvlossValueError(
            f"{where}: x must be a batch of images of rank 4, shape {names}; received shape "
            f"{tuple(shape)} (rank {len(shape)})."
        )
    batch_shape(where, "x", shape)
    height, width = shape[height_axis], shape[width_axis]
    if height is None or width is None:
        raise AdvlossValueError(
            f"{where}: x's height and width must be known when the call is traced; received "
            f"shape {tuple(shape)} with layout={layout!r}."
        )
    compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    used = _resolve(where, b, x, compute, _draw_specs(flip, ratio), key, draws)
    y = b.cast(x, compute) if compute != dtype else x
    if "flip" in used:
        mirrored = b.take_along_axis(y, (width - 1) - _along(b, width, width_axis, y), width_axis)
        y = b.where(_per_sample(b, used["flip"]) < flip, mirrored, y)
    if "translation" in used:
        for column, (axis, size) in enumerate(((height_axis, height), (width_axis, width))):
            m = int(size * ratio)
            if m == 0:
                continue
            count = 2 * m + 1
            u = used["translation"][:, column]
            shift = b.cast(b.minimum(b.maximum(u * float(count), 0.0), count - 1.0), _INDEX) - m
            source = _along(b, size, axis, y) + _per_sample(b, shift)
            source = b.where(source < 0, -source, source)
            source = b.where(source > size - 1, 2 * (size - 1) - source, source)
            y = b.take_along_axis(y, b.minimum(b.maximum(source, 0), size - 1), axis)
    if compute != dtype:
        y = b.cast(y, dtype)
    return (y, used) if return_draws else y


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlipTranslate(Configurable):
    """``flip_translate`` with its parameters bound: the built-in ``"flip_translate"`` of the
    registry's ``"augmentation"`` kind, and the consistency penalties' default transform.

    Examples:
        >>> import numpy as np
        >>> from advloss.consistency import FlipTranslate
        >>> t = FlipTranslate()
        >>> t.draw_specs((4, 3, 32, 32))
        {'flip': ('uniform', (4,)), 'translation': ('uniform', (4, 2))}
        >>> t.augment(np.ones((2, 3, 8, 8)), key=0).shape
        (2, 3, 8, 8)
    """

    name: ClassVar[str] = "flip_translate"
    flip: float = 0.5
    translation: float = 0.125
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "flip", _probability(where, "flip", self.flip))
        object.__setattr__(self, "translation", _ratio(where, self.translation))
        _layout(where, self.layout)

    def augment(
        self, x: Any, *, key: Any = None, draws: Any = None, return_draws: bool = False
    ) -> Any:
        """``flip_translate(x, flip=..., translation=..., key=key, draws=draws, layout=...)``."""
        return flip_translate(
            x,
            flip=self.flip,
            translation=self.translation,
            key=key,
            draws=draws,
            layout=self.layout,
            return_draws=return_draws,
        )

    def draw_specs(self, shape: tuple[int | None, ...]) -> dict[str, tuple[str, tuple[Any, ...]]]:
        """The draws ``augment`` consumes for a batch of ``shape``: ``{name: ("uniform",
        shape)}``, in draw order."""
        n = next(iter(shape), None)
        specs = _draw_specs(self.flip, self.translation)
        return {d.name: (d.distribution, d.shape(n)) for d in specs}


_register_builtins("augmentation", FlipTranslate)


# ------------------------------------------------------------------------------ the penalties


def _transform_of(where: str, spec: Any) -> Any:
    """The transform: None (``FlipTranslate()``), an augmentation name or config dict of the
    registry (``"diffaugment"``, ``{"name": "diffaugment", "policy": "translation"}``), or an
    object with ``augment(x, *, key=None, draws=None)``."""
    if spec is None:
        return FlipTranslate()
    if isinstance(spec, (str, Mapping)):
        import advloss.augment  # noqa: F401  (registers "diffaugment")

        return _KINDS["augmentation"].build(f"{where}: augment", spec, {})
    if not callable(getattr(spec, "augment", None)) or isinstance(spec, type):
        raise AdvlossTypeError(
            f"{where}: augment must be None (flip_translate), an augmentation name or config "
            f"dict ('diffaugment', {{'name': 'diffaugment', 'policy': 'translation'}}) or an "
            f"object with augment(x, *, key=None, draws=None); received {type(spec).__name__}."
        )
    return spec


def _transform_specs(transform: Any, shape: tuple[int | None, ...] | None) -> dict[str, Any]:
    method = getattr(transform, "draw_specs", None)
    if not callable(method) or shape is None:
        return {}
    return dict(method(tuple(shape)))


def _transformed(where: str, transform: Any, x: Any, key: Any, draws: Any) -> Any:
    """``T(x)`` with the transform's share of the randomness (all its draws, or none: ``key``)."""
    if callable(getattr(transform, "draw_specs", None)):
        return transform.augment(x, key=key, draws=draws or None)
    if draws:
        raise AdvlossValueError(
            f"{where}: the transform {transform!r:.60} takes no explicit draws (it has no "
            f"draw_specs); received draws {sorted(draws)}."
        )
    return transform.augment(x, key=key)


def _mean_squared_difference(where: str, b: Backend, a: Any, c: Any, what: str) -> Any:
    """``mean((a - c)²)`` over all elements, in float32 at least."""
    sa, sc = tuple(b.shape(a)), tuple(b.shape(c))
    if len(sa) != len(sc) or any(
        p is not None and q is not None and p != q for p, q in zip(sa, sc, strict=True)
    ):
        raise AdvlossValueError(
            f"{where}: {what} must have the same shape; received {sa} and {sc}."
        )
    d = a - c
    if b.dtype(d) in LOW_PRECISION_DTYPES:
        d = b.cast(d, "float32")
    return b.mean(square(b, d))


def _split_draws(where: str, draws: Any, prefixes: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{"real.flip": u, ...}`` -> ``{"real": {"flip": u}, ...}`` (names checked)."""
    out: dict[str, dict[str, Any]] = {p: {} for p in prefixes}
    if draws is None:
        return out
    if not isinstance(draws, Mapping):
        raise AdvlossTypeError(f"{where}: draws must be a dict; received {type(draws).__name__}.")
    for name, value in draws.items():
        prefix, _, rest = str(name).partition(".")
        if prefix not in out or not rest:
            raise AdvlossValueError(
                f"{where}: draws are named '<batch>.<draw>' with batch in {list(prefixes)} "
                f"(e.g. 'real.flip'); received {name!r}."
            )
        out[prefix][rest] = value
    return out


def consistency_penalty(
    discriminator: Discriminator,
    real: Any,
    *,
    weight: float = 10.0,
    augment: Any = None,
    key: Any = None,
    draws: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""Consistency regularization (CR, Zhang et al. 2020) on real data:
    $\lambda \operatorname{mean}\big(D(x) - D(T(x))\big)^2$.

    The mean is over all elements of the logits (StudioGAN's ``l2_loss``, ``nn.MSELoss``);
    gradients flow through both $D(x)$ and $D(T(x))$.  $\lambda$ = ``weight`` (10:
    StudioGAN's ``cr_lambda`` and the paper's).

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits ``(N, ...)``.
        real: real images ``(N, ...)`` (rank 4 for the default transform).
        weight: λ >= 0.
        augment: the transform $T$: None (``FlipTranslate()``: flip, then translation with
            reflected borders — StudioGAN's), an augmentation of the registry by name or
            config dict (``{"name": "diffaugment", "policy": "translation"}``) or an object
            with ``augment(x, *, key=None, draws=None)``.
        key: randomness of $T$ (``None``: the framework's global generator; JAX needs one).
        draws: $T$'s draws instead (names and shapes from ``T.draw_specs(real.shape)``).
        step, every: lazy application (every ``every`` steps, multiplied by ``every``).
        regularize: the caller's decision instead of ``step % every`` (``advloss.lazy_step``).
        return_outputs: also return ``D(real)`` (for the adversarial loss to reuse).
        backend: force a framework instead of detecting it.

    Returns:
        A 0-d tensor (float32 for float16/bfloat16 logits); with ``return_outputs``,
        ``(penalty, D(real))``.

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x[:, 0, 0, :1]                 # the top-left pixel
        >>> x = np.arange(8.0).reshape(1, 1, 2, 4)
        >>> flip = {"flip": np.array([0.1])}             # flipped: the top-right pixel, 3
        >>> float(advloss.consistency_penalty(D, x, augment={"name": "flip_translate",
        ...       "translation": 0.0}, draws=flip))      # 10 * (0 - 3)^2
        90.0
    """
    where = "consistency_penalty"
    weight = non_negative(where, "weight", weight)
    flag(where, "return_outputs", return_outputs)
    b = _inputs(where, discriminator, backend, real=real)
    d = _checked_discriminator(where, b, discriminator, b.shape(real)[0])
    transform = _transform_of(where, augment)
    logits = d(real)

    def compute() -> tuple[Any, Any]:
        augmented = d(_transformed(where, transform, real, key, draws))
        return weight * _mean_squared_difference(
            where, b, logits, augmented, "D(real) and D(T(real))"
        ), logits

    value, _ = _lazy(b, where, step, every, regularize, compute, lambda: logits, _dtype(b, logits))
    return (value, logits) if return_outputs else value


def balanced_consistency_penalty(
    discriminator: Discriminator,
    real: Any,
    fake: Any,
    *,
    real_weight: float = 10.0,
    fake_weight: float = 10.0,
    augment: Any = None,
    key: Any = None,
    draws: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""Balanced consistency regularization (bCR, Zhao et al. 2021):
    $\lambda_{\text{real}} \operatorname{mean}\big(D(x) - D(T(x))\big)^2
    + \lambda_{\text{fake}} \operatorname{mean}\big(D(\tilde x) - D(T(\tilde x))\big)^2$.

    Means over all elements (StudioGAN's ``l2_loss``); $\lambda_{\text{real}}$ = ``real_weight``
    and $\lambda_{\text{fake}}$ = ``fake_weight`` (10 each: StudioGAN's ``real_lambda`` and
    ``fake_lambda``, the paper's).  Fresh draws of $T$ for each batch.  Pass ``fake`` detached
    from the generator (this is a discriminator term).

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits.
        real, fake: image batches (their sizes may differ).
        real_weight, fake_weight: λ_real, λ_fake >= 0.
        augment: the transform $T$, as in ``consistency_penalty``.
        key: randomness of $T$ (split: real first, then fake).
        draws: $T$'s draws instead, named ``"real.<draw>"`` and ``"fake.<draw>"``.
        step, every: lazy application.
        regularize: the caller's decision instead of ``step % every`` (``advloss.lazy_step``).
        return_outputs: also return ``D(real)`` and ``D(fake)``.
        backend: force a framework instead of detecting it.

    Returns:
        A 0-d tensor; with ``return_outputs``, ``(penalty, D(real), D(fake))``.

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x[:, 0, 0, :1]                 # the top-left pixel
        >>> real, fake = np.arange(8.0).reshape(1, 1, 2, 4), np.ones((1, 1, 2, 4))
        >>> draws = {"real.flip": np.array([0.1]), "fake.flip": np.array([0.1])}
        >>> float(advloss.balanced_consistency_penalty(D, real, fake, real_weight=1.0,
        ...       augment={"name": "flip_translate", "translation": 0.0}, draws=draws))
        9.0
    """
    where = "balanced_consistency_penalty"
    real_weight = non_negative(where, "real_weight", real_weight)
    fake_weight = non_negative(where, "fake_weight", fake_weight)
    flag(where, "return_outputs", return_outputs)
    b = _inputs(where, discriminator, backend, real=real)
    if _inputs(where, discriminator, backend, fake=fake) is not b:
        backend_for(real, fake, backend=backend, where=where)  # raises: two frameworks
    transform = _transform_of(where, augment)
    given = _split_draws(where, draws, ("real", "fake"))
    keys = b.split_key(key, 2) if key is not None else [None, None]
    r_logits = _checked_discriminator(where, b, discriminator, b.shape(real)[0])(real)
    f_logits = _checked_discriminator(where, b, discriminator, b.shape(fake)[0])(fake)

    def compute() -> tuple[Any, Any]:
        total = None
        for x, logits, w, k, name in (
            (real, r_logits, real_weight, keys[0], "real"),
            (fake, f_logits, fake_weight, keys[1], "fake"),
        ):
            d = _checked_discriminator(where, b, discriminator, b.shape(x)[0])
            augmented = d(_transformed(where, transform, x, k, given[name]))
            term = w * _mean_squared_difference(
                where, b, logits, augmented, f"D({name}) and D(T({name}))"
            )
            total = term if total is None else total + term
        return total, r_logits

    value, _ = _lazy(
        b, where, step, every, regularize, compute, lambda: r_logits, _dtype(b, r_logits)
    )
    return (value, r_logits, f_logits) if return_outputs else value


def _dtype(b: Backend, x: Any) -> str:
    dtype = b.dtype(x)
    return "float32" if dtype in LOW_PRECISION_DTYPES else dtype


def _latent_inputs(
    where: str, generator: Any, z: Any, sigma: Any, noise: Any, key: Any, backend: str | None
) -> tuple[Backend, Any]:
    """The backend and the perturbed latents $z + \\sigma\\varepsilon$."""
    if not callable(generator):
        raise AdvlossTypeError(
            f"{where}: generator must be a callable mapping latents to samples (an nn.Module, "
            f"a Keras model, functools.partial(model.apply, params), ...); received "
            f"{type(generator).__name__}."
        )
    sigma = non_negative(where, "sigma", sigma)
    not_a_number(where, "z", z)
    b = backend_for(z, backend=backend, where=where)
    dtype = floating(where, "z", b, z)
    shape = b.shape(z)
    batch_shape(where, "z", shape)
    if noise is None:
        if key is None and b.needs_explicit_key:
            raise AdvlossValueError(
                f"{where}: the {b.name} backend has no global random state: pass key= or "
                f"noise= (N(0, 1) of z's shape)."
            )
        noise = b.normal(key, shape, dtype, z)
    else:
        if backend_for(z, noise, where=where) is not b or tuple(b.shape(noise)) != tuple(shape):
            raise AdvlossValueError(
                f"{where}: noise must be a {b.name} tensor of z's shape {tuple(shape)} (N(0, 1) "
                f"draws); received shape {b.shape(noise)}."
            )
        noise = b.cast(b.stop_gradient(noise), dtype)
    return b, z + sigma * noise


def latent_consistency_penalty(
    discriminator: Discriminator,
    generator: Generator,
    z: Any,
    *,
    weight: float = 20.0,
    sigma: float = 0.05,
    fake: Any = None,
    noise: Any = None,
    key: Any = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""zCR's discriminator term (Zhao et al. 2021):
    $\lambda_{\text{dis}} \operatorname{mean}\big(D(G(z)) - D(G(z + \sigma\varepsilon))\big)^2$,
    $\varepsilon \sim N(0, I)$.

    The generated images are constants here (no gradient reaches ``generator``).  Mean over
    all elements (StudioGAN's ``l2_loss``); $\lambda_{\text{dis}}$ = ``weight`` (20:
    StudioGAN's ``d_lambda`` in its ICR configs), σ = ``sigma`` (0.05: StudioGAN's ``radius``).

    Args:
        discriminator: callable from a batch to logits.
        generator: callable from latents ``(N, ...)`` to samples.
        z: latents ``(N, ...)``.
        weight: λ_dis >= 0.
        sigma: σ >= 0.
        fake: ``G(z)`` if already computed (saves a generator pass).
        noise: explicit ε, z's shape; otherwise drawn from ``key``.
        key: a ``torch.Generator``, JAX key, TF seed or ``tf.random.Generator`` (``None``: the
            global generator; JAX needs one).
        return_outputs: also return ``D(G(z))`` (for the adversarial loss to reuse).
        backend: force a framework instead of detecting it.

    Returns:
        A 0-d tensor; with ``return_outputs``, ``(penalty, D(G(z)))``.

    Examples:
        >>> import numpy as np, advloss
        >>> G = lambda z: 2.0 * z
        >>> D = lambda x: 3.0 * x
        >>> z, eps = np.zeros((2, 1)), np.ones((2, 1))
        >>> float(advloss.latent_consistency_penalty(D, G, z, weight=1.0, sigma=0.5, noise=eps))
        9.0
    """
    where = "latent_consistency_penalty"
    weight = non_negative(where, "weight", weight)
    flag(where, "return_outputs", return_outputs)
    b, z_eps = _latent_inputs(where, generator, z, sigma, noise, key, backend)
    check_discriminator(where, discriminator)
    fake = generator(z) if fake is None else fake
    perturbed = generator(z_eps)
    for name, x in (("G(z)", fake), ("G(z + sigma * noise)", perturbed)):
        if not b.is_tensor_type(type(x)):
            raise AdvlossTypeError(
                f"{where}: {name} must be a {b.name} tensor (the generator's samples); "
                f"received {type(x).__name__}."
            )
    n = b.shape(fake)[0]
    d = _checked_discriminator(where, b, discriminator, n)
    logits = d(b.stop_gradient(fake))
    value = weight * _mean_squared_difference(
        where, b, logits, d(b.stop_gradient(perturbed)), "D(G(z)) and D(G(z + sigma * noise))"
    )
    return (value, logits) if return_outputs else value


def latent_consistency_generator_penalty(
    generator: Generator,
    z: Any,
    *,
    weight: float = 0.5,
    sigma: float = 0.05,
    fake: Any = None,
    noise: Any = None,
    key: Any = None,
    backend: str | None = None,
) -> Any:
    r"""zCR's generator term (Zhao et al. 2021), to add to the generator's loss:
    $-\lambda_{\text{gen}} \operatorname{mean}\big(G(z) - G(z + \sigma\varepsilon)\big)^2$,
    $\varepsilon \sim N(0, I)$ — negative: it rewards samples that differ for nearby latents.

    Mean over all elements of the samples (StudioGAN's ``l2_loss``; the paper's per-sample
    $\lVert G(z) - G(z+\Delta z)\rVert^2$ is $C \cdot H \cdot W$ times it for images), with
    gradients through both samples.  $\lambda_{\text{gen}}$ = ``weight`` (0.5: StudioGAN's
    ``g_lambda``), σ = ``sigma`` (0.05: StudioGAN's ``radius``).

    Args:
        generator: callable from latents ``(N, ...)`` to samples.
        z: latents ``(N, ...)``.
        weight: λ_gen >= 0.
        sigma: σ >= 0.
        fake: ``G(z)`` if already computed (kept attached to the generator).
        noise, key, backend: as in ``latent_consistency_penalty``.

    Returns:
        A 0-d tensor (<= 0).

    Examples:
        >>> import numpy as np, advloss
        >>> G = lambda z: 2.0 * z
        >>> z, eps = np.zeros((2, 1)), np.ones((2, 1))
        >>> float(advloss.latent_consistency_generator_penalty(G, z, weight=1.0, sigma=0.5, noise=eps))
        -1.0
    """
    where = "latent_consistency_generator_penalty"
    weight = non_negative(where, "weight", weight)
    b, z_eps = _latent_inputs(where, generator, z, sigma, noise, key, backend)
    fake = generator(z) if fake is None else fake
    perturbed = generator(z_eps)
    for name, x in (("G(z)", fake), ("G(z + sigma * noise)", perturbed)):
        if not b.is_tensor_type(type(x)):
            raise AdvlossTypeError(
                f"{where}: {name} must be a {b.name} tensor (the generator's samples); "
                f"received {type(x).__name__}."
            )
    floating(where, "G(z)", b, fake)
    return -weight * _mean_squared_difference(
        where, b, fake, perturbed, "G(z) and G(z + sigma * noise)"
    )


# ------------------------------------------------------------------------------ as values


def _transform_config(transform: Any) -> Any:
    """The transform as plain data: its name when it equals the default of that name, else its
    config dict."""
    config = transform.config() if callable(getattr(transform, "config", None)) else None
    if not isinstance(config, dict):
        return repr(transform)
    name = config.get("name")
    try:
        default = _KINDS["augmentation"].build("config", name, {})
    except Exception:  # a plugin without defaults
        return config
    return name if default == transform else config


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Consistency(_Penalty):
    """CR and bCR as penalty values: the transform is a field (an augmentation object; written
    as its name or config dict by ``config()``)."""

    augment: Any = None
    _sides: ClassVar[tuple[str, ...]] = ()
    #: The batches are images (the equivalence suite runs the term on its conv network).
    image_batches: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment", _transform_of(type(self).__name__, self.augment))
        super().__post_init__()

    def config(self) -> dict[str, Any]:
        out = super().config()
        out["augment"] = _transform_config(self.augment)
        return out

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        """The transform's draws on each batch (``"real.<draw>"``, ``"fake.<draw>"`` for bCR;
        CR: the real batch's, unprefixed).  Needs the batches' shapes."""
        shapes = {"real": real_shape, "fake": fake_shape}
        if len(self._sides) == 1:
            return _transform_specs(self.augment, real_shape)
        return {
            f"{side}.{k}": v
            for side in self._sides
            for k, v in _transform_specs(self.augment, shapes[side]).items()
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsistencyPenalty(_Consistency):
    """``consistency_penalty`` with its hyperparameters bound (``"cr"`` in the registry); call
    with ``(discriminator, real, *, key=None, draws=None, step=None, return_outputs=False)``.

    Examples:
        >>> import advloss
        >>> advloss.get_penalty("cr")
        ConsistencyPenalty(every=1, augment=FlipTranslate(flip=0.5, translation=0.125, layout='NCHW'), weight=10.0)
        >>> advloss.get_penalty("cr", weight=5.0).config()
        {'name': 'cr', 'every': 1, 'augment': 'flip_translate', 'weight': 5.0}
    """

    name: ClassVar[str] = "cr"
    _sides: ClassVar[tuple[str, ...]] = ("real",)
    weight: float = 10.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        super().__post_init__()

    def __call__(self, discriminator: Discriminator, real: Any, **options: Any) -> Any:
        return consistency_penalty(
            discriminator, real, weight=self.weight, augment=self.augment, every=self.every,
            **options,
        )  # fmt: skip

    def term_and_logits(
        self,
        discriminator: Discriminator,
        real: Any,
        fake: Any,
        *,
        step: Any = None,
        key: Any = None,
        draws: Any = None,
        regularize: bool | None = None,
    ) -> tuple[Any, Any, Any]:
        """``(penalty, D(real), None)``."""
        value, logits = self(
            discriminator, real, key=key, draws=draws or None, step=step,
            regularize=regularize, return_outputs=True,
        )  # fmt: skip
        return value, logits, None


@dataclasses.dataclass(frozen=True, kw_only=True)
class BalancedConsistencyPenalty(_Consistency):
    """``balanced_consistency_penalty`` with its hyperparameters bound (``"bcr"`` in the
    registry); call with ``(discriminator, real, fake, *, key=None, draws=None, step=None,
    return_outputs=False)``.

    Examples:
        >>> import advloss
        >>> bcr = advloss.get_penalty("bcr", fake_weight=5.0)
        >>> sorted(bcr.draw_specs(8, 8, real_shape=(8, 3, 16, 16), fake_shape=(8, 3, 16, 16)))
        ['fake.flip', 'fake.translation', 'real.flip', 'real.translation']
    """

    name: ClassVar[str] = "bcr"
    _sides: ClassVar[tuple[str, ...]] = ("real", "fake")
    real_weight: float = 10.0
    fake_weight: float = 10.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        for field in ("real_weight", "fake_weight"):
            object.__setattr__(self, field, non_negative(where, field, getattr(self, field)))
        super().__post_init__()

    def __call__(self, discriminator: Discriminator, real: Any, fake: Any, **options: Any) -> Any:
        return balanced_consistency_penalty(
            discriminator, real, fake, real_weight=self.real_weight, fake_weight=self.fake_weight,
            augment=self.augment, every=self.every, **options,
        )  # fmt: skip

    def term_and_logits(
        self,
        discriminator: Discriminator,
        real: Any,
        fake: Any,
        *,
        step: Any = None,
        key: Any = None,
        draws: Any = None,
        regularize: bool | None = None,
    ) -> tuple[Any, Any, Any]:
        """``(penalty, D(real), D(fake))``."""
        value, r, f = self(
            discriminator, real, fake, key=key, draws=draws or None, step=step,
            regularize=regularize, return_outputs=True,
        )  # fmt: skip
        return value, r, f


@dataclasses.dataclass(frozen=True, kw_only=True)
class LatentConsistency(Configurable):
    """zCR's two terms with their hyperparameters bound (``"zcr"`` in the registry): a
    generator-aware term.  ``discriminator_term(D, G, z, ...)`` is
    ``latent_consistency_penalty`` with ``weight=dis_weight``; ``generator_term(G, z, ...)``
    is ``latent_consistency_generator_penalty`` with ``weight=gen_weight``.

    In an ``Objective`` pass ``generator=G`` and ``latent=z`` to both
    ``Objective.discriminator`` (with ``fake = G(z)``) and ``Objective.generator``: the
    discriminator step adds the first term, the generator step the second.

    Examples:
        >>> import numpy as np, advloss
        >>> zcr = advloss.get_penalty("zcr", sigma=0.5, dis_weight=1.0, gen_weight=1.0)
        >>> G, D = (lambda z: 2.0 * z), (lambda x: 3.0 * x)
        >>> z, eps = np.zeros((2, 1)), np.ones((2, 1))
        >>> float(zcr.discriminator_term(D, G, z, noise=eps)), float(zcr.generator_term(G, z, noise=eps))
        (9.0, -1.0)
    """

    name: ClassVar[str] = "zcr"
    #: The objective passes its ``generator=`` and ``latent=`` to this term.
    needs_generator: ClassVar[bool] = True
    dis_weight: float = 20.0
    gen_weight: float = 0.5
    sigma: float = 0.05

    def __post_init__(self) -> None:
        where = type(self).__name__
        for field in ("dis_weight", "gen_weight", "sigma"):
            object.__setattr__(self, field, non_negative(where, field, getattr(self, field)))

    def discriminator_term(
        self, discriminator: Discriminator, generator: Generator, z: Any, **options: Any
    ) -> Any:
        """``latent_consistency_penalty(discriminator, generator, z, weight=dis_weight,
        sigma=sigma, **options)``."""
        return latent_consistency_penalty(
            discriminator, generator, z, weight=self.dis_weight, sigma=self.sigma, **options
        )

    def generator_term(self, generator: Generator, z: Any, **options: Any) -> Any:
        """``latent_consistency_generator_penalty(generator, z, weight=gen_weight,
        sigma=sigma, **options)``."""
        return latent_consistency_generator_penalty(
            generator, z, weight=self.gen_weight, sigma=self.sigma, **options
        )

    def _needs(self, where: str, generator: Any, latent: Any) -> None:
        if generator is None or latent is None:
            raise AdvlossValueError(
                f"{where}: the {self.name!r} term (zCR) perturbs the generator's latents: pass "
                f"generator=G and latent=z (the latents of the fake batch) to "
                f"Objective.discriminator and Objective.generator."
            )

    def objective_discriminator_term(
        self, discriminator: Discriminator, fake: Any, *, generator: Any, latent: Any,
        key: Any, step: Any = None, where: str = "Objective.discriminator",
    ) -> tuple[Any, Any]:  # fmt: skip
        """``(term, D(fake))`` for an objective's discriminator step (``fake`` = ``G(z)``, as
        the objective feeds it to D)."""
        self._needs(where, generator, latent)
        if step is not None:
            check_step(where, step)
        return self.discriminator_term(
            discriminator, generator, latent, fake=fake, key=key, return_outputs=True
        )

    def objective_generator_term(
        self, fake: Any, *, generator: Any, latent: Any, key: Any,
        where: str = "Objective.generator",
    ) -> Any:  # fmt: skip
        """The term for an objective's generator step (``fake`` = ``G(z)``, attached)."""
        self._needs(where, generator, latent)
        return self.generator_term(generator, latent, fake=fake, key=key)

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        """Not available: zCR needs the generator and its latents (``discriminator_term``)."""
        raise AdvlossTypeError(
            "LatentConsistency.term: zCR perturbs the generator's latents, so it has no "
            "term(discriminator, real, fake): call discriminator_term(D, G, z) and "
            "generator_term(G, z), or pass generator= and latent= to an Objective's calls."
        )


_register_builtins("penalty", ConsistencyPenalty, BalancedConsistencyPenalty, LatentConsistency)
