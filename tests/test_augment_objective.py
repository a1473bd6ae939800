"""The augmentation terms of an ``Objective`` that steer their own probability
(``ada(target=...)``, ``apa(...)``): against the hand-written composition (``ada``/``apa`` then
the loss) and StyleGAN2-ADA's training loop re-created in NumPy float64, in every framework,
eagerly and compiled, with their state threaded by ``init_states``/``next_states``; config and
errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.augment import ADA, APA, AdaptiveProbabilityState, ada, apa
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS
from tests.test_augment_adaptive import stylegan2_ada_p

NAMES = {h.name for h in FRAMEWORKS}
SHAPE = (8, 3, 6, 6)
ADA_TEXT = "ns + ada(p=0.05, ops='xflip,rotate90,xint', target=0.6, ada_kimg=0.1, interval=2)"
APA_TEXT = "ns + apa(p=0.05, target=0.6, ada_kimg=0.1, interval=2)"


def _weights(seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(size=SHAPE[1:]))  # D(real) > 0 mostly


def _draws(objective, seed, side="discriminator"):
    rng = np.random.default_rng(seed)
    return {
        k: rng.random(s) if dist == "uniform" else rng.normal(size=s)
        for k, (dist, s) in objective.draw_specs(
            SHAPE if side == "discriminator" else None, SHAPE, side=side
        ).items()
    }


def _batches(step: int):
    rng = np.random.default_rng(100 + step)
    # Reals D scores high (r_t near 1, p rises), fakes low.
    return rng.normal(0.5, 1.0, SHAPE), rng.normal(-0.5, 1.0, SHAPE)


def _share(draws, batch):
    prefix = f"augment.{batch}."
    return {k.removeprefix(prefix): v for k, v in draws.items() if k.startswith(prefix)}


# ------------------------------------------------------------------ NumPy float64 reference


@pytest.mark.parametrize("text", [ADA_TEXT, APA_TEXT], ids=["ada", "apa"])
def test_term_equals_the_hand_composition_and_stylegan2_ada_p(text):
    """Each discriminator step equals augmenting by hand with the state's p and the same draws,
    and the p trajectory is StyleGAN2-ADA's on the logits of the reals D saw."""
    o = advloss.Objective.parse(text)
    w = _weights()
    d = lambda x: (x * w).sum(axis=(1, 2, 3))
    loss = advloss.get_loss("ns")
    states = o.init_states(np.zeros(()))
    name = o.augment.name
    assert list(states) == [name] and float(states[name].p) == pytest.approx(0.05)
    seen, ps = [], []
    for step in range(10):
        real, fake = _batches(step)
        draws = _draws(o, step)
        p = float(states[name].p)
        out = o.discriminator(d, real, fake, draws=draws, states=states)
        if name == "ada":
            real_in = ada(real, p, ops=o.augment.ops, draws=_share(draws, "real"))
            fake_in = ada(fake, p, ops=o.augment.ops, draws=_share(draws, "fake"))
        else:
            real_in, fake_in = apa(real, fake, p, draws=_share(draws, "real")), fake
        np.testing.assert_allclose(
            out.total, loss.discriminator(d(real_in), d(fake_in)), rtol=1e-12
        )
        seen.append(d(real_in))
        states = o.next_states(out, states)
        ps.append(float(states[name].p))
    want = stylegan2_ada_p(seen, batch_size=SHAPE[0], target=0.6, interval=2, kimg=0.1, p=0.05)
    np.testing.assert_allclose(ps, np.minimum(want, 1.0), rtol=1e-6)
    assert ps[-1] > 0.05  # D overfits on these batches: p rose


