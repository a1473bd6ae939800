r"""The ADA augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data"; StyleGAN2-ADA's ``training/augment.py``): the ``bgc`` transforms — x-flip,
90° rotations, integer translation, isotropic scaling, arbitrary rotation, anisotropic scaling,
fractional translation, brightness, contrast, luma flip, hue rotation, saturation — each applied
per sample with probability ``p``, the geometric ones composed into one 3x3 matrix and applied
with one bilinear resampling, the colour ones composed into one 4x4 matrix.  Written once over
the backend primitives: the resampling is a gather (``take_along_axis``) with weights, so its
second derivatives exist in every framework (R1 through the augmentation).  The public names are
in ``advloss.augment``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from advloss._checks import batch_shape, flag, floating, hyperparameter, not_a_number
from advloss._config import Configurable
from advloss.augment._adaptive import AdaptiveTerm
from advloss.augment._diffaugment import _layout, _rank_4
from advloss.augment._draws import INDEX_DTYPE, Draw, resolve
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

#: The transforms, in the order the pipeline applies them (StyleGAN2-ADA's ``AugmentPipe``).
GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ADA_OPS = GEOMETRIC_OPS + COLOR_OPS
#: StyleGAN2-ADA's ``--augpipe`` names for the sets of transforms built here.
ADA_PRESETS: dict[str, tuple[str, ...]] = {
    "bgc": ADA_OPS,
    "bg": GEOMETRIC_OPS,
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": COLOR_OPS,
}
#: The strengths, StyleGAN2-ADA's defaults (``AugmentPipe.__init__``).
XINT_MAX = 0.125  # integer translation: up to this fraction of the image side
SCALE_STD = 0.2  # isotropic scaling: log2 standard deviation
ROTATE_MAX = 1.0  # arbitrary rotation: 1 = the full circle
ANISO_STD = 0.2  # anisotropic scaling: log2 standard deviation
XFRAC_STD = 0.125  # fractional translation: standard deviation, a fraction of the side
BRIGHTNESS_STD = 0.2  # brightness: standard deviation of the offset
CONTRAST_STD = 0.5  # contrast: log2 standard deviation
HUE_MAX = 1.0  # hue rotation: 1 = the full circle
SATURATION_STD = 1.0  # saturation: log2 standard deviation

_LN2 = math.log(2.0)
#: Each random number of the pipeline, in draw order: (name, its transform, normal?, columns).
#: Every transform also draws ``<name>_gate`` (uniform, shape (N,)): it applies where gate < p.
_DRAWS = (
    ("xflip", "xflip", False, 0),
    ("rotate90", "rotate90", False, 0),
    ("xint", "xint", False, 2),
    ("scale", "scale", True, 0),
    ("rotate_pre", "rotate", False, 0),
    ("aniso", "aniso", True, 0),
    ("rotate_post", "rotate", False, 0),
    ("xfrac", "xfrac", True, 2),
    ("brightness", "brightness", True, 0),
    ("contrast", "contrast", True, 0),
    ("lumaflip", "lumaflip", False, 0),
    ("hue", "hue", False, 0),
    ("saturation", "saturation", True, 0),
)

#: A matrix entry: a Python float (the same for every sample) or a per-sample tensor ``(N,)``.
#: An affine matrix is its top rows: 2 x 3 (geometric) or 3 x 4 (colour).
Matrix = list[list[Any]]


def parse_ops(where: str, ops: Any) -> tuple[str, ...]:
    """The transforms named by ``ops`` (comma-separated transform and preset names; ``""``:
    none), in pipeline order, each once."""
    if not isinstance(ops, str):
        raise AdvlossTypeError(
            f"{where}: ops must be a str such as 'bgc' or 'xflip,rotate90,brightness' (or '' "
            f"for no augmentation); received {type(ops).__name__}."
        )
    chosen: set[str] = set()
    for name in (n.strip() for n in ops.split(",")) if ops.strip() else ():
        if name in ADA_PRESETS:
            chosen.update(ADA_PRESETS[name])
        elif name in ADA_OPS:
            chosen.add(name)
        else:
            raise AdvlossValueError(
                f"{where}: unknown transform {name!r} in ops={ops!r}; expected a comma-separated "
                f"list of {list(ADA_OPS)} or the presets {list(ADA_PRESETS)}."
            )
    return tuple(op for op in ADA_OPS if op in chosen)


def canonical_ops(names: tuple[str, ...]) -> str:
    """``names`` written back: a preset's name when they are one, else comma-separated."""
    for preset, members in ADA_PRESETS.items():
        if names == members:
            return preset
    return ",".join(names)


