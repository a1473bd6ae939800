"""LeCam regularization: the NumPy float64 reference with closed-form gradients, StudioGAN's
``lecam_reg`` and ``LeCamEMA`` re-created from their source, equality across frameworks (float32
and float64, eager and compiled), traced steps, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, PAIRS

DTYPES = ["float32", "float64"]


def reference(r, f, ema_real, ema_fake, weight):
    """λ (mean relu(r - α_F)² + mean relu(α_R - f)²) and its gradients, by hand."""
    over, under = np.maximum(r - ema_fake, 0.0), np.maximum(ema_real - f, 0.0)
    value = weight * (np.mean(over**2) + np.mean(under**2))
    return value, 2 * weight * over / r.size, -2 * weight * under / f.size


def logits(seed, real_shape=(4, 1, 3, 3), fake_shape=(4, 1, 3, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 2.0, real_shape), rng.normal(-0.5, 2.0, fake_shape)


class StudioGANLeCam:
    """StudioGAN (src/utils/ops.py LeCamEMA, src/utils/losses.py lecam_reg, src/worker.py @
    947b35e9), re-created in NumPy from its source: the EMA of the *Python floats*
    ``mean(logits).item()`` with decay 0 before ``start_iter``, updated before the penalty,
    which applies only when ``current_step > start_iter``."""

    def __init__(self, init=7777, decay=0.9, start_iter=0):
        self.D_real = self.D_fake = init
        self.decay, self.start_itr = decay, start_iter

    def update(self, cur, mode, itr):
        decay = 0.0 if itr < self.start_itr else self.decay
        setattr(self, mode, getattr(self, mode) * decay + cur * (1 - decay))

    def step(self, real, fake, current_step, lecam_lambda):
        self.update(float(np.mean(real)), "D_real", current_step)
        self.update(float(np.mean(fake)), "D_fake", current_step)
        if current_step > self.start_itr:
            reg = np.mean(np.maximum(real - self.D_fake, 0) ** 2) + np.mean(
                np.maximum(self.D_real - fake, 0) ** 2
            )
        else:
            reg = 0.0
        return lecam_lambda * reg


# ---------------------------------------------------------------------------------- formula


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_penalty_matches_reference_with_closed_form_gradients(fw, dtype):
    r, f = logits(0, (4, 1, 3, 3), (5, 1, 3, 3))  # the two batches may differ in size
    v, (gr, gf) = fw.value_and_grad(
        lambda r, f: advloss.lecam_penalty(r, f, 0.7, -0.3, weight=2.0), [r, f], dtype
    )
    rr, ff = (fw.numpy(fw.tensor(x, dtype)).astype(np.float64) for x in (r, f))
    ev, er, ef = reference(rr, ff, 0.7, -0.3, 2.0)
    assert_close(v, ev, dtype, what="value")
    assert_close(gr, er, dtype, what="d/dr")
    assert_close(gf, ef, dtype, what="d/df")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_anchors_as_tensors_get_no_gradient(fw):
    r, f = logits(1)
    b = fw.backend
    ema = [fw.tensor(np.array(0.4), "float64"), fw.tensor(np.array(-0.2), "float64")]
    v, grads = fw.value_and_grad(
        lambda r, f, a, c: advloss.lecam_penalty(r, f, a, c),
        [r, f, np.array(0.4), np.array(-0.2)],
        "float64",
    )
    assert_close(v, reference(r, f, 0.4, -0.2, 1.0)[0], "float64")
    np.testing.assert_array_equal(grads[2], 0.0)
    np.testing.assert_array_equal(grads[3], 0.0)
    assert (
        b.shape(advloss.lecam_penalty(fw.tensor(r, "float64"), fw.tensor(f, "float64"), *ema)) == ()
    )


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_the_moving_averages_follow_studiogan(fw):
    """Twelve D steps with StudioGAN's LeCamEMA(init=7777, decay=0.9, start_iter=3) and
    lecam_lambda = 0.3: the same averages and penalties at every step, from advloss's state."""
    theirs = StudioGANLeCam(init=7777, decay=0.9, start_iter=3)
    lecam = advloss.LeCam(weight=0.3, decay=0.9, start=3, initial=7777.0)
    state = lecam.init(fw.tensor(np.zeros(()), "float64"))
    for step in range(12):
        r, f = logits(10 + step)
        expected = theirs.step(r, f, step, 0.3)
        value, state = lecam(state, fw.tensor(r, "float64"), fw.tensor(f, "float64"), step=step)
        assert_close(fw.numpy(state.ema_real), theirs.D_real, "float64", what=f"α_R step {step}")
        assert_close(fw.numpy(state.ema_fake), theirs.D_fake, "float64", what=f"α_F step {step}")
        assert_close(fw.numpy(value), expected, "float64", what=f"penalty step {step}")


