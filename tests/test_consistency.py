"""Consistency regularization (issue 20, item 5): CR, bCR and zCR and their transform.

A NumPy float64 reference written from the documented formulas (the transform by ``np.pad``
reflection, the penalties in closed form for a linear D and a linear G, values and parameter
gradients), StudioGAN's code re-created from its source with its random draws made explicit
(``src/utils/cr.py``, ``src/worker.py``, ``src/utils/sample.py``), cross-framework equality
(float32, float64), compiled == eager, keyed draws, the Objective (grammar, draws, zCR's
generator plumbing) and errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.backend import get_backend
from advloss.consistency import FlipTranslate, flip_translate
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

NAMES = {h.name for h in FRAMEWORKS}
# The test-time budget: JAX's eager ops compile one by one (seconds per test), so JAX is
# checked here under jax.jit against the closed forms (default tier), its keyed draws in the
# slow tier, and in eager mode by the equivalence suite's items penalty:cr / bcr / zcr.
SLOW = pytest.mark.slow
NO_JAX = [pytest.param(h, id=h.name) for h in FRAMEWORKS if h.name != "jax"]
FW_FAST = [pytest.param(h, id=h.name, marks=SLOW if h.name == "jax" else ()) for h in FRAMEWORKS]
PAIRS_FAST = [p for p in PAIRS if "jax" not in p.id]
SHAPE = (4, 2, 9, 17)  # non-square: m_H = floor(9/8) = 1, m_W = floor(17/8) = 2
Z_DIM = 3


def shift_draw(t, m):
    """The U[0, 1) draw that gives the integer shift ``t`` in -m..m (the centre of its bin)."""
    return (np.asarray(t, np.float64) + m + 0.5) / (2 * m + 1)


def make_draws(n, seed, prefix=""):
    """Flip draws on both sides of ½ and shifts at the ends of their ranges."""
    rng = np.random.default_rng(seed)
    flip = rng.random(n)
    flip[0], flip[-1] = 0.1, 0.9
    shifts = np.stack([rng.integers(-1, 2, n), rng.integers(-2, 3, n)], 1)
    shifts[0], shifts[-1] = (-1, 2), (1, -2)
    t = np.stack([shift_draw(shifts[:, 0], 1), shift_draw(shifts[:, 1], 2)], 1)
    return {f"{prefix}flip": flip, f"{prefix}translation": t}


def reference_transform(x, flip_u, shift_u, p=0.5, ratio=0.125):
    """The documented transform in NumPy float64 (NCHW): flip where u < p, then the shift by
    slicing a reflect-padded image, out[i] = pad[i + t + m]."""
    y = np.array(x, dtype=np.float64)
    _, _, h, w = y.shape
    mh, mw = int(h * ratio), int(w * ratio)
    for k in range(len(y)):
        img = y[k]
        if flip_u is not None and flip_u[k] < p:
            img = img[:, :, ::-1]
        if shift_u is not None:
            th = min(int(shift_u[k, 0] * (2 * mh + 1)), 2 * mh) - mh
            tw = min(int(shift_u[k, 1] * (2 * mw + 1)), 2 * mw) - mw
            pad = np.pad(img, ((0, 0), (mh, mh), (mw, mw)), mode="reflect")
            img = pad[:, mh + th : mh + th + h, mw + tw : mw + tw + w]
        y[k] = img
    return y


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    n = SHAPE[0]
    size = int(np.prod(SHAPE[1:]))
    return {
        "x": rng.normal(size=SHAPE),
        "fake": rng.normal(size=SHAPE),
        "w": rng.normal(0, 0.3, SHAPE[1:]),
        "z": rng.normal(size=(n, Z_DIM)),
        "W": rng.normal(0, 0.5, (Z_DIM, size)),
        "eps": rng.normal(size=(n, Z_DIM)),
        **make_draws(n, seed, "real."),
        **make_draws(n, seed + 1, "fake."),
    }


def _models(t):
    """Linear D (one logit per sample) and linear G, from the backend primitives."""
    b = advloss.backend.backend_for(t["x"])

    def D(x):
        return b.sum_per_sample(x * t["w"])

    def G(z):
        return b.reshape(b.matmul(z, t["W"]), (-1, *SHAPE[1:]))

    return D, G


def _terms(t):
    """CR, bCR, and zCR's two terms on the inputs (explicit draws), as one dict of outputs."""
    D, G = _models(t)
    real_draws = {"flip": t["real.flip"], "translation": t["real.translation"]}
    bcr_draws = {
        k: t[k] for k in ("real.flip", "real.translation", "fake.flip", "fake.translation")
    }
    return {
        "cr": advloss.consistency_penalty(D, t["x"], weight=3.0, draws=real_draws),
        "bcr": advloss.balanced_consistency_penalty(
            D, t["x"], t["fake"], real_weight=2.0, fake_weight=0.5, draws=bcr_draws
        ),
        "zcr_d": advloss.latent_consistency_penalty(
            D, G, t["z"], weight=4.0, sigma=0.2, noise=t["eps"]
        ),
        "zcr_g": advloss.latent_consistency_generator_penalty(
            G, t["z"], weight=1.5, sigma=0.2, noise=t["eps"]
        ),
    }


