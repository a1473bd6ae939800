"""DiffAugment and adaptive pseudo augmentation (issue 19): a NumPy float64 reference written from
the documented formulas (values, and gradients by finite differences), the reference
implementation (mit-han-lab/data-efficient-gans, PyTorch and TensorFlow versions) re-created here
from its source with its random draws made explicit, cross-framework equality of values and
gradients (float32, float64), compiled == eager, NHWC == NCHW, R1 through the augmentation,
keyed draws (ranges, reproducibility, portability across frameworks), low precision, errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss import registry
from advloss.augment import DiffAugment, apa, diffaugment
from advloss.backend import backend_for
from advloss.testing import assert_close
from tests import nets
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

NAMES = {h.name for h in FRAMEWORKS}
DTYPES = ["float32", "float64"]
POLICY = "color,translation,cutout"
INTEGER = ("translation", "cutout")
ORDER = ("brightness", "saturation", "contrast", "translation", "cutout")
# Non-square, sides not multiples of 8: [12/8] = 2, [10/8] = 1 (rounded half up); cutout sides
# [12/2] = 6 (even: centres 0..12) and [10/2] = 5 (odd: centres 0..9).
SHAPE = (4, 3, 12, 10)


def _round(size, ratio):
    return int(size * ratio + 0.5)  # the reference's rounding


def make_draws(n, h, w, seed=0):
    """Draws in the reference's ranges, with the extremes forced on the first and last sample."""
    rng = np.random.default_rng(seed)
    sh, sw = _round(h, 0.125), _round(w, 0.125)
    ch, cw = _round(h, 0.5), _round(w, 0.5)
    hi_h, hi_w = h - ch % 2, w - cw % 2
    shifts = np.stack([rng.integers(-sh, sh + 1, n), rng.integers(-sw, sw + 1, n)], 1)
    centres = np.stack([rng.integers(0, hi_h + 1, n), rng.integers(0, hi_w + 1, n)], 1)
    shifts[0], shifts[-1] = (-sh, sw), (sh, -sw)
    centres[0], centres[-1] = (0, hi_w), (hi_h, 0)
    return {
        "brightness": rng.random(n),
        "saturation": rng.random(n),
        "contrast": rng.random(n),
        "translation": shifts,
        "cutout": centres,
    }


# --------------------------------------------------------------- NumPy float64 reference


def _shift(img, dy, dx):
    """out[:, i, j] = img[:, i + dy, j + dx] inside the image, else 0 (by slices)."""
    out = np.zeros_like(img)
    h, w = img.shape[1:]
    i0, i1, j0, j1 = max(0, -dy), min(h, h - dy), max(0, -dx), min(w, w - dx)
    if i0 < i1 and j0 < j1:
        out[:, i0:i1, j0:j1] = img[:, i0 + dy : i1 + dy, j0 + dx : j1 + dx]
    return out


def numpy_reference(x, draws, policy=POLICY):
    """The documented formulas in NumPy float64, NCHW."""
    y = np.array(x, dtype=np.float64)
    n, _, h, w = y.shape
    col = lambda v: np.asarray(v, np.float64).reshape(n, 1, 1, 1)
    for p in policy.split(",") if policy else []:
        if p == "color":
            y = y + col(draws["brightness"]) - 0.5
            m = y.mean(axis=1, keepdims=True)
            y = (y - m) * 2 * col(draws["saturation"]) + m
            m = y.mean(axis=(1, 2, 3), keepdims=True)
            y = (y - m) * (col(draws["contrast"]) + 0.5) + m
        elif p == "translation":
            y = np.stack([_shift(y[k], *map(int, draws["translation"][k])) for k in range(n)])
        else:
            ch, cw = _round(h, 0.5), _round(w, 0.5)
            y = y.copy()
            for k in range(n):
                top, left = draws["cutout"][k][0] - ch // 2, draws["cutout"][k][1] - cw // 2
                y[k, :, max(top, 0) : max(top + ch, 0), max(left, 0) : max(left + cw, 0)] = 0.0
    return y