# ------------------------------------------------------------------------ across frameworks


def _two_steps(r, f, ema_real, ema_fake):
    """A state update and a penalty, the step known when tracing."""
    lecam = advloss.LeCam(weight=0.5, decay=0.8, start=2)
    value, state = lecam(advloss.LeCamState(ema_real, ema_fake), r, f, step=5)
    return value + state.ema_real + state.ema_fake


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b, dtype):
    r, f = logits(2)
    args = [r, f, np.array(0.3), np.array(-0.4)]
    va, ga = a.value_and_grad(_two_steps, args, dtype)
    vb, gb = b.value_and_grad(_two_steps, args, dtype)
    assert_close(va, vb, dtype, what=f"value {a.name} vs {b.name}")
    for x, y in zip(ga, gb, strict=True):
        assert_close(x, y, dtype, what=f"gradient {a.name} vs {b.name}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_compiled_equals_eager(fw):
    """jax.jit, tf.function(jit_compile=True) and torch.compile(fullgraph=True) trace the
    update and the penalty: no host synchronisation."""
    r, f = logits(3)
    args = [r, f, np.array(0.3), np.array(-0.4)]
    ve, ge = fw.value_and_grad(_two_steps, args, "float32")
    vc, gc = fw.value_and_grad(_two_steps, args, "float32", compiled=True)
    assert_close(vc, ve, "float32", what="compiled value")
    for x, y in zip(gc, ge, strict=True):
        assert_close(x, y, "float32", what="compiled gradient")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_a_traced_step_gives_the_python_steps_results(fw):
    """The step as an integer tensor (traced under jax.jit / tf.function; eager in torch): the
    decay switch at ``start`` and the penalty's gate are arithmetic, never a host read."""
    lecam = advloss.LeCam(weight=1.0, decay=0.5, start=2)
    r, f = logits(4)
    rt, ft = fw.tensor(r, "float64"), fw.tensor(f, "float64")
    if fw.name == "jax":
        import jax
        import jax.numpy as jnp

        call = jax.jit(lambda s, st: lecam(s, rt, ft, step=st))
        steps = [jnp.asarray(i) for i in range(4)]
    elif fw.name == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda s, st: lecam(s, rt, ft, step=st))
        steps = [tf.constant(i) for i in range(4)]
    else:
        import torch

        call = lambda s, st: lecam(s, rt, ft, step=st)
        steps = [torch.tensor(i) for i in range(4)]
    traced = python = lecam.init(rt)
    for i, step in enumerate(steps):
        v_traced, traced = call(traced, step)
        v_python, python = lecam(python, rt, ft, step=i)
        assert_close(fw.numpy(v_traced), fw.numpy(v_python), "float64", what=f"value step {i}")
        assert_close(fw.numpy(traced.ema_real), fw.numpy(python.ema_real), "float64")
        assert_close(fw.numpy(traced.ema_fake), fw.numpy(python.ema_fake), "float64")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_logits_give_float32(fw):
    r, f = logits(5)
    lecam = advloss.LeCam(start=0)
    rt, ft = fw.tensor(r, "bfloat16"), fw.tensor(f, "bfloat16")
    state = lecam.init(rt)
    assert fw.backend.dtype(state.ema_real) == "float32"
    value, state = lecam(state, rt, ft, step=1)
    assert fw.backend.dtype(value) == "float32"
    assert fw.backend.dtype(state.ema_fake) == "float32"


# ------------------------------------------------------------------------------------ errors


