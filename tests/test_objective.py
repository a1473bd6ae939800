"""The objective: equal to the hand-written sum of its parts in each framework, to a NumPy float64
reference with closed-form gradients, and across frameworks on shared explicit draws (float32
and float64, eager and compiled); label transforms' properties; lazy penalties; configuration
round trips; a jitted JAX training step and a tf.function step; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import advloss
from advloss.labels import FlipLabels, NoisyLabels, SmoothLabels, apply_labels
from advloss.objective import Objective
from advloss.schedules import Linear
from advloss.testing import assert_close
from tests import nets
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS

DTYPES = ["float32", "float64"]
NAMES = {h.name for h in FRAMEWORKS}
SPEC = "ns(real_label=0.9) + r1(gamma=10) + gp(weight=5) + flip(p=0.3) + noise(0.2)"


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softplus(x):
    return np.logaddexp(0.0, x)


def linear_d(fw, w):
    """D(x)_n = <w, x_n>: logits (N,) from inputs (N, F)."""
    if fw.name == "torch":
        return lambda x: x @ w
    if fw.name == "tensorflow":
        import tensorflow as tf

        return lambda x: tf.linalg.matvec(x, w)
    return lambda x: x @ w


def draws_np(objective, real_shape, fake_shape, seed=0, side="discriminator"):
    rng = np.random.default_rng(seed)
    out = {}
    for name, (dist, shape) in objective.draw_specs(real_shape, fake_shape, side=side).items():
        out[name] = rng.random(shape) if dist == "uniform" else rng.standard_normal(shape)
    return out


def to_fw(fw_name, arrays, dtype):
    b = advloss.get_backend(fw_name)
    return {k: b.from_numpy(v, dtype) for k, v in arrays.items()}


def make_key(fw, seed):
    if fw.name == "torch":
        import torch

        return torch.Generator().manual_seed(seed)
    if fw.name == "jax":
        import jax

        return jax.random.key(seed)
    return seed


# ---------------------------------------------------------------------- NumPy float64 oracle


def reference_discriminator(w, real, fake, d):
    """The SPEC objective for D(x) = x @ w, and its gradient w.r.t. w, in float64."""
    real_in = real + 0.2 * d["noise.real"]
    fake_in = fake + 0.2 * d["noise.fake"]
    r, f = real_in @ w, fake_in @ w
    y_r = 0.9 * (d["flip.real"] >= 0.3)
    y_f = (d["flip.fake"] < 0.3).astype(float)
    bce_r = y_r * softplus(-r) + (1 - y_r) * softplus(r)
    bce_f = y_f * softplus(-f) + (1 - y_f) * softplus(f)
    adv = bce_r.mean() + bce_f.mean()
    sq = w @ w
    r1 = 5.0 * sq  # (gamma / 2) * |w|^2: the input gradient of a linear D is w for every sample
    norm = np.sqrt(sq + advloss.GP_EPSILON)
    gp = 5.0 * (norm - 1.0) ** 2
    grad = ((sigmoid(r) - y_r) @ real_in) / len(r) + ((sigmoid(f) - y_f) @ fake_in) / len(f)
    grad = grad + 10.0 * w + 5.0 * 2.0 * (norm - 1.0) * w / norm
    terms = {"adversarial": adv, "r1": r1, "gp": gp}
    return adv + r1 + gp, grad, terms


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_discriminator_matches_numpy_reference_and_closed_form_gradient(fw, dtype):
    obj = Objective.parse(SPEC)
    rng = np.random.default_rng(1)
    w, real, fake = rng.normal(size=5) * 0.7, rng.normal(size=(16, 5)), rng.normal(size=(16, 5))
    d = draws_np(obj, real.shape, fake.shape)
    want, want_grad, want_terms = reference_discriminator(w, real, fake, d)
    b = fw.backend
    terms_out = {}

    def value(w_t):
        out = obj.discriminator(
            linear_d(fw, w_t),
            b.from_numpy(real, dtype),
            b.from_numpy(fake, dtype),
            step=0,
            draws=to_fw(fw.name, d, dtype),
        )
        terms_out.update(out.terms)
        return out.total

    from tests.test_penalties import param_grad

    got, got_grad = param_grad(fw, value, w, dtype)
    assert_close(got, want, dtype, what="objective total")
    assert_close(got_grad, want_grad, dtype, what="d total / d w")
    if fw.name != "jax":  # (JAX's terms are tracers inside value_and_grad)
        for name, v in want_terms.items():
            assert_close(b.to_numpy(terms_out[name]), v, dtype, what=name)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_generator_matches_numpy_reference(fw):
    obj = Objective.parse("ns + r1 + noise(0.3)")
    rng = np.random.default_rng(2)
    w, fake = rng.normal(size=4), rng.normal(size=(8, 4))
    d = draws_np(obj, None, fake.shape, side="generator")
    f = (fake + 0.3 * d["noise.fake"]) @ w
    want = softplus(-f).mean()
    want_grad = (-sigmoid(-f) / len(f))[:, None] * w[None, :]  # d/d fake
    w_t = fw.tensor(w, "float64")
    value, (grad,) = fw.value_and_grad(
        lambda x: obj.generator(linear_d(fw, w_t), x, draws=to_fw(fw.name, d, "float64")).total,
        [fake],
        "float64",
    )
    assert_close(value, want, "float64", what="generator objective")
    assert_close(grad, want_grad, "float64", what="d L_G / d fake")


# ---------------------------------------------------------------- equal to the sum of parts


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_total_equals_hand_written_sum_of_parts(fw):
    """The objective's total and terms equal the same computation written by hand with the
    loss and penalty functions, in each framework (MLP discriminator, PatchGAN-free)."""
    obj = Objective.parse(SPEC)
    params = nets.weights("mlp")
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    d_np = draws_np(obj, real.shape, fake.shape, seed=4)
    b = fw.backend
    p = {k: b.from_numpy(v, "float64") for k, v in params.items()}
    fwd = nets.forward(fw.name, "mlp")

    def disc(x):
        return fwd(p, x)

    d = to_fw(fw.name, d_np, "float64")
    real_t, fake_t = b.from_numpy(real, "float64"), b.from_numpy(fake, "float64")
    out = obj.discriminator(disc, real_t, fake_t, step=0, draws=d)

    real_in, fake_in = real_t + 0.2 * d["noise.real"], fake_t + 0.2 * d["noise.fake"]
    r1 = advloss.r1_penalty(disc, real_in, gamma=10.0)
    gp = advloss.gradient_penalty(disc, real_in, fake_in, weight=5.0, alpha=d["gp.alpha"])
    y_r = 0.9 * (1.0 - b.cast(d["flip.real"] < 0.3, "float64"))
    y_f = b.cast(d["flip.fake"] < 0.3, "float64")
    adv = advloss.get_loss("ns").discriminator(
        disc(real_in),
        disc(fake_in),
        real_label=b.reshape(y_r, (-1, 1)),
        fake_label=b.reshape(y_f, (-1, 1)),
    )
    for name, want in {"adversarial": adv, "r1": r1, "gp": gp}.items():
        assert_close(b.to_numpy(out.terms[name]), b.to_numpy(want), "float64", what=name)
    assert_close(b.to_numpy(out.total), b.to_numpy(adv + r1 + gp), "float64", what="total")
    assert list(out.terms) == ["adversarial", "r1", "gp"]
    stats = {k: float(b.to_numpy(v)) for k, v in out.stats.items()}
    r_np = nets.numpy_forward("mlp", params, real + 0.2 * d_np["noise.real"])
    f_np = nets.numpy_forward("mlp", params, fake + 0.2 * d_np["noise.fake"])
    assert stats["d_real"] == pytest.approx(r_np.mean(), rel=1e-5)
    assert stats["real_acc"] == pytest.approx((r_np > 0).mean())
    assert stats["fake_acc"] == pytest.approx((f_np < 0).mean())
    assert stats["noise_std"] == pytest.approx(0.2)


# ----------------------------------------------------------------------- across frameworks


def _objective_value(spec, draws, step=0, side="discriminator"):
    obj = Objective.parse(spec)

    def value(disc, real, fake):
        b = advloss.backend.backend_for(real)
        d = {k: b.from_numpy(v, b.dtype(real)) for k, v in draws.items()}
        if side == "generator":
            return obj.generator(disc, fake, real=real, step=step, draws=d).total
        return obj.discriminator(disc, real, fake, step=step, draws=d).total

    return obj, value


CROSS_SPECS = [
    SPEC,
    "lsgan + r2(gamma=1) + noisy(real=[0.7, 1.2], fake=[0.0, 0.3]) + noise(0.1)",
    "hinge + gp + noise('linear:0.5:0:10')",
    "ragan + r1(gamma=0.5, every=2)",
    "rpgan + r1(gamma=1) + r2(gamma=1) + noise(0.1)",
]


# torch.compile is covered by test_torch_compile_objective_equals_eager (a cold compile per case
# would cost ~20 s); jax.jit and tf.function(jit_compile=True) are compared here.
MODES = [  # compiled pairs in the slow tier (a compile each); eager pairs in the default one
    pytest.param(
        a,
        b,
        compiled,
        id=f"{a.name}-{b.name}-{'compiled' if compiled else 'eager'}",
        marks=[pytest.mark.slow] if compiled else [],
    )
    for a, b in (p.values for p in PAIRS)
    for compiled in (False, True)
    if not (compiled and "torch" in (a.name, b.name))
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", CROSS_SPECS, ids=["ns", "lsgan", "hinge", "ragan", "rpgan"])
@pytest.mark.parametrize("a,b,compiled", MODES)
def test_frameworks_agree_on_shared_draws(a, b, compiled, spec, dtype):
    """Values and discriminator-parameter gradients agree pairwise (conv D, NCHW inputs)."""
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(3, 2, 6, 6)), rng.normal(size=(3, 2, 6, 6))
    obj = Objective.parse(spec)
    d = draws_np(obj, real.shape, fake.shape, seed=6)
    params = nets.weights("conv")
    results = []
    for fw in (a, b):
        _, value = _objective_value(spec, d, step=4)
        results.append(
            nets.penalty_and_param_grads(
                fw.name, "conv", params, value, [real, fake], dtype, compiled=compiled
            )
        )
    (va, ga), (vb, gb) = results
    assert_close(va, vb, dtype, what=f"{spec} value {a.name} vs {b.name}")
    for k in ga:
        assert_close(ga[k], gb[k], dtype, what=f"{spec} d/d{k} {a.name} vs {b.name}")


@pytest.mark.parametrize("a,b", PAIRS)
def test_generator_side_agrees_across_frameworks(a, b):
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    spec = "ragan + noise(0.3)"
    obj = Objective.parse(spec)
    d = draws_np(obj, real.shape, fake.shape, side="generator")
    params = nets.weights("mlp")
    out = []
    for fw in (a, b):
        _, value = _objective_value(spec, d, side="generator")
        out.append(
            nets.penalty_and_param_grads(fw.name, "mlp", params, value, [real, fake], "float32")
        )
    assert_close(out[0][0], out[1][0], "float32", what="generator objective")
    for k in out[0][1]:
        assert_close(out[0][1][k], out[1][1][k], "float32", what=f"d/d{k}")


# ----------------------------------------------------------------------------- lazy, labels


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_lazy_penalty_and_schedule_follow_the_step(fw):
    obj = Objective(
        "ns",
        penalties=[advloss.R1Penalty(gamma=2.0, every=4)],
        instance_noise=Linear(start=0.4, end=0.0, steps=8),
    )
    b = fw.backend
    w = fw.tensor(np.array([0.5, -1.0, 2.0]), "float64")
    disc = linear_d(fw, w)
    real, fake = fw.tensor(np.ones((2, 3)), "float64"), fw.tensor(np.zeros((2, 3)), "float64")
    zeros = {k: np.zeros(s) for k, (_, s) in obj.draw_specs((2, 3), (2, 3)).items()}
    for step, r1, std in [(0, 4 * 5.25, 0.4), (1, 0.0, 0.35), (4, 4 * 5.25, 0.2), (9, 0.0, 0.0)]:
        out = obj.discriminator(disc, real, fake, step=step, draws=to_fw(fw.name, zeros, "float64"))
        assert float(b.to_numpy(out.terms["r1"])) == pytest.approx(r1)
        assert float(b.to_numpy(out.stats["noise_std"])) == pytest.approx(std)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_flip_rate_and_noisy_range_with_framework_randomness(fw):
    """Flip counts lie within 5 binomial standard deviations of p; noisy labels stay in their
    range with the mean of the uniform; smoothing is exact."""
    b = fw.backend
    n, p = 20_000, 0.1
    logits = fw.tensor(np.zeros((n, 1)), "float32")
    keys = dict(zip(["flip.real", "flip.fake"], b.split_key(make_key(fw, 0), 2), strict=True))
    y_r, y_f = apply_labels(b, [SmoothLabels(real=0.9), FlipLabels(p=p)], logits, logits, keys=keys)
    y_r, y_f = b.to_numpy(y_r).ravel(), b.to_numpy(y_f).ravel()
    assert set(np.unique(y_r)) <= {0.0, np.float32(0.9)}
    assert set(np.unique(y_f)) <= {0.0, 1.0}
    bound = 5 * np.sqrt(p * (1 - p) / n)
    assert abs((y_r == 0).mean() - p) < bound
    assert abs((y_f == 1).mean() - p) < bound
    assert not np.array_equal(y_r == 0, y_f == 1)  # independent draws for the two sides

    keys = dict(zip(["noisy.real", "noisy.fake"], b.split_key(make_key(fw, 1), 2), strict=True))
    y_r, y_f = apply_labels(
        b, [NoisyLabels(real=(0.7, 1.2), fake=(0.0, 0.3))], logits, logits, keys=keys
    )
    y_r, y_f = b.to_numpy(y_r).ravel(), b.to_numpy(y_f).ravel()
    assert y_r.min() >= 0.7 and y_r.max() < 1.2 and y_f.min() >= 0.0 and y_f.max() < 0.3
    assert abs(y_r.mean() - 0.95) < 5 * 0.5 / np.sqrt(12 * n)

    y_r, y_f = apply_labels(b, [SmoothLabels(real=0.9)], logits, logits)
    assert y_r == 0.9 and y_f == 0.0


def test_labels_are_per_sample_on_patchgan_maps():
    b = advloss.get_backend("numpy")
    logits = np.zeros((3, 1, 4, 4))
    u = {"flip.real": np.array([0.0, 0.9, 0.9]), "flip.fake": np.array([0.9, 0.0, 0.9])}
    y_r, y_f = apply_labels(b, [FlipLabels(p=0.5)], logits, logits, draws=u)
    assert y_r.shape == (3, 1, 1, 1)
    np.testing.assert_array_equal(y_r.ravel(), [0, 1, 1])
    np.testing.assert_array_equal(y_f.ravel(), [0, 1, 0])


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_keys_make_draws_reproducible(fw):
    obj = Objective.parse("ns + flip(p=0.5) + noise(0.5) + gp")
    b = fw.backend
    rng = np.random.default_rng(0)
    real, fake = (
        fw.tensor(rng.normal(size=(8, 3)), "float32"),
        fw.tensor(rng.normal(size=(8, 3)), "float32"),
    )
    disc = linear_d(fw, fw.tensor(np.array([1.0, -0.5, 0.25]), "float32"))
    if fw.name == "tensorflow":
        run = [obj.discriminator(disc, real, fake, key=k).total for k in (3, 3, 4)]
    else:
        run = [obj.discriminator(disc, real, fake, key=make_key(fw, s)).total for s in (3, 3, 4)]
    v = [float(b.to_numpy(x)) for x in run]
    assert v[0] == v[1] and v[0] != v[2]


# ---------------------------------------------------------------------- compiled steps


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_jitted_jax_training_step_equals_eager():
    """A full GAN step (D then G, SGD) with a traced step: lazy R1, a noise schedule, flips,
    keys folded per step — jax.jit gives the eager numbers."""
    import jax
    import jax.numpy as jnp

    obj = Objective.parse(
        "ns(real_label=0.9) + r1(gamma=1, every=2) + flip(p=0.2) + noise('linear:0.2:0:4')"
    )
    fwd = nets.forward("jax", "mlp")
    d_params = {k: jnp.asarray(v, jnp.float32) for k, v in nets.weights("mlp").items()}
    g_w = jnp.asarray(np.random.default_rng(0).normal(size=(3, 6)) * 0.5, jnp.float32)
    data = jnp.asarray(np.random.default_rng(1).normal(size=(8, 6)), jnp.float32)
    key0 = jax.random.key(0)

    def step_fn(state, step):
        d_p, g = state
        k = jax.random.fold_in(key0, step)
        kz, kd, kg = jax.random.split(k, 3)
        z = jax.random.normal(kz, (8, 3), jnp.float32)

        def d_loss(dp):
            out = obj.discriminator(lambda x: fwd(dp, x), data, z @ g, step=step, key=kd)
            return out.total, out

        (dl, dout), dg = jax.value_and_grad(d_loss, has_aux=True)(d_p)
        d_p = jax.tree_util.tree_map(lambda p, q: p - 0.05 * q, d_p, dg)

        def g_loss(gw):
            return obj.generator(lambda x: fwd(d_p, x), z @ gw, step=step, key=kg).total

        gl, gg = jax.value_and_grad(g_loss)(g)
        return (d_p, g - 0.05 * gg), (dl, gl, dout.terms["r1"], dout.stats["fake_acc"])

    def run(fn):
        state, logs = (d_params, g_w), []
        for s in range(5):
            state, out = fn(state, jnp.asarray(s))
            logs.append([float(x) for x in out])
        return np.array(logs)

    jitted, eager = run(jax.jit(step_fn)), run(step_fn)
    assert np.all(np.isfinite(jitted))
    assert jitted[1, 2] == 0.0 and jitted[2, 2] > 0.0  # lazy R1 on even steps only
    np.testing.assert_allclose(jitted, eager, rtol=2e-5, atol=1e-6)


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_tf_function_training_step_equals_eager():
    import tensorflow as tf

    obj = Objective.parse(
        "lsgan + gp(every=2) + noisy(real=[0.8, 1.0], fake=[0.0, 0.2]) + noise('cosine:0.3:0:4')"
    )
    fwd = nets.forward("tensorflow", "mlp")
    data = tf.constant(np.random.default_rng(1).normal(size=(8, 6)), tf.float32)
    fake = tf.constant(np.random.default_rng(2).normal(size=(8, 6)), tf.float32)

    def make():
        params = {
            k: tf.Variable(tf.constant(v, tf.float32)) for k, v in nets.weights("mlp").items()
        }
        opt = tf.keras.optimizers.SGD(0.05)

        def step_fn(step):
            with tf.GradientTape() as tape:
                out = obj.discriminator(
                    lambda x: fwd(params, x), data, fake, step=step, key=tf.stack([7, step])
                )
            names = sorted(params)
            grads = tape.gradient(out.total, [params[k] for k in names])
            opt.apply_gradients(zip(grads, [params[k] for k in names], strict=True))
            return out.total, out.terms["gp"], out.stats["real_acc"]

        return step_fn

    def run(fn):
        return np.array([[float(x) for x in fn(tf.constant(s, tf.int64))] for s in range(4)])

    graph, eager = run(tf.function(make())), run(make())
    assert np.all(np.isfinite(graph)) and graph[1, 1] == 0.0 and graph[2, 1] > 0.0
    np.testing.assert_allclose(graph, eager, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_compile_objective_equals_eager():
    import torch

    obj = Objective.parse("ns(real_label=0.9) + r1(gamma=1, every=2) + flip(p=0.3) + noise(0.1)")
    torch.manual_seed(0)
    disc = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(8, 6), torch.randn(8, 6)
    d = to_fw("torch", draws_np(obj, real.shape, fake.shape), "float32")

    def loss(real, fake, step):
        out = obj.discriminator(disc, real, fake, step=step, draws=d)
        return out.total, out.terms["r1"], out.stats["real_acc"]

    compiled = torch.compile(loss, fullgraph=True)
    for step in (0, 1):
        step_t = torch.tensor(step)
        eager_out = loss(real, fake, step_t)
        grads_e = torch.autograd.grad(eager_out[0], list(disc.parameters()))
        comp_out = compiled(real, fake, step_t)
        grads_c = torch.autograd.grad(comp_out[0], list(disc.parameters()))
        for x, y in zip((*eager_out, *grads_e), (*comp_out, *grads_c), strict=True):
            assert_close(y.detach().numpy(), x.detach().numpy(), "float32", what="compiled")


# ------------------------------------------------------------------------- configuration


CONFIG_SPECS = [
    "ns",
    "ns(real_label=0.9) + r1(gamma=10, every=16) + noise('linear:0.1:0:10000')",
    "lsgan(a=-1, b=1, c=0) + r2 + gp(center=0) + smooth(real=0.95) + flip(p=0.05)",
    "hinge + gp(weight=10, one_sided=True) + noise(name='cosine', start=0.2, end=0.0, steps=100)",
    "minimax + noisy(real=[0.9, 1.0], fake=[0.0, 0.1]) + noise('adaptive')",
    "rp_hinge + r1(gamma=0.5) + r2(gamma=0.5)",
]


@pytest.mark.parametrize("spec", CONFIG_SPECS)
def test_config_round_trips_through_json_and_repr(spec):
    obj = Objective.parse(spec)
    config = json.loads(json.dumps(obj.config()))
    assert Objective.from_config(config) == obj
    assert Objective.parse(repr(obj)) == obj
    assert hash(Objective.from_config(config)) == hash(obj)


def test_one_line_composition_in_three_equal_forms():
    a = Objective(
        advloss.get_loss("ns", real_label=0.9),
        penalties=[advloss.R1Penalty(gamma=10, every=16)],
        instance_noise=Linear(start=0.1, end=0.0, steps=10_000),
    )
    b = Objective.from_config(
        {
            "loss": {"name": "ns", "real_label": 0.9},
            "penalties": [{"name": "r1", "gamma": 10, "every": 16}],
            "instance_noise": {"name": "linear", "start": 0.1, "end": 0.0, "steps": 10000},
        }
    )
    c = Objective.parse("ns(real_label=0.9) + r1(gamma=10, every=16) + noise('0.1:0:10000')")
    assert a == b == c


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Objective("hinge", labels=["flip"]), "class targets"),
        (lambda: Objective("wgan", labels=[SmoothLabels()]), "'wgan' loss has none"),
        (lambda: Objective("rpgan", labels=["smooth"]), "'rpgan' loss has none"),
        (lambda: Objective.parse("rp_hinge + flip(p=0.1)"), "'rp_hinge' loss has none"),
        (lambda: Objective("ns", labels=[NoisyLabels(real=(0.7, 1.2))]), "unbounded below"),
        (lambda: Objective("ns", labels=["flip", "flip"]), "at most one flip"),
        (lambda: Objective("ns", labels=["smooth", "noisy"]), "at most one of smooth/noisy"),
        (lambda: Objective("nope"), "unknown loss name 'nope'"),
        (lambda: Objective(3), "loss must be a loss name"),
        (lambda: Objective("ns", penalties=[object()]), "each penalty must be"),
        (lambda: Objective.parse("ns + r1 +"), "cannot parse"),
        (lambda: Objective.parse("r1"), "exactly one loss"),
        (lambda: Objective.parse("ns + hinge"), "exactly one loss"),
        (lambda: Objective.parse("ns + foo"), "unknown term 'foo'"),
        (lambda: Objective.parse("ns(real_label=x)"), "must be literals"),
        (lambda: Objective.parse("ns(0.9)"), "keyword arguments only"),
        (lambda: Objective.from_config({"los": "ns"}), "unknown keys"),
        (lambda: FlipLabels(p=1.0), r"p must lie in \[0, 1\)"),
        (lambda: SmoothLabels(real=0.0), r"real must lie in \(0, 1\]"),
        (lambda: NoisyLabels(real=(1.0, 0.5)), "low <= high"),
    ],
)
def test_construction_errors_are_clear(make, match):
    with pytest.raises((advloss.AdvlossValueError, advloss.AdvlossTypeError), match=match):
        make()


def test_lsgan_accepts_labels_outside_unit_interval():
    obj = Objective("lsgan", labels=[NoisyLabels(real=(0.7, 1.2), fake=(0.0, 0.3))])
    assert obj.labels[0].real == (0.7, 1.2)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_call_errors_are_clear(fw):
    w = fw.tensor(np.array([1.0, 2.0]), "float32")
    disc = linear_d(fw, w)
    x = fw.tensor(np.ones((4, 2)), "float32")
    with pytest.raises(advloss.AdvlossValueError, match=r"noise_std=controller\.std"):
        Objective("ns", instance_noise="adaptive").discriminator(disc, x, x, step=0)
    with pytest.raises(advloss.AdvlossValueError, match="depends on the step"):
        Objective("ns", instance_noise="0.1:0:10").discriminator(disc, x, x)
    with pytest.raises(advloss.AdvlossValueError, match="unknown draws"):
        Objective("ns").discriminator(disc, x, x, draws={"noise.real": x})
    with pytest.raises(advloss.AdvlossValueError, match="no instance noise"):
        Objective("ns").discriminator(disc, x, x, noise_std=0.1)
    with pytest.raises(advloss.AdvlossValueError, match="pass real="):
        Objective("ragan").generator(disc, x)
    with pytest.raises(advloss.AdvlossValueError, match="pass real="):
        Objective("rpgan").generator(disc, x)
    x6 = fw.tensor(np.ones((6, 2)), "float32")
    with pytest.raises(advloss.AdvlossValueError, match=r"need equal shapes.*\(6,\).*\(4,\)"):
        Objective("rpgan").generator(disc, x, real=x6)
    with pytest.raises(advloss.AdvlossValueError, match="need equal shapes"):
        Objective.parse("rp_lsgan + r1").discriminator(disc, x6, x)
    with pytest.raises(advloss.AdvlossTypeError, match="discriminator must be a callable"):
        Objective("ns").discriminator(None, x, x)
    with pytest.raises(advloss.AdvlossValueError, match=r"draws\['flip.real'\] must have shape"):
        Objective("ns", labels=["flip"]).discriminator(
            disc,
            x,
            x,
            draws={
                "flip.real": fw.tensor(np.zeros(3), "float32"),
                "flip.fake": fw.tensor(np.zeros(4), "float32"),
            },
        )
    if fw.name == "jax":
        with pytest.raises(
            advloss.AdvlossValueError, match="jax backend has no global random state"
        ):
            Objective("ns", labels=["flip"]).discriminator(disc, x, x)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_adaptive_noise_controller_drives_the_objective(fw):
    from advloss.noise import AdaptiveNoise

    ada = AdaptiveNoise(target=0.6, interval=1, initial=0.0)
    obj = Objective("ns", instance_noise=ada)
    b = fw.backend
    w = fw.tensor(np.array([1.0, 1.0]), "float32")
    real, fake = fw.tensor(np.ones((4, 2)), "float32"), fw.tensor(-np.ones((4, 2)), "float32")
    state = ada.init(real)
    zeros = to_fw(
        fw.name, {k: np.zeros(s) for k, (_, s) in obj.draw_specs((4, 2), (4, 2)).items()}, "float32"
    )
    for _ in range(3):
        out = obj.discriminator(linear_d(fw, w), real, fake, noise_std=ada.std(state), draws=zeros)
        state = ada.update(state, out.stats["r_t"])  # r_t = 1 > 0.6: noise goes up
    assert float(b.to_numpy(ada.std(state))) > 0.0
    assert float(b.to_numpy(out.stats["noise_std"])) > 0.0


def test_example_objective_agree_runs(capsys):
    """examples/objective_agree.py: the one-line objective gives the same numbers in every
    installed framework (it exits non-zero on a mismatch)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "objective_agree.py"
    spec = importlib.util.spec_from_file_location("objective_agree", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--steps", "0,16"]) == 0
    assert "frameworks agree" in capsys.readouterr().out


def test_plugin_loss_and_penalty_compose():
    """A loss and a penalty registered in process work by name in strings and configs; the
    penalty receives the noisy inputs, the step and its own random source."""
    from advloss.registry import (
        register_loss,
        register_penalty,
        unregister_loss,
        unregister_penalty,
    )

    seen = {}

    class Drift:
        name = "drift_test"

        def __init__(self, weight=1.0):
            self.weight = weight

        def term(self, discriminator, real, fake, *, step=None, key=None):
            seen.update(step=step, key=key, real=real)
            return self.weight * (discriminator(real) ** 2).mean()

        def config(self):
            return {"name": self.name, "weight": self.weight}

        def __eq__(self, other):
            return isinstance(other, Drift) and other.weight == self.weight

        __hash__ = None

    class Linear2:
        name = "linear2_test"

        def discriminator(self, real_logits, fake_logits, **_):
            return fake_logits.mean() - 2.0 * real_logits.mean()

        def generator(self, fake_logits, **_):
            return -fake_logits.mean()

        def config(self):
            return {"name": self.name}

    register_loss("linear2_test", Linear2)
    register_penalty("drift_test", Drift)
    try:
        obj = Objective.parse("linear2_test + drift_test(weight=0.5) + noise(0.1)")
        assert Objective.from_config(obj.config()).config() == obj.config()
        real, fake = np.ones((4, 2)), np.zeros((4, 2))
        w = np.array([1.0, 2.0])
        eps = {"noise.real": np.zeros((4, 2)), "noise.fake": np.zeros((4, 2))}
        out = obj.discriminator(lambda x: x @ w, real, fake, step=3, draws=eps, key=None)
        assert float(out.terms["drift_test"]) == pytest.approx(0.5 * 9.0)
        assert float(out.terms["adversarial"]) == pytest.approx(-6.0)
        assert seen["step"] == 3 and seen["real"] is not None
    finally:
        unregister_loss("linear2_test")
        unregister_penalty("drift_test")


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_rpgan_with_r1_and_r2_is_r3gans_objective():
    """R3GAN's trainer (brownvc/R3GAN, R3GAN/Trainer.py @ 19a7ddf4), re-created in torch from its
    source: D's loss is mean_i[softplus(-(D(x_i) - D(x~_i))) + γ/2 (|∇D(x_i)|² + |∇D(x~_i)|²)],
    G's is mean_i softplus(-(D(x~_i) - D(x_i))), logits of shape (N,) and images (N, C, H, W).
    advloss's "rpgan + r1(gamma=γ) + r2(gamma=γ)" gives the same totals, and the same gradients
    w.r.t. D's parameters (D step) and the fakes (G step)."""
    import torch

    torch.manual_seed(0)
    D = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.Softplus(),  # smooth: R1/R2 differentiate D twice
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 1),
        torch.nn.Flatten(0),  # R3GAN's Discriminator returns x.view(x.shape[0])
    ).double()
    real, fake = torch.randn(5, 3, 6, 6, dtype=torch.float64), torch.randn(5, 3, 6, 6).double()
    gamma = 0.7

    def r3gan_d_loss():
        x = real.detach().requires_grad_(True)
        x_fake = fake.detach().requires_grad_(True)
        real_logits, fake_logits = D(x), D(x_fake)
        (g_real,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
        (g_fake,) = torch.autograd.grad(fake_logits.sum(), x_fake, create_graph=True)
        r1, r2 = g_real.square().sum([1, 2, 3]), g_fake.square().sum([1, 2, 3])
        adversarial = torch.nn.functional.softplus(-(real_logits - fake_logits))
        return (adversarial + (gamma / 2) * (r1 + r2)).mean()

    objective = Objective.parse(f"rpgan + r1(gamma={gamma}) + r2(gamma={gamma})")
    params = list(D.parameters())
    ours, theirs = objective.discriminator(D, real, fake).total, r3gan_d_loss()
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), "float64", what="R3GAN D loss")
    for x, y in zip(
        torch.autograd.grad(ours, params), torch.autograd.grad(theirs, params), strict=True
    ):
        assert_close(x.numpy(), y.numpy(), "float64", what="R3GAN D gradient")

    fake_g = fake.clone().requires_grad_(True)
    ours = objective.generator(D, fake_g, real=real).total
    theirs = torch.nn.functional.softplus(-(D(fake_g) - D(real.detach()))).mean()
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), "float64", what="R3GAN G loss")
    (ga,) = torch.autograd.grad(ours, fake_g)
    (gb,) = torch.autograd.grad(theirs, fake_g)
    assert_close(ga.numpy(), gb.numpy(), "float64", what="R3GAN G gradient w.r.t. the fakes")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_eager_stats_are_computed_on_first_access(fw):
    """Eagerly, ``out.stats`` computes the balance statistics when first read (a loop that never
    reads them pays no op for them) and holds ``balance_stats``' values; a compiled call returns
    a dict; both flatten like one (JAX pytrees, tf.nest)."""
    b = fw.backend
    rng = np.random.default_rng(5)
    real, fake = (b.from_numpy(rng.normal(size=(6, 1)), "float32") for _ in range(2))
    objective = Objective.parse("hinge")
    out = objective.discriminator(lambda x: x, real, fake)
    assert not out.stats.computed
    expected = advloss.balance_stats(real, fake)
    assert list(out.stats) == list(expected) and out.stats.computed
    for k, v in expected.items():
        assert float(b.to_numpy(out.stats[k])) == float(b.to_numpy(v)), k
    assert out.stats == dict(out.stats) == {**out.stats}
    if fw.name == "torch":
        from tests.test_lazy import _aten_ops

        loss = advloss.get_loss("hinge")
        assert len(_aten_ops(lambda: objective.discriminator(lambda x: x, real, fake))) == len(
            _aten_ops(lambda: loss.discriminator(real, fake))
        )
    if fw.name == "jax":
        import jax

        traced = jax.jit(lambda r, f: objective.discriminator(lambda x: x, r, f).stats)(real, fake)
        assert type(traced) is dict and sorted(traced) == sorted(expected)
        fresh = objective.discriminator(lambda x: x, real, fake).stats
        assert jax.tree_util.tree_structure(fresh).num_leaves == len(expected)
        assert float(jax.jit(lambda s: s["d_gap"])(fresh)) == float(expected["d_gap"])
    if fw.name == "tensorflow":
        import tensorflow as tf

        fresh = objective.discriminator(lambda x: x, real, fake).stats
        doubled = tf.nest.map_structure(lambda v: 2 * v, fresh)  # rebuilt as a mapping
        assert float(doubled["d_gap"]) == 2 * float(expected["d_gap"])


@pytest.mark.parametrize("name", ["hinge", "lsgan"])
def test_a_loss_alone_objective_equals_the_loss_and_its_statistics(name):
    """``Objective(loss)`` takes a short path when it has no term, draw or state: its total,
    terms and statistics equal the loss on D's logits and ``balance_stats`` at the loss's
    threshold (lsgan's is 0.5, so a wrong threshold changes the accuracies)."""
    rng = np.random.default_rng(3)
    real, fake = rng.normal(0.5, 1.0, (8, 1)), rng.normal(0.2, 1.0, (8, 1))

    def disc(x):
        return 2.0 * x - 0.3

    out = Objective(name).discriminator(disc, real, fake)
    loss = advloss.get_loss(name)
    expected = loss.discriminator(disc(real), disc(fake))
    assert list(out.terms) == ["adversarial"]
    assert float(out.total) == pytest.approx(float(expected), rel=1e-15)
    stats = advloss.balance_stats(
        disc(real), disc(fake), threshold=loss.decision_threshold, higher_is_real=True
    )
    assert set(out.stats) == set(stats)
    for k, v in stats.items():
        assert float(out.stats[k]) == pytest.approx(float(v), rel=1e-15), k
