"""Gradient penalties: closed-form oracles, the per-sample-norm regression, small networks built
from the same NumPy weights in every framework (values and parameter gradients, float32 and
float64, eager and compiled), lazy application, fused outputs, randomness, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import advloss
from advloss.testing import assert_close
from tests import nets
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

DTYPES = ["float32", "float64"]
NAMES = {h.name for h in FRAMEWORKS}


def linear_d(fw, w):
    """D(x)_n = <w, x_n> for inputs (N, *w.shape), in framework ``fw``."""
    axes = tuple(range(1, len(w.shape) + 1))
    if fw.name == "torch":
        return lambda x: (x * w).sum(dim=axes)
    if fw.name == "tensorflow":
        import tensorflow as tf

        return lambda x: tf.reduce_sum(x * w, axis=list(axes))
    import jax.numpy as jnp

    return lambda x: jnp.sum(x * w, axis=axes)


def param_grad(fw, make_value, w_np, dtype):
    """value and d value / d w for a scalar function of one parameter tensor ``w``."""
    b = fw.backend
    if fw.name == "torch":
        import torch

        w = b.from_numpy(w_np, dtype).requires_grad_(True)
        v = make_value(w)
        (g,) = torch.autograd.grad(v, w)
        return b.to_numpy(v), b.to_numpy(g)
    if fw.name == "tensorflow":
        import tensorflow as tf

        w = tf.Variable(b.from_numpy(w_np, dtype))
        with tf.GradientTape() as tape:
            v = make_value(w)
        return b.to_numpy(v), b.to_numpy(tape.gradient(v, w))
    import jax

    v, g = jax.value_and_grad(make_value)(b.from_numpy(w_np, dtype))
    return b.to_numpy(v), b.to_numpy(g)


# ------------------------------------------------------------------------ closed-form oracles


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_linear_discriminator_closed_form(fw, dtype):
    """For D(x) = <w, x>, g = w for every sample: R1 = R2 = γ/2 |w|², dR1/dw = γ w;
    GP = λ (|w| - c)², dGP/dw = 2 λ (|w| - c) w / |w|."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2, 2))
    x, xf = rng.normal(size=(5, 3, 2, 2)), rng.normal(size=(5, 3, 2, 2))
    b = fw.backend
    real, fake = b.from_numpy(x, dtype), b.from_numpy(xf, dtype)
    norm = np.sqrt((w**2).sum())

    for fn, gamma in [(advloss.r1_penalty, 3.0), (advloss.r2_penalty, 0.5)]:
        inputs = real if fn is advloss.r1_penalty else fake
        v, g = param_grad(
            fw,
            lambda wt, fn=fn, gamma=gamma, inputs=inputs: fn(linear_d(fw, wt), inputs, gamma=gamma),
            w,
            dtype,
        )
        assert_close(v, gamma / 2 * norm**2, dtype, what="R value")
        assert_close(g, gamma * w, dtype, what="dR/dw")

    for center, one_sided in [(1.0, False), (0.0, False), (1.0, True), (10.0, True)]:
        v, g = param_grad(
            fw,
            lambda wt, c=center, o=one_sided: advloss.gradient_penalty(
                linear_d(fw, wt), real, fake, weight=7.0, center=c, one_sided=o, key=key_for(fw, 0)
            ),
            w,
            dtype,
        )
        excess = norm - center
        if one_sided:
            excess = max(excess, 0.0)
        assert_close(v, 7.0 * excess**2, dtype, what=f"GP value c={center} one_sided={one_sided}")
        assert_close(g, 14.0 * excess * w / norm, dtype, what="dGP/dw")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_quadratic_discriminator_closed_form(fw):
    """For D(x)_n = a/2 |x_n|², g_n = a x_n: the penalties depend on each sample's own norm and
    on the interpolation coefficients, so per-sample α and per-sample norms are both checked."""
    rng = np.random.default_rng(1)
    x, xf = rng.normal(size=(6, 2, 3)), rng.normal(size=(6, 2, 3))
    alpha = rng.uniform(size=6)
    a = np.array(0.7)
    b = fw.backend
    real, fake, al = (b.from_numpy(t, "float64") for t in (x, xf, alpha))

    def quad(at):
        if fw.name == "torch":
            return lambda u: 0.5 * at * (u * u).sum(dim=(1, 2))
        if fw.name == "tensorflow":
            import tensorflow as tf

            return lambda u: 0.5 * at * tf.reduce_sum(u * u, axis=[1, 2])
        import jax.numpy as jnp

        return lambda u: 0.5 * at * jnp.sum(u * u, axis=(1, 2))

    x_hat = x + alpha[:, None, None] * (xf - x)
    nh = np.sqrt((x_hat**2).sum(axis=(1, 2)))
    v, g = param_grad(
        fw, lambda at: advloss.gradient_penalty(quad(at), real, fake, alpha=al), a, "float64"
    )
    assert_close(v, 10 * np.mean((a * nh - 1) ** 2), "float64", what="GP")
    assert_close(g, 10 * np.mean(2 * (a * nh - 1) * nh), "float64", what="dGP/da")
    sq = (x**2).sum(axis=(1, 2))
    v, g = param_grad(fw, lambda at: advloss.r1_penalty(quad(at), real, gamma=4.0), a, "float64")
    assert_close(v, 2.0 * a**2 * sq.mean(), "float64", what="R1")
    assert_close(g, 4.0 * a * sq.mean(), "float64", what="dR1/da")


