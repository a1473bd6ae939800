"""Gradient normalization (GN-GAN): the NumPy float64 reference with an analytic D (gradients
w.r.t. its parameters and the input, and R1 on the normalized D, against finite differences),
|D̂| <= 1, GNGAN-PyTorch's ``normalize_gradient`` re-created from its source (D and G losses and
their gradients), equality across frameworks (float32 and float64, eager and compiled), and
errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, PAIRS

SHAPE = (4, 2, 3)  # x: (N, ...)


def problem(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=SHAPE),
        "a": rng.normal(size=SHAPE[1:]),
        "b": rng.normal(0.0, 0.5, SHAPE[1:]),
    }


def reference(x, a, b):
    """D(x) = Σ (a x + b x²) per sample: ∇f = a + 2 b x, D̂ = f / (‖∇f‖ + |f|)."""
    f = (a * x + b * x * x).reshape(len(x), -1).sum(1)
    s = np.sqrt(((a + 2 * b * x) ** 2).reshape(len(x), -1).sum(1))
    return f / (s + np.abs(f))


def reference_input_gradient(x, a, b):
    """∂D̂_n/∂x_n by hand: with g = a + 2bx, s = ‖g‖, ∂s/∂x = 2b g / s,
    ∂D̂/∂x = (g (s + |f|) - f (∂s/∂x + sign(f) g)) / (s + |f|)²."""
    n = len(x)
    f = (a * x + b * x * x).reshape(n, -1).sum(1)
    g = a + 2 * b * x
    s = np.sqrt((g**2).reshape(n, -1).sum(1))
    ex = (-1,) + (1,) * (x.ndim - 1)
    f_, s_ = f.reshape(ex), s.reshape(ex)
    ds = 2 * b * g / s_
    return (g * (s_ + np.abs(f_)) - f_ * (ds + np.sign(f_) * g)) / (s_ + np.abs(f_)) ** 2


def reference_r1(x, a, b, gamma=2.0):
    g = reference_input_gradient(x, a, b)
    return gamma / 2 * np.mean((g**2).reshape(len(x), -1).sum(1))


def _normalized(fw, with_r1=False):
    b_ = fw.backend

    def f(t):
        def D(x):
            return b_.sum_per_sample(t["a"] * x + t["b"] * x * x)

        d_hat = advloss.gradient_normalize(D)
        out = {"value": d_hat(t["x"])}
        if with_r1:
            out["r1"] = advloss.r1_penalty(d_hat, t["x"], gamma=2.0)
        return out

    return f


def _fd(fn, p, name, eps=1e-6):
    x, fd = p[name], np.zeros_like(p[name])
    for i in np.ndindex(x.shape):
        for sign in (1.0, -1.0):
            shifted = {**p, name: x.copy()}
            shifted[name][i] += sign * eps
            fd[i] += sign * fn(**shifted) / (2 * eps)
    return fd


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_matches_the_reference_and_finite_differences(fw):
    """D̂'s values; the gradients of Σ D̂ w.r.t. D's parameters and the input (through D's
    second derivatives)."""
    p = problem(0)
    out = fw.evaluate(_normalized(fw), p, ("a", "b", "x"), "float64")
    assert_close(out["value"], reference(**p), "float64")
    for name in ("a", "b", "x"):
        expected = _fd(lambda **q: reference(**q).sum(), p, name)
        np.testing.assert_allclose(out[f"d/d {name}"], expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["d/d x"], reference_input_gradient(**p), rtol=1e-10, atol=1e-12)


#: JAX's eager third-order ops compile one by one (~2 s): slow-marked there.
R1_FRAMEWORKS = [
    pytest.param(p.values[0], id=p.id, marks=[pytest.mark.slow] if p.id == "jax" else [])
    for p in FRAMEWORK_PARAMS
]


@pytest.mark.parametrize("fw", R1_FRAMEWORKS)
def test_r1_on_the_normalized_discriminator(fw):
    """R1 on D̂ and its gradients w.r.t. D's parameters (third order) against the hand-derived
    input gradient and finite differences."""
    p = problem(0)
    r1 = fw.evaluate(lambda t: {"r1": _normalized(fw, True)(t)["r1"]}, p, ("a", "b"), "float64")
    assert_close(r1["r1"], reference_r1(**p), "float64", what="R1 on D̂")
    for name in ("a", "b"):
        expected = _fd(reference_r1, p, name)
        np.testing.assert_allclose(r1[f"d/d {name}"], expected, rtol=1e-6, atol=1e-8)


def test_the_output_is_bounded_by_one():
    """|D̂| <= 1 on a small MLP at inputs of very different scales (where |f| or ‖∇f‖
    dominates), and D̂ keeps D's output shape (one framework: the formula is written once)."""
    from advloss.testing import get_harness
    from advloss.testing.nets import forward, weights

    pytest.importorskip("torch")
    fw = get_harness("torch")

    params = {k: fw.tensor(v, "float64") for k, v in weights("mlp").items()}
    net = forward(fw.name, "mlp")
    d_hat = advloss.gradient_normalize(lambda x: net(params, x))
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, s, (4, 6)) for s in (1e-3, 1.0, 1e3)])
    values = fw.numpy(d_hat(fw.tensor(x, "float64")))
    assert values.shape == (12, 1) and np.all(np.abs(values) <= 1.0)
    assert np.abs(values).max() > 0.5


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b, dtype):
    p = problem(2)
    ra = a.evaluate(_normalized(a), p, ("a", "b", "x"), dtype)
    rb = b.evaluate(_normalized(b), p, ("a", "b", "x"), dtype)
    for k in ra:
        assert_close(ra[k], rb[k], dtype, what=f"{k} {a.name} vs {b.name}")


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_compiled_equals_eager(fw):
    """torch.compile (fullgraph), tf.function(jit_compile=True), jax.jit; R1 on D̂ included."""
    p = problem(3)
    eager = fw.evaluate(_normalized(fw, True), p, ("a", "b", "x"), "float32")
    compiled = fw.evaluate(_normalized(fw, True), p, ("a", "b", "x"), "float32", compiled=True)
    for k, v in eager.items():
        assert_close(compiled[k], v, "float32", what=f"compiled {k}")