def _active(names: tuple[str, ...], channels: int) -> tuple[str, ...]:
    """The transforms that run: hue and saturation need colour (skipped on one channel, as in
    StyleGAN2-ADA)."""
    return tuple(op for op in names if channels > 1 or op not in ("hue", "saturation"))


def _specs(active: tuple[str, ...]) -> list[Draw]:
    specs = []
    for name, op, normal, columns in _DRAWS:
        if op in active:
            specs += [Draw(name, normal=normal, columns=columns), Draw(f"{name}_gate")]
    return specs


# ---------------------------------------------------------------------- matrix arithmetic


def _is(value: Any, constant: float) -> bool:
    return isinstance(value, float) and value == constant


def _mul(a: Any, b: Any) -> Any:
    """``a * b``, skipping the work for the Python constants 0 and 1."""
    if _is(a, 0.0) or _is(b, 0.0):
        return 0.0
    if _is(a, 1.0):
        return b
    return a if _is(b, 1.0) else a * b


def _add(a: Any, b: Any) -> Any:
    if _is(a, 0.0):
        return b
    return a if _is(b, 0.0) else a + b


def compose(a: Matrix, b: Matrix) -> Matrix:
    """``a @ b`` for affine matrices given by their top rows (the last row ``0 ... 0 1``)."""
    k = len(a)
    out = []
    for i in range(k):
        row = []
        for j in range(k + 1):
            acc = a[i][k] if j == k else 0.0
            for m in range(k):
                acc = _add(acc, _mul(a[i][m], b[m][j]))
            row.append(acc)
        out.append(row)
    return out


def _identity(k: int) -> Matrix:
    return [[1.0 if i == j else 0.0 for j in range(k + 1)] for i in range(k)]


def _round_half_even(b: Backend, v: Any) -> Any:
    """``torch.round``: to the nearest integer, ties to even (exact: ``v - floor(v)`` is)."""
    r = b.floor(v)
    f = v - r
    odd = (r - 2.0 * b.floor(r * 0.5)) == 1.0
    return b.where((f > 0.5) | ((f == 0.5) & odd), r + 1.0, r)


def _exp2(b: Backend, v: Any) -> Any:
    return b.exp(v * _LN2)


def _rotation(b: Backend, theta: Any) -> Matrix:
    c, s = b.cos(theta), b.sin(theta)
    return [[c, -s, 0.0], [s, c, 0.0]]


# --------------------------------------------------------------------------- the matrices


