r"""Path-length regularization (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN", StyleGAN2): a generator term that keeps the image's response to a small step in
the latent space of the same size everywhere.

Symbols: the generator ``G`` maps latents $w$ of shape ``(N, ..., D)`` — StyleGAN's
broadcast ``ws`` ``(N, num_ws, w_dim)`` or a plain ``(N, D)`` — to images of shape
``(N, C, H, W)`` (``layout="NCHW"``) or ``(N, H, W, C)`` (``"NHWC"``).  With
$y \sim N(0, I)$ of the images' shape and $L$ the number of rows of each sample's latent (the
product of the axes between the batch and the last; 1 for ``(N, D)``):

$$
\begin{aligned}
  & g = \nabla_w \textstyle\sum_n G(w)_n \cdot y_n / \sqrt{HW}
      = J_w^\top y / \sqrt{HW}, \qquad
    \ell_n = \sqrt{\tfrac1L \textstyle\sum_{l, d} g_{n,l,d}^2} \\
  & a' = a + \beta\,\big(\operatorname{mean}_n \ell_n - a\big), \qquad
    P = \lambda \operatorname{mean}_n (\ell_n - a')^2
\end{aligned}
$$

($\ell_n$ is StyleGAN2-ADA's ``pl_grads.square().sum(2).mean(1).sqrt()``), $a$ the moving
average of the path lengths (explicit state, ``PathLengthState``; 0 initially), $\beta$ =
``decay`` (0.01), λ = ``weight`` (2, StyleGAN2-ADA's ``pl_weight``).  As in StyleGAN2 (both the
TensorFlow original and StyleGAN2-ADA's ``pl_mean.lerp(pl_lengths.mean(), pl_decay)``) the
penalty uses the *updated* average $a'$ and its gradient flows through $a'$'s
$\operatorname{mean}_n \ell_n$ term; the state handed back is $a'$ with no gradient.

The gradient of $P$ reaches G's parameters through the double backward of $g$, and reaches
$w$ itself (and so a mapping network that computed it, as in StyleGAN2): $g$ is taken with
the backend primitive ``input_gradient_through``.  The square root has gradient 0 where
$\ell_n = 0$ (no ε).  Lazy application: with ``every=k`` the term is computed on steps where
``step % k == 0`` and multiplied by $k$ (StyleGAN2's ``G_reg_interval = 4`` is ``every=4``;
its ``gain``); on the other steps it is 0 and the state is unchanged.  StyleGAN2's
``pl_batch_shrink`` (2) is the caller's choice: pass the latents of a sub-batch.
Nothing here reads a value on the host.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple

from advloss._checks import batch_shape, floating, hyperparameter, non_negative, not_a_number
from advloss._checks import interval as check_interval
from advloss._config import Configurable
from advloss._replicas import replica_mean
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.penalties import (
    _explicit_draw,
    _input_gradient_through,
    _lazy,
    _safe_sqrt,
    _squared_norms,
)
from advloss.registry import _register_builtins

__all__ = ["IMAGE_LAYOUTS", "PathLength", "PathLengthState", "path_length_penalty"]

#: The image layouts of ``path_length_penalty(layout=...)``.
IMAGE_LAYOUTS = ("NCHW", "NHWC")


class PathLengthState(NamedTuple):
    r"""Path-length regularization's explicit state: $a$, the moving average of the mean path
    length (StyleGAN2's ``pl_mean``), a 0-d tensor of the computation dtype (a JAX pytree).

    Examples:
        >>> import numpy as np, advloss
        >>> state = advloss.PathLength().init(np.zeros(()))
        >>> state._fields, float(state.pl_mean)
        (('pl_mean',), 0.0)
    """

    #: $a$, the moving average of $\operatorname{mean}_n \ell_n$.
    pl_mean: Any


def _decay(where: str, value: Any) -> float:
    decay = hyperparameter(where, "decay", value)
    if not 0.0 <= decay <= 1.0:
        raise AdvlossValueError(
            f"{where}: decay must lie in [0, 1] (StyleGAN2's pl_decay is 0.01); received {decay}."
        )
    return decay


def _layout(where: str, value: Any) -> str:
    if not isinstance(value, str) or value not in IMAGE_LAYOUTS:
        raise AdvlossValueError(
            f"{where}: layout must be one of {list(IMAGE_LAYOUTS)} (the generator's image "
            f"layout); received {value!r}."
        )
    return value


def _images(where: str, b: Backend, images: Any, n: Any, layout: str) -> int:
    """Check ``G(w)``: a floating tensor ``(N, C, H, W)`` / ``(N, H, W, C)`` of ``b``'s
    framework with N = ``n``; returns ``H * W`` (static)."""
    if not b.is_tensor_type(type(images)):
        raise AdvlossTypeError(
            f"{where}: the generator must return a {b.name} tensor of images, shape "
            f"{'(N, C, H, W)' if layout == 'NCHW' else '(N, H, W, C)'}; it returned an object of "
            f"type {type(images).__name__}."
        )
    floating(where, "the generator's output", b, images)
    shape = tuple(b.shape(images))
    spatial = shape[2:4] if layout == "NCHW" else shape[1:3]
    if len(shape) != 4 or (n is not None and shape[0] is not None and shape[0] != n):
        raise AdvlossValueError(
            f"{where}: the generator must return one image per latent, shape "
            f"{'(N, C, H, W)' if layout == 'NCHW' else '(N, H, W, C)'} (layout={layout!r}) with "
            f"N = {n}; it returned shape {shape}."
        )
    if any(s is None for s in spatial):
        raise AdvlossValueError(
            f"{where}: the images' height and width must be known when tracing; received "
            f"shape {shape}."
        )
    return int(spatial[0]) * int(spatial[1])  # type: ignore[arg-type]


def _state(where: str, b: Backend, state: Any, dtype: str) -> Any:
    if not isinstance(state, PathLengthState):
        raise AdvlossTypeError(
            f"{where}: state must be a PathLengthState (from PathLength().init(like)); received "
            f"{type(state).__name__}."
        )
    value = state.pl_mean
    if not b.is_tensor_type(type(value)) or tuple(b.shape(value)) != ():
        shown = (
            f"shape {tuple(b.shape(value))}"
            if b.is_tensor_type(type(value))
            else f"{value!r:.40} of type {type(value).__name__}"
        )
        raise AdvlossTypeError(
            f"{where}: state.pl_mean must be a 0-d {b.name} tensor; received {shown}."
        )
    return b.cast(b.stop_gradient(value), dtype)


def path_length_penalty(
    generator: Any,
    latent: Any,
    state: PathLengthState,
    *,
    weight: float = 2.0,
    decay: float = 0.01,
    layout: str = "NCHW",
    noise: Any = None,
    key: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    backend: str | None = None,
    replicas: Any = None,
) -> tuple[Any, PathLengthState]:
    r"""StyleGAN2's path-length penalty $P$ and the next state (module docstring).

    Args:
        generator: callable from latents ``(N, ..., D)`` to images ``(N, C, H, W)`` (or
            ``(N, H, W, C)`` with ``layout="NHWC"``): an ``nn.Module``, a Keras model,
            ``functools.partial(module.apply, params)``, StyleGAN's synthesis network.
        latent: $w$, floating, shape ``(N, D)`` or ``(N, ..., D)`` (e.g. ``(N, num_ws, w_dim)``);
            the penalty's gradient flows into it (and into what computed it).
        state: ``PathLengthState`` (``PathLength().init(like)`` on the first step, then the
            state this function returned).
        weight: λ >= 0 (StyleGAN2-ADA's ``pl_weight``, 2).
        decay: β in [0, 1] of the moving average (``pl_decay``, 0.01).
        layout: ``"NCHW"`` (default) or ``"NHWC"``: where H and W of $\sqrt{HW}$ are.
        noise: explicit $y \sim N(0, I)$ of the images' shape (for reproducible comparisons);
            otherwise drawn from
        key: a ``torch.Generator``, a JAX key, a TF seed or ``tf.random.Generator``; ``None``
            uses the framework's global generator (JAX needs a key).
        step, every: lazy application: computed on steps where ``step % every == 0`` and
            multiplied by ``every``; 0 (and the state unchanged) otherwise.
        regularize: the caller's decision instead of ``step % every`` (``advloss.lazy_step``).
        backend: force a framework instead of detecting it.
        replicas: under data-parallel training, the replicas whose $\operatorname{mean}_n
            \ell_n$ are averaged into $a'$ (``advloss.balance_stats``' argument: a JAX axis
            name, ``True`` in PyTorch DDP / ``tf.distribute``), so the state is the global
            batch's on every replica; the gradient through $a'$ is arranged so that the
            replicas' averaged gradient is the global batch's.

    Returns:
        ``(penalty, next_state)``: a 0-d tensor (float32 for float16/bfloat16 latents) and a
        ``PathLengthState``.

    Examples:
        >>> import torch, advloss
        >>> A = torch.eye(4).reshape(4, 1, 2, 2)         # G(w) = w · A: an isometry to 2x2
        >>> G = lambda w: torch.einsum("nd,dchw->nchw", w, A)
        >>> w, state = torch.randn(3, 4), advloss.PathLength().init(torch.zeros(()))
        >>> y = torch.ones(3, 1, 2, 2)                    # J^T y / sqrt(4) = (½, ½, ½, ½)
        >>> penalty, state = advloss.path_length_penalty(G, w, state, noise=y)
        >>> round(float(state.pl_mean), 4), round(float(penalty), 6)   # ℓ = 1, a' = 0.01
        (0.01, 1.9602)
    """
    where = "path_length_penalty"
    weight = non_negative(where, "weight", weight)
    decay = _decay(where, decay)
    layout = _layout(where, layout)
    if not callable(generator):
        raise AdvlossTypeError(
            f"{where}: generator must be a callable mapping latents to images (an nn.Module, "
            f"a Keras model, functools.partial(module.apply, params), ...); received "
            f"{type(generator).__name__}."
        )
    if latent is None:
        raise AdvlossTypeError(f"{where}: latent is required; received None.")
    not_a_number(where, "latent", latent)
    pl_mean = state.pl_mean if isinstance(state, PathLengthState) else None
    b = backend_for(latent, pl_mean, noise, backend=backend, where=where)
    dtype = floating(where, "latent", b, latent)
    dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    shape = tuple(b.shape(latent))
    batch_shape(where, "latent", shape)
    if len(shape) < 2:
        raise AdvlossValueError(
            f"{where}: latent must have shape (N, D) or (N, ..., D), at least 2-d; received "
            f"shape {shape}."
        )
    if any(s is None for s in shape[1:-1]):
        raise AdvlossValueError(
            f"{where}: latent's axes between the batch and the last must be known when "
            f"tracing; received shape {shape}."
        )
    rows = 1
    for s in shape[1:-1]:  # a loop, not a generator, which torch.compile cannot trace
        rows *= int(s)  # type: ignore[arg-type]
    anchor = _state(where, b, state, dtype)
    n = shape[0]

    def compute() -> tuple[Any, Any]:
        def projected(w: Any) -> Any:
            images = generator(w)
            area = _images(where, b, images, n, layout)
            if noise is None:
                y = b.normal(key, tuple(b.shape(images)), b.dtype(images), images)
            else:
                y = _explicit_draw(
                    where, b, "noise", noise, images, b.shape(images), "N(0, I) like the images"
                )
            return b.sum_per_sample(images * (y * (1.0 / math.sqrt(area))))

        _, grad = _input_gradient_through(where, "latent", b, projected, latent)
        squares = _squared_norms(b, grad)
        lengths = _safe_sqrt(b, squares if rows == 1 else squares * (1.0 / rows))
        mean = b.mean(lengths)
        if replicas is None:
            target = anchor + decay * (mean - anchor)
            excess = lengths - target
            return weight * b.mean(excess * excess), b.stop_gradient(target)
        # Over replicas: a' from the global mean ḡ of the path lengths; the gradient through
        # a', -2λβ(ḡ - a')·∇m, carried by this replica's mean m — the replicas' average is
        # then the global batch's gradient exactly (equal shards).
        (global_mean,) = replica_mean(where, b, [mean], replicas)
        target = b.stop_gradient(anchor + decay * (global_mean - anchor))
        excess = lengths - target
        through = (global_mean - target) * (decay * 2.0 * weight)
        value = weight * b.mean(excess * excess) - through * (mean - b.stop_gradient(mean))
        return value, target

    penalty, pl_mean = _lazy(b, where, step, every, regularize, compute, lambda: anchor, dtype)
    return penalty, PathLengthState(pl_mean)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PathLength(Configurable):
    """``path_length_penalty`` with its hyperparameters bound, a **generator-side** term with
    explicit state.  Call ``(generator, latent, state, *, noise=None, key=None, step=None,
    regularize=None)`` → ``(penalty, next_state)``; ``init(like)`` makes the first state.

    In an ``Objective`` (``"ns + path_length(every=4)"``) ``Objective.generator`` computes it
    from ``generator=G`` and ``latent=w``, with its state in ``states=`` (from
    ``Objective.init_states``) and the next one in the output's ``stats``
    (``"path_length.pl_mean"``, see ``Objective.next_states``); ``Objective.discriminator``
    skips it.

    Examples:
        >>> import torch, advloss
        >>> pl = advloss.PathLength(every=4)                 # StyleGAN2-ADA: weight 2, decay 0.01
        >>> G = lambda w: w.reshape(-1, 1, 2, 2)             # an isometry: ℓ = 1 for y = 1
        >>> state = pl.init(torch.zeros(()))
        >>> for step in range(5):
        ...     penalty, state = pl(G, torch.randn(3, 4), state, noise=torch.ones(3, 1, 2, 2), step=step)
        ...     print(step, round(float(penalty), 5), round(float(state.pl_mean), 6))   # 4 × 2(1 - a')²
        0 7.8408 0.01
        1 0.0 0.01
        2 0.0 0.01
        3 0.0 0.01
        4 7.68477 0.0199
    """

    name: ClassVar[str] = "path_length"
    #: A term of the generator's objective (``Objective.generator``), on G and its latents.
    side: ClassVar[str] = "generator"
    #: It keeps explicit state (``init``; the objective threads it with ``states=``).
    stateful: ClassVar[bool] = True
    #: Its ``logits_term``/``latent_term`` take ``replicas=`` (state averaged over replicas).
    takes_replicas: ClassVar[bool] = True
    #: The type of the state (``Objective.next_states`` rebuilds it from the output's stats).
    state_type: ClassVar[type] = PathLengthState
    weight: float = 2.0
    decay: float = 0.01
    every: int = 1
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        object.__setattr__(self, "decay", _decay(where, self.decay))
        check_interval(where, "every", self.every)
        _layout(where, self.layout)

    def init(self, like: Any, *, backend: str | None = None) -> PathLengthState:
        """The initial state: $a = 0$ as a 0-d tensor of ``like``'s framework, device and
        computation dtype (float32 for float16/bfloat16)."""
        where = "PathLength.init"
        b = backend_for(like, backend=backend, where=where)
        dtype = floating(where, "like", b, like)
        dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
        return PathLengthState(b.full(0.0, dtype, like))

    def __call__(
        self, generator: Any, latent: Any, state: PathLengthState, **options: Any
    ) -> tuple[Any, PathLengthState]:
        return path_length_penalty(
            generator,
            latent,
            state,
            weight=self.weight,
            decay=self.decay,
            layout=self.layout,
            every=self.every,
            **options,
        )

    def latent_term(
        self,
        generator: Any,
        latent: Any,
        *,
        state: PathLengthState,
        step: Any = None,
        key: Any = None,
        draws: Any = None,
        regularize: bool | None = None,
        replicas: Any = None,
    ) -> tuple[Any, PathLengthState]:
        """The protocol of stateful generator-side ``Objective`` terms: ``(penalty, next
        state)`` from the generator and its latents (``draws``: ``{"noise": y}``)."""
        noise = (draws or {}).get("noise")
        return self(
            generator,
            latent,
            state,
            noise=noise,
            key=key,
            step=step,
            regularize=regularize,
            replicas=replicas,
        )

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        """``noise``: N(0, I) of the images' shape — in an ``Objective``, the fake batch's
        (the latents given to ``Objective.generator`` then have the fake batch's size; with a
        key instead of explicit draws any latent batch works)."""
        return {"noise": ("normal", (n_fake,) if fake_shape is None else tuple(fake_shape))}

    def term(
        self, discriminator: Any, real: Any, fake: Any, *, step: Any = None, key: Any = None
    ) -> Any:
        """Not available: path-length regularization acts on the generator and its latents."""
        raise AdvlossTypeError(
            "PathLength.term: path-length regularization acts on the generator and its "
            "latents, not on the discriminator: use it in an Objective's generator step with "
            "generator=G, latent=w and states=..., or call "
            "advloss.path_length_penalty(G, w, state)."
        )


_register_builtins("penalty", PathLength)