def per_pixel_gradient_penalty(fw, d, real, fake, alpha):
    """The classic bug: ``grad.norm(2, dim=1)`` on an image gradient is a norm per pixel."""
    b = fw.backend
    x_hat = real + b.reshape(alpha, (-1, 1, 1, 1)) * (fake - real)
    _, grad = b.input_gradient(d, x_hat)
    per_pixel = b.sqrt(
        b.reshape(grad * grad, (grad.shape[0], grad.shape[1], -1)).sum(1)
        if fw.name == "torch"
        else _channel_sum(fw, grad * grad)
    )
    return 10.0 * b.mean((per_pixel - 1.0) * (per_pixel - 1.0))


def _channel_sum(fw, x):
    if fw.name == "tensorflow":
        import tensorflow as tf

        return tf.reduce_sum(x, axis=1)
    import jax.numpy as jnp

    return jnp.sum(x, axis=1)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_norm_is_per_sample_not_per_pixel(fw):
    """Regression test for the most repeated WGAN-GP bug: the check below accepts the
    per-sample norm and rejects the per-pixel one on the same inputs."""
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.4, size=(3, 4, 4))
    b = fw.backend
    real, fake = (
        b.from_numpy(rng.normal(size=(2, 3, 4, 4))),
        b.from_numpy(rng.normal(size=(2, 3, 4, 4))),
    )
    alpha = b.from_numpy(np.array([0.25, 0.75]))
    d = linear_d(fw, b.from_numpy(w))
    expected = 10.0 * (np.sqrt((w**2).sum()) - 1.0) ** 2

    def check(value):
        assert_close(fw.numpy(value), expected, "float64", what="GP")

    check(advloss.gradient_penalty(d, real, fake, alpha=alpha))
    with pytest.raises(AssertionError):
        check(per_pixel_gradient_penalty(fw, d, real, fake, alpha))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    n=st.integers(1, 5),
    gamma=st.floats(0.0, 100.0),
)
def test_any_shape_linear_r1(fw, shape, n, gamma):
    rng = np.random.default_rng(len(shape) * 7 + n)
    w = rng.normal(size=shape)
    b = fw.backend
    x = b.from_numpy(rng.normal(size=(n, *shape)))
    v = advloss.r1_penalty(linear_d(fw, b.from_numpy(w)), x, gamma=gamma)
    assert_close(fw.numpy(v), gamma / 2 * (w**2).sum(), "float64", scale=max(gamma, 1.0))


# --------------------------------------------------------------- networks across frameworks

PENALTIES = {
    "gp": lambda d, real, fake, alpha, noise: advloss.gradient_penalty(d, real, fake, alpha=alpha),
    "gp0-one-sided": lambda d, real, fake, alpha, noise: advloss.gradient_penalty(
        d, real, fake, alpha=alpha, weight=2.0, center=0.5, one_sided=True
    ),
    "r1": lambda d, real, fake, alpha, noise: advloss.r1_penalty(d, real, gamma=10.0),
    "r2": lambda d, real, fake, alpha, noise: advloss.r2_penalty(d, fake, gamma=1.0),
    "dragan": lambda d, real, fake, alpha, noise: advloss.dragan_penalty(
        d, real, alpha=alpha, noise=noise
    ),
    "dragan-compare_gan": lambda d, real, fake, alpha, noise: advloss.dragan_penalty(
        d, real, noise=noise, weight=3.0, center=0.5, variant="compare_gan"
    ),
    "maxgp": lambda d, real, fake, alpha, noise: advloss.max_gradient_penalty(
        d, real, fake, alpha=alpha
    ),
}


def dragan_points(real, noise, alpha=None, variant="studiogan"):
    """DRAGAN's penalty points in NumPy: StudioGAN's x + α · ½ std(x, ddof=1) · u, or
    compare_gan's clip(x + std(x, ddof=0) (u - ½), 0, 1)."""
    if variant == "studiogan":
        a = alpha.reshape(-1, *([1] * (real.ndim - 1)))
        return real + a * (0.5 * real.std(ddof=1) * noise)
    return np.clip(real + real.std() * (noise - 0.5), 0.0, 1.0)


def _inputs(kind, seed=3):
    """real, fake, GP's α (one per sample) and DRAGAN's U[0, 1) noise (real's shape)."""
    rng = np.random.default_rng(seed)
    shape = (5, *nets.INPUT_SHAPES[kind])
    return [
        rng.normal(size=shape),
        rng.normal(size=shape) * 2,
        rng.uniform(size=5),
        rng.uniform(size=shape),
    ]


