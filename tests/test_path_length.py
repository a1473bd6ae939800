"""Path-length regularization: the NumPy float64 reference (closed-form Jacobian of a small
generator) with gradients w.r.t. G's parameters and the latents checked against finite
differences, StyleGAN2-ADA's ``pl_*`` code re-created in torch from its source (three steps of
state, lazy gain, a mapping network upstream of w), equality across frameworks (float32 and
float64, eager and compiled), lazy application, the Objective's generator-side term, and
errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, PAIRS

SHAPE = (1, 2, 2)  # C, H, W of the images


def problem(seed=0, latent_shape=(3, 2, 3)):
    """A latent batch w (N, L, D), G's matrix A (L·D, C·H·W), noise y and a previous average."""
    rng = np.random.default_rng(seed)
    n, rest = latent_shape[0], int(np.prod(latent_shape[1:]))
    return {
        "w": rng.normal(size=latent_shape),
        "A": rng.normal(0.0, 0.7, (rest, int(np.prod(SHAPE)))),
        "y": rng.normal(size=(n, *SHAPE)),
        "pl_mean": np.array(0.4),
    }


def numpy_generator(w, A):
    """G(w) = softplus(flat(w) A), as images (N, C, H, W)."""
    return np.logaddexp(0.0, w.reshape(len(w), -1) @ A).reshape(len(w), *SHAPE)


def reference(w, A, y, pl_mean, weight=2.0, decay=0.01):
    """P and the next average, from G's closed-form Jacobian: for G = softplus(u), u = flat(w) A,
    J^T y = A (σ(u) ⊙ y) per sample."""
    u = w.reshape(len(w), -1) @ A
    sig = 1.0 / (1.0 + np.exp(-u))
    g = (sig * y.reshape(len(w), -1) / np.sqrt(SHAPE[1] * SHAPE[2])) @ A.T  # (N, L·D)
    rows = int(np.prod(w.shape[1:-1]))
    lengths = np.sqrt((g**2).sum(1) / rows)
    target = pl_mean + decay * (lengths.mean() - pl_mean)
    return weight * np.mean((lengths - target) ** 2), target


def framework_generator(fw):
    b = fw.backend

    def G(p, w):
        n = b.shape(w)[0]
        return b.reshape(b.softplus(b.matmul(b.reshape(w, (n, -1)), p)), (n, *SHAPE))

    return G