# --------------------------------------------------------------------- GNGAN, re-created


def test_gngan_normalize_gradient_maps_as_documented():
    """basiclab/GNGAN-PyTorch (models/gradnorm.py @ 77511c82, normalize_gradient):
    x.requires_grad_(True); f = net_D(x); grad = autograd.grad(f, [x], ones_like(f),
    create_graph=True, retain_graph=True)[0]; grad_norm = torch.norm(flatten(grad, 1), p=2,
    dim=1) viewed as (N, 1, ...); f_hat = f / (grad_norm + abs(f)).  Its train.py runs D on
    cat([x_real, x_fake.detach()]) and G on normalize_gradient(net_D, net_G(z)).  Re-created
    here with a tiny conv D and a linear G, in float64: D̂, the D loss's gradient w.r.t. D's
    parameters and the G loss's gradient w.r.t. G's parameters equal advloss's."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net_D = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 1),
    ).double()  # fmt: skip
    net_G = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Unflatten(1, (2, 4, 4))).double()

    def normalize_gradient(net_D, x):
        x.requires_grad_(True)
        f = net_D(x)
        grad = torch.autograd.grad(f, [x], torch.ones_like(f), create_graph=True)[0]
        grad_norm = torch.norm(torch.flatten(grad, start_dim=1), p=2, dim=1)
        grad_norm = grad_norm.view(-1, *[1 for _ in range(len(f.shape) - 1)])
        return f / (grad_norm + torch.abs(f))

    real, z = torch.randn(6, 2, 4, 4, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    hinge = advloss.get_loss("hinge")
    d_hat = advloss.gradient_normalize(net_D)
    # D step (fakes detached)
    fake = net_G(z).detach()
    theirs = normalize_gradient(net_D, torch.cat([real, fake]))
    t_real, t_fake = torch.split(theirs, [6, 6])
    t_loss = torch.relu(1 - t_real).mean() + torch.relu(1 + t_fake).mean()
    expected = torch.autograd.grad(t_loss, list(net_D.parameters()))
    ours = d_hat(torch.cat([real, fake]))
    assert_close(ours.detach().numpy(), theirs.detach().numpy(), "float64")
    o_loss = hinge.discriminator(d_hat(real), d_hat(fake))
    got = torch.autograd.grad(o_loss, list(net_D.parameters()))
    assert_close(o_loss.detach().numpy(), t_loss.detach().numpy(), "float64")
    for g, e in zip(got, expected, strict=True):
        assert_close(g.numpy(), e.numpy(), "float64", what="D loss gradient")
    # G step: the gradient reaches G through D̂'s input gradient
    t_g = -normalize_gradient(net_D, net_G(z)).mean()
    expected = torch.autograd.grad(t_g, list(net_G.parameters()))
    o_g = hinge.generator(d_hat(net_G(z)))
    got = torch.autograd.grad(o_g, list(net_G.parameters()))
    for g, e in zip(got, expected, strict=True):
        assert_close(g.numpy(), e.numpy(), "float64", what="G loss gradient")


def test_errors():
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, 2)
    D = lambda x: x.sum(1)
    gn = advloss.gradient_normalize
    cases = [
        (lambda: gn("D"), TypeError, "discriminator must be a callable"),
        (lambda: gn(D)(None), TypeError, "x is required"),
        (lambda: gn(D)(1.0), TypeError, "x must be a tensor"),
        (lambda: gn(lambda x: x)(x), ValueError, r"one value per sample.*shape \(3, 2\)"),
        (lambda: gn(lambda x: x.sum())(x), ValueError, "one value per sample"),
        (lambda: gn(lambda x: (x.sum(1),))(x), TypeError, "must return a torch tensor"),
        (lambda: gn(lambda x: torch.ones(3))(x), ValueError, "does not depend on x"),
        (lambda: gn(lambda x: x.sum(1))(np.zeros((3, 2))), TypeError, "automatic diff"),
        (lambda: gn(D)(torch.zeros(3, 2, dtype=torch.int64)), TypeError, "floating-point"),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
    assert repr(gn(D)).startswith("gradient_normalize(<function")
