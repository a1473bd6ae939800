"""Lazy regularization decided on the host: ``advloss.lazy_step``'s two compiled variants equal
the traced conditional (``lax.cond``, ``tf.cond``) in values and parameter gradients; a CPU step
tensor in eager PyTorch runs one branch (ATen op counts equal the Python-int step's); the
``host_int`` primitive of each adapter; errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.errors import AdvlossTypeError
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS

EVERY = 3
SPEC = f"ns + r1(gamma=2, every={EVERY})"
RNG = np.random.default_rng(21)
W = RNG.normal(size=(4, 4))
REAL, FAKE = RNG.normal(size=(5, 4)), RNG.normal(size=(5, 4))


def _d_step(fw):
    """A D step, ``step_fn(w, real, fake, *, step, regularize=None) -> (total, dtotal/dw)``, for
    D(x) = sum(tanh(x W)) (its input gradient depends on W and x, so R1 is not a constant)."""
    objective = advloss.Objective.parse(SPEC)
    if fw.name == "jax":
        import jax
        import jax.numpy as jnp

        def step_fn(w, real, fake, *, step, regularize=None):
            def total(w):
                d = lambda x: jnp.sum(jnp.tanh(x @ w), axis=1)
                return objective.discriminator(
                    d, real, fake, step=step, regularize=regularize
                ).total

            return jax.value_and_grad(total)(w)

        return step_fn
    if fw.name == "tensorflow":
        import tensorflow as tf

        def step_fn(w, real, fake, *, step, regularize=None):
            with tf.GradientTape() as tape:
                tape.watch(w)
                d = lambda x: tf.reduce_sum(tf.tanh(x @ w), axis=1)
                total = objective.discriminator(
                    d, real, fake, step=step, regularize=regularize
                ).total
            return total, tape.gradient(total, w)

        return step_fn
    import torch

    def step_fn(w, real, fake, *, step, regularize=None):
        w = w.detach().requires_grad_(True)
        d = lambda x: torch.tanh(x @ w).sum(1)
        total = objective.discriminator(d, real, fake, step=step, regularize=regularize).total
        (grad,) = torch.autograd.grad(total, w)
        return total, grad

    return step_fn


def _step_tensor(fw, s):
    if fw.name == "jax":
        import jax.numpy as jnp

        return jnp.asarray(s, jnp.int32)
    if fw.name == "tensorflow":
        import tensorflow as tf

        return tf.constant(s)
    import torch

    return torch.tensor(s)


# TensorFlow traces three tf.functions with nested tapes (~10 s): slow tier.
LAZY_PARAMS = [
    pytest.param(*p.values, id=p.id, marks=[pytest.mark.slow] if p.id == "tensorflow" else [])
    for p in FRAMEWORK_PARAMS
    if p.id != "numpy"  # no autodiff: penalties do not run on NumPy
]


@pytest.mark.parametrize("fw", LAZY_PARAMS)
def test_lazy_step_equals_the_traced_conditional(fw):
    """The two variants chosen on the host give the traced conditional's values and gradients
    (jax.jit with lax.cond, tf.function with tf.cond; eager torch against the Python-int step),
    on regularized and plain steps, in float32."""
    step_fn = _d_step(fw)
    b = fw.backend
    w, real, fake = (b.from_numpy(a, "float32") for a in (W, REAL, FAKE))
    if fw.name == "jax":
        import jax

        traced, compile = jax.jit(step_fn), jax.jit
    elif fw.name == "tensorflow":
        import tensorflow as tf

        traced, compile = tf.function(step_fn), tf.function
    else:
        traced, compile = step_fn, None
    lazy = advloss.lazy_step(step_fn, every=EVERY, compile=compile)
    totals = []
    for s in range(EVERY + 1):
        # torch: the reference is the Python-int step (the branch chosen in Python).
        ref = traced(w, real, fake, step=s if fw.name == "torch" else _step_tensor(fw, s))
        got = lazy(w, real, fake, step=_step_tensor(fw, s))
        for a, e, what in zip(got, ref, ("total", "d/dw"), strict=True):
            assert_close(b.to_numpy(a), b.to_numpy(e), "float32", what=f"step {s} {what}")
        totals.append(float(b.to_numpy(got[0])))
    assert totals[0] > totals[1] and totals[1] == pytest.approx(totals[2])  # R1 on step 0 only
    assert set(lazy._compiled) == {True, False}  # each variant compiled once, then reused


def _aten_ops(fn):
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    with Count() as count:
        fn()
    return count.ops


def test_cpu_step_tensor_runs_one_branch_in_eager_torch():
    """A 0-d CPU step tensor is read on the host (free): a lazy step runs exactly the ATen ops
    of the same step with a Python int — no penalty on plain steps, no extra forward pass."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    objective = advloss.Objective.parse(SPEC)

    def d_step(step, objective=objective, **kw):
        D.zero_grad(set_to_none=True)  # no accumulation into .grad (an add_ more)
        return _aten_ops(
            lambda: objective.discriminator(D, real, fake, step=step, **kw).total.backward()
        )

    counts = {}
    for s in (0, 1):
        as_int, tensor = d_step(s), torch.tensor(s)
        assert d_step(tensor) == as_int, f"step {s}"
        assert d_step(tensor, regularize=s == 0) == as_int, f"step {s}"
        counts[s] = len(as_int)
    plain = len(d_step(None, objective=advloss.Objective.parse("ns")))
    # The plain step pays only a 0-d zero and its addition to the total.
    assert counts[1] == plain + 2 < counts[0]