def reference_terms(a):
    """The closed forms for the linear D and G: values and the gradient of their sum with
    respect to w and W (zCR's discriminator term treats G's samples as constants)."""
    w, W, n = a["w"], a["W"], SHAPE[0]
    values, dw, dW = {}, np.zeros_like(w), np.zeros_like(W)

    def pair(lam, x, draws):
        delta = x - reference_transform(x, draws[0], draws[1])
        proj = np.einsum("nchw,chw->n", delta, w)
        return lam * np.mean(proj**2), 2 * lam * np.einsum("n,nchw->chw", proj, delta) / n

    v, g = pair(3.0, a["x"], (a["real.flip"], a["real.translation"]))
    values["cr"], dw = v, dw + g
    vr, gr = pair(2.0, a["x"], (a["real.flip"], a["real.translation"]))
    vf, gf = pair(0.5, a["fake"], (a["fake.flip"], a["fake.translation"]))
    values["bcr"], dw = vr + vf, dw + gr + gf
    delta = (-0.2 * a["eps"] @ W).reshape(SHAPE)  # G(z) - G(z + σε)
    proj = np.einsum("nchw,chw->n", delta, w)
    values["zcr_d"] = 4.0 * np.mean(proj**2)
    dw = dw + 2 * 4.0 * np.einsum("n,nchw->chw", proj, delta) / n
    e = 0.2 * a["eps"] @ W  # G(z + σε) - G(z), flat
    values["zcr_g"] = -1.5 * np.mean(e**2)
    dW = dW - 2 * 1.5 * (0.2 * a["eps"]).T @ e / e.size
    return values, {"w": dw, "W": dW}


# --------------------------------------------------------------------------- the transform


@pytest.mark.parametrize("flip,ratio", [(0.5, 0.125), (0.0, 0.125), (1.0, 0.0), (0.3, 0.3)])
def test_numpy_transform_equals_the_reference(flip, ratio):
    a = _inputs(1)
    draws = {}
    if flip > 0:
        draws["flip"] = a["real.flip"]
    if ratio > 0:
        draws["translation"] = a["real.translation"]
    got = flip_translate(a["x"], flip=flip, translation=ratio, draws=draws)
    want = reference_transform(a["x"], draws.get("flip"), draws.get("translation"), flip, ratio)
    np.testing.assert_array_equal(got, want)
    nhwc = flip_translate(
        np.moveaxis(a["x"], 1, -1), flip=flip, translation=ratio, draws=draws, layout="NHWC"
    )
    np.testing.assert_array_equal(np.moveaxis(nhwc, -1, 1), want)


@pytest.mark.parametrize("fw", NO_JAX)
def test_transform_values_and_gradients_match_the_reference(fw):
    """T is a gather: its input gradient is T's adjoint, here by differences with step 1 of the
    reference (exact: T is linear)."""
    a = _inputs(2)
    x, u, v = a["x"][:2, :, :5], a["real.flip"][:2], a["real.translation"][:2]
    weights = np.random.default_rng(0).normal(size=x.shape)

    def fn(t):
        return {"y": flip_translate(t["x"], draws={"flip": t["u"], "translation": t["v"]}) * t["c"]}

    out = fw.evaluate(fn, {"x": x, "u": u, "v": v, "c": weights}, ["x"], "float64")
    assert_close(out["y"], weights * reference_transform(x, u, v), "float64")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1.0
        grad[i] = np.sum(weights * reference_transform(e, u, v))
    assert_close(out["d/d x"], grad, "float64", what="d/dx")


