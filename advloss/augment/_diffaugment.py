r"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): differentiable colour, translation and cutout transforms of a batch of images, written
once over the backend primitives.  The public names are in ``advloss.augment``."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from advloss._checks import batch_shape, flag, floating, not_a_number
from advloss._config import Configurable
from advloss.augment._draws import INDEX_DTYPE, Draw, resolve
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

#: Policy name -> the transforms it applies, in order (the reference's ``AUGMENT_FNS``).
POLICIES: dict[str, tuple[str, ...]] = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation",),
    "cutout": ("cutout",),
}
#: The default policy: every transform, in the reference's recommended order.
DEFAULT_POLICY = "color,translation,cutout"
#: The largest translation, as a fraction of the image side (the reference's ``ratio=0.125``).
TRANSLATION_RATIO = 0.125
#: The cutout rectangle's sides, as a fraction of the image's (the reference's ``ratio=0.5``).
CUTOUT_RATIO = 0.5
#: ``layout`` -> (channel axis, height axis, width axis).
LAYOUTS: dict[str, tuple[int, int, int]] = {"NCHW": (1, 2, 3), "NHWC": (3, 1, 2)}


def parse_policy(where: str, policy: Any) -> tuple[str, ...]:
    """The policy names of ``policy`` (a comma-separated string, ``""`` for none), checked."""
    if not isinstance(policy, str):
        raise AdvlossTypeError(
            f"{where}: policy must be a comma-separated str such as {DEFAULT_POLICY!r} (or '' "
            f"for no augmentation); received {type(policy).__name__}."
        )
    names = tuple(p.strip() for p in policy.split(",")) if policy.strip() else ()
    for name in names:
        if name not in POLICIES:
            raise AdvlossValueError(
                f"{where}: unknown policy {name!r} in policy={policy!r}; expected a "
                f"comma-separated subset of {list(POLICIES)}."
            )
    if len(set(names)) != len(names):
        raise AdvlossValueError(
            f"{where}: policy={policy!r} names a policy twice; each may appear once (its draws "
            f"are named after its transforms)."
        )
    return names


def _layout(where: str, layout: Any) -> tuple[int, int, int]:
    try:
        return LAYOUTS[layout]
    except (KeyError, TypeError):
        raise AdvlossValueError(
            f"{where}: layout must be one of {list(LAYOUTS)} (channels first or last); "
            f"received {layout!r}."
        ) from None


def _side(size: int, ratio: float) -> int:
    """``size · ratio`` rounded half up, as the reference computes it (``int(size * ratio + 0.5)``)."""
    return int(size * ratio + 0.5)


def _specs(transforms: tuple[str, ...], height: int, width: int) -> list[Draw]:
    """The draws of ``transforms`` on ``height`` x ``width`` images, in the order they are drawn."""
    specs = []
    for t in transforms:
        if t == "translation":
            sh, sw = (_side(s, TRANSLATION_RATIO) for s in (height, width))
            specs.append(Draw(t, (-sh, -sw), (sh, sw)))
        elif t == "cutout":
            # The reference's centres: 0..size - (side % 2) (inclusive).
            ch, cw = (_side(s, CUTOUT_RATIO) for s in (height, width))
            specs.append(Draw(t, (0, 0), (height - ch % 2, width - cw % 2)))
        else:
            specs.append(Draw(t))
    return specs


def _per_sample(b: Backend, v: Any) -> Any:
    """A per-sample value ``(N,)`` shaped to broadcast over an image batch ``(N, ., ., .)``."""
    return b.reshape(v, (-1, 1, 1, 1))


def _along(b: Backend, n: int, axis: int, like: Any) -> Any:
    """``0..n-1`` shaped to broadcast along ``axis`` of an image batch."""
    shape = [1, 1, 1, 1]
    shape[axis] = n
    return b.reshape(b.arange(n, INDEX_DTYPE, like), tuple(shape))


def _clamped(b: Backend, source: Any, size: int) -> tuple[Any, Any]:
    """``(min(max(source, 0), size - 1), whether source is in 0..size - 1)``."""
    clamped = b.minimum(b.maximum(source, 0), size - 1)
    return clamped, clamped == source