def _penalty(fw, **options):
    G = framework_generator(fw)

    def f(t):
        state = advloss.PathLengthState(t["pl_mean"])
        value, new = advloss.path_length_penalty(
            lambda w: G(t["A"], w), t["w"], state, noise=t["y"], **options
        )
        return {"value": value, "pl_mean": new.pl_mean}

    return f


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_matches_the_reference_and_finite_differences(fw):
    """Value and next state against the closed form; the gradients w.r.t. G's matrix and the
    latents (a double backward) against central differences of the float64 reference."""
    p = problem(0)
    out = fw.evaluate(_penalty(fw, weight=1.5, decay=0.1), p, ("A", "w"), "float64")
    value, target = reference(p["w"], p["A"], p["y"], 0.4, weight=1.5, decay=0.1)
    assert_close(out["value"], value, "float64")
    assert_close(out["pl_mean"], target, "float64", what="next state")
    for name in ("A", "w"):
        x, fd = p[name], np.zeros_like(p[name])
        for i in np.ndindex(x.shape):
            for sign in (1.0, -1.0):
                shifted = {**p, name: x.copy()}
                shifted[name][i] += sign * 1e-6
                args = (shifted["w"], shifted["A"], p["y"], 0.4)
                fd[i] += sign * reference(*args, weight=1.5, decay=0.1)[0] / 2e-6
        np.testing.assert_allclose(out[f"d/d {name}"], fd, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b, dtype):
    """(float32: slow-marked, JAX's eager ops compile once per dtype; the equivalence suite's
    item ``penalty:path_length`` covers float32 too.)"""
    p = problem(1)  # the shapes of the other tests: JAX's eager ops are compiled once
    ra = a.evaluate(_penalty(a, every=3, step=6), p, ("A", "w"), dtype)
    rb = b.evaluate(_penalty(b, every=3, step=6), p, ("A", "w"), dtype)
    for k in ra:
        assert_close(ra[k], rb[k], dtype, what=f"{k} {a.name} vs {b.name}")


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_compiled_equals_eager(fw):
    """torch.compile (fullgraph), tf.function(jit_compile=True), jax.jit — with a traced step
    selecting the lazy branch."""
    p = {**problem(2), "step": np.array(4)}
    eager = fw.evaluate(_penalty(fw, every=2, step=4), p, ("A", "w"), "float32")

    def traced(t):
        return _penalty(fw, every=2, step=fw.backend.cast(t["step"], "int32"))(t)

    compiled = fw.evaluate(traced, p, ("A", "w"), "float32", compiled=True)
    for k, v in eager.items():
        assert_close(compiled[k], v, "float32", what=f"compiled {k}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_lazy_state_layout_and_low_precision(fw):
    """Skipped steps give 0 and keep the state (step and regularize=); NHWC images give the
    NCHW value; bfloat16 latents compute in float32 (torch)."""
    b = fw.backend
    p = problem(3)
    t = {k: fw.tensor(v, "float64") for k, v in p.items()}
    G = framework_generator(fw)
    state = advloss.PathLengthState(t["pl_mean"])
    pl = advloss.PathLength(every=4, weight=1.0)
    due, new = pl(lambda w: G(t["A"], w), t["w"], state, noise=t["y"], step=8)
    value, target = reference(p["w"], p["A"], p["y"], 0.4, weight=1.0)
    assert_close(fw.numpy(due), 4 * value, "float64", what="every=4 on step 8")
    assert_close(fw.numpy(new.pl_mean), target, "float64")
    for options in ({"step": 9}, {"regularize": False}):
        skip, kept = pl(lambda w: G(t["A"], w), t["w"], state, noise=t["y"], **options)
        assert float(fw.numpy(skip)) == 0.0 and float(fw.numpy(kept.pl_mean)) == 0.4
    nhwc = advloss.PathLength(layout="NHWC", weight=1.0)
    y_nhwc = b.moveaxis(t["y"], 1, 3)
    v_nhwc, _ = nhwc(lambda w: b.moveaxis(G(t["A"], w), 1, 3), t["w"], state, noise=y_nhwc)
    assert_close(fw.numpy(v_nhwc), value, "float64", what="NHWC")
    if fw.name != "torch":  # one framework suffices: the dtype rule is written once
        return
    low = fw.tensor(p["w"], "bfloat16")
    a32, y32 = fw.tensor(p["A"], "bfloat16"), fw.tensor(p["y"], "bfloat16")
    v_low, s_low = advloss.path_length_penalty(
        lambda w: G(a32, w), low, pl.init(low), noise=y32, step=0
    )
    assert b.dtype(v_low) == "float32" and b.dtype(s_low.pl_mean) == "float32"


# ------------------------------------------------------------------ StyleGAN2-ADA, re-created


def test_stylegan2_ada_pl_code_maps_as_documented():
    """StyleGAN2-ADA (training/loss.py @ 123087ac, StyleGAN2Loss, phase 'Greg'): pl_noise =
    randn_like(gen_img) / sqrt(H·W); pl_grads = autograd.grad((gen_img * pl_noise).sum(),
    gen_ws, create_graph=True); pl_lengths = pl_grads.square().sum(2).mean(1).sqrt(); pl_mean
    = self.pl_mean.lerp(pl_lengths.mean(), pl_decay), stored detached; pl_penalty =
    (pl_lengths - pl_mean).square(); loss_Gpl = pl_penalty * pl_weight, backpropagated as
    loss_Gpl.mean() * gain with gain = G_reg_interval.  Re-created here on a tiny mapping
    z → ws (N, num_ws, w_dim) and synthesis ws → images, over three regularization steps:
    advloss's value, state and gradients w.r.t. both networks' parameters equal it."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mapping = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh()).double()
    synthesis = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Softplus()).double()

    def run_G(z):
        ws = mapping(z).reshape(-1, 2, 3)  # (N, num_ws=2, w_dim=3)
        img = synthesis(ws).reshape(-1, 2, 2, 2, 2).mean(1)  # both ws rows drive the image
        return img, ws

    params = [*mapping.parameters(), *synthesis.parameters()]
    pl_decay, pl_weight, gain = 0.01, 2.0, 4
    theirs_mean = torch.zeros([], dtype=torch.float64)
    state = advloss.PathLength().init(theirs_mean)
    for step in range(3):
        z = torch.randn(5, 4, dtype=torch.float64)
        gen_img, gen_ws = run_G(z)
        pl_noise = torch.randn_like(gen_img) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
        pl_grads = torch.autograd.grad(
            outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws], create_graph=True
        )[0]
        pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
        pl_mean = theirs_mean.lerp(pl_lengths.mean(), pl_decay)
        theirs_mean.copy_(pl_mean.detach())
        loss_Gpl = (pl_lengths - pl_mean).square() * pl_weight
        theirs = loss_Gpl.mean().mul(gain)
        expected = torch.autograd.grad(theirs, params)

        _, ws = run_G(z)
        G = lambda w: synthesis(w).reshape(-1, 2, 2, 2, 2).mean(1)
        ours, state = advloss.path_length_penalty(
            G, ws, state, noise=pl_noise * np.sqrt(4.0), every=gain, step=step * gain
        )
        got = torch.autograd.grad(ours, params)
        assert_close(ours.detach().numpy(), theirs.detach().numpy(), "float64")
        assert_close(state.pl_mean.numpy(), theirs_mean.numpy(), "float64", what="pl_mean")
        for g, e in zip(got, expected, strict=True):
            assert_close(g.numpy(), e.numpy(), "float64", what=f"gradient at step {step}")
    assert any(float(g.abs().sum()) > 0 for g in got[:2])  # the mapping network is reached


# -------------------------------------------------------------------------- the objective


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_in_an_objective_it_is_a_stateful_generator_term(fw):
    """``"ns + r1 + path_length(...)"``: the discriminator step skips it; the generator step
    adds it from ``generator=``/``latent=``/``states=`` with explicit draws; next_states
    threads both sides."""
    b = fw.backend
    p = problem(4)
    t = {k: fw.tensor(v, "float64") for k, v in p.items()}
    G = framework_generator(fw)
    d = lambda x: b.sum_per_sample(x * x)
    objective = advloss.Objective.parse(
        "ns + r1(gamma=1) + lecam(start=0) + path_length(weight=1.0, every=2)"
    )
    fake = G(t["A"], t["w"])
    states = objective.init_states(t["pl_mean"])
    assert sorted(states) == ["lecam", "path_length"]
    states["path_length"] = advloss.PathLengthState(t["pl_mean"])
    out = objective.discriminator(d, fake, fake, step=0, states=states)
    assert "path_length" not in out.terms and "path_length.pl_mean" not in out.stats
    specs = objective.draw_specs(None, tuple(p["y"].shape), side="generator")
    assert specs == {"path_length.noise": ("normal", tuple(p["y"].shape))}
    assert "path_length.noise" not in objective.draw_specs(None, p["y"].shape)
    g_out = objective.generator(
        d, fake, step=2, generator=lambda w: G(t["A"], w), latent=t["w"],
        states=objective.next_states(out, states), draws={"path_length.noise": t["y"]},
    )  # fmt: skip
    value, target = reference(p["w"], p["A"], p["y"], 0.4, weight=1.0)
    assert list(g_out.terms) == ["adversarial", "path_length"]
    assert_close(fw.numpy(g_out.terms["path_length"]), 2 * value, "float64")
    total = g_out.terms["adversarial"] + g_out.terms["path_length"]
    assert_close(fw.numpy(g_out.total), fw.numpy(total), "float64")
    d_states = objective.next_states(out, states)
    after = objective.next_states(g_out, d_states)
    assert_close(fw.numpy(after["path_length"].pl_mean), target, "float64")
    assert after["lecam"] is d_states["lecam"]
    with pytest.raises(advloss.AdvlossValueError, match="next_states"):
        objective.next_states(g_out)


def test_names_config_and_errors():
    import torch

    objective = advloss.Objective.parse("ns + path_length(weight=4.0, every=4, layout='NHWC')")
    assert advloss.Objective.parse(repr(objective)) == objective
    assert advloss.Objective.from_config(objective.config()) == objective
    assert "path_length" in advloss.available_penalties()
    pl = advloss.get_penalty("path_length")
    assert pl.config() == {
        "name": "path_length",
        "weight": 2.0,
        "decay": 0.01,
        "every": 1,
        "layout": "NCHW",
    }
    w = torch.zeros(2, 4)
    state = pl.init(torch.zeros(()))
    G = lambda w: w.reshape(-1, 1, 2, 2)
    d = lambda x: x.sum((1, 2, 3))
    plp = advloss.path_length_penalty
    cases = [
        (lambda: plp(G, w, state, decay=2.0), ValueError, "decay must lie in"),
        (lambda: plp(G, w, state, weight=-1), ValueError, "weight must be >= 0"),
        (lambda: plp(G, w, state, layout="CHW"), ValueError, "layout must be one of"),
        (lambda: plp(G, w, state, every=0), ValueError, "every must be an int from 1"),
        (lambda: plp(G, w, state, every=2), ValueError, "needs the current step"),
        (lambda: plp("G", w, state), TypeError, "generator must be a callable"),
        (lambda: plp(G, None, state), TypeError, "latent is required"),
        (lambda: plp(G, torch.zeros(4), state), ValueError, "at least 2-d"),
        (lambda: plp(G, w, (0.0,)), TypeError, "state must be a PathLengthState"),
        (lambda: plp(G, w, advloss.PathLengthState(0.0)), TypeError, "pl_mean must be a 0-d"),
        (lambda: plp(lambda w: w, w, state), ValueError, r"shape \(N, C, H, W\)"),
        (lambda: plp(lambda w: (G(w),), w, state), TypeError, "tensor of images"),
        (lambda: plp(lambda w: torch.ones(2, 1, 2, 2), w, state), ValueError, "not depend on"),
        (lambda: plp(G, w, state, noise=torch.zeros(2, 4)), ValueError, "noise must be a torch"),
        (lambda: plp(G, np.zeros((2, 4)), pl.init(np.zeros(()))), TypeError, "automatic diff"),
        (lambda: advloss.PathLength(decay=-0.1), ValueError, "decay must lie in"),
        (lambda: pl.term(d, w, w), TypeError, "acts on the generator and its latents"),
        (lambda: objective.generator(d, G(w)), ValueError, "pass generator=G and latent=w"),
        (
            lambda: objective.generator(d, G(w), generator=G, latent=w),
            ValueError,
            "keeps explicit state",
        ),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