def geometric_matrix(
    b: Backend, draws: dict[str, Any], active: tuple[str, ...], p: Any, height: int, width: int
) -> Matrix:
    """The top rows of each sample's 3x3 matrix $G$ mapping an output pixel's centred
    coordinates to the input position it samples (StyleGAN2-ADA's ``G_inv``)."""

    def on(name: str, value: Any, identity: float, prob: Any = None) -> Any:
        gate = draws[f"{name}_gate"] < (p if prob is None else prob)
        return b.where(gate, value, identity)

    g = _identity(2)
    if "xflip" in active:
        i = on("xflip", b.floor(draws["xflip"] * 2.0), 0.0)
        g = compose(g, [[1.0 - 2.0 * i, 0.0, 0.0], [0.0, 1.0, 0.0]])  # 1/(1 - 2i) = 1 - 2i
    if "rotate90" in active:
        i = on("rotate90", b.floor(draws["rotate90"] * 4.0), 0.0)
        # cos and sin of i * pi/2, exactly (so a quarter turn moves whole pixels)
        dtype = b.dtype(i)
        c = b.cast(i == 0.0, dtype) - b.cast(i == 2.0, dtype)
        s = b.cast(i == 1.0, dtype) - b.cast(i == 3.0, dtype)
        g = compose(g, [[c, -s, 0.0], [s, c, 0.0]])
    if "xint" in active:
        t = (draws["xint"] * 2.0 - 1.0) * XINT_MAX
        tx = on("xint", _round_half_even(b, t[:, 0] * float(width)), 0.0)
        ty = on("xint", _round_half_even(b, t[:, 1] * float(height)), 0.0)
        g = compose(g, [[1.0, 0.0, -tx], [0.0, 1.0, -ty]])
    if "scale" in active:
        s = on("scale", _exp2(b, draws["scale"] * SCALE_STD), 1.0)
        g = compose(g, [[1.0 / s, 0.0, 0.0], [0.0, 1.0 / s, 0.0]])
    # Two rotations, each with p_rot: P(pre or post) = 1 - (1 - p_rot)^2 = p.
    if isinstance(p, float):
        p_rot: Any = 1.0 - math.sqrt(min(max(1.0 - p, 0.0), 1.0))
    else:
        p_rot = 1.0 - b.sqrt(b.minimum(b.maximum(1.0 - p, 0.0), 1.0))
    if "rotate" in active:
        theta = on(
            "rotate_pre", (draws["rotate_pre"] * 2.0 - 1.0) * (math.pi * ROTATE_MAX), 0.0, p_rot
        )
        g = compose(g, _rotation(b, theta))
    if "aniso" in active:
        s = on("aniso", _exp2(b, draws["aniso"] * ANISO_STD), 1.0)
        g = compose(g, [[1.0 / s, 0.0, 0.0], [0.0, s, 0.0]])
    if "rotate" in active:
        theta = on(
            "rotate_post", (draws["rotate_post"] * 2.0 - 1.0) * (math.pi * ROTATE_MAX), 0.0, p_rot
        )
        g = compose(g, _rotation(b, theta))
    if "xfrac" in active:
        t = draws["xfrac"] * XFRAC_STD
        tx = on("xfrac", t[:, 0] * float(width), 0.0)
        ty = on("xfrac", t[:, 1] * float(height), 0.0)
        g = compose(g, [[1.0, 0.0, -tx], [0.0, 1.0, -ty]])
    return g


def color_matrix(b: Backend, draws: dict[str, Any], active: tuple[str, ...], p: Any) -> Matrix:
    """The top rows of each sample's 4x4 colour matrix $C$: ``rgb_out = C @ (rgb_in, 1)``."""

    def on(name: str, value: Any, identity: float) -> Any:
        return b.where(draws[f"{name}_gate"] < p, value, identity)

    third = 1.0 / 3.0  # v v^T, v = (1, 1, 1) / sqrt(3): the luma axis
    c = _identity(3)
    if "brightness" in active:
        v = on("brightness", draws["brightness"] * BRIGHTNESS_STD, 0.0)
        c = compose([[1.0, 0.0, 0.0, v], [0.0, 1.0, 0.0, v], [0.0, 0.0, 1.0, v]], c)
    if "contrast" in active:
        s = on("contrast", _exp2(b, draws["contrast"] * CONTRAST_STD), 1.0)
        c = compose([[s, 0.0, 0.0, 0.0], [0.0, s, 0.0, 0.0], [0.0, 0.0, s, 0.0]], c)
    if "lumaflip" in active:
        i = on("lumaflip", b.floor(draws["lumaflip"] * 2.0), 0.0)
        off = i * (-2.0 * third)  # I - 2 i v v^T (a Householder reflection when i = 1)
        diag = off + 1.0
        c = compose([[diag, off, off, 0.0], [off, diag, off, 0.0], [off, off, diag, 0.0]], c)
    if "hue" in active:
        theta = on("hue", (draws["hue"] * 2.0 - 1.0) * (math.pi * HUE_MAX), 0.0)
        cos, sin = b.cos(theta), b.sin(theta)
        axis = 1.0 / math.sqrt(3.0)
        d = (1.0 - cos) * third + cos  # Rodrigues' rotation about v
        lo = (1.0 - cos) * third - sin * axis
        hi = (1.0 - cos) * third + sin * axis
        c = compose([[d, lo, hi, 0.0], [hi, d, lo, 0.0], [lo, hi, d, 0.0]], c)
    if "saturation" in active:
        s = on("saturation", _exp2(b, draws["saturation"] * SATURATION_STD), 1.0)
        off = (1.0 - s) * third  # v v^T + s (I - v v^T)
        diag = off + s
        c = compose([[diag, off, off, 0.0], [off, diag, off, 0.0], [off, off, diag, 0.0]], c)
    return c