def _translate(
    b: Backend, x: Any, shifts: Any, axes: tuple[int, int], sizes: tuple[int, int]
) -> Any:
    """``y[n, i, j] = x[n, i + dy_n, j + dx_n]``, 0 outside the image (integer shifts).

    One gather over the flattened pixels (the rows' and columns' clamped sources combined in
    one index) and one select of 0 outside the image: exact data movement, like the
    reference's single gather from the zero-padded batch.  When neither the batch size nor the
    channel count is static (traced), one gather and select per axis instead."""
    (height_axis, width_axis), (height, width) = axes, sizes
    shape = b.shape(x)
    channel_axis = 6 - height_axis - width_axis
    batch, channels = shape[0], shape[channel_axis]
    if batch is not None:
        n, c = batch, -1
    elif channels is not None:
        n, c = -1, channels
    else:
        for column, (axis, size) in enumerate(zip(axes, sizes, strict=True)):
            source = _along(b, size, axis, x) + _per_sample(b, shifts[:, column])
            clamped, inside = _clamped(b, source, size)
            x = b.where(inside, b.take_along_axis(x, clamped, axis), 0.0)
        return x
    rows, inside_rows = _clamped(b, _grid(b, height, 1, x) + _per_pixel(b, shifts[:, 0]), height)
    cols, inside_cols = _clamped(b, _grid(b, width, 2, x) + _per_pixel(b, shifts[:, 1]), width)
    pixels = height * width
    if channel_axis == 1:  # NCHW: gather along the last axis of (N, C, H·W)
        flat, index_shape, axis = b.reshape(x, (n, c, pixels)), (-1, 1, pixels), 2
        out = (n, c, height, width)
    else:  # NHWC: along the middle axis of (N, H·W, C)
        flat, index_shape, axis = b.reshape(x, (n, pixels, c)), (-1, pixels, 1), 1
        out = (n, height, width, c)
    index = b.reshape(rows * width + cols, index_shape)
    inside = b.reshape(inside_rows & inside_cols, index_shape)
    return b.reshape(b.where(inside, b.take_along_axis(flat, index, axis), 0.0), out)