@pytest.mark.parametrize("fw", FW_FAST)
def test_keyed_draws_cover_the_ranges_and_reproduce(fw):
    b = fw.backend
    x = fw.tensor(np.random.default_rng(3).normal(size=(64, 1, 9, 17)))
    y, used = flip_translate(x, key=key_for(fw, 0), return_draws=True)
    u, t = fw.numpy(used["flip"]), fw.numpy(used["translation"])
    assert u.shape == (64,) and t.shape == (64, 2) and u.min() >= 0 and u.max() < 1
    assert 0.2 < np.mean(u < 0.5) < 0.8
    shifts = np.minimum((t * [3, 5]).astype(int), [2, 4]) - [1, 2]
    assert set(shifts[:, 0]) == {-1, 0, 1} and set(shifts[:, 1]) == {-2, -1, 0, 1, 2}
    again = flip_translate(x, draws={k: fw.numpy(v) for k, v in used.items()})
    assert_close(fw.numpy(again), fw.numpy(y), "float32", what="the returned draws")
    assert tuple(b.shape(y)) == (64, 1, 9, 17)


# --------------------------------------------------------------------------- the penalties


@pytest.mark.parametrize(
    "fw,compiled",  # eager torch and TF; JAX under jax.jit (its eager mode: the slow tier)
    [pytest.param(h, h.name == "jax", id=h.name) for h in FRAMEWORKS],
)
def test_values_and_gradients_match_the_closed_forms(fw, compiled):
    a = _inputs(4)
    out = fw.evaluate(_terms, a, ["w", "W"], "float64", compiled=compiled)
    values, grads = reference_terms(a)
    for k, v in values.items():
        assert_close(out[k], v, "float64", what=k)
    for k, g in grads.items():
        assert_close(out[f"d/d {k}"], g, "float64", what=f"d/d {k}")


