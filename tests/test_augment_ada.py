"""The ADA augmentation pipeline (issue 19): StyleGAN2-ADA's matrix construction
(NVlabs/stylegan2-ada-pytorch, ``training/augment.py``) re-created here in NumPy float64 from its
source with each ``torch.rand``/``torch.randn`` replaced by the named draw of the same shape; the
resampling against SciPy's bilinear ``map_coordinates`` (``mode="mirror"``) and against ADA's own
execution path (reflect padding, ``affine_grid``, ``grid_sample``) without its wavelet filters;
exact blits; identity at p = 0; cross-framework equality of values and gradients; first and
second derivatives against finite differences; R1 through the augmentation, eager and compiled;
keyed draws; layouts; low precision; the registry and Objective term; errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.ndimage

import advloss
from advloss import registry
from advloss.augment import ADA, ADA_OPS, ada
from advloss.augment._ada import color_matrix, geometric_matrix
from advloss.backend import get_backend
from advloss.testing import assert_close
from tests import nets
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

NAMES = {h.name for h in FRAMEWORKS}
# JAX compiles each new function (~2 s here): its runs are in the slow tier.
FW = [
    pytest.param(*p.values, marks=pytest.mark.slow, id=p.id) if p.id == "jax" else p
    for p in FRAMEWORK_PARAMS
]
FW_PAIRS = [
    pytest.param(*p.values, marks=pytest.mark.slow, id=p.id) if "jax" in p.id else p
    for p in PAIRS
    if p.id != "tensorflow-jax"
]
# The same code in every framework: layouts, blits, p, keys and dtypes in torch and TF only.
FW_FEW = [p for p in FRAMEWORK_PARAMS if p.id != "jax"]
DTYPES = ["float32", "float64"]
SHAPE = (4, 3, 8, 7)  # non-square
GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")


def make_draws(n, seed=0, gates=None, channels=3):
    """Draws of the bgc pipeline: parameters from their distributions; gates uniform (or fixed)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, normal, columns in [
        ("xflip", False, 0),
        ("rotate90", False, 0),
        ("xint", False, 2),
        ("scale", True, 0),
        ("rotate_pre", False, 0),
        ("aniso", True, 0),
        ("rotate_post", False, 0),
        ("xfrac", True, 2),
        ("brightness", True, 0),
        ("contrast", True, 0),
        ("lumaflip", False, 0),
        ("hue", False, 0),
        ("saturation", True, 0),
    ]:
        if channels == 1 and name in ("hue", "saturation"):
            continue
        size = (n, columns) if columns else (n,)
        out[name] = rng.normal(size=size) if normal else rng.random(size)
        out[f"{name}_gate"] = rng.random(n) if gates is None else np.full(n, gates)
    return out


def only(draws, ops):
    keep = {"rotate_pre", "rotate_post"} if "rotate" in ops else set()
    keep |= set(ops) - {"rotate"}
    return {k: v for k, v in draws.items() if k.removesuffix("_gate") in keep}


# ------------------------------------------- StyleGAN2-ADA's construction, re-created (NumPy)


def _matrix(*rows):
    """augment.py's ``matrix``: rows of scalars or per-sample arrays -> (N, rows, cols)."""
    n = max(np.size(e) for row in rows for e in row)
    return np.stack(
        [np.stack([np.broadcast_to(np.asarray(e, float), (n,)) for e in row], -1) for row in rows],
        -2,
    )


def _translate2d(tx, ty):
    return _matrix([1, 0, tx], [0, 1, ty], [0, 0, 1])


def _scale2d(sx, sy):
    return _matrix([sx, 0, 0], [0, sy, 0], [0, 0, 1])


