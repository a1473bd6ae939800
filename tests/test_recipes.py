"""The R3GAN recipe and scheduled γ in R1/R2: the NumPy float64 reference with hand-derived
gradients, R3GAN's schedules and D loss re-created from its source (brownvc/R3GAN @ 19a7ddf),
equality across frameworks (float32 and float64, Python and traced steps, eager and compiled),
the Objective grammar, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import advloss
from advloss.recipes import R3GAN, get_recipe
from advloss.schedules import Cosine
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, PAIRS

DTYPES = ["float32", "float64"]
STEPS = 40  # the decays' length in the tests


def quadratic_d(b, w, a):
    """D(x)_n = Σ_j (w_j x_nj + ½ a_j x_nj²): ∇ₓD(x)_n = w + a x_n."""
    return lambda x: b.sum_per_sample(w * x + 0.5 * a * x * x)


def inputs(seed=0, n=5, dim=3):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=dim),
        rng.normal(0.3, 0.2, size=dim),
        rng.normal(0.5, 1.0, (n, dim)),
        rng.normal(-0.5, 1.0, (n, dim)),
    )


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference(w, a, real, fake, gamma):
    """rpgan + R1 + R2 at γ, and its gradients w.r.t. w and a, derived by hand:
    L = mean softplus(f - r) + γ/2 mean Σ (w + a x)² + γ/2 mean Σ (w + a x̃)²."""
    r = (w * real + 0.5 * a * real**2).sum(1)
    f = (w * fake + 0.5 * a * fake**2).sum(1)
    s = sigmoid(f - r)[:, None]  # d softplus(f - r) / d(f - r)
    g_real, g_fake = w + a * real, w + a * fake
    value = np.mean(np.logaddexp(0.0, f - r))
    value += gamma / 2 * ((g_real**2).sum(1).mean() + (g_fake**2).sum(1).mean())
    dw = (s * (fake - real)).mean(0) + gamma * (g_real.mean(0) + g_fake.mean(0))
    da = (s * 0.5 * (fake**2 - real**2)).mean(0)
    da = da + gamma * ((g_real * real).mean(0) + (g_fake * fake).mean(0))
    return value, dw, da


def cosine(t, start, end, steps):
    """The cosine decay, from its formula."""
    u = min(max(t / steps, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * u))


def d_total(fw, step, recipe=None):
    """The recipe's discriminator objective as a function of (w, a, real, fake)."""
    objective = (recipe or R3GAN(gamma=0.8, steps=STEPS)).objective()

    def f(w, a, real, fake):
        return objective.discriminator(quadratic_d(fw.backend, w, a), real, fake, step=step).total

    return f