@pytest.mark.slow
def test_lazy_step_under_torch_compile():
    """torch.compile: the two compiled variants equal eager (Python-int steps), and the traced
    tensor step (both branches and a select) too."""
    torch = pytest.importorskip("torch")
    step_fn = _d_step(type("fw", (), {"name": "torch"}))
    w, real, fake = (torch.tensor(a, dtype=torch.float32) for a in (W, REAL, FAKE))

    objective = advloss.Objective.parse(SPEC)

    def loss_only(w, real, fake, *, step, regularize=None):
        d = lambda x: torch.tanh(x @ w).sum(1)
        return objective.discriminator(d, real, fake, step=step, regularize=regularize).total

    lazy = advloss.lazy_step(loss_only, every=EVERY, compile=torch.compile(fullgraph=True))
    traced = torch.compile(loss_only, fullgraph=True)
    for s in range(EVERY + 1):
        expected = step_fn(w, real, fake, step=s)[0].detach().numpy()
        for f in (lazy, traced):
            got = f(w, real, fake, step=torch.tensor(s)).detach().numpy()
            assert_close(got, expected, "float32", what=f"step {s}")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_host_int_reads_only_free_values(fw):
    """``host_int``: the value of a concrete 0-d integer CPU tensor; ``None`` for a float, a
    vector, or a step traced in a compiled function."""
    b = fw.backend
    assert b.host_int(b.from_numpy(np.array(7))) == 7
    assert b.host_int(b.from_numpy(np.array(7.0))) is None
    assert b.host_int(b.from_numpy(np.array([7]))) is None
    seen = []
    if fw.name == "jax":
        import jax

        jax.jit(lambda s: seen.append(b.host_int(s)) or s)(b.from_numpy(np.array(7)))
    elif fw.name == "tensorflow":
        import tensorflow as tf

        tf.function(lambda s: seen.append(b.host_int(s)) or s)(tf.constant(7))
    if seen:
        assert seen == [None]


def test_regularize_errors():
    torch = pytest.importorskip("torch")
    d = lambda x: x.sum(1)
    x = torch.ones(2, 3)
    with pytest.raises(AdvlossTypeError, match="regularize must be a bool"):
        advloss.r1_penalty(d, x, every=2, step=0, regularize="yes")
    lazy = advloss.lazy_step(lambda *, step, regularize: regularize, every=2)
    assert [lazy(step=s) for s in (0, 1, np.int64(2))] == [True, False, True]
    with pytest.raises(AdvlossTypeError, match="step must be an int or a 0-d integer tensor"):
        lazy(step=0.5)
    with pytest.raises(AdvlossTypeError, match="fn must be the training-step function"):
        advloss.lazy_step(None, every=2)
    with pytest.raises(ValueError, match="every must be an int from 1 to"):
        advloss.lazy_step(lambda **kw: None, every=0)
    # With regularize given, a lazy penalty needs no step.
    assert float(advloss.r1_penalty(d, x, every=2, regularize=False)) == 0.0