def _numpy_input_grad(kind, params, x, h=1e-5):
    """Central finite differences of sum_n D(x)_n: an oracle independent of every framework."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = nets.numpy_forward(kind, params, x).sum()
        flat[i] = old - h
        down = nets.numpy_forward(kind, params, x).sum()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_network_penalties_match_finite_difference_reference(fw, kind):
    params = nets.weights(kind)
    real, fake, alpha, noise = _inputs(kind)
    x_hat = real + alpha.reshape(-1, *([1] * (real.ndim - 1))) * (fake - real)
    points = {
        "real": real,
        "fake": fake,
        "hat": x_hat,
        "dragan": dragan_points(real, noise, alpha),
        "dragan-cg": dragan_points(real, noise, variant="compare_gan"),
    }
    sq = {
        k: (_numpy_input_grad(kind, params, v) ** 2).reshape(5, -1).sum(1)
        for k, v in points.items()
    }
    expected = {
        "gp": 10 * np.mean((np.sqrt(sq["hat"] + 1e-12) - 1) ** 2),
        "gp0-one-sided": 2 * np.mean(np.maximum(np.sqrt(sq["hat"] + 1e-12) - 0.5, 0) ** 2),
        "r1": 5.0 * sq["real"].mean(),
        "r2": 0.5 * sq["fake"].mean(),
        "dragan": 10 * np.mean((np.sqrt(sq["dragan"] + 1e-12) - 1) ** 2),
        "dragan-compare_gan": 3 * np.mean((np.sqrt(sq["dragan-cg"] + 1e-4) - 0.5) ** 2),
        "maxgp": 10 * np.max(sq["hat"]),
    }
    for name, penalty in PENALTIES.items():
        v, _ = nets.penalty_and_param_grads(
            fw.name, kind, params, penalty, [real, fake, alpha, noise], "float64"
        )
        np.testing.assert_allclose(v, expected[name], rtol=1e-7, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("a,b", PAIRS)
def test_network_penalties_agree_across_frameworks(a, b, kind, dtype):
    params = nets.weights(kind)
    inputs = _inputs(kind)
    for name, penalty in PENALTIES.items():
        va, ga = nets.penalty_and_param_grads(a.name, kind, params, penalty, inputs, dtype)
        vb, gb = nets.penalty_and_param_grads(b.name, kind, params, penalty, inputs, dtype)
        assert_close(va, vb, dtype, what=f"{name} value {a.name} vs {b.name}")
        for k in params:
            assert_close(ga[k], gb[k], dtype, what=f"{name} d/d{k} {a.name} vs {b.name}")


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("fw", [p for p in FRAMEWORK_PARAMS if p.values[0].name != "torch"])
def test_jit_and_xla_equal_eager(fw, kind):
    params = nets.weights(kind)
    inputs = _inputs(kind)
    for name, penalty in PENALTIES.items():
        ve, ge = nets.penalty_and_param_grads(fw.name, kind, params, penalty, inputs, "float32")
        vc, gc = nets.penalty_and_param_grads(
            fw.name, kind, params, penalty, inputs, "float32", compiled=True
        )
        assert_close(vc, ve, "float32", what=f"{name} compiled value")
        for k in params:
            assert_close(gc[k], ge[k], "float32", what=f"{name} compiled d/d{k}")


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_compile_fullgraph_penalties_equal_eager():
    """One compile over every penalty of ``PENALTIES`` on the functional MLP (a cold compile
    costs seconds)."""
    params = nets.weights("mlp")
    inputs = _inputs("mlp")

    def all_penalties(d, *inputs):
        return sum(p(d, *inputs) for p in PENALTIES.values())

    ve, ge = nets.penalty_and_param_grads("torch", "mlp", params, all_penalties, inputs, "float32")
    vc, gc = nets.penalty_and_param_grads(
        "torch", "mlp", params, all_penalties, inputs, "float32", compiled=True
    )
    assert_close(vc, ve, "float32")
    for k in params:
        assert_close(gc[k], ge[k], "float32", what=f"d/d{k}")


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_torch_compile_nn_module_discriminator_step():
    """A whole discriminator step with an nn.Module under torch.compile(fullgraph=True): loss on
    the fused R1 outputs + R1 + GP; parameter gradients equal eager's."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 8 * 8, 1)
    )
    loss = advloss.get_loss("ns")
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    alpha = torch.rand(4)

    def d_step(real, fake, alpha):
        r1, real_logits = advloss.r1_penalty(net, real, return_outputs=True)
        gp = advloss.gradient_penalty(net, real, fake, alpha=alpha, weight=1.0)
        return loss.discriminator(real_logits, net(fake)) + r1 + gp

    def grads(fn):
        net.zero_grad()
        value = fn(real, fake, alpha)
        value.backward()
        return value.detach(), [p.grad.clone() for p in net.parameters()]

    ve, ge = grads(d_step)
    vc, gc = grads(torch.compile(d_step, fullgraph=True, dynamic=False))
    assert_close(vc.numpy(), ve.numpy(), "float32")
    for x, y in zip(gc, ge, strict=True):
        assert_close(x.numpy(), y.numpy(), "float32", what="parameter gradient")