def _cutout(b: Backend, x: Any, offsets: Any, axes: tuple[int, int], sizes: tuple[int, int]) -> Any:
    """``x`` times a mask, 0 inside each sample's rectangle (sides half the image's) around its
    centre, else 1 (a product, as the reference's ``x * mask``: signed zeros and the gradient's
    included)."""
    outside = None
    for column, (axis, size) in enumerate(zip(axes, sizes, strict=True)):
        side = _side(size, CUTOUT_RATIO)
        # inside the rectangle along this axis: 0 <= position - (offset - side // 2) < side
        relative = _along(b, size, axis, x) - _per_sample(b, offsets[:, column] - side // 2)
        clamped = b.minimum(b.maximum(relative, 0), side - 1)
        out = clamped != relative
        outside = out if outside is None else outside | out
    return x * b.cast(outside, b.dtype(x))


def _grid(b: Backend, n: int, axis: int, like: Any) -> Any:
    """``0..n-1`` shaped to broadcast along ``axis`` (1: rows, 2: columns) of ``(N, H, W)``."""
    return b.reshape(b.arange(n, INDEX_DTYPE, like), (1, n, 1) if axis == 1 else (1, 1, n))


def _per_pixel(b: Backend, v: Any) -> Any:
    """A per-sample value ``(N,)`` shaped to broadcast over ``(N, H, W)``."""
    return b.reshape(v, (-1, 1, 1))


def diffaugment(
    x: Any,
    policy: str = DEFAULT_POLICY,
    *,
    key: Any = None,
    draws: Any = None,
    layout: str = "NCHW",
    return_draws: bool = False,
) -> Any:
    r"""DiffAugment: random, differentiable colour, translation and cutout transforms of a batch.

    For a batch $x$ of shape ``(N, C, H, W)`` (``layout="NCHW"``) or ``(N, H, W, C)``
    (``"NHWC"``), with per-sample draws $u_n \sim U[0, 1)$ (one for each colour transform),
    $\bar x_n$ the mean of sample $n$ over its channels, height and width, and
    $\langle x \rangle_{n,h,w}$ its mean over the channels at one pixel, the transforms are,
    in the order the policy names them:

    $$
    \begin{aligned}
    \text{brightness:}\quad & x_n \leftarrow x_n + (u_n - \tfrac12) \\
    \text{saturation:}\quad & x_n \leftarrow (x_n - \langle x\rangle_n)\, 2u_n + \langle x\rangle_n \\
    \text{contrast:}\quad & x_n \leftarrow (x_n - \bar x_n)\,(u_n + \tfrac12) + \bar x_n \\
    \text{translation:}\quad & x_{n,c,i,j} \leftarrow x_{n,c,\,i+\delta_n,\,j+\epsilon_n}
        \ \text{(0 outside the image)} \\
    \text{cutout:}\quad & x_{n,c,i,j} \leftarrow 0 \ \text{for}\ 0 \le i - o_n + \lfloor h/2
        \rfloor < h \ \text{and}\ 0 \le j - p_n + \lfloor w/2 \rfloor < w
    \end{aligned}
    $$

    with $[\cdot]$ rounding half up, the integer shifts uniform on
    $|\delta_n| \le [H/8]$, $|\epsilon_n| \le [W/8]$; the cutout rectangle's sides
    $h = [H/2]$, $w = [W/2]$ and its integer centre uniform on
    $o_n \in 0..H - (h \bmod 2)$, $p_n \in 0..W - (w \bmod 2)$ (clipped to the image).
    The policies are ``"color"`` (brightness, saturation, contrast), ``"translation"`` and
    ``"cutout"``: the transforms, ratios (0.125, 0.5) and distributions of the reference
    implementation (mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``), which, given
    the same draws, returns the same batch (see ``docs/augment.md``).

    Every transform is differentiable with respect to ``x`` (the gradient of a translation
    or cutout is 0 where the output is a fill value) and the draws are constants.  Apply the
    same policy to the real and the fake batch in the discriminator step, and to the fake batch
    in the generator step.

    Args:
        x: images ``(N, C, H, W)`` or ``(N, H, W, C)`` of a floating dtype; ``H`` and ``W``
            must be known (static) when traced.  float16/bfloat16 are computed in float32 and
            rounded to their dtype once, at the end.
        policy: comma-separated policy names, applied in that order (``""``: ``x`` unchanged).
        key: the randomness — a ``torch.Generator`` (``None``: torch's global generator), a
            JAX key (required with JAX unless ``draws`` is given), a TF seed (int or shape-(2,)
            tensor) or ``tf.random.Generator``, or for NumPy an int seed or
            ``numpy.random.Generator``.
        draws: explicit draws instead of ``key`` — exactly the names of the policy's transforms:
            ``"brightness"``, ``"saturation"``, ``"contrast"``: ``(N,)`` floats in [0, 1);
            ``"translation"``: ``(N, 2)`` integer shifts $(\delta_n, \epsilon_n)$ along height
            and width; ``"cutout"``: ``(N, 2)`` integer centres $(o_n, p_n)$.  Tensors of
            ``x``'s framework or NumPy arrays (floats are cast to the computation dtype).
            Values outside the ranges above are allowed and mean the same formulas.
        layout: ``"NCHW"`` (channels first; PyTorch) or ``"NHWC"`` (channels last; Keras,
            Flax).  The draws do not depend on it.
        return_draws: also return the draws used.

    Returns:
        The augmented batch, of ``x``'s framework, shape and dtype; with ``return_draws=True``,
        ``(y, draws)`` where ``draws`` maps each transform's name to its tensor (floats in the
        computation dtype, integers int32): ``numpy.asarray`` of each, passed as ``draws=`` to
        the same call in another framework, gives the same ``y``.

    Examples:
        >>> import numpy as np
        >>> from advloss.augment import diffaugment
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> print(diffaugment(x, "translation", draws={"translation": np.array([[0, 1]])})[0, 0])
        [[ 1.  2.  3.  0.]
         [ 5.  6.  7.  0.]
         [ 9. 10. 11.  0.]
         [13. 14. 15.  0.]]
        >>> y, draws = diffaugment(x, "color,cutout", key=0, return_draws=True)
        >>> sorted(draws), draws["cutout"].shape
        (['brightness', 'contrast', 'cutout', 'saturation'], (1, 2))
    """
    where = "diffaugment"
    transforms = tuple(t for p in parse_policy(where, policy) for t in POLICIES[p])
    channel_axis, height_axis, width_axis = _layout(where, layout)
    return_draws = flag(where, "return_draws", return_draws)
    not_a_number(where, "x", x)
    b = backend_for(x, where=where)
    dtype = floating(where, "x", b, x)
    shape = b.shape(x)
    _rank_4(where, shape, layout)
    batch_shape(where, "x", shape)
    height, width = shape[height_axis], shape[width_axis]
    if height is None or width is None:
        raise AdvlossValueError(
            f"{where}: x's height and width must be known when the call is traced (they set "
            f"the translation and cutout ranges); received shape {tuple(shape)} with "
            f"layout={layout!r}. Give the traced function a static image size."
        )
    compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    specs = _specs(transforms, height, width)
    used = resolve(where, b, x, shape[0], compute, specs, key, draws)
    y = b.cast(x, compute) if compute != dtype else x
    for t in transforms:
        d = used[t]
        if t == "brightness":
            y = y + _per_sample(b, d - 0.5)
        elif t == "saturation":
            mean = b.mean_over(y, (channel_axis,))
            y = (y - mean) * _per_sample(b, d * 2.0) + mean
        elif t == "contrast":
            mean = b.mean_over(y, (1, 2, 3))
            y = (y - mean) * _per_sample(b, d + 0.5) + mean
        elif t == "translation":
            y = _translate(b, y, d, (height_axis, width_axis), (height, width))
        else:
            y = _cutout(b, y, d, (height_axis, width_axis), (height, width))
    if compute != dtype:
        y = b.cast(y, dtype)
    return (y, used) if return_draws else y


def _rank_4(where: str, shape: tuple[Any, ...], layout: str) -> None:
    if len(shape) != 4:
        names = "(N, H, W, C)" if layout == "NHWC" else "(N, C, H, W)"
        raise AdvlossValueError(
            f"{where}: x must be a batch of images of rank 4, shape {names}; received shape "
            f"{tuple(shape)} (rank {len(shape)})."
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiffAugment(Configurable):
    """``diffaugment`` with its policy and layout bound: the built-in ``"diffaugment"`` of the
    registry's ``"augmentation"`` kind.

    Examples:
        >>> import numpy as np
        >>> from advloss import registry
        >>> aug = registry.get("augmentation", "diffaugment", policy="translation")
        >>> aug
        DiffAugment(policy='translation', layout='NCHW')
        >>> x = np.ones((2, 3, 8, 8))
        >>> y = aug.augment(x, draws={"translation": np.array([[1, 0], [0, -1]])})
        >>> y.shape, float(y[0].sum()), aug.draw_specs(x.shape)
        ((2, 3, 8, 8), 168.0, {'translation': ('integer', (2, 2))})
    """

    name: ClassVar[str] = "diffaugment"
    policy: str = DEFAULT_POLICY
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        where = "DiffAugment"
        names = parse_policy(where, self.policy)
        _layout(where, self.layout)
        object.__setattr__(self, "policy", ",".join(names))

    def augment(
        self, x: Any, *, key: Any = None, draws: Any = None, return_draws: bool = False
    ) -> Any:
        """``diffaugment(x, policy, key=key, draws=draws, layout=layout, return_draws=...)``."""
        return diffaugment(
            x, self.policy, key=key, draws=draws, layout=self.layout, return_draws=return_draws
        )

    def draw_specs(self, shape: tuple[int | None, ...]) -> dict[str, tuple[str, tuple[Any, ...]]]:
        """The draws ``augment`` consumes for a batch of ``shape``, ``{name: (distribution,
        shape)}`` with distribution ``"uniform"`` (U[0, 1)) or ``"integer"``, in draw order."""
        _, height_axis, width_axis = _layout("DiffAugment.draw_specs", self.layout)
        _rank_4("DiffAugment.draw_specs", tuple(shape), self.layout)
        transforms = tuple(t for p in self.policy.split(",") if p for t in POLICIES[p])
        specs = _specs(transforms, shape[height_axis] or 0, shape[width_axis] or 0)
        return {d.name: ("integer" if d.integer else "uniform", d.shape(shape[0])) for d in specs}


_register_builtins("augmentation", DiffAugment)