def test_numpy_backend_equals_the_closed_forms():
    """Nothing here needs autodiff: the terms run on NumPy arrays."""
    a = _inputs(5)
    values, _ = reference_terms(a)
    for k, v in _terms(a).items():
        assert_close(v, values[k], "float64", what=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a,b", PAIRS_FAST)
def test_frameworks_agree_on_values_and_gradients(a, b, dtype):
    inputs = _inputs(6)
    ra, rb = (fw.evaluate(_terms, inputs, ["w", "W", "x", "fake"], dtype) for fw in (a, b))
    for k in ra:  # float32 sums of ~300 products: errors relative to the largest entry
        scale = max(1.0, float(np.abs(rb[k]).max()))
        assert_close(ra[k], rb[k], dtype, what=f"{k} {a.name} vs {b.name}", scale=scale)


@pytest.mark.slow
@pytest.mark.parametrize("fw", [p for p in FRAMEWORK_PARAMS if p.values[0].name != "torch"])
def test_jit_and_tf_function_equal_eager(fw):
    inputs = _inputs(7)
    eager = fw.evaluate(_terms, inputs, ["w", "W"], "float32")
    compiled = fw.evaluate(_terms, inputs, ["w", "W"], "float32", compiled=True)
    for k in eager:
        scale = max(1.0, float(np.abs(eager[k]).max()))
        assert_close(compiled[k], eager[k], "float32", what=f"compiled {k}", scale=scale)


@pytest.mark.slow
@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_compile_fullgraph_equals_eager():
    from advloss.testing import get_harness

    fw = get_harness("torch")
    inputs = _inputs(8)
    eager = fw.evaluate(_terms, inputs, ["w", "W"], "float32")
    compiled = fw.evaluate(_terms, inputs, ["w", "W"], "float32", compiled=True)
    for k in eager:
        scale = max(1.0, float(np.abs(eager[k]).max()))
        assert_close(compiled[k], eager[k], "float32", what=f"torch.compile {k}", scale=scale)


# ------------------------------------------------------- StudioGAN's code, re-created here


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_studiogan_cr_bcr_zcr_map_as_documented(dtype):
    """StudioGAN (POSTECH-CVLab/PyTorch-StudioGAN, 947b35e): ``apply_cr_aug`` of
    src/utils/cr.py (``random_flip(x, 0.5)`` then ``random_translation(x, 1/8)``) with each
    ``torch.FloatTensor.uniform_`` / ``torch.randint`` replaced by a given draw; worker.py's
    ``cr_lambda * l2_loss(D(x), D(T(x)))``, ``real_lambda * l2_loss(...) + fake_lambda *
    l2_loss(...)``, ``d_lambda * l2_loss(D(G(z)), D(G(z_eps)))`` and ``g_lambda * -l2_loss(G(z),
    G(z_eps))`` with ``l2_loss = nn.MSELoss()`` and sample.py's ``z_eps = z + radius * randn``.
    advloss with the same draws (a shift t as the draw (t + m + ½) / (2m + 1)) gives the same
    numbers and gradients with StudioGAN's λ and σ as ``weight`` / ``real_weight`` /
    ``fake_weight`` / ``weight`` / ``weight`` / ``sigma``."""
    import torch
    import torch.nn.functional as F

    tdt = getattr(torch, dtype)
    rng = np.random.default_rng(9)
    n = 6

    def random_flip(x, p, flip_prob):
        x_out = x.clone()
        n, c, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        flip_mask = flip_prob.view(n, 1) < p
        flip_mask = flip_mask.type(torch.bool).view(n, 1, 1, 1).repeat(1, c, h, w)
        x_out[flip_mask] = torch.flip(x[flip_mask].view(-1, c, h, w), [3]).view(-1)
        return x_out

    def random_translation(x, ratio, t_x, t_y):
        max_t_x, max_t_y = int(x.shape[2] * ratio), int(x.shape[3] * ratio)
        t_x, t_y = t_x.view(-1, 1, 1), t_y.view(-1, 1, 1)
        grid_batch, grid_x, grid_y = torch.meshgrid(
            torch.arange(x.shape[0], dtype=torch.long),
            torch.arange(x.shape[2], dtype=torch.long),
            torch.arange(x.shape[3], dtype=torch.long),
            indexing="ij",
        )
        grid_x = (grid_x + t_x) + max_t_x
        grid_y = (grid_y + t_y) + max_t_y
        x_pad = F.pad(input=x, pad=[max_t_y, max_t_y, max_t_x, max_t_x], mode="reflect")
        return (
            x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)
        )

    def studiogan_t(x, d):
        return random_translation(random_flip(x, 0.5, d["flip_prob"]), 1 / 8, d["t_x"], d["t_y"])

    def draws_for(shape):
        mh, mw = int(shape[2] / 8), int(shape[3] / 8)
        d = {
            "flip_prob": torch.from_numpy(rng.random(shape[0])).to(tdt),
            "t_x": torch.from_numpy(rng.integers(-mh, mh + 1, shape[0])),
            "t_y": torch.from_numpy(rng.integers(-mw, mw + 1, shape[0])),
        }
        ours = {
            "flip": d["flip_prob"],
            "translation": torch.from_numpy(
                np.stack([shift_draw(d["t_x"], mh), shift_draw(d["t_y"], mw)], 1)
            ),
        }
        return d, ours

    torch.manual_seed(0)
    shape = (n, 3, 16, 24)
    D = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
        torch.nn.Linear(4 * 16 * 24, 1),
    ).to(tdt)  # fmt: skip
    G = torch.nn.Sequential(torch.nn.Linear(5, int(np.prod(shape[1:]))), torch.nn.Tanh()).to(tdt)
    gen = lambda z: G(z).view(-1, *shape[1:])
    l2_loss = torch.nn.MSELoss()
    real = torch.from_numpy(rng.normal(size=shape)).to(tdt)
    fake = torch.from_numpy(rng.normal(size=shape)).to(tdt)
    z, eps = (torch.from_numpy(rng.normal(size=(n, 5))).to(tdt) for _ in range(2))
    cr_lambda, real_lambda, fake_lambda, d_lambda, g_lambda, radius = (
        10.0,
        10.0,
        5.0,
        20.0,
        0.5,
        0.05,
    )
    dr, our_r = draws_for(shape)
    df, our_f = draws_for(shape)

    def grads(loss, params):
        return [g.detach().numpy() for g in torch.autograd.grad(loss, list(params))]

    # CR
    theirs = cr_lambda * l2_loss(D(real), D(studiogan_t(real, dr)))
    ours = advloss.consistency_penalty(D, real, weight=cr_lambda, draws=our_r)
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), dtype, what="CR")
    for g, h in zip(grads(ours, D.parameters()), grads(theirs, D.parameters()), strict=True):
        assert_close(g, h, dtype, what="dCR/dθ")
    # bCR
    theirs = real_lambda * l2_loss(D(real), D(studiogan_t(real, dr))) + fake_lambda * l2_loss(
        D(fake), D(studiogan_t(fake, df))
    )
    draws = {
        **{f"real.{k}": v for k, v in our_r.items()},
        **{f"fake.{k}": v for k, v in our_f.items()},
    }
    ours = advloss.balanced_consistency_penalty(
        D, real, fake, real_weight=real_lambda, fake_weight=fake_lambda, draws=draws
    )
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), dtype, what="bCR")
    for g, h in zip(grads(ours, D.parameters()), grads(theirs, D.parameters()), strict=True):
        assert_close(g, h, dtype, what="dbCR/dθ")
    # zCR, discriminator step (G frozen: toggle_grad(G, False) there; constants here)
    z_eps = z + radius * eps
    with torch.no_grad():
        fake_images, fake_images_eps = gen(z), gen(z_eps)
    theirs = d_lambda * l2_loss(D(fake_images), D(fake_images_eps))
    ours = advloss.latent_consistency_penalty(D, gen, z, weight=d_lambda, sigma=radius, noise=eps)
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), dtype, what="zCR D")
    for g, h in zip(grads(ours, D.parameters()), grads(theirs, D.parameters()), strict=True):
        assert_close(g, h, dtype, what="dzCR_D/dθ_D")
    # zCR, generator step
    theirs = g_lambda * (-1 * l2_loss(gen(z), gen(z_eps)))
    ours = advloss.latent_consistency_generator_penalty(
        gen, z, weight=g_lambda, sigma=radius, noise=eps
    )
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), dtype, what="zCR G")
    for g, h in zip(grads(ours, G.parameters()), grads(theirs, G.parameters()), strict=True):
        assert_close(g, h, dtype, what="dzCR_G/dθ_G")