def test_generator_step_uses_the_state_p_and_keeps_the_state():
    o = advloss.Objective.parse(ADA_TEXT)
    w = _weights()
    d = lambda x: (x * w).sum(axis=(1, 2, 3))
    state = AdaptiveProbabilityState(np.float32(0.7), np.float32(0.0), np.float32(0.0))
    fake = _batches(0)[1]
    draws = _draws(o, 3, side="generator")
    out = o.generator(d, fake, draws=draws, states={"ada": state})
    want = advloss.get_loss("ns").generator(
        d(ada(fake, 0.7, ops=o.augment.ops, draws=_share(draws, "fake")))
    )
    np.testing.assert_allclose(out.total, want, rtol=1e-6)
    assert o.next_states(out, {"ada": state})["ada"] is state  # the D step moves p, not G's

    apa_o = advloss.Objective.parse(APA_TEXT)
    assert apa_o.draw_specs(SHAPE, SHAPE, side="generator") == {}  # APA: D's reals only
    assert list(apa_o.draw_specs(SHAPE, SHAPE)) == ["augment.real.apa"]
    g = apa_o.generator(d, fake, states=apa_o.init_states(np.zeros(())))
    np.testing.assert_allclose(g.total, advloss.get_loss("ns").generator(d(fake)), rtol=1e-12)


def test_fixed_apa_term_and_objects():
    o = advloss.Objective.parse("hinge + r1(gamma=1) + apa(p=0.5)")
    assert o.augment == APA(p=0.5) and not o.augment.stateful and o.init_states(0.0) == {}
    assert repr(o) == "hinge + r1(every=1, gamma=1.0) + apa(p=0.5)"
    assert advloss.Objective.parse(repr(o)) == o == advloss.Objective.from_config(o.config())
    adaptive = advloss.Objective.parse(ADA_TEXT)
    assert adaptive.augment == ADA(
        p=0.05, ops="xflip,rotate90,xint", target=0.6, ada_kimg=0.1, interval=2
    )
    assert advloss.Objective.parse(repr(adaptive)) == adaptive
    assert advloss.Objective.from_config(adaptive.config()) == adaptive
    assert repr(ADA(p=0.2)) == "ADA(p=0.2, ops='bgc', layout='NCHW')"  # not adaptive: unchanged
    assert advloss.registry.get("augmentation", "apa", p=0.1) == APA(p=0.1)


# ------------------------------------------------------------------ frameworks


def _framework_steps(fw, dtype, text, steps=3, compile_=False):
    """``steps`` discriminator steps of ``text`` in ``fw`` (NumPy draws and batches), returning
    the totals and the p after each; the same for NumPy float64 as the reference."""
    o = advloss.Objective.parse(text)
    w_np = _weights()

    def run(convert, d_of, call, to_numpy=np.asarray):
        states = o.init_states(convert(np.zeros(())))
        states = {
            k: AdaptiveProbabilityState(*(convert(np.asarray(v, np.float32)) for v in s))
            for k, s in states.items()
        }
        totals, ps = [], []
        for step in range(steps):
            real, fake = _batches(step)
            draws = {k: convert(v) for k, v in _draws(o, step).items()}
            total, states = call(d_of, convert(real), convert(fake), draws, states)
            totals.append(np.asarray(total, np.float64))
            ps.append(float(to_numpy(states[o.augment.name].p)))
        return np.array(totals), np.array(ps)

    def step_fn(d, real, fake, draws, states):
        out = o.discriminator(d, real, fake, draws=draws, states=states)
        return out.total, o.next_states(out, states)

    want = run(lambda a: np.asarray(a), lambda x: (x * w_np).sum(axis=(1, 2, 3)), step_fn)
    if fw is None:
        return want, want
    w = fw.tensor(w_np, dtype)
    b = fw.backend

    def call(d_of, real, fake, draws, states):
        f = lambda real, fake, draws, states: step_fn(d_of, real, fake, draws, states)
        if compile_:
            f = fw.compile(f)
        total, states = f(real, fake, draws, states)
        return fw.numpy(total), states

    def convert(a):
        a = np.asarray(a)
        return fw.tensor(a, "float32" if a.dtype == np.float32 else dtype)

    got = run(convert, lambda x: b.sum_per_sample(x * w), call, fw.numpy)
    return got, want