# ----------------------------------------------------------------------------- applying


def _taps(b: Backend, u: Any, size: int) -> tuple[Any, Any, Any]:
    """For positions ``u`` along an axis of ``size`` pixels (pixel centres at 0..size-1):
    reflected into the image (``reflect`` padding: ``-1 -> 1``, ``size -> size - 2``), the
    two neighbouring pixels ``(lo, hi)`` (int32) and the weight ``frac`` of ``hi``."""
    if size == 1:
        zero = u * 0.0
        index = b.cast(zero, INDEX_DTYPE)
        return index, index, zero
    period = 2.0 * (size - 1)
    r = u - period * b.floor(u / period)
    r = b.minimum(b.maximum(b.minimum(r, period - r), 0.0), float(size - 1))
    lo = b.floor(r)
    lo_index = b.cast(lo, INDEX_DTYPE)
    return lo_index, b.minimum(lo_index + 1, size - 1), r - lo


def resample(
    b: Backend, x: Any, g: Matrix, layout: str, channels: int, height: int, width: int
) -> Any:
    """Bilinear resampling of the batch ``x`` at ``G q`` for each output pixel's centred
    coordinates ``q``, the positions reflected into the image: four gathers and their
    weights, linear in ``x`` (so differentiable twice in every framework)."""
    dtype = b.dtype(x)

    def grid(n: int, shape: tuple[int, ...]) -> Any:
        values = b.cast(b.arange(n, INDEX_DTYPE, x), dtype) - (n - 1) / 2.0
        return b.reshape(values, shape)

    def per_sample(e: Any) -> Any:
        return e if isinstance(e, float) else b.reshape(e, (-1, 1, 1))

    xs, ys = grid(width, (1, 1, width)), grid(height, (1, height, 1))
    u = _add(
        _add(_mul(per_sample(g[0][0]), xs), _mul(per_sample(g[0][1]), ys)), per_sample(g[0][2])
    )
    v = _add(
        _add(_mul(per_sample(g[1][0]), xs), _mul(per_sample(g[1][1]), ys)), per_sample(g[1][2])
    )
    cols = _taps(b, u + (width - 1) / 2.0, width)
    rows = _taps(b, v + (height - 1) / 2.0, height)
    pixels = height * width
    if layout == "NCHW":
        flat, index_shape, axis = b.reshape(x, (-1, channels, pixels)), (-1, 1, pixels), 2
    else:
        flat, index_shape, axis = b.reshape(x, (-1, pixels, channels)), (-1, pixels, 1), 1
    y: Any = 0.0
    col_taps = ((cols[0], 1.0 - cols[2]), (cols[1], cols[2]))
    for row, row_weight in ((rows[0], 1.0 - rows[2]), (rows[1], rows[2])):
        row_start = row * width
        for col, col_weight in col_taps:
            index = b.reshape(row_start + col, index_shape)
            weight = b.reshape(row_weight * col_weight, index_shape)
            y = _add(y, b.take_along_axis(flat, index, axis) * weight)
    shape = (-1, channels, height, width) if layout == "NCHW" else (-1, height, width, channels)
    return b.reshape(y, shape)


def recolor(b: Backend, x: Any, c: Matrix, channel_axis: int, channels: int) -> Any:
    """``C[:3, :3] @ rgb + C[:3, 3]`` at every pixel (3 channels), or, on one channel, the
    mean of the three rows (StyleGAN2-ADA's rule for grayscale)."""

    def per_sample(e: Any) -> Any:
        return e if isinstance(e, float) else b.reshape(e, (-1, 1, 1, 1))

    if channels == 1:
        gain: Any = 0.0
        offset: Any = 0.0
        for r in range(3):
            offset = _add(offset, c[r][3])
            for k in range(3):
                gain = _add(gain, c[r][k])
        return _add(_mul(x, per_sample(_mul(gain, 1.0 / 3.0))), per_sample(_mul(offset, 1.0 / 3.0)))
    dtype = b.dtype(x)
    shape = [1, 1, 1, 1]
    shape[channel_axis] = 3
    unit = [b.to_device(b.asarray(np.eye(3)[r].reshape(shape), dtype), x) for r in range(3)]

    def coefficients(k: int) -> Any:
        """Column ``k`` of ``C`` (input channel ``k``, or the offset for ``k = 3``) laid out
        along the channel axis: ``(N, 3, 1, 1)`` or ``(N, 1, 1, 3)``."""
        out: Any = 0.0
        for r in range(3):
            out = _add(out, _mul(per_sample(c[r][k]), unit[r]))
        return out

    y = coefficients(3)
    for k in range(3):
        index: list[Any] = [slice(None)] * 4
        index[channel_axis] = slice(k, k + 1)
        y = _add(y, _mul(coefficients(k), x[tuple(index)]))
    return y