def test_defaults_are_studiogans():
    """cr_lambda 10 (configs/*/-CR.yaml); real_lambda = fake_lambda = 10, d_lambda 20, g_lambda
    0.5, radius 0.05 (configs/CIFAR10/BigGAN-ICR.yaml); flip ½ and translation ⅛ (cr.py)."""
    assert advloss.ConsistencyPenalty().weight == 10.0
    bcr = advloss.BalancedConsistencyPenalty()
    assert (bcr.real_weight, bcr.fake_weight) == (10.0, 10.0)
    zcr = advloss.LatentConsistency()
    assert (zcr.dis_weight, zcr.gen_weight, zcr.sigma) == (20.0, 0.5, 0.05)
    assert FlipTranslate() == FlipTranslate(flip=0.5, translation=0.125)


# --------------------------------------------------------------------------- the objective


def test_registry_grammar_and_round_trips():
    text = (
        "hinge + cr(weight=5.0) + bcr(augment={'name': 'diffaugment', 'policy': 'translation'})"
        " + zcr(sigma=0.1)"
    )
    o = advloss.Objective.parse(text)
    assert [p.name for p in o.penalties] == ["cr", "bcr", "zcr"]
    assert advloss.Objective.parse(repr(o)) == o == advloss.Objective.from_config(o.config())
    assert "cr(augment='flip_translate', every=1, weight=5.0)" in repr(o)
    specs = o.draw_specs((4, 3, 16, 16), (4, 3, 16, 16))
    assert specs["cr.flip"] == ("uniform", (4,))
    assert specs["cr.translation"] == ("uniform", (4, 2))
    assert specs["bcr.fake.translation"] == ("integer", (4, 2))  # DiffAugment's integer shifts
    assert "zcr" in advloss.available_penalties()
    assert advloss.registry.get("augmentation", "flip_translate") == FlipTranslate()