def test_errors_name_the_argument():
    r, f = np.zeros(3), np.zeros(3)
    lecam = advloss.LeCam()
    state = lecam.init(r)
    cases = [
        (lambda: advloss.LeCam(decay=1.0), ValueError, r"decay must lie in \[0, 1\)"),
        (lambda: advloss.LeCam(weight=-1.0), ValueError, "weight must be >= 0"),
        (lambda: advloss.LeCam(start=-1), ValueError, "start must be an int >= 0"),
        (lambda: advloss.LeCam(start=1.5), TypeError, "start must be an int"),
        (lambda: lecam.update((0.0, 0.0), r, f, step=0), TypeError, "state must be a LeCamState"),
        (lambda: lecam(state, r, f, step=1.0), TypeError, "step must be"),
        (lambda: lecam(state, np.array(1.0), f, step=0), ValueError, "batch dimension"),
        (lambda: lecam(state, r, None, step=0), TypeError, "fake_logits is required"),
        (
            lambda: advloss.lecam_penalty(r, f, np.zeros(2), 0.0),
            ValueError,
            "ema_real must be a 0-d tensor",
        ),
        (
            lambda: advloss.lecam_penalty(r, np.zeros(3, np.float32), 0.0, 0.0),
            TypeError,
            "share a dtype",
        ),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
    assert advloss.LeCam().config() == {
        "name": "lecam",
        "weight": 0.3,
        "decay": 0.99,
        "start": 1000,
        "initial": 0.0,
    }
    assert advloss.LeCam.from_config(advloss.LeCam(weight=0.1).config()) == advloss.LeCam(
        weight=0.1
    )


# ------------------------------------------------------------------------------- objective


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_lecam_in_an_objective_threads_its_state(fw):
    """``Objective.parse("hinge + r1 + lecam(...)")``: the term runs on the objective's logits
    with ``states=``; its next state is in ``stats`` and ``next_states(out)`` gives it back.
    Over four steps the terms and states equal LeCam called by hand on D's logits."""
    rng = np.random.default_rng(6)
    b = fw.backend
    w = fw.tensor(rng.normal(size=(3,)), "float64")
    d = lambda x: b.sum_per_sample(x * w)
    objective = advloss.Objective.parse(
        "hinge + r1(gamma=1) + lecam(weight=0.5, decay=0.9, start=1)"
    )
    lecam = advloss.LeCam(weight=0.5, decay=0.9, start=1)
    real0 = fw.tensor(rng.normal(size=(4, 3)), "float64")
    states, by_hand = objective.init_states(d(real0)), lecam.init(d(real0))
    assert list(states) == ["lecam"]
    for step in range(4):
        real = fw.tensor(rng.normal(0.5, 1.0, size=(4, 3)), "float64")
        fake = fw.tensor(rng.normal(-0.5, 1.0, size=(4, 3)), "float64")
        out = objective.discriminator(d, real, fake, step=step, states=states)
        value, by_hand = lecam(by_hand, d(real), d(fake), step=step)
        assert list(out.terms) == ["adversarial", "r1", "lecam"]
        assert_close(fw.numpy(out.terms["lecam"]), fw.numpy(value), "float64", what=f"step {step}")
        states = objective.next_states(out)
        assert_close(fw.numpy(states["lecam"].ema_real), fw.numpy(by_hand.ema_real), "float64")
        assert_close(fw.numpy(states["lecam"].ema_fake), fw.numpy(by_hand.ema_fake), "float64")
        total = out.terms["adversarial"] + out.terms["r1"] + out.terms["lecam"]
        assert_close(fw.numpy(out.total), fw.numpy(total), "float64", what="total")


def test_objective_errors_and_round_trip():
    objective = advloss.Objective.parse("ns + lecam(weight=0.1, start=0)")
    assert advloss.Objective.parse(repr(objective)) == objective
    assert advloss.Objective.from_config(objective.config()) == objective
    assert advloss.Objective.parse("ns + r1").init_states(np.zeros(3)) == {}
    d = lambda x: x.sum(axis=1)  # NumPy: no penalty here needs autodiff
    x = np.zeros((2, 3))
    with pytest.raises(advloss.AdvlossValueError, match="'lecam' term keeps explicit state"):
        objective.discriminator(d, x, x, step=0)
    states = objective.init_states(d(x))
    with pytest.raises(advloss.AdvlossValueError, match="depend on the step: pass step="):
        objective.discriminator(d, x, x, states=states)
    out = objective.discriminator(d, x, x, step=1, states=states)
    assert set(objective.next_states(out)) == {"lecam"}
    with pytest.raises(advloss.AdvlossValueError, match=r"no \['lecam.ema_real'"):
        objective.next_states(advloss.Objective.parse("ns").discriminator(d, x, x))
    with pytest.raises(advloss.AdvlossTypeError, match="no term\\(discriminator, real, fake\\)"):
        advloss.get_penalty("lecam").term(d, x, x)