#: ADA's eager ops cost seconds per framework on first use (JAX compiles each one): its
#: framework runs are in the slow tier, APA's (cheap) in the default one.
TEXTS = [
    pytest.param(APA_TEXT, id="apa"),
    pytest.param(ADA_TEXT, id="ada", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_frameworks_equal_numpy_eagerly(fw, text, dtype):
    (totals, ps), (want_totals, want_ps) = _framework_steps(fw, dtype, text)
    rtol = 1e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(totals, want_totals, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ps, want_ps, rtol=1e-6)


def _compiled_params() -> list:
    """jax.jit on APA in the default tier; ADA everywhere, and APA under ``torch.compile`` and
    XLA ``tf.function`` (cold compiles of 6-20 s), in the slow tier."""
    params = []
    for fw in FRAMEWORKS:
        for text, name in ((APA_TEXT, "apa"), (ADA_TEXT, "ada")):
            slow = name == "ada" or fw.name != "jax"
            marks = [pytest.mark.slow] if slow else []
            params.append(pytest.param(fw, text, id=f"{fw.name}-{name}", marks=marks))
    return params


@pytest.mark.parametrize("fw, text", _compiled_params())
def test_compiled_equals_numpy(fw, text):
    (totals, ps), (want_totals, want_ps) = _framework_steps(
        fw, "float32", text, steps=2, compile_=True
    )
    np.testing.assert_allclose(totals, want_totals, rtol=1e-5)
    np.testing.assert_allclose(ps, want_ps, rtol=1e-6)


# ------------------------------------------------------------------ errors


def test_bad_terms_and_missing_state_are_named():
    with pytest.raises(ValueError, match=r"ADA: target must lie in \[-1, 1\].*received 2.0"):
        advloss.Objective.parse("ns + ada(target=2)")
    with pytest.raises(ValueError, match=r"APA: ada_kimg must be > 0"):
        APA(target=0.6, ada_kimg=0)
    with pytest.raises(ValueError, match=r"APA: p must lie in \[0, 1\]"):
        APA(p=1.5)
    with pytest.raises(ValueError, match=r"ADA: interval"):
        ADA(target=0.6, interval=0)
    with pytest.raises(ValueError, match="at most one augmentation term"):
        advloss.Objective.parse("ns + apa(p=0.1) + ada(p=0.1)")
    o = advloss.Objective.parse(APA_TEXT)
    real, fake = _batches(0)
    d = lambda x: x.sum(axis=(1, 2, 3))
    with pytest.raises(ValueError, match=r"the 'apa' term keeps explicit state.*received None"):
        o.discriminator(d, real, fake, key=0)
    with pytest.raises(ValueError, match=r"apa: fake must have real's shape"):
        o.discriminator(d, real, fake[:4], key=0, states=o.init_states(np.zeros(())))


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_unknown_traced_batch_size_asks_for_batch_size():
    import tensorflow as tf

    spec = tf.TensorSpec([None, *SHAPE[1:]], tf.float32)
    d = lambda x: tf.reduce_sum(x, axis=[1, 2, 3])

    def step(objective):
        @tf.function(input_signature=[spec, spec])
        def f(real, fake):
            states = objective.init_states(real[0, 0, 0, 0])
            return objective.discriminator(d, real, fake, key=1, states=states).total

        return f

    real, fake = (tf.constant(a, tf.float32) for a in _batches(0))
    # tf.function re-raises it as a StagingError carrying advloss's message
    with pytest.raises(Exception, match=r"AdvlossValueError.*not known while tracing.*batch_size="):
        step(advloss.Objective.parse(APA_TEXT))(real, fake)
    fixed = advloss.Objective.parse("ns + apa(p=0.05, target=0.6, batch_size=8)")
    assert np.isfinite(float(step(fixed)(real, fake)))


def test_replicas_need_the_global_batch_size():
    """Under data parallelism r_t is averaged over the replicas (NumPy: one replica) and the
    step size needs the global batch, which the term must be told."""
    d = lambda x: x.sum(axis=(1, 2, 3))
    real, fake = _batches(0)
    draws = {"augment.real.apa": np.full(SHAPE[0], 0.5)}
    o = advloss.Objective.parse("ns + apa(p=0.1, target=0.6, batch_size=64)")
    states = o.init_states(np.zeros(()))
    for replicas in (None, True):
        out = o.discriminator(d, real, fake, draws=draws, states=states, replicas=replicas)
        assert float(o.next_states(out, states)["apa"].r_t_sum) == float(out.stats["r_t"])
    with pytest.raises(ValueError, match=r"with replicas= .*set batch_size= .*global batch"):
        advloss.Objective.parse(APA_TEXT).discriminator(
            d, real, fake, draws=draws, states=states, replicas=True
        )