@pytest.mark.parametrize("fw", NO_JAX)
def test_objective_terms_equal_the_functions_and_reuse_the_logits(fw):
    """The objective's cr / bcr / zcr terms (explicit draws; zCR's noise from its key slot)
    equal the functions; the adversarial loss reuses D(real) and D(fake) (no extra D calls)."""
    a = _inputs(10)
    t = {k: fw.tensor(v, "float64") for k, v in a.items()}
    D, G = _models(t)
    calls = []

    def counted(x):
        calls.append(1)
        return D(x)

    o = advloss.Objective.parse("ns + cr(weight=3.0) + bcr(real_weight=2.0, fake_weight=0.5)")
    names = ("real.flip", "real.translation", "fake.flip", "fake.translation")
    draws = {"cr.flip": t["real.flip"], "cr.translation": t["real.translation"]}
    draws.update({f"bcr.{k}": t[k] for k in names})
    out = o.discriminator(counted, t["x"], t["fake"], draws=draws)
    assert len(calls) == 2 + 4  # cr: D(real), D(T(real)); bcr: D(real), D(fake) and two Ts
    expected = _terms(t)
    for name in ("cr", "bcr"):
        assert_close(fw.numpy(out.terms[name]), fw.numpy(expected[name]), "float64", what=name)
    adv = advloss.get_loss("ns").discriminator(D(t["x"]), D(t["fake"]))
    assert_close(fw.numpy(out.terms["adversarial"]), fw.numpy(adv), "float64")

    zo = advloss.Objective.parse("ns + zcr(dis_weight=4.0, gen_weight=1.5, sigma=0.2)")
    key = key_for(fw, 3)
    fake = G(t["z"])
    d_out = zo.discriminator(D, t["x"], fake, generator=G, latent=t["z"], key=key)
    g_out = zo.generator(D, fake, generator=G, latent=t["z"], key=key_for(fw, 3))
    for out in (d_out, g_out):
        assert sorted(out.terms) == ["adversarial", "zcr"]
        total = out.terms["adversarial"] + out.terms["zcr"]
        assert_close(fw.numpy(out.total), fw.numpy(total), "float64")
    assert float(fw.numpy(d_out.terms["zcr"])) > 0 > float(fw.numpy(g_out.terms["zcr"]))


def test_objective_zcr_needs_the_generator():
    x = np.zeros((2, 1, 8, 8))
    o = advloss.Objective.parse("ns + zcr")
    D = lambda x: x.reshape(len(x), -1).sum(1)
    for call in (lambda: o.discriminator(D, x, x), lambda: o.generator(D, x)):
        with pytest.raises(advloss.AdvlossValueError, match="pass generator=G and latent=z"):
            call()
    with pytest.raises(advloss.AdvlossTypeError, match="discriminator_term"):
        advloss.get_penalty("zcr").term(D, x, x)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: flip_translate(np.zeros((2, 8, 8))), ValueError, "rank 4"),
        (lambda: flip_translate(np.zeros((2, 1, 8, 8)), flip=1.5), ValueError, r"flip must lie"),
        (lambda: flip_translate(np.zeros((2, 1, 8, 8)), translation=1.0), ValueError, "translation"),
        (lambda: flip_translate(np.zeros((2, 1, 8, 8)), layout="CHW"), ValueError, "layout"),
        (
            lambda: flip_translate(np.zeros((2, 1, 8, 8)), draws={"flip": np.zeros(2)}),
            ValueError,
            r"exactly the draws of this call, \['flip', 'translation'\]",
        ),
        (
            lambda: flip_translate(
                np.zeros((2, 1, 8, 8)), draws={"flip": np.zeros(3), "translation": np.zeros((2, 2))}
            ),
            ValueError,
            r"draws\['flip'\] must have shape \(2,\)",
        ),
        (
            lambda: flip_translate(
                np.zeros((2, 1, 8, 8)),
                draws={"flip": np.zeros(2, int), "translation": np.zeros((2, 2))},
            ),
            TypeError,
            "must hold floats .shape .2,., floats in .0, 1..; received dtype int64",
        ),
        (lambda: advloss.consistency_penalty(lambda x: x, np.zeros((2, 1, 4, 4)), weight=-1), ValueError, "weight must be >= 0"),
        (lambda: advloss.consistency_penalty(lambda x: x, np.zeros((2, 1, 4, 4)), augment=3), TypeError, "augment must be None"),
        (lambda: advloss.consistency_penalty(lambda x: x.mean(), np.zeros((2, 1, 4, 4)), key=0), ValueError, "one value .or map. per sample"),
        (
            lambda: advloss.balanced_consistency_penalty(
                lambda x: x, np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 4)), draws={"flip": np.zeros(2)}
            ),
            ValueError,
            "named '<batch>.<draw>'",
        ),
        (lambda: advloss.latent_consistency_penalty(lambda x: x, "G", np.zeros((2, 3))), TypeError, "generator must be a callable"),
        (lambda: advloss.latent_consistency_generator_penalty(lambda z: z, np.zeros((2, 3)), sigma=-1.0), ValueError, "sigma must be >= 0"),
        (lambda: advloss.latent_consistency_generator_penalty(lambda z: z, np.zeros((2, 3)), noise=np.zeros((2, 2))), ValueError, r"noise must be a numpy tensor of z's shape \(2, 3\)"),
        (lambda: advloss.latent_consistency_generator_penalty(lambda z: z[:1], np.zeros((2, 3)), fake=np.zeros((2, 3)), noise=np.zeros((2, 3))), ValueError, "must have the same shape"),
        (lambda: advloss.ConsistencyPenalty(augment="nope"), ValueError, "nope"),
    ],
)  # fmt: skip
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_jax_needs_a_key_or_draws():
    import jax.numpy as jnp

    x = jnp.zeros((2, 1, 8, 8))
    with pytest.raises(advloss.AdvlossValueError, match="no global random state: pass key="):
        advloss.consistency_penalty(lambda u: u.sum((1, 2, 3)), x)
    with pytest.raises(advloss.AdvlossValueError, match="pass key= or noise="):
        advloss.latent_consistency_generator_penalty(lambda z: z, jnp.zeros((2, 3)))