# ---------------------------------------------------------------------------------- formula


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_recipe_matches_the_reference_with_hand_derived_gradients(fw):
    w, a, real, fake = inputs(0)
    dtype = "float64"  # float32: the pairwise test below
    for step in (13,):  # on the cosine (the held end: test_schedules_are_r3gans_cifar10_preset)
        v, (dw, da, _, _) = fw.value_and_grad(d_total(fw, step), [w, a, real, fake], dtype)
        rounded = [fw.numpy(fw.tensor(x, dtype)).astype(np.float64) for x in (w, a, real, fake)]
        ev, edw, eda = reference(*rounded, cosine(step, 0.8, 0.08, STEPS))
        assert_close(v, ev, dtype, what=f"value at step {step}")
        assert_close(dw, edw, dtype, what=f"d/dw at step {step}")
        assert_close(da, eda, dtype, what=f"d/da at step {step}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b, dtype):
    args = list(inputs(1))
    va, ga = a.value_and_grad(d_total(a, 17), args, dtype)
    vb, gb = b.value_and_grad(d_total(b, 17), args, dtype)
    assert_close(va, vb, dtype, what=f"value {a.name} vs {b.name}")
    for x, y in zip(ga, gb, strict=True):
        assert_close(x, y, dtype, what=f"gradient {a.name} vs {b.name}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_gamma_as_a_tensor_or_a_schedule_at_a_tensor_step(fw):
    """γ as a 0-d tensor (no gradient flows into it), and the schedule at an integer tensor
    step computed in the penalty's dtype: the Python step's values."""
    b = fw.backend
    w, a, real, _ = (fw.tensor(x, "float64") for x in inputs(2))
    d = quadratic_d(b, w, a)
    schedule = Cosine(start=0.8, end=0.08, steps=STEPS)
    for step in (0, 7, 55):
        expected = fw.numpy(advloss.r1_penalty(d, real, gamma=schedule(step), step=step))
        step_t = fw.backend.asarray(step, "int32")
        traced = advloss.r2_penalty(d, real, gamma=schedule, step=step_t)
        assert b.dtype(traced) == "float64"
        assert_close(fw.numpy(traced), expected, "float64", what=f"scheduled γ, step {step}")
        gamma_t = fw.tensor(np.array(schedule(step)), "float64")
        as_tensor = advloss.r1_penalty(d, real, gamma=gamma_t)
        assert_close(fw.numpy(as_tensor), expected, "float64", what=f"tensor γ, step {step}")
    _, grads = fw.value_and_grad(
        lambda g, x: advloss.r1_penalty(d, x, gamma=g), [np.array(0.5), inputs(2)[2]], "float64"
    )
    np.testing.assert_array_equal(grads[0], 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_traced_steps_under_jit_and_tf_function(fw):
    """The step traced by jax.jit / tf.function (eager in torch; torch.compile: the slow test):
    the schedule is arithmetic on the step, no host read, and the Python step's values."""
    if fw.name == "torch":
        pytest.skip("torch: an eager tensor step is covered above; torch.compile is slow-marked")
    w, a, real, fake = (fw.tensor(x, "float32") for x in inputs(3))
    objective = R3GAN(gamma=0.8, steps=STEPS).objective()
    d = quadratic_d(fw.backend, w, a)
    if fw.name == "jax":
        import jax
        import jax.numpy as jnp

        call = jax.jit(lambda s: objective.discriminator(d, real, fake, step=s).total)
        as_step = jnp.asarray
    else:
        import tensorflow as tf

        call = tf.function(lambda s: objective.discriminator(d, real, fake, step=s).total)
        as_step = tf.constant
    for step in (0, 21, 90):
        expected = fw.numpy(objective.discriminator(d, real, fake, step=step).total)
        assert_close(fw.numpy(call(as_step(step))), expected, "float32", what=f"step {step}")


@pytest.mark.slow
def test_torch_compile_fullgraph_equals_eager():
    torch = pytest.importorskip("torch")
    from advloss.testing import get_harness

    fw = get_harness("torch")
    args = list(inputs(4))
    ve, ge = fw.value_and_grad(d_total(fw, 9), args, "float32")
    vc, gc = fw.value_and_grad(d_total(fw, 9), args, "float32", compiled=True)
    assert_close(vc, ve, "float32", what="compiled value")
    for x, y in zip(gc, ge, strict=True):
        assert_close(x, y, "float32", what="compiled gradient")
    w, a, real, fake = (torch.tensor(x, dtype=torch.float32) for x in inputs(4))
    objective = R3GAN(gamma=0.8, steps=STEPS).objective()
    d = quadratic_d(fw.backend, w, a)
    call = torch.compile(
        lambda s: objective.discriminator(d, real, fake, step=s).total, fullgraph=True
    )
    for step in (3, 30):
        expected = objective.discriminator(d, real, fake, step=step).total
        assert_close(
            call(torch.tensor(step)).detach().numpy(), expected.detach().numpy(), "float32"
        )


# ------------------------------------------------------------------ R3GAN, re-created


def r3gan_cosine_decay_with_warmup(
    cur_nimg, base_value, total_nimg, final_value=0.0, warmup_value=0.0, warmup_nimg=0,
    hold_base_value_nimg=0,
):  # fmt: skip
    """brownvc/R3GAN training/training_loop.py @ 19a7ddf, ``cosine_decay_with_warmup``,
    re-created from its source (the presets use no warm-up and no hold)."""
    span = float(total_nimg - warmup_nimg - hold_base_value_nimg)
    decay = 0.5 * (1 + np.cos(np.pi * (cur_nimg - warmup_nimg - hold_base_value_nimg) / span))
    cur_value = base_value + (1 - decay) * (final_value - base_value)
    if hold_base_value_nimg > 0:
        cur_value = np.where(cur_nimg > warmup_nimg + hold_base_value_nimg, cur_value, base_value)
    if warmup_nimg > 0:
        slope = (base_value - warmup_value) / warmup_nimg
        cur_value = np.where(cur_nimg < warmup_nimg, slope * cur_nimg + warmup_value, cur_value)
    return float(np.where(cur_nimg > total_nimg, final_value, cur_value))


def test_schedules_are_r3gans_cifar10_preset():
    """train.py --preset CIFAR10: lr 2e-4 -> 5e-5, γ 0.05 -> 0.005, β2 0.9 -> 0.99 over 2e7
    images, evaluated at cur_nimg = step × batch before each step; Adam betas (0, β2_t)."""
    batch, total_nimg = 512, 2e7
    recipe = R3GAN(steps=int(total_nimg / batch))  # 39062 steps (2e7 / 512 = 39062.5)
    recipe_exact = R3GAN(steps=50_000)  # a batch dividing 2e7 exactly: 400
    for r, b in ((recipe, batch), (recipe_exact, 400)):
        for step in (0, 1, 777, 19_000, r.steps - 1, r.steps, r.steps + 5, 10**6):
            cur_nimg = step * b
            theirs = {
                "lr": r3gan_cosine_decay_with_warmup(cur_nimg, 2e-4, total_nimg, 5e-5),
                "gamma": r3gan_cosine_decay_with_warmup(cur_nimg, 0.05, total_nimg, 0.005),
                "beta2": r3gan_cosine_decay_with_warmup(cur_nimg, 0.9, total_nimg, 0.99),
            }
            lr, (beta1, beta2) = r.adam(step)
            ours = {"lr": lr, "gamma": r.gamma_schedule(step), "beta2": beta2}
            assert beta1 == 0.0
            # 2e7 / 512 is not an integer: the steps round down (half a step's difference)
            rtol = 1e-12 if b == 400 else 5e-5
            for k in theirs:
                np.testing.assert_allclose(ours[k], theirs[k], rtol=rtol, err_msg=f"{k} {step}")


def test_the_d_loss_is_r3gans_at_the_scheduled_gamma():
    """R3GAN's AccumulateDiscriminatorGradients (R3GAN/Trainer.py @ 19a7ddf), re-created in
    NumPy: mean_i[softplus(-(r_i - f_i)) + (Gamma / 2)(|∇r_i|² + |∇f_i|²)] with Gamma the
    scheduled value at the step, equals the recipe's objective at that step (float64)."""
    w, a, real, fake = inputs(5)
    recipe = R3GAN(gamma=0.05, steps=100)
    d = quadratic_d(advloss.get_backend("numpy"), w, a)
    for step in (0, 30, 100):
        gamma = r3gan_cosine_decay_with_warmup(step * 8, 0.05, 100 * 8, 0.005)
        critics_r, critics_f = d(real), d(fake)
        r1 = ((w + a * real) ** 2).sum(1)  # Gradient.square().sum([1, 2, 3]), per sample
        r2 = ((w + a * fake) ** 2).sum(1)
        theirs = (np.logaddexp(0.0, -(critics_r - critics_f)) + gamma / 2 * (r1 + r2)).mean()
        numpy_value = reference(w, a, real, fake, recipe.gamma_schedule(step))[0]
        np.testing.assert_allclose(numpy_value, theirs, rtol=1e-13)
    torch = pytest.importorskip("torch")
    tw, ta, treal, tfake = (torch.tensor(x, dtype=torch.float64) for x in (w, a, real, fake))
    out = recipe.objective().discriminator(
        quadratic_d(advloss.get_backend("torch"), tw, ta), treal, tfake, step=30
    )
    expected = reference(w, a, real, fake, r3gan_cosine_decay_with_warmup(240, 0.05, 800, 0.005))
    assert_close(out.total.detach().numpy(), expected[0], "float64", what="R3GAN D loss at step 30")


def test_adam_values_at_tensor_steps():
    torch = pytest.importorskip("torch")
    recipe = R3GAN(steps=100)
    for step in (0, 40, 250):
        lr, (beta1, beta2) = recipe.adam(torch.tensor(step), dtype="float64")
        lr_py, (_, beta2_py) = recipe.adam(step)
        assert lr.dtype == torch.float64 and beta1 == 0.0
        np.testing.assert_allclose([float(lr), float(beta2)], [lr_py, beta2_py], rtol=1e-14)


# ----------------------------------------------------------------------- names, grammar


def test_the_recipe_in_the_registry_and_the_objective_grammar():
    assert advloss.recipes.available_recipes() == ["r3gan"]
    recipe = get_recipe("r3gan(gamma=0.1, steps=200)")
    assert recipe == R3GAN(gamma=0.1, steps=200) == get_recipe("r3gan", gamma=0.1, steps=200)
    assert get_recipe(recipe.config()) == recipe == R3GAN.from_config(recipe.config())
    assert recipe.gamma_end == pytest.approx(0.01)
    objective = advloss.Objective.parse("r3gan(gamma=0.1, steps=200)")
    assert objective == recipe.objective()
    assert [p.name for p in objective.penalties] == ["r1", "r2"]
    assert objective.loss == advloss.get_loss("rpgan")
    assert objective.penalties[0].gamma == Cosine(start=0.1, end=0.01, steps=200)
    assert advloss.Objective.parse(repr(objective)) == objective
    assert advloss.Objective.from_config(objective.config()) == objective
    with_aug = advloss.Objective.parse("r3gan(steps=10) + diffaug('color')")
    assert with_aug.augment is not None and len(with_aug.penalties) == 2
    # a scheduled γ by itself, in the grammar and through the registry
    r1 = advloss.get_penalty("r1", gamma="cosine:0.05:0.005:100")
    assert r1.gamma == Cosine(start=0.05, end=0.005, steps=100)
    assert advloss.get_penalty(r1.config()) == r1
    assert advloss.get_penalty("r1", gamma="0.5").gamma == 0.5  # a constant stays a number


def test_errors_name_the_argument():
    x = np.zeros((2, 3))
    d = lambda x: x.sum(axis=1)
    torch = pytest.importorskip("torch")
    tx = torch.zeros(2, 3)
    td = lambda x: (x * x).sum(1)
    cases = [
        (lambda: R3GAN(), ValueError, "steps is required"),
        (lambda: R3GAN(steps=0), ValueError, "steps must be an int >= 1"),
        (lambda: R3GAN(steps=10, beta2_end=1.0), ValueError, r"beta2_end must lie in \[0, 1\)"),
        (lambda: R3GAN(steps=10, lr=0.0), ValueError, "lr must be > 0"),
        (lambda: R3GAN(steps=10, gamma=-1.0), ValueError, "gamma must be >= 0"),
        (lambda: advloss.Objective.parse("r3gan"), ValueError, "steps is required"),
        (
            lambda: advloss.Objective.parse("ns + r3gan(steps=5)"),
            ValueError,
            "exactly one loss.*a recipe brings its own",
        ),
        (lambda: get_recipe("r3gan(1)"), ValueError, "keyword arguments only"),
        (lambda: advloss.recipes.parse_recipe("r3gan(("), ValueError, "cannot parse"),
        (lambda: get_recipe(3), TypeError, "expected a recipe name"),
        (lambda: get_recipe("nope"), ValueError, "unknown recipe name 'nope'"),
        (
            lambda: advloss.R1Penalty(gamma="cosine:-0.1:0:10"),
            ValueError,
            "gamma must be >= 0 at every step",
        ),
        (lambda: advloss.R2Penalty(gamma="cosine:x"), ValueError, "R2Penalty: gamma must be"),
        (lambda: advloss.R1Penalty(gamma=[1.0]), TypeError, "gamma must be a Python number"),
        (
            lambda: advloss.r1_penalty(d, x, gamma=Cosine(start=1.0, steps=3)),
            ValueError,
            "gamma is a schedule .* pass step=",
        ),
        (
            lambda: advloss.r1_penalty(td, tx, gamma=torch.ones(2)),
            TypeError,
            r"0-d torch tensor; received shape \(2,\)",
        ),
        (
            lambda: advloss.r2_penalty(td, tx, gamma="cosine:1:0:5", step=1.5),
            TypeError,
            "step must be",
        ),
        (lambda: Cosine(start=1.0, steps=3)(1, dtype="int32"), ValueError, "dtype must be"),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