# -------------------------------------------------------------------------- the function


def _probability(where: str, b: Backend, p: Any, dtype: str) -> Any:
    """``p`` as a Python float in [0, 1], or a 0-d tensor cast to ``dtype`` (not read)."""
    if isinstance(p, bool) or b.host_values or not b.is_tensor_type(type(p)):
        try:
            value = hyperparameter(where, "p", p)
        except AdvlossTypeError:
            raise AdvlossTypeError(
                f"{where}: p must be a Python number in [0, 1] or a 0-d {b.name} tensor; "
                f"received {type(p).__name__}."
            ) from None
        if not 0.0 <= value <= 1.0:
            raise AdvlossValueError(
                f"{where}: p must lie in [0, 1] (a probability); received {value}."
            )
        return value
    if b.shape(p) != ():
        raise AdvlossValueError(
            f"{where}: p must be a scalar (0-d) tensor; received shape {tuple(b.shape(p))}."
        )
    return b.cast(b.stop_gradient(p), dtype)


def ada(
    x: Any,
    p: Any,
    *,
    ops: str = "bgc",
    key: Any = None,
    draws: Any = None,
    layout: str = "NCHW",
    return_draws: bool = False,
) -> Any:
    r"""StyleGAN2-ADA's augmentation pipeline: each transform applied to each sample with
    probability ``p``; the geometric ones with one bilinear resampling, the colour ones with one
    colour matrix.

    **Geometric.** Output pixel $(i, j)$ of an $H \times W$ image has the centred coordinates
    $q = (j - \tfrac{W-1}{2},\ i - \tfrac{H-1}{2})$ ($x$ along the width, pixel centres at
    integers, StyleGAN2-ADA's convention) and takes the value of the input at $G_n q$,

    $$
    G_n = F^{i}\, R(\tfrac{\pi}{2} k)\, T(-[t W], -[t' H])\, S(s^{-1}, s^{-1})\,
          R(\theta)\, S(a^{-1}, a)\, R(\theta')\, T(-0.125\, z W, -0.125\, z' H)
    $$

    with $F = \operatorname{diag}(-1, 1)$ the x-flip ($i = \lfloor 2u \rfloor$), $R$ a
    rotation ($k = \lfloor 4u \rfloor$; $\theta, \theta' = (2u - 1)\pi$), $T$ a translation
    ($t = 0.125 (2u - 1)$, $[\cdot]$ rounding half to even), $S$ a scaling
    ($s = 2^{0.2 z}$, $a = 2^{0.2 z}$), $u \sim U[0, 1)$ and $z \sim N(0, 1)$ a fresh draw for
    each parameter.  Each factor is the identity unless that transform's gate draw
    $g_n \sim U[0, 1)$ is below $p$ — below $p_{rot} = 1 - \sqrt{1 - p}$ for each of the two
    rotations, so that one happens with probability $p$.  The value at $G_n q$ is bilinear in
    the four nearest pixels, positions outside the image reflected into it (``reflect``
    padding: the row before the first is the second).

    **Colour.** With $v = (1, 1, 1)/\sqrt 3$ the luma axis, each pixel's colour
    $c \mapsto C_n (c, 1)$,
    $C_n = (v v^\top + \sigma (I - v v^\top))\, \operatorname{Rot}_v(\phi)\,
    (I - 2 l\, v v^\top)\, \kappa I\, (I + \beta\,\mathbb 1)$ with brightness
    $\beta = 0.2 z$, contrast $\kappa = 2^{0.5 z}$, luma flip $l = \lfloor 2u \rfloor$, hue
    $\phi = (2u - 1)\pi$, saturation $\sigma = 2^{z}$, each gated by $p$ like the geometric
    ones.  One channel: the mean of $C_n$'s three rows (hue and saturation are skipped).

    These are StyleGAN2-ADA's distributions and default strengths, and the same matrices for
    the same draws; the resampling is simpler (see ``docs/augment.md``): plain bilinear on
    reflected positions instead of ADA's wavelet upsampling, ``grid_sample`` and downsampling,
    so that it is written once and differentiable twice in every framework.  The result is
    linear in ``x`` for fixed draws (the draws and ``p`` are constants).

    Args:
        x: images ``(N, C, H, W)`` or ``(N, H, W, C)``, floating dtype; ``C``, ``H``, ``W``
            static when traced; 1 or 3 channels when a colour transform is on.
            float16/bfloat16 are computed in float32 and rounded to their dtype at the end.
        p: the probability of each transform: a Python number in [0, 1] (0 returns ``x``
            itself, with no draw) or a 0-d tensor of ``x``'s framework (e.g. an adaptive
            controller's state; not checked, which would need a host sync).
        ops: comma-separated transforms — ``xflip``, ``rotate90``, ``xint``, ``scale``,
            ``rotate``, ``aniso``, ``xfrac``, ``brightness``, ``contrast``, ``lumaflip``,
            ``hue``, ``saturation`` — and presets ``bgc`` (all), ``bg``, ``blit``, ``geom``,
            ``color`` (StyleGAN2-ADA's ``--augpipe`` names); always applied in the order above.
        key: the randomness, as in ``diffaugment`` (a ``torch.Generator`` or ``None``, a JAX
            key, a TF seed or ``tf.random.Generator``, a NumPy seed or Generator).
        draws: explicit draws instead of ``key``: for each transform its parameter draw and
            ``<name>_gate`` (``(N,)`` uniforms in [0, 1)); ``xflip``, ``rotate90``,
            ``rotate_pre``, ``rotate_post``, ``lumaflip``, ``hue``: ``(N,)`` uniforms;
            ``xint``: ``(N, 2)`` uniforms (x, y); ``scale``, ``aniso``, ``brightness``,
            ``contrast``, ``saturation``: ``(N,)`` standard normals; ``xfrac``: ``(N, 2)``
            standard normals (x, y).  ``rotate`` draws ``rotate_pre`` and ``rotate_post``.
        layout: ``"NCHW"`` or ``"NHWC"``; the draws do not depend on it.
        return_draws: also return the draws used.

    Returns:
        The augmented batch (``x``'s framework, shape and dtype); with ``return_draws=True``,
        ``(y, draws)``: ``numpy.asarray`` of each draw, passed as ``draws=`` to the same call
        in another framework, gives the same ``y``.

    Examples:
        >>> import numpy as np
        >>> from advloss.augment import ada
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> flip = {"xflip": np.array([0.7]), "xflip_gate": np.array([0.1])}
        >>> print(ada(x, 0.5, ops="xflip", draws=flip)[0, 0])  # 0.1 < p: flipped
        [[ 3.  2.  1.  0.]
         [ 7.  6.  5.  4.]
         [11. 10.  9.  8.]
         [15. 14. 13. 12.]]
        >>> y, draws = ada(np.zeros((2, 3, 8, 8)), 0.2, key=0, return_draws=True)
        >>> len(draws), draws["xint"].shape
        (26, (2, 2))
    """
    where = "ada"
    names = parse_ops(where, ops)
    channel_axis, height_axis, width_axis = _layout(where, layout)
    return_draws = flag(where, "return_draws", return_draws)
    not_a_number(where, "x", x)
    b = backend_for(x, where=where)
    dtype = floating(where, "x", b, x)
    shape = b.shape(x)
    _rank_4(where, shape, layout)
    batch_shape(where, "x", shape)
    channels, height, width = shape[channel_axis], shape[height_axis], shape[width_axis]
    if channels is None or height is None or width is None:
        raise AdvlossValueError(
            f"{where}: x's channels, height and width must be known when the call is traced; "
            f"received shape {tuple(shape)} with layout={layout!r}."
        )
    active = _active(names, channels)
    if any(op in COLOR_OPS for op in active) and channels not in (1, 3):
        raise AdvlossValueError(
            f"{where}: the colour transforms need 1 or 3 channels (grayscale or RGB); x has "
            f"{channels} (shape {tuple(shape)}, layout={layout!r}). Use ops='bg' for geometric "
            f"transforms only."
        )
    compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    p = _probability(where, b, p, compute)
    if not active or (isinstance(p, float) and p == 0.0):
        return (x, {}) if return_draws else x
    used = resolve(where, b, x, shape[0], compute, _specs(active), key, draws)
    y = b.cast(x, compute) if compute != dtype else x
    if any(op in GEOMETRIC_OPS for op in active):
        g = geometric_matrix(b, used, active, p, height, width)
        y = resample(b, y, g, layout, channels, height, width)
    if any(op in COLOR_OPS for op in active):
        y = recolor(b, y, color_matrix(b, used, active, p), channel_axis, channels)
    if compute != dtype:
        y = b.cast(y, dtype)
    return (y, used) if return_draws else y


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class ADA(AdaptiveTerm, Configurable):
    """``ada`` with its probability, transforms and layout bound: the built-in ``"ada"`` of the
    registry's ``"augmentation"`` kind (the ``Objective`` term ``ada(p=0.2, ops='bgc')``).

    ``p`` is fixed unless ``target`` is set (0, the default, leaves batches unchanged — ADA's
    starting value); a controller of your own passes its current value per call:
    ``augment(x, p=p_t)``.  With ``target`` (the ``Objective`` term ``ada(target=0.6)``) the
    objective steers ``p`` itself: ``p`` is then the initial probability, and the term keeps an
    ``advloss.augment.AdaptiveProbabilityState`` under the name ``"ada"``
    (``Objective.init_states``, ``next_states``), moved after each discriminator step by
    ``AdaptiveProbability``'s rule from that step's r_t, with its ``ada_kimg``, ``interval`` and
    ``batch_size`` (default: the real batch's size).

    Examples:
        >>> import numpy as np
        >>> from advloss import registry
        >>> aug = registry.get("augmentation", "ada", p=0.2, ops="xflip, rotate90")
        >>> aug
        ADA(p=0.2, ops='xflip,rotate90', layout='NCHW')
        >>> aug.draw_specs((4, 3, 8, 8))["rotate90"]
        ('uniform', (4,))
        >>> aug.augment(np.ones((4, 3, 8, 8)), key=0).shape
        (4, 3, 8, 8)
        >>> registry.get("augmentation", "ada", target=0.6, ada_kimg=100).stateful
        True
    """

    name: ClassVar[str] = "ada"
    p: float = 0.0
    ops: str = "bgc"
    layout: str = "NCHW"
    #: The r_t target that steers ``p`` (None: ``p`` is fixed).
    target: float | None = None
    ada_kimg: float = 500.0
    interval: int = 4
    batch_size: int | None = None

    def __post_init__(self) -> None:
        where = "ADA"
        self._check_adaptive(where)
        object.__setattr__(self, "ops", canonical_ops(parse_ops(where, self.ops)))
        _layout(where, self.layout)

    def augment(
        self,
        x: Any,
        *,
        key: Any = None,
        draws: Any = None,
        return_draws: bool = False,
        p: Any = None,
    ) -> Any:
        """``ada(x, p, ops=ops, key=key, draws=draws, layout=layout, ...)``, with ``p`` this
        object's unless given (a Python number or a 0-d tensor, e.g. a controller's)."""
        return ada(
            x,
            self.p if p is None else p,
            ops=self.ops,
            key=key,
            draws=draws,
            layout=self.layout,
            return_draws=return_draws,
        )

    def draw_specs(self, shape: tuple[int | None, ...]) -> dict[str, tuple[str, tuple[Any, ...]]]:
        """The draws ``augment`` consumes for a batch of ``shape`` (when ``p > 0``),
        ``{name: (distribution, shape)}`` with distribution ``"uniform"`` or ``"normal"``."""
        channel_axis, _, _ = _layout("ADA.draw_specs", self.layout)
        _rank_4("ADA.draw_specs", tuple(shape), self.layout)
        active = _active(parse_ops("ADA.draw_specs", self.ops), shape[channel_axis] or 3)
        return {d.name: (d.distribution, d.shape(shape[0])) for d in _specs(active)}


_register_builtins("augmentation", ADA)