@pytest.mark.parametrize("fw", NO_JAX)
def test_low_precision_is_computed_in_float32(fw):
    b = fw.backend
    x = b.cast(fw.tensor(np.random.default_rng(11).normal(size=(3, 1, 8, 8))), "bfloat16")
    value = advloss.consistency_penalty(lambda u: b.sum_per_sample(u), x, draws=make_draws(3, 11))
    assert b.dtype(value) == "float32"
    assert b.dtype(flip_translate(x, draws=make_draws(3, 11))) == "bfloat16"
    assert get_backend("numpy").name == "numpy"


# --------------------------------------------------------------------------- the trainer


def test_trainer_options_build_the_terms():
    """--penalty cr / bcr / zcr with --penalty-weight map to λ, λ_real = λ_fake and λ_dis;
    zcr is not lazy, and every framework's trainer accepts it (each passes G)."""
    pytest.importorskip("sklearn")
    from reference_trainers import dcgan
    from reference_trainers.common import TrainerError, build_objective, channels_last

    def penalty(*argv):
        return build_objective(dcgan.options(list(argv))).penalties[0]

    assert penalty("--penalty", "cr", "--penalty-weight", "5") == advloss.ConsistencyPenalty(
        weight=5.0
    )
    bcr = penalty("--penalty", "bcr", "--penalty-weight", "3", "--penalty-every", "2")
    assert (bcr.real_weight, bcr.fake_weight, bcr.every) == (3.0, 3.0, 2)
    assert penalty("--penalty", "zcr", "--penalty-weight", "7").dis_weight == 7.0
    with pytest.raises(TrainerError, match="it is not lazy"):
        penalty("--penalty", "zcr", "--penalty-every", "2")
    for framework in ("jax", "tf"):
        dcgan.check(dcgan.options(["--penalty", "zcr", "--framework", framework]))
    nhwc = channels_last(advloss.Objective.parse("ns + bcr + r1"))
    assert nhwc.penalties[0].augment.layout == "NHWC" and nhwc.penalties[1].name == "r1"


@pytest.mark.slow
@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_dcgan_trainer_smoke_run_with_bcr_and_zcr(tmp_path):
    pytest.importorskip("sklearn")
    from reference_trainers import dcgan

    tiny = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--eval-samples", "200"]
    spec = "hinge + bcr(real_weight=10.0, fake_weight=10.0) + zcr(sigma=0.05)"
    argv = ["--out", str(tmp_path / "run"), *tiny, "--steps", "2", "--eval-every", "2"]
    assert dcgan.main([*argv, "--objective", spec]) == 0