def _rotate2d(theta):
    return _matrix([np.cos(theta), np.sin(-theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1])


def _translate3d(tx, ty, tz):
    return _matrix([1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1])


def _scale3d(sx, sy, sz):
    return _matrix([sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1])


def _rotate3d(v, theta):
    vx, vy, vz = v[0], v[1], v[2]
    s, c = np.sin(theta), np.cos(theta)
    cc = 1 - c
    return _matrix(
        [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
        [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
        [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
        [0, 0, 0, 1],
    )


def ada_matrices(d, p, ops, n, channels, height, width):
    """``AugmentPipe.forward``'s ``G_inv`` (3x3) and ``C`` (4x4) for the transforms ``ops`` (each
    probability multiplier 1), its ``_inv`` helpers written out; ``np.round`` rounds half to
    even like ``torch.round``."""
    G = np.broadcast_to(np.eye(3), (n, 3, 3))

    def gate(name, prob=p):
        return d[f"{name}_gate"] < prob

    if "xflip" in ops:
        i = np.where(gate("xflip"), np.floor(d["xflip"] * 2), 0)
        G = G @ _scale2d(1 / (1 - 2 * i), 1)  # scale2d_inv(1 - 2i, 1)
    if "rotate90" in ops:
        i = np.where(gate("rotate90"), np.floor(d["rotate90"] * 4), 0)
        G = G @ _rotate2d(np.pi / 2 * i)  # rotate2d_inv(-pi/2 i)
    if "xint" in ops:
        t = np.where(gate("xint")[:, None], (d["xint"] * 2 - 1) * 0.125, 0)
        G = G @ _translate2d(-np.round(t[:, 0] * width), -np.round(t[:, 1] * height))
    if "scale" in ops:
        s = np.where(gate("scale"), np.exp2(d["scale"] * 0.2), 1)
        G = G @ _scale2d(1 / s, 1 / s)
    p_rot = 1 - np.sqrt(np.clip(1 - p, 0, 1))
    if "rotate" in ops:
        theta = np.where(gate("rotate_pre", p_rot), (d["rotate_pre"] * 2 - 1) * np.pi, 0)
        G = G @ _rotate2d(theta)  # rotate2d_inv(-theta)
    if "aniso" in ops:
        s = np.where(gate("aniso"), np.exp2(d["aniso"] * 0.2), 1)
        G = G @ _scale2d(1 / s, s)  # scale2d_inv(s, 1 / s)
    if "rotate" in ops:
        theta = np.where(gate("rotate_post", p_rot), (d["rotate_post"] * 2 - 1) * np.pi, 0)
        G = G @ _rotate2d(theta)
    if "xfrac" in ops:
        t = np.where(gate("xfrac")[:, None], d["xfrac"] * 0.125, 0)
        G = G @ _translate2d(-t[:, 0] * width, -t[:, 1] * height)

    C = np.broadcast_to(np.eye(4), (n, 4, 4))
    if "brightness" in ops:
        b = np.where(gate("brightness"), d["brightness"] * 0.2, 0)
        C = _translate3d(b, b, b) @ C
    if "contrast" in ops:
        c = np.where(gate("contrast"), np.exp2(d["contrast"] * 0.5), 1)
        C = _scale3d(c, c, c) @ C
    v = np.array([1, 1, 1, 0]) / np.sqrt(3)
    if "lumaflip" in ops:
        i = np.where(gate("lumaflip"), np.floor(d["lumaflip"] * 2), 0)
        C = (np.eye(4) - 2 * np.outer(v, v) * i[:, None, None]) @ C
    if "hue" in ops and channels > 1:
        theta = np.where(gate("hue"), (d["hue"] * 2 - 1) * np.pi, 0)
        C = _rotate3d(v, theta) @ C
    if "saturation" in ops and channels > 1:
        s = np.where(gate("saturation"), np.exp2(d["saturation"]), 1)
        C = (np.outer(v, v) + (np.eye(4) - np.outer(v, v)) * s[:, None, None]) @ C
    return G, C


def reference(x, d, p, ops=ADA_OPS):
    """The documented output in NumPy float64 (NCHW): each output pixel's centred coordinates
    through ADA's ``G_inv``, bilinear with mirror (reflect) boundaries by SciPy, then ADA's
    colour rule."""
    n, c, h, w = x.shape
    G, C = ada_matrices(d, p, ops, n, c, h, w)
    y = np.array(x, np.float64)
    if set(ops) & set(GEOMETRIC):
        cols, rows = np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)
        q = np.stack([cols, rows, np.ones_like(cols)])
        for k in range(n):
            src = np.einsum("ij,jhw->ihw", G[k], q)
            at = [src[1] + (h - 1) / 2, src[0] + (w - 1) / 2]
            for ch in range(c):
                y[k, ch] = scipy.ndimage.map_coordinates(x[k, ch], at, order=1, mode="mirror")
    if set(ops) & {"brightness", "contrast", "lumaflip", "hue", "saturation"}:
        if c == 3:
            y = np.einsum("nij,njhw->nihw", C[:, :3, :3], y) + C[:, :3, 3, None, None]
        else:
            rows = C[:, :3, :].mean(axis=1)
            y = y * rows[:, :3].sum(1)[:, None, None, None] + rows[:, 3][:, None, None, None]
    return y


def _stacked(m, n):
    return np.stack([np.stack([np.broadcast_to(e, (n,)) for e in row], -1) for row in m], -2)


@pytest.mark.parametrize("p", [0.3, 1.0])
@pytest.mark.parametrize("channels", [3, 1])
def test_matrices_equal_stylegan2_ada_recreated(p, channels):
    n, h, w = 64, 8, 6
    draws = make_draws(n, seed=1, channels=channels)
    want_g, want_c = ada_matrices(draws, p, ADA_OPS, n, channels, h, w)
    b = get_backend("numpy")
    active = tuple(op for op in ADA_OPS if channels == 3 or op not in ("hue", "saturation"))
    g = _stacked(geometric_matrix(b, draws, active, p, h, w), n)
    c = _stacked(color_matrix(b, draws, active, p), n)
    np.testing.assert_allclose(g, want_g[:, :2], rtol=0, atol=1e-13)
    np.testing.assert_allclose(c, want_c[:, :3], rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "ops", ["bgc", "xflip,rotate90,xint", "scale,rotate,aniso,xfrac", "color", "rotate,hue"]
)
@pytest.mark.parametrize("shape", [SHAPE, (3, 1, 7, 9)])
def test_numpy_backend_equals_the_reference(ops, shape):
    x = np.random.default_rng(2).normal(size=shape)
    names = advloss.augment._ada.parse_ops("test", ops)
    draws = only(make_draws(shape[0], seed=3, channels=shape[1]), names)
    for p in (0.5, 1.0):
        got = ada(x, p, ops=ops, draws=draws)
        np.testing.assert_allclose(got, reference(x, draws, p, names), rtol=0, atol=1e-12)


def test_far_positions_reflect_again():
    """Zoomed out (scale 2^-2.4): positions several image widths away fold back (periodic
    reflection), as SciPy's ``mirror`` does."""
    x = np.random.default_rng(4).normal(size=(2, 3, 6, 5))
    draws = only(make_draws(2, seed=4, gates=0.0), ("scale", "rotate"))
    draws["scale"] = np.array([-12.0, -9.0])
    np.testing.assert_allclose(
        ada(x, 1.0, ops="scale,rotate", draws=draws),
        reference(x, draws, 1.0, ("scale", "rotate")),
        atol=1e-12,
    )


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_equals_adas_own_resampling_without_its_wavelet_filters():
    """ADA's execution path — reflect padding, the origin shift, ``affine_grid`` and
    ``grid_sample`` (bilinear, align_corners=False) — with the sym6 up/downsampling left out,
    re-created from its source: the same pixel-centre convention, the same values."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = 4, 3, 8, 7
    x = torch.from_numpy(np.random.default_rng(5).normal(size=(n, c, h, w)))
    draws = only(make_draws(n, seed=5), GEOMETRIC)
    draws["scale"] = np.clip(draws["scale"], -1, 1)  # stay within one reflection (ADA's pad)
    G_inv, _ = ada_matrices(draws, 0.8, GEOMETRIC, n, c, h, w)
    G_inv = torch.from_numpy(np.ascontiguousarray(G_inv))
    mx0 = mx1 = w - 1  # ADA's margins are at most the side - 1; take them all
    my0 = my1 = h - 1
    images = F.pad(x, [mx0, mx1, my0, my1], mode="reflect")
    G_inv = torch.from_numpy(_translate2d((mx0 - mx1) / 2, (my0 - my1) / 2)) @ G_inv
    shape = [n, c, h, w]  # no upsampling: output at the original resolution
    G_inv = (
        torch.from_numpy(_scale2d(2 / images.shape[3], 2 / images.shape[2]))
        @ G_inv
        @ torch.from_numpy(_scale2d(shape[3] / 2, shape[2] / 2))  # scale2d_inv(2/W, 2/H)
    )
    grid = F.affine_grid(theta=G_inv[:, :2, :], size=shape, align_corners=False)
    want = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    got = ada(x, 0.8, ops="bg", draws=draws)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------- exact, identity


def _jit(fw, fn):
    """``fn`` under jax.jit for JAX (eager JAX compiles every primitive for every new shape)."""
    if fw is None or fw.name != "jax":
        return fn
    import jax

    return jax.jit(fn)


def _reflect_shift(img, dy, dx):
    """``out[..., i, j] = img[..., i - dy, j - dx]`` with reflect padding (NumPy)."""
    h, w = img.shape[-2:]
    padded = np.pad(img, [(0, 0), (h, h), (w, w)], mode="reflect")
    return padded[:, h - dy : 2 * h - dy, w - dx : 2 * w - dx]


ALL = [*FW_FEW, pytest.param(None, id="numpy")]


def _tensor(fw, a):
    return np.asarray(a, np.float64) if fw is None else fw.tensor(a, "float64")


def _numpy(fw, t):
    return np.asarray(t) if fw is None else fw.numpy(t)


@pytest.mark.parametrize("fw", ALL)
def test_blits_are_exact(fw):
    """x-flip, quarter turns (square images) and integer translation move whole pixels:
    NumPy's flips, rot90 and reflect-padded shifts, exactly."""
    n, h, w = 4, 6, 6
    x = np.random.default_rng(6).normal(size=(n, 2, h, w))
    u = np.array([0.1, 0.3, 0.6, 0.9])  # quarter turns 0, 1, 2, 3; flips 0, 0, 1, 1
    xint = np.array([[0.5, 0.5], [0.0, 0.99], [0.9, 0.1], [1.0 - 1e-9, 0.01]])
    draws = {
        "xflip": u,
        "rotate90": u,
        "xint": xint,
        **{f"{k}_gate": np.array([0.1, 0.1, 0.1, 0.9]) for k in ("xflip", "rotate90", "xint")},
    }

    def run(ops, d):
        return _numpy(fw, _jit(fw, lambda t, d: ada(t, 0.5, ops=ops, draws=d))(_tensor(fw, x), d))

    on = [True, True, True, False]
    flips = [bool(on[k] and u[k] >= 0.5) for k in range(n)]
    np.testing.assert_array_equal(
        run("xflip", only(draws, ["xflip"])),
        np.stack([x[k, :, :, ::-1] if flips[k] else x[k] for k in range(n)]),
    )
    # G = R(k pi/2): output (x, y) reads the input at (-y, x) for k = 1: out[i, j] =
    # in[j, W-1-i], NumPy's rot90 (counter-clockwise in array terms) k times
    turns = [int(u[k] * 4) if on[k] else 0 for k in range(n)]
    np.testing.assert_array_equal(
        run("rotate90", only(draws, ["rotate90"])),
        np.stack([np.rot90(x[k], turns[k], axes=(1, 2)) for k in range(n)]),
    )
    shifts = [np.round((xint[k] * 2 - 1) * 0.125 * w) if on[k] else (0, 0) for k in range(n)]
    np.testing.assert_array_equal(
        run("xint", only(draws, ["xint"])),
        np.stack([_reflect_shift(x[k], int(shifts[k][1]), int(shifts[k][0])) for k in range(n)]),
    )
    assert [tuple(s) for s in shifts[:3]] == [(0, 0), (-1, 1), (1, -1)]  # (x, y)


@pytest.mark.parametrize("fw", ALL)
def test_p_zero_is_the_identity(fw):
    x = _tensor(fw, np.random.default_rng(7).normal(size=(3, 3, 5, 6)))
    assert ada(x, 0.0, key=key_for(fw, 0) if fw else 0) is x
    y, used = ada(x, 0.5, ops="", return_draws=True)
    assert y is x and used == {}
    if fw is None:
        return
    draws = make_draws(3, seed=7)
    zero = fw.backend.full(0.0, "float64", x)
    y = _jit(fw, lambda x, p: ada(x, p, draws=draws))(x, zero)
    np.testing.assert_array_equal(fw.numpy(y), fw.numpy(x))  # a tensor p of 0: exact


@pytest.mark.parametrize("fw", FW_FEW)
def test_tensor_p_equals_float_p_and_rotations_use_p_rot(fw):
    """p = 0.36: each rotation with p_rot = 1 - sqrt(0.64) = 0.2; other transforms with 0.36."""
    b = fw.backend
    x = np.random.default_rng(8).normal(size=(3, 3, 6, 6))
    draws = only(make_draws(3, seed=8), ("scale", "rotate"))
    gates = np.array([0.15, 0.25, 0.5])
    for k in ("scale_gate", "rotate_pre_gate", "rotate_post_gate"):
        draws[k] = gates
    call = _jit(fw, lambda t, p: ada(t, p, ops="scale,rotate", draws=draws))
    t = fw.tensor(x, "float64")
    by_float = fw.numpy(call(t, 0.36))
    by_tensor = fw.numpy(call(t, b.full(0.36, "float64", t)))
    assert_close(by_tensor, by_float, "float64", what="tensor p")
    want = reference(x, draws, 0.36, ("scale", "rotate"))
    assert_close(by_float, want, "float64", what="p_rot")
    only_scale = {k: v for k, v in draws.items() if k.startswith("scale")}
    rotated = reference(x, only_scale, 0.36, ("scale",))
    assert not np.allclose(by_float[0], rotated[0])  # sample 0: rotated (0.15 < 0.2)
    assert_close(by_float[1], rotated[1], "float64", what="sample 1: scaled, not rotated")
    assert_close(by_float[2], x[2], "float64", what="sample 2: untouched")


# ------------------------------------------------------------------ frameworks, gradients


def _ada_fn(p=0.7, ops="bgc", layout="NCHW"):
    def fn(t):
        draws = {k: t[k] for k in t if k not in ("x", "w")}
        return {"y": ada(t["x"], p, ops=ops, draws=draws, layout=layout) * t["w"]}

    return fn


def _inputs(seed, shape=SHAPE):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=shape), rng.normal(size=shape)
    return {"x": x, "w": w, **make_draws(shape[0], seed=seed, channels=shape[1])}


def _eager_unless_jax(fw):
    return {"compiled": fw.name == "jax"}


@functools.cache
def numpy_gradient(seed, shape, p=0.7):
    """d/dx sum(w * reference(x)) by central differences with step 1 on ``_inputs(seed,
    shape)``: exact up to rounding, because the output is linear in x for fixed draws."""
    inputs = _inputs(seed, shape)
    x, w = inputs["x"].copy(), inputs["w"]
    draws = {k: v for k, v in inputs.items() if k not in ("x", "w")}
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + 1.0
        up = np.sum(w * reference(x, draws, p))
        flat[i] = old - 1.0
        down = np.sum(w * reference(x, draws, p))
        flat[i] = old
        gflat[i] = (up - down) / 2.0
    return g


@pytest.mark.parametrize("fw", FW_FEW)  # JAX: compared with torch in the pair tests
def test_values_and_gradients_match_the_float64_reference(fw):
    inputs = _inputs(9, (2, 3, 4, 3))
    out = fw.evaluate(_ada_fn(), inputs, ["x"], "float64", **_eager_unless_jax(fw))
    draws = {k: v for k, v in inputs.items() if k not in ("x", "w")}
    assert_close(out["y"], inputs["w"] * reference(inputs["x"], draws, 0.7), "float64")
    assert_close(out["d/d x"], numpy_gradient(9, (2, 3, 4, 3)), "float64", what="d/dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", FW_PAIRS)
def test_frameworks_agree_on_values_and_gradients(a, b, dtype):
    inputs = _inputs(10)
    ra, rb = (
        fw.evaluate(_ada_fn(), inputs, ["x"], dtype, **_eager_unless_jax(fw)) for fw in (a, b)
    )
    assert_close(ra["y"], rb["y"], dtype, what=f"value {a.name} vs {b.name}")
    assert_close(ra["d/d x"], rb["d/d x"], dtype, what=f"d/dx {a.name} vs {b.name}")


@pytest.mark.parametrize("fw", FW_FEW)
def test_channels_last_equals_channels_first(fw):
    inputs = _inputs(12)
    nhwc = dict(inputs, x=np.moveaxis(inputs["x"], 1, -1), w=np.moveaxis(inputs["w"], 1, -1))
    first = fw.evaluate(_ada_fn(), inputs, ["x"], "float64", **_eager_unless_jax(fw))
    last = fw.evaluate(_ada_fn(layout="NHWC"), nhwc, ["x"], "float64", **_eager_unless_jax(fw))
    assert_close(np.moveaxis(last["y"], -1, 1), first["y"], "float64", what="NHWC value")
    assert_close(np.moveaxis(last["d/d x"], -1, 1), first["d/d x"], "float64", what="NHWC d/dx")


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_gradcheck_and_gradgradcheck():
    import torch

    x = torch.from_numpy(np.random.default_rng(13).normal(size=(1, 3, 4, 3))).requires_grad_(True)
    draws = make_draws(1, seed=13)
    fn = lambda t: ada(t, 0.8, draws=draws)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def _r1_through_ada(draws, ops="bg"):
    def penalty(D, real, *given):
        # the draws as tensors (compiled runs), in the order of ``draws``; else NumPy's
        d = dict(zip(draws, given, strict=True)) if given else draws
        return advloss.r1_penalty(lambda x: D(ada(x, 0.8, ops=ops, draws=d)), real)

    return penalty


def _geometric_draws(n, seed):
    return only(make_draws(n, seed=seed), GEOMETRIC)


def _r1_case(seed):
    """D's weights, a real batch (2, 2, 6, 6) and geometric draws."""
    real = np.random.default_rng(seed).normal(size=(2, 2, 6, 6))
    return nets.weights("conv"), real, _geometric_draws(2, seed)


@functools.cache
def _numpy_r1_reference(seed, h=1e-5):
    """(γ/2) mean_n |∇ D(ada(x_n))|² for ``_r1_case(seed)``, the input gradient by central
    differences."""
    params, real, draws = _r1_case(seed)

    def total(x):
        return nets.numpy_forward("conv", params, reference(x, draws, 0.8, GEOMETRIC)).sum()

    x = real.copy()
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = total(x)
        flat[i] = old - h
        down = total(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return 5.0 * (g**2).reshape(len(x), -1).sum(1).mean()


@pytest.mark.parametrize("fw", FW)
def test_r1_through_ada_and_its_parameter_gradient_match_finite_differences(fw):
    """Second order: R1 of D∘ada (a gradient through the resampling) against a NumPy
    finite-difference reference, and R1's gradient w.r.t. D's parameters (a gradient of that
    gradient) along a random direction v against (R1(θ + hv) - R1(θ - hv)) / 2h."""
    params, real, draws = _r1_case(14)
    penalty = _r1_through_ada(draws)
    value, grads = nets.penalty_and_param_grads(
        fw.name, "conv", params, penalty, [real], "float64", **_eager_unless_jax(fw)
    )
    np.testing.assert_allclose(value, _numpy_r1_reference(14), rtol=1e-7)

    rng, h = np.random.default_rng(15), 1e-5
    direction = {k: rng.normal(size=v.shape) for k, v in params.items()}
    fwd = nets.forward(fw.name, "conv")

    def shifted(t):
        out = {}
        for sign, name in ((1.0, "plus"), (-1.0, "minus")):
            p = {k: t[f"p.{k}"] + sign * h * t[f"v.{k}"] for k in params}
            out[name] = penalty(lambda x, p=p: fwd(p, x), t["real"])
        return out

    inputs = {f"p.{k}": v for k, v in params.items()}
    inputs |= {f"v.{k}": v for k, v in direction.items()} | {"real": real}
    r = fw.evaluate(shifted, inputs, [], "float64", **_eager_unless_jax(fw))
    along = sum(np.sum(grads[k] * direction[k]) for k in params)
    np.testing.assert_allclose((r["plus"] - r["minus"]) / (2 * h), along, rtol=1e-6)


@pytest.mark.parametrize("a,b", FW_PAIRS)
def test_r1_through_ada_agrees_across_frameworks(a, b):
    params = nets.weights("conv")
    real = np.random.default_rng(15).normal(size=(3, 2, 6, 6))
    penalty = _r1_through_ada(_geometric_draws(3, 15))
    va, ga = nets.penalty_and_param_grads(
        a.name, "conv", params, penalty, [real], "float64", **_eager_unless_jax(a)
    )
    vb, gb = nets.penalty_and_param_grads(
        b.name, "conv", params, penalty, [real], "float64", **_eager_unless_jax(b)
    )
    assert_close(va, vb, "float64", what="R1 value")
    for k in params:
        assert_close(ga[k], gb[k], "float64", what=f"R1 d/d{k}")


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_r1_through_ada_compiled_equals_eager(fw):
    """torch.compile(fullgraph=True), jax.jit, tf.function(jit_compile=True): R1 through ada's
    geometric transforms and its gradient w.r.t. D's parameters (double backward), float32
    (float64 is compiled in the equivalence suite)."""
    dtype = "float32"
    params = nets.weights("conv")
    real = np.random.default_rng(16).normal(size=(3, 2, 6, 6))
    draws = _geometric_draws(3, 16)
    penalty = _r1_through_ada(draws)
    inputs = [real, *draws.values()]
    ve, ge = nets.penalty_and_param_grads(fw.name, "conv", params, penalty, inputs, dtype)
    vc, gc = nets.penalty_and_param_grads(
        fw.name, "conv", params, penalty, inputs, dtype, compiled=True
    )
    assert_close(vc, ve, dtype, what="compiled R1")
    for k in params:
        assert_close(gc[k], ge[k], dtype, what=f"compiled R1 d/d{k}")
    assert np.any(ge["k"] != 0)


# ------------------------------------------------------------------ keyed draws


@pytest.mark.parametrize("fw", FW)
def test_keyed_draws_have_adas_distributions(fw):
    n = 2000
    x = fw.tensor(np.zeros((n, 3, 4, 4)), "float32")
    _, draws = _jit(fw, lambda x, k: ada(x, 0.5, key=k, return_draws=True))(x, key_for(fw, 0))
    d = {k: np.asarray(fw.numpy(v)) for k, v in draws.items()}
    assert sorted(d) == sorted(make_draws(1))
    normal = ("scale", "aniso", "xfrac", "brightness", "contrast", "saturation")
    for k, v in d.items():
        assert v.dtype == np.float32 and v.shape == ((n, 2) if k in ("xint", "xfrac") else (n,))
        if k in normal:
            assert abs(v.mean()) < 0.1 and abs(v.std() - 1) < 0.1, k
        else:
            assert v.min() >= 0 and v.max() < 1 and abs(v.mean() - 0.5) < 0.03, k
    assert abs(np.corrcoef(d["scale"], d["aniso"])[0, 1]) < 0.1  # independent streams


@pytest.mark.parametrize("fw", FW_FEW)
def test_keys_reproduce_and_returned_draws_reproduce_the_batch(fw):
    x = fw.tensor(_inputs(17)["x"], "float32")
    call = _jit(fw, lambda x, k: ada(x, 0.6, key=k, return_draws=True))
    y1, d1 = call(x, key_for(fw, 1))
    y2, _ = call(x, key_for(fw, 1))
    y3, _ = call(x, key_for(fw, 2))
    np.testing.assert_array_equal(fw.numpy(y1), fw.numpy(y2))
    assert not np.array_equal(fw.numpy(y1), fw.numpy(y3))
    portable = {k: np.asarray(fw.numpy(v)) for k, v in d1.items()}
    again = _jit(fw, lambda x, d: ada(x, 0.6, draws=d))(x, portable)
    # (XLA may fuse the keyed graph's arithmetic differently: equal to rounding)
    assert_close(fw.numpy(again), fw.numpy(y1), "float32", what="draws given back")


@pytest.mark.parametrize("a,b", FW_PAIRS)
def test_draws_of_one_framework_give_the_same_batch_in_another(a, b):
    x = _inputs(18)["x"]
    ya, draws = _jit(a, lambda x, k: ada(x, 0.6, key=k, return_draws=True))(
        a.tensor(x), key_for(a, 3)
    )
    portable = {k: np.asarray(a.numpy(v)) for k, v in draws.items()}
    yb = _jit(b, lambda x, d: ada(x, 0.6, draws=d))(b.tensor(x), portable)
    assert_close(b.numpy(yb), a.numpy(ya), "float32", what=f"{a.name} draws in {b.name}")


@pytest.mark.slow
@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_tf_function_with_an_unknown_batch_size():
    """tf.function traces the draws with a dynamic batch size (~15 s to trace here)."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, 3, 8, 7], tf.float32)
    fn = tf.function(
        lambda x: ada(x, 0.5, ops="xint,contrast", key=tf.constant([7, 0], tf.int64)),
        input_signature=[spec],
    )
    x = tf.constant(_inputs(19, (5, 3, 8, 7))["x"], tf.float32)
    y = fn(x)
    assert tuple(y.shape) == (5, 3, 8, 7)
    np.testing.assert_array_equal(fn(x).numpy(), y.numpy())


# ------------------------------------------------------------------ low precision


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("fw", FW_FEW)
def test_low_precision_is_computed_in_float32_and_rounded_once(fw, dtype):
    b = fw.backend
    x = fw.tensor(_inputs(20)["x"], dtype)
    draws = make_draws(SHAPE[0], seed=20)
    call = _jit(fw, lambda x: ada(x, 0.7, draws=draws, return_draws=True))
    y, used = call(x)
    assert b.dtype(y) == dtype and b.dtype(used["scale"]) == "float32"
    want = _jit(fw, lambda x: b.cast(ada(b.cast(x, "float32"), 0.7, draws=draws), dtype))(x)
    np.testing.assert_array_equal(fw.numpy(y), fw.numpy(want))


# ------------------------------------------------------------------ registry, Objective


def test_ada_object_registry_and_presets():
    aug = registry.get("augmentation", "ada", p=0.25, ops="blit, geom, color")
    assert aug == ADA(p=0.25, ops="bgc") and aug.ops == "bgc"
    assert ADA(ops="rotate,xflip").ops == "xflip,rotate"  # pipeline order
    assert registry.get("augmentation", aug.config()) == aug
    assert aug.config() == {"name": "ada", "p": 0.25, "ops": "bgc", "layout": "NCHW"}
    x = np.random.default_rng(21).normal(size=(2, 5, 5, 3))
    nhwc = ADA(p=0.5, ops="bg", layout="NHWC")
    specs = nhwc.draw_specs(x.shape)
    assert specs["xfrac"] == ("normal", (2, 2)) and specs["rotate_post_gate"] == ("uniform", (2,))
    assert len(specs) == 16 and "brightness" not in specs
    draws = {k: np.random.default_rng(22).random(s) for k, (_, s) in specs.items()}
    np.testing.assert_array_equal(
        nhwc.augment(x, draws=draws), ada(x, 0.5, ops="bg", draws=draws, layout="NHWC")
    )
    np.testing.assert_array_equal(
        nhwc.augment(x, draws=draws, p=0.9), ada(x, 0.9, ops="bg", draws=draws, layout="NHWC")
    )
    assert "hue" not in ADA(p=0.5).draw_specs((2, 1, 4, 4))  # one channel: no hue, saturation


def test_objective_term_parses_prints_and_round_trips():
    o = advloss.Objective.parse("ns + r1(gamma=1) + ada(p=0.2, ops='bgc')")
    assert o.augment == ADA(p=0.2)
    assert repr(o) == "ns + r1(every=1, gamma=1.0) + ada(p=0.2, ops='bgc', layout='NCHW')"
    assert advloss.Objective.parse(repr(o)) == o
    assert advloss.Objective.from_config(o.config()) == o
    specs = o.draw_specs((2, 3, 8, 8), (5, 3, 8, 8))
    assert specs["augment.real.xint"] == ("uniform", (2, 2))
    assert specs["augment.fake.scale"] == ("normal", (5,))
    rng = np.random.default_rng(23)
    fake = rng.normal(size=(2, 3, 8, 8))
    draws = {
        k: rng.random(s) if dist == "uniform" else rng.normal(size=s)
        for k, (dist, s) in o.draw_specs(None, fake.shape, side="generator").items()
    }
    got = advloss.Objective.parse("ns + ada(p=0.6)").generator(
        lambda x: x.sum((1, 2, 3)), fake, draws=draws
    )
    share = {k.removeprefix("augment.fake."): v for k, v in draws.items()}
    want = advloss.get_loss("ns").generator(ada(fake, 0.6, draws=share).sum((1, 2, 3)))
    np.testing.assert_allclose(got.total, want, rtol=1e-12)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: ada(x, 1.5), ValueError, r"ada: p must lie in \[0, 1\].*1.5"),
        (lambda x: ada(x, -0.1), ValueError, r"p must lie in \[0, 1\]"),
        (lambda x: ada(x, float("nan")), ValueError, "p must be finite"),
        (lambda x: ada(x, "0.5"), TypeError, "p must be a Python number in"),
        (lambda x: ada(x, np.full(3, 0.5)), TypeError, "p must be a Python number"),
        (lambda x: ada(x, 0.5, ops="bgc,flip"), ValueError, r"unknown transform 'flip'.*presets"),
        (lambda x: ada(x, 0.5, ops=["xflip"]), TypeError, "ops must be a str"),
        (lambda x: ada(x, 0.5, layout="CHW"), ValueError, r"layout must be one of"),
        (lambda x: ada(x[0], 0.5, key=0), ValueError, r"rank 4.*received shape \(3, 8, 7\)"),
        (
            lambda x: ada(x[:, :2], 0.5, key=0),
            ValueError,
            r"colour transforms need 1 or 3 channels.*x has 2",
        ),
        (lambda x: ada(x.astype(np.int64), 0.5, key=0), TypeError, "x must be a floating-point"),
        (
            lambda x: ada(x, 0.5, ops="xflip", draws={"xflip": np.zeros(4)}),
            ValueError,
            r"missing \['xflip_gate'\]",
        ),
        (
            lambda x: ada(
                x, 0.5, ops="xint", draws={"xint": np.zeros(4), "xint_gate": np.zeros(4)}
            ),
            ValueError,
            r"draws\['xint'\] must have shape \(4, 2\), floats in \[0, 1\).*received shape \(4,\)",
        ),
        (
            lambda x: ada(
                x, 0.5, ops="scale", draws={"scale": np.zeros(4, int), "scale_gate": np.zeros(4)}
            ),
            TypeError,
            r"draws\['scale'\] must hold floats \(shape \(4,\), standard normal",
        ),
        (lambda x: ada(x, 0.5, draws=[1]), TypeError, "draws must be a dict"),
        (lambda x: ada(x, 0.5, return_draws=1), TypeError, "return_draws must be a bool"),
        (lambda x: ADA(p=2.0), ValueError, r"ADA: p must lie in \[0, 1\]"),
        (lambda x: ADA(ops="cutout"), ValueError, "ADA: unknown transform 'cutout'"),
        (lambda x: ADA(layout="HW"), ValueError, "ADA: layout must be one of"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    x = _inputs(24)["x"]
    with pytest.raises(error, match=match) as info:
        call(x)
    assert isinstance(info.value, advloss.AdvlossError)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_framework_specific_errors(fw):
    x = fw.tensor(_inputs(25)["x"])
    with pytest.raises(advloss.AdvlossValueError, match="p must be a scalar"):
        ada(x, fw.tensor(np.full(4, 0.5)))
    if fw.name == "jax":
        with pytest.raises(advloss.AdvlossValueError, match="JAX has no global random state"):
            ada(x, 0.5)
