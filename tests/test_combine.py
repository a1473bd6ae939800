"""Loss combination by a fixed weight or a gradient ratio (issue 20, item 7): closed forms in NumPy
float64 (values, gradients with respect to the images and to D's weights, the weight carrying no
gradient), TF-GAN's ``combine_adversarial_loss`` re-created from its source (``tf.gradients``
in a graph, which fails eagerly), cross-framework equality (float32, float64), eager ==
compiled (jax.jit; tf.function and torch.compile in the slow tier), errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.backend import backend_for
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORKS, PAIRS

NAMES = {h.name for h in FRAMEWORKS}
SLOW = pytest.mark.slow
RATIO, EPS = 2.5, 1e-6


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(4, 2, 3, 3)),
        "t": rng.normal(size=(4, 2, 3, 3)),
        "v": rng.normal(0, 0.3, (2, 3, 3)),
    }


def _losses(t):
    """L1-like main loss (a mean square, for a smooth closed form) and the non-saturating
    generator loss of a linear D(x)_n = <v, x_n>, from the backend primitives."""
    b = backend_for(t["x"])

    def main(x):
        d = x - t["t"]
        return b.mean(d * d)

    def adv(x):
        return b.mean(b.softplus(-b.sum_per_sample(x * t["v"])))

    return main, adv


def _fn(t):
    main, adv = _losses(t)
    ratio, w = advloss.combine_adversarial_loss(
        main, adv, t["x"], gradient_ratio=RATIO, return_weight=True
    )
    fixed = advloss.combine_adversarial_loss(main, adv, t["x"], weight_factor=0.3)
    return {"ratio": ratio, "w": w, "fixed": fixed}


def reference(a):
    """Values and the gradient of ratio + w + fixed with respect to x and v (w is a constant)."""
    x, t, v = a["x"], a["t"], a["v"]
    n = len(x)
    s = np.einsum("nchw,chw->n", x, v)
    sig = 1 / (1 + np.exp(s))  # σ(-s)
    main = np.mean((x - t) ** 2)
    adv = np.mean(np.logaddexp(0, -s))
    g_main = 2 * (x - t) / x.size
    g_adv = -sig[:, None, None, None] * v / n
    w = np.linalg.norm(g_main) / (RATIO * (np.linalg.norm(g_adv) + EPS))
    values = {"ratio": main + w * adv, "w": w, "fixed": main + 0.3 * adv}
    d_adv_dv = np.einsum("n,nchw->chw", -sig, x) / n
    grads = {"x": 2 * g_main + (w + 0.3) * g_adv, "v": (w + 0.3) * d_adv_dv}
    return values, grads


FAST = [
    pytest.param(h, h.name == "jax", id=h.name) for h in FRAMEWORKS
]  # eager torch and TF; JAX under jax.jit (its eager mode: below, slow)


@pytest.mark.parametrize("fw,compiled", FAST)
def test_values_and_gradients_match_the_closed_forms(fw, compiled):
    a = _inputs(1)
    out = fw.evaluate(_fn, a, ["x", "v"], "float64", compiled=compiled)
    values, grads = reference(a)
    for k, v in values.items():
        assert_close(out[k], v, "float64", what=k)
    for k, g in grads.items():
        assert_close(out[f"d/d {k}"], g, "float64", what=f"d/d {k}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a,b", [p for p in PAIRS if "jax" not in p.id])  # JAX: jit, above
def test_frameworks_agree(a, b, dtype):
    inputs = _inputs(2)
    ra, rb = (fw.evaluate(_fn, inputs, ["x", "v"], dtype) for fw in (a, b))
    for k in ra:
        assert_close(ra[k], rb[k], dtype, what=f"{k} {a.name} vs {b.name}")


@SLOW
@pytest.mark.parametrize("fw", [pytest.param(h, id=h.name) for h in FRAMEWORKS])
def test_compiled_equals_eager(fw):
    """torch.compile(fullgraph=True), tf.function(jit_compile=True), jax.jit."""
    inputs = _inputs(3)
    eager = fw.evaluate(_fn, inputs, ["x", "v"], "float32")
    compiled = fw.evaluate(_fn, inputs, ["x", "v"], "float32", compiled=True)
    for k in eager:
        assert_close(compiled[k], eager[k], "float32", what=f"compiled {k}")


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_tf_gan_formula_recreated_and_eager():
    """TF-GAN (tensorflow/gan bc369b7, losses_impl.py): ``combine_adversarial_loss`` with
    ``gradient_ratio`` takes ``numerically_stable_global_norm(tf.gradients(loss, variables))``
    of each loss, ``adv_coeff = main_mag / (adv_mag + gradient_ratio_epsilon) /
    gradient_ratio`` and returns ``main + stop_gradient(adv_coeff) * adv`` — re-created here in
    a graph (``tf.function``), where ``tf.gradients`` works.  With the variables being the
    tensor advloss differentiates with respect to (a generator whose output is its variable),
    the two agree; in eager mode ``tf.gradients`` raises (TF-GAN's RuntimeError), advloss's
    tape-based call does not."""
    import tensorflow as tf

    a = _inputs(4)
    theta = tf.Variable(a["x"])
    t = {"x": theta, "t": tf.constant(a["t"]), "v": tf.constant(a["v"])}
    main_fn, adv_fn = _losses(t)

    def global_norm(tensors):
        list_max = tf.reduce_max([tf.reduce_max(tf.abs(x)) for x in tensors])
        return list_max * tf.linalg.global_norm([x / list_max for x in tensors])

    @tf.function
    def tfgan(gradient_ratio, gradient_ratio_epsilon=1e-6):
        x = tf.identity(theta)  # the generator: its output is its variable
        main_loss, adversarial_loss = main_fn(x), adv_fn(x)
        main_mag = global_norm(tf.gradients(ys=main_loss, xs=[theta]))
        adv_mag = global_norm(tf.gradients(ys=adversarial_loss, xs=[theta]))
        adv_coeff = main_mag / (adv_mag + gradient_ratio_epsilon) / gradient_ratio
        return main_loss + tf.stop_gradient(adv_coeff) * adversarial_loss, adv_coeff

    theirs, coeff = tfgan(RATIO)
    ours, w = advloss.combine_adversarial_loss(
        main_fn, adv_fn, tf.identity(theta), gradient_ratio=RATIO, return_weight=True
    )  # eagerly
    assert_close(ours.numpy(), theirs.numpy(), "float64", what="combined")
    assert_close(w.numpy(), coeff.numpy(), "float64", what="the coefficient")
    with pytest.raises(RuntimeError, match=r"tf\.gradients"):
        tf.gradients(ys=main_fn(theta), xs=[theta])


def test_weight_factor_zero_leaves_the_adversarial_loss_out():
    x = np.ones((2, 3))
    calls = []

    def adv(u):
        calls.append(1)
        return np.mean(u)

    got = advloss.combine_adversarial_loss(lambda u: np.mean(u * 2), adv, x, weight_factor=0.0)
    assert float(got) == 2.0 and len(calls) == 1
    assert float(advloss.combine_adversarial_loss(np.mean, adv, x, weight_factor=2.0)) == 3.0


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({}, ValueError, "exactly one of weight_factor and gradient_ratio"),
        ({"weight_factor": 1.0, "gradient_ratio": 1.0}, ValueError, "exactly one"),
        ({"gradient_ratio": 0.0}, ValueError, "gradient_ratio must be > 0"),
        ({"gradient_ratio": 1.0, "epsilon": -1.0}, ValueError, "epsilon must be >= 0"),
        ({"gradient_ratio": 1.0}, TypeError, "no automatic differentiation"),
        ({"weight_factor": "1"}, TypeError, "weight_factor must be a Python number"),
    ],
)
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        advloss.combine_adversarial_loss(np.mean, np.mean, np.ones((2, 2)), **kwargs)
    with pytest.raises(TypeError, match="main_loss must be a callable"):
        advloss.combine_adversarial_loss(1.0, np.mean, np.ones(2), weight_factor=1.0)


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_a_loss_that_ignores_x_is_refused():
    import torch

    x = torch.ones(2, 2, requires_grad=True)
    with pytest.raises(advloss.AdvlossError):
        advloss.combine_adversarial_loss(
            lambda u: u.mean(), lambda u: torch.tensor(1.0), x, gradient_ratio=1.0
        )


# --------------------------------------------------------------------------- the trainer


def test_pix2pix_options():
    from reference_trainers import pix2pix
    from reference_trainers.common import TrainerError

    cfg = pix2pix.options(["--l1-weighting", "gradient-ratio", "--gradient-ratio", "2"])
    assert (cfg.l1_weighting, cfg.gradient_ratio) == ("gradient-ratio", 2.0)
    pix2pix.check_weights(cfg)
    for argv, match in [
        (["--gradient-ratio", "0"], "--gradient-ratio must be > 0"),
        (["--gan-weight", "0"], "needs both terms"),
    ]:
        bad = pix2pix.options(["--l1-weighting", "gradient-ratio", *argv])
        with pytest.raises(TrainerError, match=match):
            pix2pix.check_weights(bad)