def numpy_gradient(x, draws, weights, policy=POLICY):
    """d/dx sum(weights * reference(x)) by central differences with step 1: exact up to
    rounding, because every transform is affine in x for fixed draws."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + 1.0
        up = np.sum(weights * numpy_reference(x, draws, policy))
        flat[i] = old - 1.0
        down = np.sum(weights * numpy_reference(x, draws, policy))
        flat[i] = old
        gflat[i] = (up - down) / 2.0
    return g


def _inputs(seed=0, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape)


def _augment_fn(policy=POLICY, layout="NCHW"):
    """For the harness: every input is a float tensor; the integer draws are cast back here."""

    def fn(t):
        b = backend_for(t["x"])
        draws = {k: b.cast(t[k], "int32") if k in INTEGER else t[k] for k in t if k in ORDER}
        return {"y": diffaugment(t["x"], policy, draws=draws, layout=layout) * t["w"]}

    return fn


def _policy_draws(draws, policy):
    names = {t for p in policy.split(",") if p for t in advloss.augment.POLICIES[p]}
    return {k: v for k, v in draws.items() if k in names}


@pytest.mark.parametrize("policy", [POLICY, "color", "translation", "cutout", "cutout,color"])
def test_numpy_backend_equals_the_reference(policy):
    x, _ = _inputs()
    draws = _policy_draws(make_draws(*SHAPE[:1], *SHAPE[2:]), policy)
    np.testing.assert_allclose(
        diffaugment(x, policy, draws=draws),
        numpy_reference(x, draws, policy),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("policy", [POLICY, "translation,cutout"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_values_and_gradients_match_the_float64_reference(fw, policy):
    x, w = _inputs(1)
    draws = _policy_draws(make_draws(SHAPE[0], *SHAPE[2:], seed=1), policy)
    out = fw.evaluate(_augment_fn(policy), {"x": x, "w": w, **draws}, ["x"], "float64")
    assert_close(out["y"], w * numpy_reference(x, draws, policy), "float64", what="value")
    assert_close(out["d/d x"], numpy_gradient(x, draws, w, policy), "float64", what="d/dx")


# ------------------------------------------------- the reference implementation, re-created


def _reference_torch(x, draws, policy=POLICY):
    """DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans, HEAD 0b63395), re-created from its
    source with each torch.rand / torch.randint replaced by the given draw of the same shape."""
    import torch
    import torch.nn.functional as F

    n = x.size(0)
    u = {
        k: torch.as_tensor(draws[k], dtype=x.dtype).reshape(n, 1, 1, 1)
        for k in ORDER[:3]
        if k in draws
    }
    ints = {
        k: torch.as_tensor(np.asarray(draws[k]), dtype=torch.long) for k in INTEGER if k in draws
    }

    def rand_brightness(x):
        return x + (u["brightness"] - 0.5)

    def rand_saturation(x):
        x_mean = x.mean(dim=1, keepdim=True)
        return (x - x_mean) * (u["saturation"] * 2) + x_mean

    def rand_contrast(x):
        x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - x_mean) * (u["contrast"] + 0.5) + x_mean

    def rand_translation(x, ratio=0.125):
        shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
        translation_x = ints["translation"][:, 0].reshape(n, 1, 1)  # randint(-shift_x, shift_x + 1)
        translation_y = ints["translation"][:, 1].reshape(n, 1, 1)  # randint(-shift_y, shift_y + 1)
        assert translation_x.abs().max() <= shift_x and translation_y.abs().max() <= shift_y
        grid_batch, grid_x, grid_y = torch.meshgrid(
            torch.arange(x.size(0), dtype=torch.long),
            torch.arange(x.size(2), dtype=torch.long),
            torch.arange(x.size(3), dtype=torch.long),
            indexing="ij",
        )
        grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
        grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
        x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
        x = x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y]
        return x.permute(0, 3, 1, 2).contiguous()

    def rand_cutout(x, ratio=0.5):
        cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
        offset_x = ints["cutout"][:, 0].reshape(n, 1, 1)  # randint(0, H + (1 - cutout_size[0] % 2))
        offset_y = ints["cutout"][:, 1].reshape(n, 1, 1)
        assert offset_x.max() < x.size(2) + (1 - cutout_size[0] % 2)
        assert offset_y.max() < x.size(3) + (1 - cutout_size[1] % 2)
        grid_batch, grid_x, grid_y = torch.meshgrid(
            torch.arange(x.size(0), dtype=torch.long),
            torch.arange(cutout_size[0], dtype=torch.long),
            torch.arange(cutout_size[1], dtype=torch.long),
            indexing="ij",
        )
        grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
        grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
        mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
        mask[grid_batch, grid_x, grid_y] = 0
        return x * mask.unsqueeze(1)

    fns = {
        "color": [rand_brightness, rand_saturation, rand_contrast],
        "translation": [rand_translation],
        "cutout": [rand_cutout],
    }
    for p in policy.split(","):
        for f in fns[p]:
            x = f(x)
    return x


def _reference_tf(x, draws, policy=POLICY):
    """DiffAugment_tf.py (same repository, HEAD; channels last), re-created from its source with
    each tf.random.uniform replaced by the given draw of the same shape."""
    import tensorflow as tf

    b = len(draws["brightness"])
    mag = {k: tf.reshape(tf.constant(draws[k], x.dtype), [b, 1, 1, 1]) for k in ORDER[:3]}
    ints = {k: tf.constant(np.asarray(draws[k]), tf.int32) for k in INTEGER}

    def rand_brightness(x):
        return x + (mag["brightness"] - 0.5)

    def rand_saturation(x):
        magnitude = mag["saturation"] * 2
        x_mean = tf.reduce_mean(x, axis=3, keepdims=True)
        return (x - x_mean) * magnitude + x_mean

    def rand_contrast(x):
        magnitude = mag["contrast"] + 0.5
        x_mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        return (x - x_mean) * magnitude + x_mean

    def rand_translation(x, ratio=0.125):
        image_size = tf.shape(x)[1:3]
        translation_x = tf.reshape(ints["translation"][:, 0], [b, 1])
        translation_y = tf.reshape(ints["translation"][:, 1], [b, 1])
        grid_x = tf.clip_by_value(
            tf.expand_dims(tf.range(image_size[0], dtype=tf.int32), 0) + translation_x + 1,
            0,
            image_size[0] + 1,
        )
        grid_y = tf.clip_by_value(
            tf.expand_dims(tf.range(image_size[1], dtype=tf.int32), 0) + translation_y + 1,
            0,
            image_size[1] + 1,
        )
        x = tf.gather_nd(
            tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]]), tf.expand_dims(grid_x, -1), batch_dims=1
        )
        x = tf.gather_nd(
            tf.pad(tf.transpose(x, [0, 2, 1, 3]), [[0, 0], [1, 1], [0, 0], [0, 0]]),
            tf.expand_dims(grid_y, -1),
            batch_dims=1,
        )
        return tf.transpose(x, [0, 2, 1, 3])

    def rand_cutout(x, ratio=0.5):
        batch_size = tf.shape(x)[0]
        image_size = tf.shape(x)[1:3]
        cutout_size = tf.cast(tf.cast(image_size, tf.float32) * ratio + 0.5, tf.int32)
        offset_x = tf.reshape(ints["cutout"][:, 0], [b, 1, 1])
        offset_y = tf.reshape(ints["cutout"][:, 1], [b, 1, 1])
        grid_batch, grid_x, grid_y = tf.meshgrid(
            tf.range(batch_size, dtype=tf.int32),
            tf.range(cutout_size[0], dtype=tf.int32),
            tf.range(cutout_size[1], dtype=tf.int32),
            indexing="ij",
        )
        cutout_grid = tf.stack(
            [
                grid_batch,
                grid_x + offset_x - cutout_size[0] // 2,
                grid_y + offset_y - cutout_size[1] // 2,
            ],
            axis=-1,
        )
        mask_shape = tf.stack([batch_size, image_size[0], image_size[1]])
        cutout_grid = tf.maximum(cutout_grid, 0)
        cutout_grid = tf.minimum(cutout_grid, tf.reshape(mask_shape - 1, [1, 1, 1, 3]))
        # The source's ones are float32 (so it fails on float64 input); x's dtype here.
        ones = tf.ones([batch_size, cutout_size[0], cutout_size[1]], dtype=x.dtype)
        mask = tf.maximum(1 - tf.scatter_nd(cutout_grid, ones, mask_shape), 0)
        return x * tf.expand_dims(mask, axis=3)

    fns = {
        "color": [rand_brightness, rand_saturation, rand_contrast],
        "translation": [rand_translation],
        "cutout": [rand_cutout],
    }
    for p in policy.split(","):
        for f in fns[p]:
            x = f(x)
    return x


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
@pytest.mark.parametrize("shape", [SHAPE, (3, 3, 32, 32), (2, 1, 7, 9), (2, 3, 1, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_equals_the_reference_implementation_exactly(dtype, shape):
    import torch

    x = torch.from_numpy(_inputs(2, shape)[0]).to(getattr(torch, dtype))
    for seed in range(3):
        draws = make_draws(shape[0], *shape[2:], seed=seed)
        for policy in (POLICY, "translation", "cutout", "color", "cutout,translation"):
            d = _policy_draws(draws, policy)
            want = _reference_torch(x, d, policy)
            got = diffaugment(x, policy, draws=d)
            assert got.dtype == x.dtype
            torch.testing.assert_close(got, want, rtol=0, atol=0, msg=f"{policy} seed {seed}")


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorflow_channels_last_equals_the_tf_reference_implementation(dtype):
    import tensorflow as tf

    x = tf.constant(np.moveaxis(_inputs(3)[0], 1, -1), getattr(tf, dtype))
    for seed in range(2):
        draws = make_draws(SHAPE[0], *SHAPE[2:], seed=seed)
        got = diffaugment(x, draws=draws, layout="NHWC")
        np.testing.assert_array_equal(got.numpy(), _reference_tf(x, draws).numpy())


# ------------------------------------------------------------------ frameworks agree


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree_on_values_and_gradients(a, b, dtype):
    x, w = _inputs(4)
    inputs = {"x": x, "w": w, **make_draws(SHAPE[0], *SHAPE[2:], seed=4)}
    ra, rb = (fw.evaluate(_augment_fn(), inputs, ["x"], dtype) for fw in (a, b))
    assert_close(ra["y"], rb["y"], dtype, what=f"value {a.name} vs {b.name}")
    assert_close(ra["d/d x"], rb["d/d x"], dtype, what=f"d/dx {a.name} vs {b.name}")


@pytest.mark.parametrize("layout", ["NHWC", pytest.param("NCHW", marks=pytest.mark.slow)])
@pytest.mark.parametrize("fw", [p for p in FRAMEWORK_PARAMS if p.values[0].name != "torch"])
def test_jit_and_tf_function_equal_eager(fw, layout):
    x, w = _inputs(5)
    inputs = {"x": x, "w": w, **make_draws(SHAPE[0], *SHAPE[2:], seed=5)}
    if layout == "NHWC":
        inputs.update(x=np.moveaxis(x, 1, -1), w=np.moveaxis(w, 1, -1))
    eager = fw.evaluate(_augment_fn(layout=layout), inputs, ["x"], "float32")
    compiled = fw.evaluate(_augment_fn(layout=layout), inputs, ["x"], "float32", compiled=True)
    for k in eager:
        assert_close(compiled[k], eager[k], "float32", what=f"{layout} compiled {k}")


@pytest.mark.slow
@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_compile_fullgraph_equals_eager():
    """One torch.compile(fullgraph=True) over diffaugment (explicit draws) and apa (a tensor p);
    a cold compile costs ~20 s here."""
    import torch

    x, w = _inputs(6)
    draws = {k: torch.from_numpy(np.asarray(v)) for k, v in make_draws(4, 12, 10, seed=6).items()}
    u = torch.tensor([0.1, 0.9, 0.5, 0.3])
    weights = torch.from_numpy(w).float()

    def step(x, fake, p):
        y = diffaugment(x, draws=draws) * weights
        return y, apa(x, fake, p, draws={"apa": u})

    xt = torch.from_numpy(x).float().requires_grad_(True)
    fake = torch.ones_like(xt)
    p = torch.tensor(0.4)

    def run(fn):
        y, r = fn(xt, fake, p)
        (g,) = torch.autograd.grad(y.sum() + r.sum(), xt)
        return y.detach(), r.detach(), g

    for got, want in zip(
        run(torch.compile(step, fullgraph=True, dynamic=False)), run(step), strict=True
    ):
        assert_close(got.numpy(), want.numpy(), "float32", what="compiled")
    # Drawn inside the graph (key=None: torch's global generator; dynamo cannot trace a
    # torch.Generator argument): the draws it returns reproduce its batch eagerly.
    keyed = torch.compile(lambda x: diffaugment(x, return_draws=True), fullgraph=True)
    y, used = keyed(xt.detach())
    assert_close(y.numpy(), diffaugment(xt.detach(), draws=used).numpy(), "float32", what="keyed")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_channels_last_equals_channels_first_transposed(fw):
    x, _ = _inputs(7)
    draws = make_draws(SHAPE[0], *SHAPE[2:], seed=7)
    b = fw.backend
    nchw = fw.numpy(_jit(fw, lambda t: diffaugment(t, draws=draws))(fw.tensor(x, "float64")))
    nhwc = fw.numpy(
        _jit(fw, lambda t: diffaugment(t, draws=draws, layout="NHWC"))(
            fw.tensor(np.moveaxis(x, 1, -1), "float64")
        )
    )
    assert_close(np.moveaxis(nhwc, -1, 1), nchw, "float64", what="NHWC vs NCHW")
    keyed = diffaugment(fw.tensor(np.moveaxis(x, 1, -1)), key=key_for(fw, 0), layout="NHWC")
    assert tuple(b.shape(keyed)) == (4, 12, 10, 3)


# ------------------------------------------------------------------ gradients


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_gradcheck_and_gradgradcheck():
    import torch

    x = torch.from_numpy(_inputs(8, (2, 2, 8, 6))[0]).requires_grad_(True)
    draws = make_draws(2, 8, 6, seed=8)
    fn = lambda t: diffaugment(t, draws=draws)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def _fast(fw):
    """JAX runs the double backward under jax.jit: one compilation instead of one per op
    (eager JAX compiles every primitive for every new shape, ~10 s for R1 here)."""
    return {"compiled": fw.name == "jax"}


def _r1_through_diffaugment(draws):
    def penalty(D, real):
        return advloss.r1_penalty(lambda x: D(diffaugment(x, draws=draws)), real)

    return penalty


def _numpy_r1_reference(params, real, draws, h=1e-5):
    """(γ/2) mean_n |∇ D(aug(x_n))|² with the input gradient by central differences."""

    def total(x):
        return nets.numpy_forward("conv", params, numpy_reference(x, draws)).sum()

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


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_r1_through_diffaugment_matches_the_reference(fw):
    """Double backward through the augmentation: R1 of D∘diffaugment, with NumPy draws."""
    params = nets.weights("conv")
    real = np.random.default_rng(9).normal(size=(3, 2, 6, 6))
    draws = make_draws(3, 6, 6, seed=9)
    value, grads = nets.penalty_and_param_grads(
        fw.name, "conv", params, _r1_through_diffaugment(draws), [real], "float64", **_fast(fw)
    )
    np.testing.assert_allclose(value, _numpy_r1_reference(params, real, draws), rtol=1e-7)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.any(grads["k"] != 0)


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])
@pytest.mark.parametrize("a,b", PAIRS)
def test_r1_through_diffaugment_agrees_across_frameworks(a, b, dtype):
    params = nets.weights("conv")
    real = np.random.default_rng(10).normal(size=(3, 2, 6, 6))
    penalty = _r1_through_diffaugment(make_draws(3, 6, 6, seed=10))
    va, ga = nets.penalty_and_param_grads(
        a.name, "conv", params, penalty, [real], dtype, **_fast(a)
    )
    vb, gb = nets.penalty_and_param_grads(
        b.name, "conv", params, penalty, [real], dtype, **_fast(b)
    )
    assert_close(va, vb, dtype, what="R1 value")
    for k in params:
        assert_close(ga[k], gb[k], dtype, what=f"R1 d/d{k}")


# ------------------------------------------------------------------ keyed draws


def _jit(fw, fn):
    """``fn`` under jax.jit for JAX (one compilation instead of one per op in eager mode)."""
    if fw.name != "jax":
        return fn
    import jax

    return jax.jit(fn)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_keyed_draws_cover_the_reference_ranges(fw):
    n, h, w = 3000, 12, 10
    x = fw.tensor(np.zeros((n, 1, h, w)), "float32")
    _, draws = _jit(fw, lambda x, k: diffaugment(x, key=k, return_draws=True))(x, key_for(fw, 0))
    d = {k: np.asarray(fw.numpy(v)) for k, v in draws.items()}
    assert sorted(draws) == sorted(ORDER)  # (jax.jit returns dicts sorted by key)
    for k in ORDER[:3]:
        assert d[k].shape == (n,) and d[k].dtype == np.float32
        assert d[k].min() >= 0 and d[k].max() < 1 and abs(d[k].mean() - 0.5) < 0.03
    for k in INTEGER:
        assert d[k].shape == (n, 2) and d[k].dtype == np.int32
    for col, (lo, hi) in enumerate([(-2, 2), (-1, 1)]):
        assert set(np.unique(d["translation"][:, col])) == set(range(lo, hi + 1))
    for col, hi in enumerate([12, 9]):
        assert set(np.unique(d["cutout"][:, col])) == set(range(hi + 1))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_keys_reproduce_and_returned_draws_reproduce_the_batch(fw):
    x = fw.tensor(_inputs(11)[0], "float32")
    y1, d1 = diffaugment(x, key=key_for(fw, 1), return_draws=True)
    y2 = diffaugment(x, key=key_for(fw, 1))
    y3 = diffaugment(x, key=key_for(fw, 2))
    np.testing.assert_array_equal(fw.numpy(y1), fw.numpy(y2))
    assert not np.array_equal(fw.numpy(y1), fw.numpy(y3))
    np.testing.assert_array_equal(fw.numpy(diffaugment(x, draws=d1)), fw.numpy(y1))
    as_numpy = {k: np.asarray(fw.numpy(v)) for k, v in d1.items()}
    np.testing.assert_array_equal(fw.numpy(diffaugment(x, draws=as_numpy)), fw.numpy(y1))


@pytest.mark.parametrize("a,b", PAIRS)
def test_draws_of_one_framework_give_the_same_batch_in_another(a, b):
    x = _inputs(12)[0]
    ya, draws = diffaugment(a.tensor(x), key=key_for(a, 3), return_draws=True)
    portable = {k: np.asarray(a.numpy(v)) for k, v in draws.items()}
    yb = diffaugment(b.tensor(x), draws=portable)
    assert_close(b.numpy(yb), a.numpy(ya), "float32", what=f"{a.name} draws in {b.name}")
    ra, rd = apa(a.tensor(x), a.tensor(-x), 0.5, key=key_for(a, 4), return_draws=True)
    rb = apa(b.tensor(x), b.tensor(-x), 0.5, draws={"apa": np.asarray(a.numpy(rd["apa"]))})
    np.testing.assert_array_equal(b.numpy(rb), a.numpy(ra))


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_tf_function_with_an_unknown_batch_size_draws_dynamically():
    import tensorflow as tf

    spec = tf.TensorSpec([None, 3, 12, 10], tf.float32)
    fn = tf.function(
        lambda x: diffaugment(x, key=tf.constant([7, 0], tf.int64)), input_signature=[spec]
    )
    x = tf.constant(_inputs(13, (5, 3, 12, 10))[0], tf.float32)
    y = fn(x)
    assert tuple(y.shape) == (5, 3, 12, 10)
    np.testing.assert_array_equal(fn(x).numpy(), y.numpy())  # a stateless seed: reproducible


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_jax_jit_with_a_traced_key_and_p():
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(_inputs(14)[0], jnp.float32)

    @jax.jit
    def step(x, key, p):
        k1, k2 = jax.random.split(key)
        return apa(diffaugment(x, key=k1), -x, p, key=k2)

    y = step(x, jax.random.key(0), jnp.float32(0.5))
    assert y.shape == x.shape and bool(jnp.all(jnp.isfinite(y)))
    same = step(x, jax.random.key(0), jnp.float32(0.0))
    assert not bool(jnp.any(same == -x))  # p = 0 as a traced value: no sample replaced


# ------------------------------------------------------------------ low precision


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_is_computed_in_float32_and_rounded_once(fw, dtype):
    b = fw.backend
    x = fw.tensor(_inputs(15)[0], dtype)
    draws = make_draws(SHAPE[0], *SHAPE[2:], seed=15)
    y = diffaugment(x, draws=draws)
    assert b.dtype(y) == dtype
    want = b.cast(diffaugment(b.cast(x, "float32"), draws=draws), dtype)
    np.testing.assert_array_equal(fw.numpy(y), fw.numpy(want))
    _, used = diffaugment(x, draws=draws, return_draws=True)
    assert b.dtype(used["brightness"]) == "float32" and b.dtype(used["cutout"]) == "int32"


# ------------------------------------------------------------------ APA


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_apa_replaces_by_detached_fakes(fw):
    rng = np.random.default_rng(16)
    real, fake = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2, 3))
    u = np.array([0.05, 0.5, 0.29, 0.3, 0.99])
    replaced = u < 0.3
    want = np.where(replaced[:, None, None], fake, real)
    for p in (0.3, fw.tensor(np.asarray(0.3), "float64")):
        fn = lambda t: {"y": apa(t["real"], t["fake"], p, draws={"apa": u})}  # noqa: B023
        out = fw.evaluate(fn, {"real": real, "fake": fake}, ["real", "fake"], "float64")
        np.testing.assert_array_equal(out["y"], want)
        np.testing.assert_array_equal(
            out["d/d real"], np.broadcast_to(~replaced[:, None, None], real.shape)
        )
        np.testing.assert_array_equal(out["d/d fake"], np.zeros_like(fake))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_apa_keyed_rate_and_the_edge_probabilities(fw):
    real = fw.tensor(np.zeros((4000, 1)), "float32")
    fake = fw.tensor(np.ones((4000, 1)), "float32")
    y = fw.numpy(apa(real, fake, 0.25, key=key_for(fw, 5)))
    assert abs(y.mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 4000)
    assert apa(real, fake, 0.0, key=key_for(fw, 5)) is real
    assert apa(real, fake, 0, return_draws=True)[1] == {}
    assert fw.numpy(apa(real, fake, 1.0, key=key_for(fw, 5))).min() == 1.0
    bf = fw.backend.cast(real, "bfloat16")
    assert fw.backend.dtype(apa(bf, fake, 0.5, key=key_for(fw, 6))) == "bfloat16"


# ------------------------------------------------------------------ value object, registry


def test_diffaugment_object_and_registry():
    aug = registry.get("augmentation", "diffaugment", policy=" translation , cutout")
    assert aug == DiffAugment(policy="translation,cutout")
    assert registry.get("augmentation", aug.config()) == aug
    assert "diffaugment" in registry.available("augmentation")
    x = np.random.default_rng(17).normal(size=(2, 8, 8, 3))
    draws = {"translation": np.array([[1, -1], [0, 2]]), "cutout": np.array([[4, 4], [0, 8]])}
    nhwc = DiffAugment(policy="translation,cutout", layout="NHWC")
    np.testing.assert_array_equal(
        nhwc.augment(x, draws=draws),
        diffaugment(x, "translation,cutout", draws=draws, layout="NHWC"),
    )
    assert nhwc.draw_specs(x.shape) == {
        "translation": ("integer", (2, 2)),
        "cutout": ("integer", (2, 2)),
    }
    assert diffaugment(x, "", layout="NHWC") is x


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda x: diffaugment(x, "color,flip"),
            ValueError,
            r"unknown policy 'flip'.*\['color', 'translation', 'cutout'\]",
        ),
        (lambda x: diffaugment(x, "color,color"), ValueError, "names a policy twice"),
        (lambda x: diffaugment(x, ["color"]), TypeError, "policy must be a comma-separated str"),
        (
            lambda x: diffaugment(x, layout="CHW"),
            ValueError,
            r"layout must be one of \['NCHW', 'NHWC'\]",
        ),
        (lambda x: diffaugment(x[0], key=0), ValueError, r"rank 4.*received shape \(3, 12, 10\)"),
        (
            lambda x: diffaugment(x.astype(np.int64), key=0),
            TypeError,
            "x must be a floating-point tensor",
        ),
        (lambda x: diffaugment(1.0), TypeError, "x must be a tensor"),
        (
            lambda x: diffaugment(x, "color", draws={"brightness": np.zeros(4)}),
            ValueError,
            r"missing \['saturation', 'contrast'\]",
        ),
        (
            lambda x: diffaugment(x, "cutout", draws={"cutout": np.zeros((4, 2), int), "extra": 1}),
            ValueError,
            r"unexpected \['extra'\]",
        ),
        (
            lambda x: diffaugment(x, "cutout", draws={"cutout": np.zeros((4,), int)}),
            ValueError,
            r"draws\['cutout'\] must have shape \(4, 2\).*received shape \(4,\)",
        ),
        (
            lambda x: diffaugment(x, "cutout", draws={"cutout": np.zeros((4, 2))}),
            TypeError,
            r"draws\['cutout'\] must hold integers.*float64",
        ),
        (
            lambda x: diffaugment(x, "translation", draws={"translation": np.zeros((3, 2), int)}),
            ValueError,
            r"shape \(4, 2\)",
        ),
        (lambda x: diffaugment(x, "color", draws=[1, 2]), TypeError, "draws must be a dict"),
        (
            lambda x: diffaugment(
                x, "color", draws={"brightness": "a", "saturation": 0, "contrast": 0}
            ),
            TypeError,
            r"draws\['brightness'\] must be a numpy tensor or a NumPy array",
        ),
        (lambda x: diffaugment(x, return_draws=1), TypeError, "return_draws must be a bool"),
        (lambda x: apa(x, x, 1.5), ValueError, r"p must lie in \[0, 1\].*1.5"),
        (lambda x: apa(x, x, -0.1), ValueError, r"p must lie in \[0, 1\]"),
        (lambda x: apa(x, x, float("nan")), ValueError, "p must be finite"),
        (lambda x: apa(x, x, "0.5"), TypeError, "p must be a Python number in"),
        (lambda x: apa(x, x[:2], 0.5), ValueError, r"fake must have real's shape \(4, 3, 12, 10\)"),
        (
            lambda x: apa(x, x, 0.5, draws={"u": np.zeros(4)}),
            ValueError,
            r"exactly the draws of this call, \['apa'\]",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    x = _inputs(18)[0]
    with pytest.raises(error, match=match) as info:
        call(x)
    assert isinstance(info.value, advloss.AdvlossError)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_framework_specific_errors(fw):
    x = fw.tensor(_inputs(19)[0])
    with pytest.raises(advloss.AdvlossValueError, match="p must be a scalar"):
        apa(x, x, fw.tensor(np.full(4, 0.5)))
    other = next((h for h in FRAMEWORKS if h.name != fw.name), None)
    if other is not None:
        bad = {"translation": other.backend.asarray(np.zeros((4, 2), np.int32), "int32")}
        with pytest.raises(
            advloss.AdvlossTypeError, match=rf"must be a {fw.name} tensor or a NumPy"
        ):
            diffaugment(x, "translation", draws=bad)
    if fw.name == "jax":
        with pytest.raises(advloss.AdvlossValueError, match="JAX has no global random state"):
            diffaugment(x)


# ------------------------------------------------------------------ in an Objective


def test_objective_term_parses_prints_and_round_trips():
    o = advloss.Objective.parse("ns + r1(gamma=1) + diffaug('color,cutout')")
    assert o.augment == DiffAugment(policy="color,cutout")
    assert repr(o) == "ns + r1(every=1, gamma=1.0) + diffaug('color,cutout')"
    assert advloss.Objective.parse(repr(o)) == o
    assert advloss.Objective.from_config(o.config()) == o
    assert hash(advloss.Objective.from_config(o.config())) == hash(o)
    assert o.config()["augment"] == {
        "name": "diffaugment",
        "policy": "color,cutout",
        "layout": "NCHW",
    }
    nhwc = advloss.Objective.parse("ns + diffaugment(policy='translation', layout='NHWC')")
    assert repr(nhwc) == "ns + diffaug('translation', layout='NHWC')"
    assert advloss.Objective(augment="diffaugment").augment == DiffAugment()
    assert advloss.Objective.parse("ns").config()["augment"] is None
    specs = o.draw_specs((2, 3, 8, 8), (5, 3, 8, 8))
    assert specs["augment.real.cutout"] == ("integer", (2, 2))
    assert specs["augment.fake.brightness"] == ("uniform", (5,))


def test_objective_on_batches_that_are_not_images_names_the_shape():
    o = advloss.Objective.parse("ns + diffaug('color')")
    with pytest.raises(advloss.AdvlossValueError, match=r"rank 4.*received shape \(8, 6\)"):
        o.draw_specs((8, 6), (8, 6))
    with pytest.raises(advloss.AdvlossValueError, match="rank 4"):
        o.discriminator(lambda x: x, np.zeros((8, 6)), np.zeros((8, 6)), key=0)


@pytest.mark.parametrize(
    "text, match",
    [
        ("ns + diffaug('color') + diffaug('cutout')", "at most one augmentation term"),
        ("ns + diffaug('color', 'cutout')", "takes one policy string"),
        ("ns + diffaug('flip')", "unknown policy 'flip'"),
    ],
)
def test_objective_term_errors(text, match):
    with pytest.raises(advloss.AdvlossValueError, match=match):
        advloss.Objective.parse(text)


def _objective_draws(objective, real_shape, fake_shape, side, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, (dist, shape) in objective.draw_specs(real_shape, fake_shape, side=side).items():
        if dist == "integer":
            out[name] = rng.integers(0, 6, size=shape)
        else:
            out[name] = rng.random(shape) if dist == "uniform" else rng.normal(size=shape)
    return out


def _share(draws, prefix):
    return {k[len(prefix) :]: v for k, v in draws.items() if k.startswith(prefix)}


@pytest.mark.parametrize(
    "fw",
    [
        pytest.param(*p.values, marks=pytest.mark.slow, id=p.id) if p.id == "jax" else p
        for p in FRAMEWORK_PARAMS
    ],
)  # JAX: ~11 s of compilation for the same code path
def test_objective_augments_both_batches_before_the_noise_and_penalties(fw):
    """D step: loss and R1 on T(x) + s eps, T(x~) + s eps'; G step: T(x~) + s eps'."""
    objective = advloss.Objective.parse(
        "ns + r1(gamma=2) + diffaug('color,translation,cutout') + noise(0.1)"
    )
    params = nets.weights("conv")
    rng = np.random.default_rng(20)
    real, fake = rng.normal(size=(3, 2, 6, 6)), rng.normal(size=(3, 2, 6, 6))
    as_tensors = lambda draws: {k: fw.backend.from_numpy(v) for k, v in draws.items()}
    d = as_tensors(_objective_draws(objective, real.shape, fake.shape, "discriminator", 21))
    loss = advloss.get_loss("ns")

    def by_objective(D, real, fake):
        return objective.discriminator(D, real, fake, draws=d).total

    def by_hand(D, real, fake):
        r = diffaugment(real, draws=_share(d, "augment.real.")) + 0.1 * d["noise.real"]
        f = diffaugment(fake, draws=_share(d, "augment.fake.")) + 0.1 * d["noise.fake"]
        return loss.discriminator(D(r), D(f)) + advloss.r1_penalty(D, r, gamma=2)

    va, ga = nets.penalty_and_param_grads(
        fw.name, "conv", params, by_objective, [real, fake], "float64", **_fast(fw)
    )
    vb, gb = nets.penalty_and_param_grads(
        fw.name, "conv", params, by_hand, [real, fake], "float64", **_fast(fw)
    )
    assert_close(va, vb, "float64", what="D total")
    for k in params:
        assert_close(ga[k], gb[k], "float64", what=f"D d/d{k}")

    g = as_tensors(_objective_draws(objective, None, fake.shape, "generator", 22))
    assert sorted(g) == sorted(k for k in d if k.startswith(("augment.fake.", "noise.fake")))
    D = nets.forward(fw.name, "conv")
    p = {k: fw.tensor(v, "float64") for k, v in params.items()}
    got = objective.generator(lambda x: D(p, x), fw.tensor(fake, "float64"), draws=g).total
    f = (
        diffaugment(fw.tensor(fake, "float64"), draws=_share(g, "augment.fake."))
        + 0.1 * g["noise.fake"]
    )
    assert_close(fw.numpy(got), fw.numpy(loss.generator(D(p, f))), "float64", what="G total")


@pytest.mark.slow
@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_objective_with_augmentation_under_jax_jit_with_a_key():
    import jax
    import jax.numpy as jnp

    objective = advloss.Objective.parse("hinge + gp + diffaug('color,translation,cutout')")
    D = nets.forward("jax", "conv")
    p = {k: jnp.asarray(v) for k, v in nets.weights("conv").items()}
    real = jnp.asarray(np.random.default_rng(23).normal(size=(4, 2, 6, 6)))

    @jax.jit
    def d_loss(p, key):
        return objective.discriminator(lambda x: D(p, x), real, -real, key=key).total

    value, grads = jax.value_and_grad(d_loss)(p, jax.random.key(0))
    assert bool(jnp.isfinite(value)) and all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())
    assert float(d_loss(p, jax.random.key(0))) == float(value)
    assert float(d_loss(p, jax.random.key(1))) != float(value)
    with pytest.raises(advloss.AdvlossValueError, match="no global random state"):
        objective.discriminator(lambda x: D(p, x), real, -real)
