"""Spectral normalization: the spec against a NumPy float64 reference, SVD and closed-form /
finite-difference gradients; the spec across frameworks; the exact mappings onto torch's two
built-ins, Keras 3's and Flax linen's; the three advloss front ends against each other; the
PyTorch front end under DDP-style buffers, autocast, torch.compile and state_dict; errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from advloss.equivalence.spectral import FRONT_END_KINDS, front_end_results
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.spectral import init_state, spectral_normalize
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

DTYPES = ["float32", "float64"]
NAMES = {h.name for h in FRAMEWORKS}
needs = {
    name: pytest.mark.skipif(name not in NAMES, reason=f"{name} not selected or not installed")
    for name in ("torch", "tensorflow", "jax")
}

# (weight shape, dim): a Linear/Dense matrix, a conv weight (out first), a transposed-conv weight
# (out second, torch's dim=1), a Keras/Flax conv kernel (out last), a 1-D weight.
LAYOUTS = [((7, 5), 0), ((4, 3, 3, 2), 0), ((3, 4, 2, 2), 1), ((2, 2, 3, 4), -1), ((6,), 0)]


def n_(x, eps=1e-12):
    return x / max(np.linalg.norm(x), eps)


def reference(weight, u, v, n, eps=1e-12, dim=0):
    """The documented formula in NumPy float64."""
    weight = np.asarray(weight, np.float64)
    w = np.moveaxis(weight, dim, 0).reshape(weight.shape[dim], -1)
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    for _ in range(n):
        v = n_(w.T @ u, eps)
        u = n_(w @ v, eps)
    sigma = u @ w @ v
    return weight / sigma, sigma, u, v


def dsigma_dweight(shape, dim, u, v):
    """∂σ/∂weight = u vᵀ laid out like the weight."""
    moved = list(shape)
    moved.insert(0, moved.pop(dim % len(shape)))
    return np.moveaxis(np.outer(u, v).reshape(moved), 0, dim)


def random_state(rng, shape, dim):
    out = shape[dim]
    return n_(rng.normal(size=out)), n_(rng.normal(size=int(np.prod(shape)) // out))


def matrix_with_spectrum(rng, rows, cols, spectrum):
    a, _ = np.linalg.qr(rng.normal(size=(rows, rows)))
    b, _ = np.linalg.qr(rng.normal(size=(cols, cols)))
    s = np.zeros((rows, cols))
    s[np.arange(len(spectrum)), np.arange(len(spectrum))] = spectrum
    return a @ s @ b.T


# ------------------------------------------------------------------------------ the spec


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_spec_matches_numpy_reference(fw, dtype):
    rng = np.random.default_rng(0)
    b = fw.backend
    for shape, dim in LAYOUTS:
        weight = rng.normal(size=shape)
        u, v = random_state(rng, shape, dim)
        if dtype == "float32":  # the reference starts from the same rounded inputs
            weight, u, v = (x.astype(np.float32) for x in (weight, u, v))
        for n in (0, 1, 3):
            out = spectral_normalize(
                b.from_numpy(weight, dtype),
                b.from_numpy(u, dtype),
                b.from_numpy(v, dtype),
                n_power_iterations=n,
                dim=dim,
            )
            expected = reference(weight, u, v, n, dim=dim)
            what = f"{shape} dim={dim} n={n}"
            assert b.dtype(out.weight) == dtype and b.dtype(out.sigma) == dtype
            for got, exp, name in zip(out, expected, ("weight", "sigma", "u", "v"), strict=True):
                assert_close(fw.numpy(got), exp, dtype, what=f"{name} {what}")


def test_numpy_backend_is_the_reference():
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(4, 3, 2))
    u, v = random_state(rng, weight.shape, 1)
    out = spectral_normalize(weight, u, v, n_power_iterations=2, dim=1)
    for got, exp in zip(out, reference(weight, u, v, 2, dim=1), strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_sigma_converges_to_largest_singular_value(fw):
    rng = np.random.default_rng(2)
    w = matrix_with_spectrum(rng, 6, 9, [3.0, 2.0, 1.0, 0.5])
    weight = fw.tensor(w, "float64")
    u, v = init_state(weight, key_for(fw, 0), n_power_iterations=0)
    out = spectral_normalize(weight, u, v, n_power_iterations=200)
    s = np.linalg.svd(w)
    np.testing.assert_allclose(fw.numpy(out.sigma), s[1][0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(fw.numpy(out.weight), 2), 1.0, rtol=1e-6)
    # u and v converge to the top singular vectors (up to a common sign).
    sign = np.sign(fw.numpy(out.u) @ s[0][:, 0])
    np.testing.assert_allclose(sign * fw.numpy(out.u), s[0][:, 0], atol=1e-6)
    np.testing.assert_allclose(sign * fw.numpy(out.v), s[2][0], atol=1e-6)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_init_state(fw):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 4, 2, 2))
    weight = fw.tensor(w, "float32")
    u, v = init_state(weight, key_for(fw, 1), dim=1)
    assert fw.backend.shape(u) == (4,) and fw.backend.shape(v) == (3 * 2 * 2,)
    u_np = fw.numpy(u)
    assert_close(np.linalg.norm(u_np), 1.0, "float32")
    wm = np.moveaxis(w, 1, 0).reshape(4, -1)
    assert_close(fw.numpy(v), n_(wm.T @ u_np.astype(np.float64)), "float32", what="v = n(Wᵀu)")
    # warm-up steps = the spec run from the drawn state; same key, same draw.
    u5, v5 = init_state(weight, key_for(fw, 1), dim=1, n_power_iterations=5)
    _, _, eu, ev = reference(wm, u_np, fw.numpy(v), 5)
    assert_close(fw.numpy(u5), eu, "float32", what="warm-up u")
    assert_close(fw.numpy(v5), ev, "float32", what="warm-up v")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_eval_reproduces_last_training_call(fw):
    rng = np.random.default_rng(4)
    w = rng.normal(size=(5, 3, 3))
    weight = fw.tensor(w, "float32")
    u, v = init_state(weight, key_for(fw, 2))
    for _ in range(3):
        train = spectral_normalize(weight, u, v)
        u, v = train.u, train.v
    evaluation = spectral_normalize(weight, u, v, n_power_iterations=0)
    np.testing.assert_array_equal(fw.numpy(evaluation.sigma), fw.numpy(train.sigma))
    np.testing.assert_array_equal(fw.numpy(evaluation.weight), fw.numpy(train.weight))


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_weights_iterate_in_float32(fw, low):
    rng = np.random.default_rng(5)
    w = rng.normal(size=(6, 4))
    u, v = random_state(rng, w.shape, 0)
    b = fw.backend
    weight = b.from_numpy(w, low)
    out = spectral_normalize(weight, b.from_numpy(u, "float32"), b.from_numpy(v, "float32"))
    assert b.dtype(out.weight) == low
    assert (b.dtype(out.sigma), b.dtype(out.u), b.dtype(out.v)) == ("float32",) * 3
    w_rounded = fw.numpy(b.cast(weight, "float32")).astype(np.float64)
    expected = reference(w_rounded, u, v, 1)
    assert_close(fw.numpy(out.sigma), expected[1], "float32", what="σ")
    assert_close(fw.numpy(out.weight), expected[0], low, what="weight / σ")


# ------------------------------------------------------------------------------ gradients


def _objective_setup(shape, dim, seed=6):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape)
    u, v = random_state(rng, shape, dim)
    c = rng.normal(size=shape)
    return w, u, v, c


def _closed_form_gradient(w, u, v, c, n, dim):
    """d/dW Σ c ∘ W/σ = c/σ − (Σ c ∘ W)/σ² ∂σ/∂W, with u, v the (constant) iterated vectors."""
    _, sigma, un, vn = reference(w, u, v, n, dim=dim)
    return c / sigma - (c * w).sum() / sigma**2 * dsigma_dweight(w.shape, dim, un, vn), un, vn


@pytest.mark.parametrize("shape,dim", [((7, 5), 0), ((3, 4, 2, 2), 1)])
def test_closed_form_gradient_matches_finite_differences(shape, dim):
    """Oracle check in NumPy float64: the gradient the frameworks must produce (u, v constant)."""
    w, u, v, c = _objective_setup(shape, dim)
    grad, un, vn = _closed_form_gradient(w, u, v, c, 2, dim)

    def f(x):  # u, v frozen at the values the iteration produced from w
        wm = np.moveaxis(x, dim, 0).reshape(x.shape[dim], -1)
        return (c * x / (un @ wm @ vn)).sum()

    fd = np.zeros_like(w)
    h = 1e-6
    for i in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[i] = h
        fd[i] = (f(w + e) - f(w - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_gradient_matches_closed_form(fw, dtype):
    """Gradient through σ with respect to W only (no gradient through the power iteration);
    eager, and jit / tf.function(XLA) for JAX and TensorFlow (torch.compile is covered once, on
    the module front end, below)."""
    for shape, dim in [((7, 5), 0), ((3, 4, 2, 2), 1)]:
        w, u, v, c = _objective_setup(shape, dim)
        if dtype == "float32":
            w, u, v, c = (x.astype(np.float32).astype(np.float64) for x in (w, u, v, c))
        ut, vt, ct = (fw.tensor(x, dtype) for x in (u, v, c))
        expected, _, _ = _closed_form_gradient(w, u, v, c, 2, dim)

        def fn(weight, ut=ut, vt=vt, ct=ct, dim=dim):
            return spectral_normalize(weight, ut, vt, n_power_iterations=2, dim=dim).weight * ct

        for compiled in (False, True) if fw.name != "torch" else (False,):
            value, (grad,) = fw.value_and_grad(fn, [w], dtype, compiled=compiled)
            assert_close(value, c * reference(w, u, v, 2, dim=dim)[0], dtype, what="value")
            assert_close(grad, expected, dtype, what=f"gradient {shape} compiled={compiled}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", PAIRS)
def test_spec_agrees_across_frameworks(a, b, dtype):
    w, u, v, c = _objective_setup((4, 3, 3, 2), 0, seed=7)

    def run(fw):
        ut, vt, ct = (fw.tensor(x, dtype) for x in (u, v, c))
        out = spectral_normalize(fw.tensor(w, dtype), ut, vt, n_power_iterations=3)
        _, (grad,) = fw.value_and_grad(
            lambda x: spectral_normalize(x, ut, vt, n_power_iterations=3).weight * ct, [w], dtype
        )
        return [fw.numpy(t) for t in out] + [grad]

    for got, exp, name in zip(run(a), run(b), ("weight", "sigma", "u", "v", "grad"), strict=True):
        assert_close(got, exp, dtype, what=f"{name} {a.name} vs {b.name}")


# ------------------------------------------------------------------ mappings onto built-ins


@needs["torch"]
@pytest.mark.parametrize(
    "make", ["linear", "conv", "conv_transpose"], ids=["Linear", "Conv2d", "ConvTranspose2d"]
)
def test_torch_legacy_spectral_norm_is_the_spec(make):
    """torch.nn.utils.spectral_norm (buffers weight_u, weight_v; v-first; eval from the stored
    u, v): the spec from the same (u, v) gives the same weight / σ and the same new (u, v), in
    training and in eval; dim=1 for the transposed convolution in both."""
    import torch

    from advloss.nn.torch import spectral_norm

    torch.manual_seed(0)
    make_module = {
        "linear": lambda: torch.nn.Linear(5, 7),
        "conv": lambda: torch.nn.Conv2d(3, 4, 3),
        "conv_transpose": lambda: torch.nn.ConvTranspose2d(3, 4, 3),
    }[make]
    dim = 1 if make == "conv_transpose" else 0
    theirs = torch.nn.utils.spectral_norm(make_module().double())
    ours = spectral_norm(make_module().double())
    p = ours.parametrizations.weight
    assert p[0].dim == dim
    with torch.no_grad():
        p.original.copy_(theirs.weight_orig)
        ours.bias.copy_(theirs.bias)
        p[0].u.copy_(theirs.weight_u)
        p[0].v.copy_(theirs.weight_v)
    x = torch.randn(2, *((5,) if make == "linear" else (3, 6, 6)), dtype=torch.float64)
    for mode in ("train", "train", "eval"):
        theirs.train(mode == "train")
        ours.train(mode == "train")
        u, v = theirs.weight_u.clone(), theirs.weight_v.clone()
        y_theirs = theirs(x)
        spec = spectral_normalize(
            theirs.weight_orig, u, v, n_power_iterations=int(mode == "train"), dim=dim
        )
        for got, exp, what in [
            (spec.weight, theirs.weight, "weight / σ"),
            (spec.u, theirs.weight_u, "u"),
            (spec.v, theirs.weight_v, "v"),
            (ours(x), y_theirs, "module output"),
            (p[0].u, theirs.weight_u, "front end u"),
        ]:
            assert_close(
                got.detach().numpy(), exp.detach().numpy(), "float64", what=f"{what} {mode}"
            )


@needs["torch"]
@pytest.mark.parametrize("make", ["linear", "conv"])
def test_torch_parametrizations_spectral_norm_mapping(make):
    """torch.nn.utils.parametrizations.spectral_norm iterates u-first on W = weight.flatten(1):
    u' = n(W v), v' = n(Wᵀ u'), σ = u'ᵀ W v'.  That is one v-first step of the spec on **Wᵀ**
    from the state (its _v, its _u): the spec's v is its new _u, the spec's u its new _v, and
    the σ and weight / σ are the same.  Eval (no step) maps the same way."""
    import torch
    from torch.nn.utils.parametrizations import spectral_norm as torch_sn

    torch.manual_seed(1)
    module = (torch.nn.Linear(6, 4) if make == "linear" else torch.nn.Conv2d(3, 4, 3)).double()
    torch_sn(module)  # draws _u, _v and runs its 15 warm-up iterations
    p = module.parametrizations.weight
    x = torch.randn(2, *((6,) if make == "linear" else (3, 5, 5)), dtype=torch.float64)
    w = p.original.detach()
    w_t = w.flatten(1).T  # its matrix, transposed: our "weight" with dim 0
    for mode in ("train", "train", "eval"):
        module.train(mode == "train")
        state = (p[0]._v.clone(), p[0]._u.clone())  # our (u, v) = its (_v, _u)
        normalized = module.weight.detach()
        spec = spectral_normalize(w_t, *state, n_power_iterations=int(mode == "train"))
        assert_close(spec.u.numpy(), p[0]._v.numpy(), "float64", what=f"our u = its _v ({mode})")
        assert_close(spec.v.numpy(), p[0]._u.numpy(), "float64", what=f"our v = its _u ({mode})")
        assert_close(
            spec.weight.T.reshape(w.shape).numpy(), normalized.numpy(), "float64", what=mode
        )
        its_sigma = (p[0]._u @ w.flatten(1) @ p[0]._v).numpy()
        assert_close(spec.sigma.numpy(), its_sigma, "float64", what=f"σ ({mode})")
    # Both converge to the largest singular value.
    module.train()
    for _ in range(300):
        module(x)
    its_sigma = (p[0]._u @ w.flatten(1) @ p[0]._v).item()
    u, v = init_state(w, torch.Generator().manual_seed(0), n_power_iterations=300)
    ours = spectral_normalize(w, u, v, n_power_iterations=0).sigma.item()
    top = np.linalg.svd(w.flatten(1).numpy(), compute_uv=False)[0]
    np.testing.assert_allclose([its_sigma, ours], [top, top], rtol=1e-6)


@needs["tensorflow"]
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_keras_spectral_normalization_mapping(kind):
    """keras.layers.SpectralNormalization: vector_u (1, C_out) over W_k = reshape(kernel,
    (-1, C_out)) = our Wᵀ with dim = -1; v = n(u W_kᵀ), u = n(v W_k), σ = v W_k uᵀ — our order,
    with our u = its vector_u and ε = keras.config.epsilon().  In training it *assigns*
    kernel / σ into the kernel: compare that kernel and vector_u after one training call."""
    import keras

    from advloss.nn.keras import SpectralNormalization

    rng = np.random.default_rng(8)
    inner = {
        "dense": lambda: keras.layers.Dense(4, dtype="float64"),
        "conv": lambda: keras.layers.Conv2D(4, 3, dtype="float64"),
    }[kind]
    shape = (5,) if kind == "dense" else (6, 6, 3)
    x = rng.normal(size=(2, *shape))
    builtin = keras.layers.SpectralNormalization(inner(), power_iterations=1, dtype="float64")
    builtin.build((None, *shape))
    kernel = rng.normal(size=tuple(builtin.layer.kernel.shape))
    u0 = rng.normal(size=kernel.shape[-1])  # not normalized: the first step normalizes v
    builtin.layer.kernel.assign(kernel)
    builtin.vector_u.assign(u0[None])
    y_builtin = np.asarray(builtin(x, training=True))

    eps = keras.config.epsilon()
    v0 = np.zeros(kernel.size // kernel.shape[-1])  # not read when a step is taken
    spec = spectral_normalize(kernel, u0, v0, eps=eps, dim=-1)
    assert_close(np.asarray(builtin.layer.kernel.value), spec.weight, "float64", what="kernel / σ")
    assert_close(np.asarray(builtin.vector_u.value)[0], spec.u, "float64", what="vector_u")

    ours = SpectralNormalization(inner(), eps=eps, dtype="float64")
    ours.build((None, *shape))
    ours.layer.kernel.assign(kernel)
    ours.u.assign(u0)
    assert_close(np.asarray(ours(x, training=True)), y_builtin, "float64", what="output")
    assert_close(np.asarray(ours.u.value), spec.u, "float64", what="advloss wrapper u")
    np.testing.assert_array_equal(np.asarray(ours.layer.kernel.value), kernel)  # not assigned


@needs["jax"]
def test_flax_linen_spectral_norm_mapping():
    """flax.linen.SpectralNorm: u (1, out) in batch_stats over W_f = reshape(kernel, (-1, out))
    = our Wᵀ with dim = -1; v = l2n(u W_fᵀ), u = l2n(v W_f) — our order, our u = its u.  Its
    l2n(x) = x · rsqrt(Σx² + ε) puts ε inside the square root, a relative difference of
    ε / (2‖x‖²) ≈ 1e-12 here: equal within the float64 tolerance (rtol 1e-10), not bit for bit.
    It also runs the step with update_stats=False (and does not store it), so its eval output
    is our training step from the stored u."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from advloss.nn.flax import SpectralNorm

    rng = np.random.default_rng(9)
    x = jnp.asarray(rng.normal(size=(2, 6, 6, 3)))

    def conv():
        return nn.Conv(4, (3, 3), param_dtype=jnp.float64, dtype=jnp.float64)

    builtin = nn.SpectralNorm(conv(), n_steps=1, param_dtype=jnp.float64)
    variables = builtin.init(jax.random.key(0), x, update_stats=False)
    kernel = jnp.asarray(rng.normal(size=variables["params"]["layer_instance"]["kernel"].shape))
    u0 = n_(rng.normal(size=kernel.shape[-1]))
    params = {"layer_instance": {**variables["params"]["layer_instance"], "kernel": kernel}}
    (u_name,) = [k for k in variables["batch_stats"] if k.endswith("/u")]
    stats = {**variables["batch_stats"], u_name: jnp.asarray(u0[None])}
    y_builtin, updates = builtin.apply(
        {"params": params, "batch_stats": stats}, x, update_stats=True, mutable=["batch_stats"]
    )
    y_eval = builtin.apply({"params": params, "batch_stats": stats}, x, update_stats=False)

    v0 = np.zeros(kernel.size // kernel.shape[-1])
    spec = spectral_normalize(np.asarray(kernel), u0, v0, dim=-1)
    new = updates["batch_stats"]
    assert_close(np.asarray(new[u_name])[0], spec.u, "float64", what="u")
    assert_close(np.asarray(new[u_name.replace("/u", "/sigma")]), spec.sigma, "float64", what="σ")

    ours = SpectralNorm(conv())
    our_vars = ours.init(jax.random.key(1), x, update_stats=False)
    assert set(our_vars["batch_stats"]) == {"kernel/u", "kernel/v"}
    our_stats = {"kernel/u": jnp.asarray(u0), "kernel/v": jnp.asarray(v0)}
    y_ours, our_new = ours.apply(
        {"params": params, "batch_stats": our_stats}, x, update_stats=True, mutable=["batch_stats"]
    )
    assert_close(np.asarray(y_ours), np.asarray(y_builtin), "float64", what="training output")
    assert_close(np.asarray(y_eval), np.asarray(y_builtin), "float64", what="its eval = its step")
    assert_close(np.asarray(our_new["batch_stats"]["kernel/u"]), spec.u, "float64", what="our u")


def test_tf_gan_compute_spectral_norm_mapping():
    """TF-GAN's compute_spectral_norm (tensorflow/gan @ 4a5d92ee; TF1 graph mode only, so it is
    transcribed here in NumPy from its source): w = reshape(kernel, (-1, C_out)) (= our Wᵀ),
    persisted u of shape (rows, 1) — the *input* space —, v = l2n(wᵀu), u = l2n(w v),
    σ = uᵀ w v, with tf.nn.l2_normalize(x) = x · rsqrt(max(Σx², 1e-12)) = x / max(‖x‖, 1e-6).
    On the (out × in) matrix that is u-first (like torch's parametrization); it is the spec
    applied to reshape(kernel, (-1, C_out)) with dim=0, our u = its u, eps = 1e-6."""
    rng = np.random.default_rng(13)
    kernel = rng.normal(size=(3, 3, 2, 4))
    w = kernel.reshape(-1, kernel.shape[-1])
    u_tf = rng.normal(size=(w.shape[0], 1))  # random_normal initializer, not normalized

    def l2n(x):
        return x / np.sqrt(np.maximum((x * x).sum(), 1e-12))

    u = u_tf
    for _ in range(2):
        v = l2n(w.T @ u)
        u = l2n(w @ v)
    sigma_tf = (u.T @ w @ v)[0, 0]

    spec = spectral_normalize(w, u_tf[:, 0], np.zeros(4), n_power_iterations=2, eps=1e-6)
    np.testing.assert_allclose(spec.sigma, sigma_tf, rtol=1e-13)
    np.testing.assert_allclose(spec.u, u[:, 0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(spec.weight.reshape(kernel.shape), kernel / sigma_tf, rtol=1e-13)


def test_importing_advloss_nn_imports_no_framework():
    import subprocess
    import sys

    code = (
        "import sys, advloss.nn, advloss.spectral; "
        "print([m for m in ('torch', 'tensorflow', 'jax', 'flax', 'keras') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------------ the three front ends agree


@needs["torch"]
@needs["tensorflow"]
@needs["jax"]
@pytest.mark.parametrize("kind", ["dense", "conv", "conv_transpose"])
def test_front_ends_agree(kind):
    """One conceptual layer in the three front ends (float64): outputs, kernel gradients through
    σ and the stored u agree over two training calls and one eval call (layouts and the
    permutation of v: :func:`advloss.equivalence.spectral.front_end_results`)."""
    results = {
        fw: front_end_results(fw, kind) for fw, kinds in FRONT_END_KINDS.items() if kind in kinds
    }
    reference = results.pop("torch")
    for name, calls in results.items():
        for step, (got, want) in enumerate(zip(calls, reference, strict=True)):
            for quantity in ("output", "kernel_grad", "u"):
                what = f"{quantity} {name} vs torch, {kind}, call {step}"
                assert_close(got[quantity], want[quantity], "float64", what=what)


# ------------------------------------------------------------------ PyTorch front end


def _torch_d(seed=0):
    import torch

    from advloss.nn.torch import spectral_norm

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        spectral_norm(torch.nn.Conv2d(3, 8, 3, stride=2)),
        torch.nn.LeakyReLU(0.2),
        spectral_norm(torch.nn.ConvTranspose2d(8, 4, 3)),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(),
        spectral_norm(torch.nn.Linear(4 * 5 * 5, 1)),
    )


@needs["torch"]
def test_torch_front_end_two_forwards_one_backward_and_state_dict():
    """D(real) and D(fake) in training mode (each updates u, v in place), then one backward:
    no tensor autograd saved was modified.  The state_dict round-trips into a fresh module."""
    import torch

    d = _torch_d()
    real, fake = torch.randn(4, 3, 7, 7), torch.randn(4, 3, 7, 7)
    u_before = d[0].parametrizations.weight[0].u.clone()
    loss = torch.relu(1 - d(real)).mean() + torch.relu(1 + d(fake)).mean()
    loss.backward()
    assert not torch.equal(u_before, d[0].parametrizations.weight[0].u)
    assert all(p.grad is not None for p in d.parameters())
    keys = set(d.state_dict())
    assert {"0.parametrizations.weight.0.u", "0.parametrizations.weight.0.v"} <= keys
    assert "0.parametrizations.weight.original" in keys
    buffers = dict(d.named_buffers())
    assert "2.parametrizations.weight.0.u" in buffers  # registered buffers: DDP broadcasts them

    fresh = _torch_d(seed=1)
    fresh.load_state_dict(d.state_dict())
    for mode in (False, True):  # eval, then a training step from the same state
        d.train(mode)
        fresh.train(mode)
        torch.testing.assert_close(fresh(real), d(real), rtol=0, atol=0)
    torch.testing.assert_close(fresh.state_dict(), d.state_dict(), rtol=0, atol=0)


@needs["torch"]
def test_torch_front_end_eval_and_remove():
    import torch

    from advloss.nn.torch import remove_spectral_norm

    d = _torch_d()
    x = torch.randn(2, 3, 7, 7)
    y_train = d(x)
    d.eval()
    state = [b.clone() for b in d.buffers()]
    torch.testing.assert_close(d(x), y_train, rtol=0, atol=0)  # eval = last training call
    assert all(torch.equal(a, b) for a, b in zip(state, d.buffers(), strict=True))
    w_sn = d[5].weight.detach().clone()
    remove_spectral_norm(d[5])
    assert isinstance(d[5].weight, torch.nn.Parameter)
    torch.testing.assert_close(d[5].weight.detach(), w_sn, rtol=0, atol=0)
    torch.testing.assert_close(d(x), y_train, rtol=0, atol=0)


@needs["torch"]
def test_torch_front_end_autocast_bfloat16():
    """Under torch.autocast(bfloat16) the parametrization computes in float32 (autocast disabled
    inside); the layers run in bfloat16, and the state update equals the float32 one."""
    import torch

    d32 = _torch_d()
    dbf = _torch_d()
    x = torch.randn(2, 3, 7, 7)
    y32 = d32(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dbf(x)
        u_dtype = dbf[0].parametrizations.weight[0].u.dtype
    assert y.dtype == torch.bfloat16 and u_dtype == torch.float32
    y.float().sum().backward()
    for a, b in zip(d32.buffers(), dbf.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert_close(y.detach().float().numpy(), y32.detach().numpy(), "bfloat16", what="bf16 output")


@needs["torch"]
def test_torch_front_end_compile_fullgraph():
    """One torch.compile(fullgraph=True) of a training step (forward with the in-place buffer
    update, backward): same outputs, gradients and buffers as eager."""
    import torch

    eager, compiled_d = _torch_d(), _torch_d()
    compiled = torch.compile(compiled_d, fullgraph=True)
    x = torch.randn(2, 3, 7, 7)
    outputs = []
    for call, d in ((eager, eager), (compiled, compiled_d)):
        y = call(x)
        (g,) = torch.autograd.grad(y.sum(), d[0].parametrizations.weight.original)
        outputs.append((y.detach().numpy(), g.numpy()))
    (y_e, g_e), (y_c, g_c) = outputs
    assert_close(y_c, y_e, "float32", what="compiled output")
    assert_close(g_c, g_e, "float32", what="compiled gradient")
    for a, b in zip(eager.buffers(), compiled_d.buffers(), strict=True):
        assert_close(b.numpy(), a.numpy(), "float32", what="compiled buffer update")


# ------------------------------------------------------------------ Keras and Flax front ends


@needs["tensorflow"]
def test_keras_wrapper_gradient_flows_through_sigma_and_tf_function():
    import keras
    import tensorflow as tf

    from advloss.nn.keras import SpectralNormalization

    rng = np.random.default_rng(11)
    layer = SpectralNormalization(keras.layers.Dense(3), seed=0)
    x = tf.constant(rng.normal(size=(4, 5)), tf.float32)
    layer(x)  # build
    u0, v0 = layer.u.numpy().copy(), layer.v.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grad = tape.gradient(loss, layer.layer.kernel.value).numpy()
    # Oracle: d/dK Σ (x K/σ + b)² with σ = uᵀ Kᵀ v... computed from the new (u, v) in NumPy.
    kernel = layer.layer.kernel.numpy().astype(np.float64)
    _, sigma, u1, v1 = reference(kernel, u0, v0, 1, dim=-1)
    xn = x.numpy().astype(np.float64)
    y = xn @ kernel / sigma
    dy = 2 * y
    dk_direct = xn.T @ dy / sigma
    dsig = dsigma_dweight(kernel.shape, -1, u1, v1)
    expected = dk_direct - (dy * (xn @ kernel)).sum() / sigma**2 * dsig
    assert_close(grad, expected, "float32", what="gradient through σ")
    assert np.abs(grad - dk_direct).max() > 1e-3  # σ's term is not negligible here
    assert_close(layer.u.numpy(), u1, "float32", what="u assigned in training")
    layer(x)  # eval: no update
    assert_close(layer.u.numpy(), u1, "float32", what="u unchanged in eval")

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) ** 2)
        return loss, tape.gradient(loss, layer.trainable_variables)

    loss, grads = train_step(x)
    _, _, u2, _ = reference(kernel, u1, v1, 1, dim=-1)
    assert_close(layer.u.numpy(), u2, "float32", what="u assigned inside tf.function")
    assert all(g is not None for g in grads)

    config = layer.get_config()
    clone = SpectralNormalization.from_config(config)
    assert (clone.power_iterations, clone.eps, clone.dim) == (1, 1e-12, -1)


@needs["tensorflow"]
def test_keras_wrapper_mixed_bfloat16_policy_iterates_in_float32():
    """Under a mixed policy Keras hands layers a bfloat16 copy of float32 variables; the wrapper
    reads the kernel and state in float32, so the state update is the float32 one."""
    import keras

    from advloss.nn.keras import SpectralNormalization

    rng = np.random.default_rng(14)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    policy = "mixed_bfloat16"
    layer = SpectralNormalization(keras.layers.Dense(3, dtype=policy), seed=0, dtype=policy)
    layer.build((None, 5))
    kernel, u, v = (
        np.asarray(w.numpy(), np.float64) for w in (layer.layer.kernel, layer.u, layer.v)
    )
    y = layer(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert layer.u.dtype == "float32"
    expected = reference(kernel, u, v, 1, dim=-1)
    assert_close(layer.u.numpy(), expected[2], "float32", what="u (float32 update)")
    assert_close(np.asarray(y, np.float32), x @ expected[0], "bfloat16", what="bfloat16 output")


@needs["jax"]
def test_flax_linen_and_nnx_agree_and_jit():
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from advloss.nn.flax import SpectralNorm, SpectralNormNNX

    rng = np.random.default_rng(12)
    x = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    lin = nnx.Linear(5, 4, rngs=nnx.Rngs(0))
    nnx_sn = SpectralNormNNX(lin, rngs=nnx.Rngs(1))
    linen_sn = SpectralNorm(nn.Dense(4))
    params = {"layer_instance": {"kernel": lin.kernel[...], "bias": lin.bias[...]}}
    stats = {"kernel/u": nnx_sn.u[...], "kernel/v": nnx_sn.v[...]}
    kernel0 = np.asarray(lin.kernel[...])

    @jax.jit
    def linen_step(params, stats, x):
        def loss(p):
            y, new = linen_sn.apply(
                {"params": p, "batch_stats": stats}, x, update_stats=True, mutable=["batch_stats"]
            )
            return jnp.sum(y**2), new["batch_stats"]

        return jax.value_and_grad(loss, has_aux=True)(params)

    @nnx.jit
    def nnx_step(model, x):
        return nnx.value_and_grad(lambda m: jnp.sum(m(x) ** 2))(model)

    for _ in range(2):
        (l_linen, stats), g_linen = linen_step(params, stats, x)
        l_nnx, g_nnx = nnx_step(nnx_sn, x)
        assert_close(np.asarray(l_nnx), np.asarray(l_linen), "float32", what="loss")
        assert_close(
            np.asarray(g_nnx["layer_instance"]["kernel"][...]),
            np.asarray(g_linen["layer_instance"]["kernel"]),
            "float32",
            what="kernel gradient",
        )
        assert_close(np.asarray(nnx_sn.u[...]), np.asarray(stats["kernel/u"]), "float32", what="u")
    np.testing.assert_array_equal(np.asarray(lin.kernel[...]), kernel0)  # never overwritten
    nnx_sn.eval()
    u = np.asarray(nnx_sn.u[...])
    y_eval = nnx_sn(x)
    np.testing.assert_array_equal(np.asarray(nnx_sn.u[...]), u)
    y_linen = linen_sn.apply({"params": params, "batch_stats": stats}, x, update_stats=False)
    assert_close(np.asarray(y_eval), np.asarray(y_linen), "float32", what="eval output")


# ------------------------------------------------------------------------------ errors


def test_spec_errors():
    w = np.ones((3, 4))
    u, v = np.ones(3), np.ones(4)
    cases = [
        (dict(n_power_iterations=-1), AdvlossValueError, "n_power_iterations must be an int >= 0"),
        (dict(n_power_iterations=1.5), AdvlossValueError, "received 1.5"),
        (dict(n_power_iterations=True), AdvlossValueError, "received True"),
        (dict(eps=0.0), AdvlossValueError, "eps must be > 0"),
        (dict(eps=-1e-3), AdvlossValueError, "eps must be > 0"),
        (dict(dim=2), AdvlossValueError, "dim must be an int in [-2, 1]"),
    ]
    for kwargs, err, text in cases:
        with pytest.raises(err, match=_escape(text)):
            spectral_normalize(w, u, v, **kwargs)
    with pytest.raises(AdvlossValueError, match=_escape("u must have shape (3,)")):
        spectral_normalize(w, np.ones(4), v)
    with pytest.raises(
        AdvlossValueError, match=_escape("v must have shape (4,) (the weight has 3")
    ):
        spectral_normalize(w, u, np.ones((1, 4)))
    with pytest.raises(AdvlossValueError, match=_escape("u must have shape (4,)")):
        spectral_normalize(w, u, v, dim=1)  # the output axis has 4 entries: u, v swap roles
    with pytest.raises(AdvlossTypeError, match="floating-point"):
        spectral_normalize(np.ones((3, 4), np.int64), u, v)
    with pytest.raises(AdvlossValueError, match="at least one axis"):
        spectral_normalize(np.float64(1.0), u, v)
    with pytest.raises(AdvlossTypeError, match="u is required"):
        spectral_normalize(w, None, v)
    with pytest.raises(ValueError, match="eps must be > 0"):  # also a builtin ValueError
        init_state(w, 0, eps=0)


def _escape(text):
    import re

    return re.escape(text)


@needs["torch"]
def test_torch_front_end_errors():
    import torch

    from advloss.nn.torch import remove_spectral_norm, spectral_norm

    with pytest.raises(AdvlossValueError, match=r"has no parameter 'kernel'.*\['weight', 'bias'\]"):
        spectral_norm(torch.nn.Linear(2, 3), "kernel")
    with pytest.raises(AdvlossValueError, match="n_power_iterations must be an int >= 1"):
        spectral_norm(torch.nn.Linear(2, 3), n_power_iterations=0)
    with pytest.raises(AdvlossValueError, match="eps must be > 0"):
        spectral_norm(torch.nn.Linear(2, 3), eps=0)
    with pytest.raises(AdvlossTypeError, match=r"torch\.nn\.Module"):
        spectral_norm(torch.ones(3))
    with pytest.raises(AdvlossValueError, match="already spectrally normalized"):
        spectral_norm(spectral_norm(torch.nn.Linear(2, 3)))
    with pytest.raises(AdvlossValueError, match="not initialized yet"):
        spectral_norm(torch.nn.LazyLinear(3))
    with pytest.raises(AdvlossValueError, match="is not spectrally normalized"):
        remove_spectral_norm(torch.nn.Linear(2, 3))


@needs["tensorflow"]
def test_keras_front_end_errors():
    import keras

    from advloss.nn.keras import SpectralNormalization

    with pytest.raises(AdvlossValueError, match="power_iterations must be an int >= 1"):
        SpectralNormalization(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(AdvlossValueError, match="eps must be > 0"):
        SpectralNormalization(keras.layers.Dense(2), eps=-1.0)
    with pytest.raises(AdvlossValueError, match="no 'kernel' nor 'embeddings'"):
        SpectralNormalization(keras.layers.LayerNormalization())(np.ones((2, 3)))


@needs["jax"]
def test_flax_front_end_errors():
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from advloss.nn.flax import SpectralNorm, SpectralNormNNX

    x = jnp.ones((2, 3))
    with pytest.raises(AdvlossValueError, match="n_steps must be an int >= 1"):
        SpectralNorm(nn.Dense(2), n_steps=0).init(jax.random.key(0), x, update_stats=False)
    with pytest.raises(AdvlossValueError, match=r"no parameter 'w'.*\['bias', 'kernel'\]"):
        SpectralNorm(nn.Dense(2), param_name="w").init(jax.random.key(0), x, update_stats=False)
    with pytest.raises(AdvlossValueError, match="no parameter 'w'"):
        SpectralNormNNX(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), param_name="w", rngs=nnx.Rngs(0))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
@pytest.mark.parametrize("layer", ["conv", "linear", "conv_transpose"])
def test_torch_front_end_runs_no_more_aten_ops_than_torchs_own(layer):
    """The SN front end's training forward and backward dispatch no more ATen ops than
    ``torch.nn.utils.parametrizations.spectral_norm`` on the same layer (each eager op costs
    dispatch time: the framework's own norm and dot, no redundant detach or reshape)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    import advloss.nn.torch as ant

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    make = {
        "conv": (lambda: torch.nn.Conv2d(4, 6, 3, 2, 1), (2, 4, 8, 8)),
        "linear": (lambda: torch.nn.Linear(12, 1), (2, 12)),
        "conv_transpose": (lambda: torch.nn.ConvTranspose2d(6, 4, 4, 2, 1), (2, 6, 4, 4)),
    }[layer]
    counts = {}
    for name, wrap in (
        ("advloss", ant.spectral_norm),
        ("torch", torch.nn.utils.parametrizations.spectral_norm),
    ):
        torch.manual_seed(0)
        module = wrap(make[0]()).train()
        x = torch.randn(*make[1])
        module(x)  # first call: torch's warm-up iterations
        with Count() as forward:
            y = module(x)
        with Count() as backward:
            y.sum().backward()
        counts[name] = (forward.n, backward.n)
    assert counts["advloss"][0] <= counts["torch"][0], counts
    assert counts["advloss"][1] <= counts["torch"][1], counts