# ------------------------------------------------------------------------ fused outputs, lazy


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_fused_r1_outputs_give_the_same_gradients_as_a_separate_forward(fw):
    params = nets.weights("mlp")
    real, fake, *_ = _inputs("mlp")
    loss = advloss.get_loss("ns")

    def fused(d, real, fake):
        penalty, real_logits = advloss.r1_penalty(d, real, return_outputs=True)
        return loss.discriminator(real_logits, d(fake)) + penalty

    def separate(d, real, fake):
        return loss.discriminator(d(real), d(fake)) + advloss.r1_penalty(d, real)

    vf, gf = nets.penalty_and_param_grads(fw.name, "mlp", params, fused, [real, fake], "float64")
    vs, gs = nets.penalty_and_param_grads(fw.name, "mlp", params, separate, [real, fake], "float64")
    assert_close(vf, vs, "float64")
    for k in params:
        assert_close(gf[k], gs[k], "float64", what=f"d/d{k}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_lazy_application_with_python_steps(fw):
    params = nets.weights("mlp")
    real, fake, alpha, noise = _inputs("mlp")
    full, _ = nets.penalty_and_param_grads(
        fw.name, "mlp", params, PENALTIES["r1"], [real, fake, alpha, noise], "float64"
    )
    for step, factor in [(0, 4.0), (1, 0.0), (3, 0.0), (8, 4.0)]:
        lazy = lambda d, real, fake, alpha, step=step: advloss.R1Penalty(every=4)(
            d, real, step=step
        )
        v, g = nets.penalty_and_param_grads(
            fw.name, "mlp", params, lazy, [real, fake, alpha], "float64"
        )
        assert_close(v, factor * full, "float64", what=f"step {step}")
        # Outputs are returned on skipped steps too, so the adversarial loss can always use them.
        d = lambda x, fw=fw: nets.forward(fw.name, "mlp")(
            {k: fw.backend.from_numpy(a) for k, a in params.items()}, x
        )
        pen, out = advloss.r1_penalty(
            d, fw.backend.from_numpy(real), every=4, step=step, return_outputs=True
        )
        assert_close(
            fw.numpy(out), nets.numpy_forward("mlp", params, real), "float64", what="outputs"
        )


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_lazy_application_with_traced_steps(fw):
    """A step that is a tensor: lax.cond under jax.jit, tf.cond under tf.function (the penalty
    is not computed on skipped steps); in eager torch a CPU step tensor is read on the host."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=(3,))
    b = fw.backend
    x = b.from_numpy(rng.normal(size=(4, 3)))
    d = linear_d(fw, b.from_numpy(w))
    expected = 5.0 * (w**2).sum()

    if fw.name == "jax":
        import jax
        import jax.numpy as jnp

        f = jax.jit(lambda step: advloss.r1_penalty(d, x, every=3, step=step))
        values = [float(f(jnp.asarray(s))) for s in range(4)]
    elif fw.name == "tensorflow":
        import tensorflow as tf

        f = tf.function(lambda step: advloss.r1_penalty(d, x, every=3, step=step))
        values = [float(f(tf.constant(s))) for s in range(4)]
    else:
        import torch

        values = [float(advloss.r1_penalty(d, x, every=3, step=torch.tensor(s))) for s in range(4)]
    np.testing.assert_allclose(values, [3 * expected, 0.0, 0.0, 3 * expected], rtol=1e-12)


# ------------------------------------------------------------------------- randomness, errors


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_alpha_is_drawn_per_sample_from_the_given_randomness(fw):
    """With a key/generator/seed, the penalty equals the one computed with the explicit α the
    same randomness produces, one per sample, and is reproducible."""
    rng = np.random.default_rng(5)
    b = fw.backend
    real, fake = b.from_numpy(rng.normal(size=(6, 2, 3))), b.from_numpy(rng.normal(size=(6, 2, 3)))

    def d(u):
        return b.sum_per_sample(u * u * u)  # makes the penalty depend on every sample's α

    drawn = b.uniform(key_for(fw, 11), (6,), "float64", real)
    alphas = fw.numpy(drawn)
    assert len(np.unique(alphas)) == 6 and np.all((alphas >= 0) & (alphas < 1))
    with_key = advloss.gradient_penalty(d, real, fake, key=key_for(fw, 11))
    explicit = advloss.gradient_penalty(d, real, fake, alpha=drawn)
    again = advloss.gradient_penalty(d, real, fake, key=key_for(fw, 11))
    assert_close(fw.numpy(with_key), fw.numpy(explicit), "float64")
    assert_close(fw.numpy(again), fw.numpy(with_key), "float64")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_inputs_give_float32_penalties(fw):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(4,))
    b = fw.backend
    for low in ("float16", "bfloat16"):
        x = b.from_numpy(rng.normal(size=(3, 4)), low)
        v = advloss.r1_penalty(linear_d(fw, b.from_numpy(w, low)), x)
        assert b.dtype(v) == "float32"
        w_low = fw.numpy(b.from_numpy(w, low)).astype(np.float64)
        assert_close(fw.numpy(v), 5.0 * (w_low**2).sum(), low)


def test_penalty_errors():
    d = lambda x: x.sum(axis=1)
    x = np.zeros((2, 3))
    cases = [
        (lambda: advloss.r1_penalty("D", x), TypeError, "discriminator must be a callable"),
        (lambda: advloss.r1_penalty(d, x, gamma=-1.0), ValueError, "gamma must be >= 0"),
        (
            lambda: advloss.gradient_penalty(d, x, np.zeros((3, 3))),
            ValueError,
            r"same shape.*\(2, 3\) and \(3, 3\)",
        ),
        (
            lambda: advloss.gradient_penalty(d, x, x, alpha=np.zeros(3)),
            ValueError,
            r"alpha must be a numpy tensor of shape \(2,\)",
        ),
        (lambda: advloss.gradient_penalty(d, x, x, weight=float("nan")), ValueError, "finite"),
        (
            lambda: advloss.gradient_penalty(d, x, x, one_sided=1),
            TypeError,
            "one_sided must be a bool",
        ),
        (
            lambda: advloss.r1_penalty(d, x, every=0, step=0),
            ValueError,
            "every must be an int from 1 to",
        ),
        (lambda: advloss.r1_penalty(d, x, every=4), ValueError, "needs the current step"),
        (
            lambda: advloss.r1_penalty(d, np.zeros((2, 3), dtype=np.int32)),
            TypeError,
            "floating-point",
        ),
        (lambda: advloss.r1_penalty(d, np.array(1.0)), ValueError, "batch dimension"),
        (lambda: advloss.r1_penalty(d, x), NotImplementedError, "no automatic differentiation"),
        (lambda: advloss.R1Penalty(every=2.5), ValueError, "every"),
        (lambda: advloss.GradientPenalty(center=-1.0), ValueError, "center"),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern):
            make()
    if "jax" in NAMES:
        import jax.numpy as jnp

        with pytest.raises(ValueError, match="JAX has no global random state"):
            advloss.gradient_penalty(
                lambda u: jnp.sum(u, axis=1), jnp.zeros((2, 3)), jnp.zeros((2, 3))
            )
    if "torch" in NAMES:
        import torch

        with torch.no_grad(), pytest.raises(RuntimeError, match="autograd, but it is disabled"):
            advloss.r1_penalty(lambda u: u.sum(1), torch.zeros(2, 3))


def test_penalty_objects_and_config():
    gp = advloss.GradientPenalty(weight=5.0, one_sided=True, every=2)
    assert gp.config() == {
        "name": "gp",
        "every": 2,
        "weight": 5.0,
        "center": 1.0,
        "one_sided": True,
    }
    assert advloss.R1Penalty(gamma=1.0).config() == {"name": "r1", "every": 1, "gamma": 1.0}
    assert advloss.R2Penalty().name == "r2"


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_peer_penalty_conventions_map_as_documented():
    """docs/penalties.md's table: each peer's penalty, written here from its documented
    convention, equals the advloss call the table gives."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 1, dtype=torch.float64),
    )
    real, fake = (
        torch.randn(5, 2, 4, 4, dtype=torch.float64),
        torch.randn(5, 2, 4, 4, dtype=torch.float64),
    )
    a = torch.rand(5, dtype=torch.float64)

    def grad_of(x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
        return g

    def close(peer, ours, rtol=1e-10):
        np.testing.assert_allclose(float(peer.detach()), float(ours.detach()), rtol=rtol)

    g = grad_of(real)
    sq = g.square().sum([1, 2, 3])
    close((sq * (3.0 / 2)).mean(), advloss.r1_penalty(net, real, gamma=3.0))  # StyleGAN2-ADA
    close(2.5 * 0.5 * sq.mean(), advloss.r1_penalty(net, real, gamma=2.5))  # StudioGAN r1_lambda
    close(4.0 * sq.mean(), advloss.r1_penalty(net, real, gamma=8.0))  # GAN_stability reg_param
    # pix2pix: x̂ = α real + (1-α) fake, ((g + 1e-16).norm(2, dim=1) - constant)² mean × lambda_gp
    x_hat = a.view(-1, 1, 1, 1) * real + (1 - a.view(-1, 1, 1, 1)) * fake
    gh = grad_of(x_hat).flatten(1)
    pix2pix = (((gh + 1e-16).norm(2, dim=1) - 0.7) ** 2).mean() * 10.0
    close(pix2pix, advloss.gradient_penalty(net, real, fake, alpha=1 - a, center=0.7), rtol=1e-9)
    # TF-GAN: x̂ = real + α (fake - real), slopes = sqrt(Σg² + 1e-10), (slopes / target - 1)²
    x_hat = real + a.view(-1, 1, 1, 1) * (fake - real)
    slopes = torch.sqrt(grad_of(x_hat).square().sum([1, 2, 3]) + 1e-10)
    tfgan = ((slopes / 2.0 - 1) ** 2).mean()
    close(
        tfgan * 4.0,
        advloss.gradient_penalty(net, real, fake, alpha=a, weight=1.0, center=2.0),
        rtol=1e-9,
    )
    one_sided = (torch.relu(slopes / 2.0 - 1) ** 2).mean() * 4.0
    close(
        one_sided,
        advloss.gradient_penalty(net, real, fake, alpha=a, weight=1.0, center=2.0, one_sided=True),
        rtol=1e-9,
    )


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_tf_function_with_unknown_batch_size():
    """Static shapes with None (tf.function input_signature): losses and penalties trace, weights
    are checked on the known dimensions, and alpha is drawn with the run-time batch size."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(7).normal(size=(3,)))
    d = lambda x: tf.reduce_sum(x * w, axis=1)
    spec = tf.TensorSpec([None, 3], tf.float64)

    @tf.function(input_signature=[spec, spec, tf.TensorSpec([None], tf.float64)])
    def step(real, fake, alpha):
        loss = advloss.get_loss("hinge").discriminator(
            d(real), d(fake), weights=alpha[:, None][:, 0]
        )
        return (
            loss
            + advloss.gradient_penalty(d, real, fake, alpha=alpha)
            + advloss.r1_penalty(d, real)
        )

    rng = np.random.default_rng(8)
    real, fake, alpha = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.uniform(size=4)
    got = float(step(tf.constant(real), tf.constant(fake), tf.constant(alpha)))
    wn = w.numpy()
    hinge = np.mean(alpha * np.maximum(0, 1 - real @ wn)) + np.mean(
        alpha * np.maximum(0, 1 + fake @ wn)
    )
    expected = hinge + 10 * (np.sqrt((wn**2).sum() + 1e-12) - 1) ** 2 + 5 * (wn**2).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-10)

    # Without alpha, one coefficient per sample is drawn with the run-time batch size.
    cubic = lambda x: tf.reduce_sum(x * x * x, axis=1)

    @tf.function(input_signature=[spec, spec])
    def drawn(real, fake):
        return advloss.gradient_penalty(cubic, real, fake, key=5)

    for n in (4, 2):  # one trace, two batch sizes
        r, f = tf.constant(real[:n]), tf.constant(fake[:n])
        seed = tf.constant([5, 0], tf.int64)
        explicit = tf.random.stateless_uniform([n], seed=seed, dtype=tf.float64)
        expected = advloss.gradient_penalty(cubic, r, f, alpha=explicit)
        np.testing.assert_allclose(float(drawn(r, f)), float(expected), rtol=1e-12)
    assert drawn.experimental_get_tracing_count() == 1


# -------------------------------------------------------------------------- DRAGAN and MaxGP


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_dragan_and_maxgp_linear_closed_form(fw, dtype):
    """For D(x) = <w, x>, g = w at every point, wherever DRAGAN's perturbation puts it:
    DRAGAN = λ (sqrt(|w|² + ε) - c)², dDRAGAN/dw = 2 λ (|w|ε - c) w / |w|ε; MaxGP = λ |w|²,
    dMaxGP/dw = 2 λ w."""
    rng = np.random.default_rng(20)
    w = rng.normal(size=(3, 2, 2))
    x, xf = rng.uniform(size=(5, 3, 2, 2)), rng.uniform(size=(5, 3, 2, 2))
    b = fw.backend
    real, fake = b.from_numpy(x, dtype), b.from_numpy(xf, dtype)
    sq = (w**2).sum()
    for variant, eps in (("studiogan", 1e-12), ("compare_gan", 1e-4)):
        v, g = param_grad(
            fw,
            lambda wt, variant=variant: advloss.dragan_penalty(
                linear_d(fw, wt), real, weight=7.0, center=0.5, variant=variant, key=key_for(fw, 1)
            ),
            w,
            dtype,
        )
        norm = np.sqrt(sq + eps)
        assert_close(v, 7.0 * (norm - 0.5) ** 2, dtype, what=f"DRAGAN {variant}")
        assert_close(g, 14.0 * (norm - 0.5) * w / norm, dtype, what=f"dDRAGAN/dw {variant}")
    v, g = param_grad(
        fw,
        lambda wt: advloss.max_gradient_penalty(
            linear_d(fw, wt), real, fake, weight=3.0, key=key_for(fw, 2)
        ),
        w,
        dtype,
    )
    assert_close(v, 3.0 * sq, dtype, what="MaxGP")
    assert_close(g, 6.0 * w, dtype, what="dMaxGP/dw")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_maxgp_takes_the_largest_per_sample_norm(fw):
    """For D(x)_n = a/2 |x_n|², g_n = a x̂_n: MaxGP = λ a² max_n |x̂_n|², and its gradient
    reaches only the largest sample: dMaxGP/da = 2 λ a max_n |x̂_n|² (odd batch sizes too)."""
    b = fw.backend
    for n in (1, 2, 5, 7):
        rng = np.random.default_rng(n)
        x, xf, alpha = rng.normal(size=(n, 4)), rng.normal(size=(n, 4)), rng.uniform(size=n)
        real, fake, al = (b.from_numpy(t, "float64") for t in (x, xf, alpha))

        def quad(at):
            return lambda u: 0.5 * at * b.sum_per_sample(u * u)

        x_hat = x + alpha[:, None] * (xf - x)
        largest = (x_hat**2).sum(axis=1).max()
        v, g = param_grad(
            fw,
            lambda at, real=real, fake=fake, al=al: advloss.max_gradient_penalty(
                quad(at), real, fake, alpha=al
            ),
            np.array(0.7),
            "float64",
        )
        assert_close(v, 10 * 0.49 * largest, "float64", what=f"MaxGP n={n}")
        assert_close(g, 10 * 2 * 0.7 * largest, "float64", what=f"dMaxGP/da n={n}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_dragan_draws_follow_the_given_randomness(fw):
    """With a key the penalty equals the one computed with the explicit draws the same
    randomness produces (α first, then the noise, as draw_specs lists them)."""
    rng = np.random.default_rng(21)
    b = fw.backend
    real = b.from_numpy(rng.normal(size=(4, 2, 3)))

    def d(u):
        return b.sum_per_sample(u * u * u)

    penalty = advloss.DraganPenalty()
    specs = penalty.draw_specs(4, 4, real_shape=(4, 2, 3))
    assert specs == {"alpha": ("uniform", (4,)), "noise": ("uniform", (4, 2, 3))}
    keys = b.split_key(key_for(fw, 12), 2)
    alpha = b.uniform(keys[0], (4,), "float64", real)
    noise = b.uniform(keys[1], (4, 2, 3), "float64", real)
    explicit = advloss.dragan_penalty(d, real, alpha=alpha, noise=noise)
    with_key = penalty(d, real, key=key_for(fw, 12))
    assert_close(fw.numpy(with_key), fw.numpy(explicit), "float64")
    assert_close(fw.numpy(penalty(d, real, key=key_for(fw, 12))), fw.numpy(with_key), "float64")
    assert advloss.DraganPenalty(variant="compare_gan").draw_specs(4, 4, real_shape=(4, 3)) == {
        "noise": ("uniform", (4, 3))
    }


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_dragan_and_maxgp_in_an_objective(fw):
    """The objective draws DRAGAN's α and noise (shaped like the real batch) and MaxGP's α
    under their names; the total equals the loss plus the penalties on those draws."""
    rng = np.random.default_rng(22)
    b = fw.backend
    w = b.from_numpy(rng.normal(size=(2, 3)))
    d = lambda x: b.sum_per_sample(x * x * w)  # a quadratic D: g depends on x
    real, fake = b.from_numpy(rng.normal(size=(4, 2, 3))), b.from_numpy(rng.normal(size=(4, 2, 3)))
    objective = advloss.Objective.parse("wgan + dragan(weight=2) + maxgp(weight=0.5)")
    specs = objective.draw_specs((4, 2, 3), (4, 2, 3))
    assert specs == {
        "dragan.alpha": ("uniform", (4,)),
        "dragan.noise": ("uniform", (4, 2, 3)),
        "maxgp.alpha": ("uniform", (4,)),
    }
    draws = {k: b.from_numpy(rng.uniform(size=shape)) for k, (_, shape) in specs.items()}
    out = objective.discriminator(d, real, fake, draws=draws)
    dragan = advloss.dragan_penalty(
        d, real, weight=2.0, alpha=draws["dragan.alpha"], noise=draws["dragan.noise"]
    )
    maxgp = advloss.max_gradient_penalty(d, real, fake, weight=0.5, alpha=draws["maxgp.alpha"])
    expected = advloss.get_loss("wgan").discriminator(d(real), d(fake)) + dragan + maxgp
    assert_close(fw.numpy(out.total), fw.numpy(expected), "float64")
    assert_close(fw.numpy(out.terms["dragan"]), fw.numpy(dragan), "float64")
    assert_close(fw.numpy(out.terms["maxgp"]), fw.numpy(maxgp), "float64")


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_studiogan_dragan_and_maxgp_map_as_documented():
    """StudioGAN (src/utils/losses.py @ 947b35e9), re-created in torch from its source:
    ``cal_dra_penalty`` — x̂ = x + α ⊙ (0.5 · x.std() · U), α of shape (B, 1, 1, 1), the norm
    per sample, ((‖g‖ - 1)²).mean(), times ``dra_lambda`` — is ``dragan_penalty`` with the same
    draws and ``weight=dra_lambda``; ``cal_maxgrad_penalty`` — x̂ = α x + (1 - α) x̃,
    max ‖g‖², times ``maxgp_lambda`` — is ``max_gradient_penalty`` with ``alpha = 1 - α``."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 1),
    ).double()
    real, fake = torch.randn(5, 2, 4, 4).double(), torch.randn(5, 2, 4, 4).double()
    alpha = torch.rand(5, 1, 1, 1, dtype=torch.float64)
    u = torch.rand(5, 2, 4, 4, dtype=torch.float64)
    params = list(net.parameters())

    def grads_at(x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
        return g.view(g.size(0), -1)

    def check(theirs, ours, what):
        np.testing.assert_allclose(
            float(theirs.detach()), float(ours.detach()), rtol=1e-10, err_msg=what
        )
        # the output bias never reaches an input gradient: its gradient is None (zero)
        ga = torch.autograd.grad(theirs, params, allow_unused=True)
        gb = torch.autograd.grad(ours, params, allow_unused=True)
        assert [x is None for x in ga] == [y is None for y in gb], what
        for x, y in ((x, y) for x, y in zip(ga, gb, strict=True) if x is not None):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-9, atol=1e-12, err_msg=what)

    dra_lambda, maxgp_lambda = 10.0, 2.0
    x_hat = real + alpha * (0.5 * real.std() * u)
    studiogan = dra_lambda * ((grads_at(x_hat).norm(2, dim=1) - 1) ** 2).mean()
    ours = advloss.dragan_penalty(net, real, weight=dra_lambda, alpha=alpha.view(-1), noise=u)
    check(studiogan, ours, "cal_dra_penalty")
    x_hat = alpha * real + (1 - alpha) * fake
    studiogan = maxgp_lambda * torch.max(grads_at(x_hat).norm(2, dim=1) ** 2)
    ours = advloss.max_gradient_penalty(
        net, real, fake, weight=maxgp_lambda, alpha=1 - alpha.view(-1)
    )
    check(studiogan, ours, "cal_maxgrad_penalty")


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_compare_gan_dragan_maps_as_documented():
    """compare_gan (compare_gan/gans/penalty_lib.py @ 25c49452), re-created in TensorFlow from its
    source: ``dragan_penalty`` — std from ``tf.nn.moments`` over all axes, x̂ = clip(x + std ·
    (U - 0.5), 0, 1), slopes = sqrt(1e-4 + Σg²), mean((slopes - 1)²) — is
    ``dragan_penalty(variant="compare_gan")`` with the same noise (weight 1: compare_gan
    multiplies by its ``lambda`` outside)."""
    import tensorflow as tf

    rng = np.random.default_rng(23)
    kernel = tf.Variable(rng.normal(size=(3, 3, 2, 3)))
    dense = tf.Variable(rng.normal(size=(4 * 4 * 3, 1)) * 0.1)

    def net(x):  # NHWC, as compare_gan's images [bs, h, w, channels]
        h = tf.tanh(tf.nn.conv2d(x, kernel, 1, "SAME"))
        return tf.reshape(h, (x.shape[0], -1)) @ dense

    x = tf.constant(rng.uniform(size=(5, 4, 4, 2)))
    u = tf.constant(rng.uniform(size=(5, 4, 4, 2)))
    with tf.GradientTape(persistent=True) as outer:
        _, var = tf.nn.moments(x, axes=list(range(len(x.shape))))
        x_noisy = tf.clip_by_value(x + tf.sqrt(var) * (u - 0.5), 0.0, 1.0)
        with tf.GradientTape() as inner:
            inner.watch(x_noisy)
            logits = net(x_noisy)
        gradients = inner.gradient(logits, x_noisy)
        slopes = tf.sqrt(0.0001 + tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]))
        theirs = tf.reduce_mean(tf.square(slopes - 1.0))
        ours = advloss.dragan_penalty(net, x, weight=1.0, variant="compare_gan", noise=u)
    np.testing.assert_allclose(float(theirs), float(ours), rtol=1e-10)
    for a, b in zip(
        outer.gradient(theirs, [kernel, dense]), outer.gradient(ours, [kernel, dense]), strict=True
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_dragan_and_maxgp_errors():
    d = lambda x: x.sum(axis=1)
    x = np.zeros((2, 3))
    cases = [
        (lambda: advloss.dragan_penalty(d, x, variant="paper"), ValueError, "variant must be"),
        (lambda: advloss.DraganPenalty(variant="x"), ValueError, "variant must be one of"),
        (
            lambda: advloss.dragan_penalty(d, x, variant="compare_gan", alpha=np.zeros(2)),
            ValueError,
            "alpha is only for variant='studiogan'",
        ),
        (
            lambda: advloss.dragan_penalty(d, x, noise=np.zeros((2, 2))),
            ValueError,
            r"noise must be a numpy tensor of shape \(2, 3\)",
        ),
        (
            lambda: advloss.dragan_penalty(d, np.zeros((1,)), noise=np.zeros(1)),
            ValueError,
            "at least 2 elements",
        ),
        (lambda: advloss.dragan_penalty(d, x, weight=-1.0), ValueError, "weight must be >= 0"),
        (
            lambda: advloss.max_gradient_penalty(d, x, np.zeros((3, 3))),
            ValueError,
            r"same shape.*\(2, 3\) and \(3, 3\)",
        ),
        (lambda: advloss.MaxGradientPenalty(weight=-2.0), ValueError, "weight must be >= 0"),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern):
            make()
    assert advloss.DraganPenalty().config() == {
        "name": "dragan",
        "every": 1,
        "weight": 10.0,
        "center": 1.0,
        "variant": "studiogan",
    }
    assert advloss.MaxGradientPenalty(weight=2.0).config() == {
        "name": "maxgp",
        "every": 1,
        "weight": 2.0,
    }


# ------------------------------------------------------------- lazy regularization and Adam


def _stylegan2_ada_lazy_adam(lr, betas, reg_interval):
    """StyleGAN2-ADA ``training/training_loop.py`` (NVlabs), re-created from its source: the
    optimizer of a phase with lazy regularization (``mb_ratio``)."""
    mb_ratio = reg_interval / (reg_interval + 1)
    return lr * mb_ratio, [beta**mb_ratio for beta in betas]


@pytest.mark.parametrize("every", [1, 4, 16])
@pytest.mark.parametrize("betas", [(0.0, 0.99), (0.5, 0.999)])
def test_lazy_adam_is_stylegan2s_correction(every, betas):
    lr, (b1, b2) = advloss.lazy_adam(0.0025, betas, every=every)
    ref_lr, ref_betas = _stylegan2_ada_lazy_adam(0.0025, betas, every)
    assert lr == ref_lr and [b1, b2] == ref_betas
    assert lr < 0.0025 and b2 > betas[1]  # c < 1: lr down, beta2 towards 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, (0.0, 0.99), 4), "lr must be a finite number > 0; received 0.0"),
        ((float("nan"), (0.0, 0.99), 4), "lr must be a finite number > 0"),
        ((1e-3, (0.0, 1.0), 4), r"betas\[1\] must lie in \[0, 1\); received 1.0"),
        ((1e-3, (0.9,), 4), r"betas must be a pair \(beta1, beta2\)"),
        ((1e-3, (0.0, 0.99), 0), "every"),
    ],
)
def test_lazy_adam_rejects_bad_input(args, message):
    with pytest.raises(advloss.AdvlossError, match=message):
        advloss.lazy_adam(*args)
