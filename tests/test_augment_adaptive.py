"""``advloss.augment.AdaptiveProbability``: StyleGAN2-ADA's p controller against its training
loop re-created in NumPy float64, the same trajectories in every framework, eagerly and traced,
clamping, bad input, and ``AdaptiveNoise`` running the same rule."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.augment import AdaptiveProbability, AdaptiveProbabilityState
from advloss.balance import balance_stats
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS

NAMES = {h.name for h in FRAMEWORKS}
BATCH = 16


def stylegan2_ada_p(logits: list[np.ndarray], *, batch_size, target, interval, kimg, p=0.0):
    """p after each iteration, as StyleGAN2-ADA's ``training/training_loop.py`` computes it
    (re-created from its source): the signs of D's real logits are collected
    (``Loss/signs/real``), and after every ``ada_interval``-th iteration (``batch_idx`` counted
    from 1 after the increment) their mean is compared with ``ada_target``:
    ``adjust = np.sign(mean - ada_target) * (batch_size * ada_interval) / (ada_kimg * 1000)``,
    ``p = max(p + adjust, 0)`` (clamped at 0 only)."""
    out, signs = [], []
    for batch_idx, real_logits in enumerate(logits, 1):
        signs.append(np.sign(np.asarray(real_logits, np.float64)))
        if batch_idx % interval == 0:
            mean = float(np.concatenate(signs).mean())  # the collector's mean over all reports
            signs = []
            adjust = np.sign(mean - target) * (batch_size * interval) / (kimg * 1000)
            p = max(p + adjust, 0.0)
        out.append(p)
    return np.array(out)


def _logits(seed: int, steps: int, drift: float) -> list[np.ndarray]:
    """Real logits whose sign mean drifts from about 0 (no overfitting) towards ``drift``
    and back: p rises, then falls."""
    rng = np.random.default_rng(seed)
    level = np.concatenate(
        [np.linspace(0.0, drift, steps // 2), np.linspace(drift, -0.5, steps - steps // 2)]
    )
    return [rng.normal(loc=m, scale=1.0, size=(BATCH, 1)) for m in level]


def _trajectory(fw, controller, logits, dtype="float32"):
    b = fw.backend
    state = controller.init(fw.tensor(np.zeros(()), dtype))
    ps = []
    for x in logits:
        r_t = balance_stats(fw.tensor(x, dtype))["r_t"]
        state = controller.update(state, r_t)
        ps.append(float(b.to_numpy(controller.p(state))))
    return np.array(ps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_p_follows_stylegan2_ada_training_loop(fw, dtype):
    controller = AdaptiveProbability(batch_size=BATCH, target=0.6, ada_kimg=2, interval=4)
    logits = _logits(0, 160, drift=2.0)
    want = stylegan2_ada_p(logits, batch_size=BATCH, target=0.6, interval=4, kimg=2)
    assert want.max() > 0.3 and want[-1] < want.max()  # it went up, then down
    assert want.max() < 1.0  # below 1, where the clamps agree
    np.testing.assert_allclose(_trajectory(fw, controller, logits, dtype), want, atol=1e-5)


def test_frameworks_agree_bit_for_bit_on_the_same_stream():
    controller = AdaptiveProbability(batch_size=BATCH, ada_kimg=0.2, interval=3)
    logits = _logits(1, 90, drift=1.5)
    runs = [_trajectory(fw, controller, logits) for fw in FRAMEWORKS]
    for other in runs[1:]:
        np.testing.assert_array_equal(other, runs[0])


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_clamped_to_zero_and_one(fw):
    controller = AdaptiveProbability(batch_size=100, ada_kimg=0.25, interval=1, initial=0.5)
    b = fw.backend
    state = controller.init(fw.tensor(np.zeros(()), "float32"))
    ps = []
    for r_t in [1.0] * 4 + [-1.0] * 6 + [0.6, 0.6]:  # step 0.4: 0.9, 1 (clamped), ..., 0
        state = controller.update(state, b.from_numpy(np.asarray(r_t), "float32"))
        ps.append(float(b.to_numpy(controller.p(state))))
    np.testing.assert_allclose(ps, [0.9, 1, 1, 1, 0.6, 0.2, 0, 0, 0, 0, 0, 0], atol=1e-6)


def test_python_numbers_and_the_interval_mean():
    controller = AdaptiveProbability(batch_size=50, ada_kimg=1, interval=2)  # step 0.1
    state = controller.init(np.zeros((), np.float32))
    state = controller.update(controller.update(state, 0.9), 0.3)  # mean 0.6: no move
    assert float(state.p) == 0.0 and float(state.count) == 0.0
    state = controller.update(controller.update(state, 0.9), np.float32(0.5))
    assert abs(float(state.p) - 0.1) < 1e-7
    assert controller.step_size == pytest.approx(0.1)
    assert AdaptiveProbability(batch_size=64).step_size == pytest.approx(64 * 4 / 500_000)


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_update_inside_jax_jit_equals_eager():
    import jax
    import jax.numpy as jnp

    controller = AdaptiveProbability(batch_size=BATCH, ada_kimg=0.3, interval=2)
    stream = np.random.default_rng(2).uniform(0.4, 1.0, 30).astype(np.float32)
    step = jax.jit(controller.update)
    traced = eager = controller.init(jnp.zeros(()))
    for r in stream:
        traced, eager = step(traced, jnp.asarray(r)), controller.update(eager, jnp.asarray(r))
    assert isinstance(traced, AdaptiveProbabilityState)
    np.testing.assert_array_equal(np.asarray(traced.p), np.asarray(eager.p))
    assert float(eager.p) > 0


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_update_inside_tf_function_equals_eager():
    import tensorflow as tf

    controller = AdaptiveProbability(batch_size=BATCH, ada_kimg=0.3, interval=2)
    stream = np.random.default_rng(2).uniform(0.4, 1.0, 30).astype(np.float32)

    @tf.function
    def step(p, total, count, r):
        return tuple(controller.update(AdaptiveProbabilityState(p, total, count), r))

    traced = eager = controller.init(tf.zeros(()))
    for r in stream:
        traced = AdaptiveProbabilityState(*step(*traced, tf.constant(r)))
        eager = controller.update(eager, tf.constant(r))
    np.testing.assert_array_equal(traced.p.numpy(), eager.p.numpy())


@pytest.mark.slow
@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_update_inside_torch_compile_equals_eager():
    import torch

    controller = AdaptiveProbability(batch_size=BATCH, ada_kimg=0.3, interval=2)
    stream = np.random.default_rng(2).uniform(0.4, 1.0, 30).astype(np.float32)
    step = torch.compile(controller.update, fullgraph=True, dynamic=False)
    traced = eager = controller.init(torch.zeros(()))
    for r in stream:
        r_t = torch.tensor(r)
        traced, eager = step(traced, r_t), controller.update(eager, r_t)
    assert torch.equal(traced.p, eager.p) and float(eager.p) > 0


def test_adaptive_noise_runs_the_same_rule():
    """AdaptiveNoise with AdaptiveProbability's step is the same controller on another scale."""
    controller = AdaptiveProbability(batch_size=BATCH, ada_kimg=0.5, interval=4)
    noise = advloss.AdaptiveNoise(target=0.6, step_size=controller.step_size, interval=4)
    p, s = controller.init(np.zeros((), np.float32)), noise.init(np.zeros((), np.float32))
    for x in _logits(3, 80, drift=2.0):
        r_t = balance_stats(x.astype(np.float32))["r_t"]
        p, s = controller.update(p, r_t), noise.update(s, r_t)
        assert float(p.p) == float(s.std)


def test_config_round_trip():
    controller = AdaptiveProbability(batch_size=32, target=0.5, ada_kimg=100, interval=8)
    config = controller.config()
    assert config == {"name": "adaptive_probability", "batch_size": 32, "target": 0.5,
                      "ada_kimg": 100.0, "interval": 8, "initial": 0.0}  # fmt: skip
    assert AdaptiveProbability.from_config(config) == controller


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({}, TypeError, "batch_size"),
        ({"batch_size": 0}, advloss.AdvlossValueError, r"batch_size must be an int >= 1"),
        ({"batch_size": 8.0}, advloss.AdvlossTypeError, "batch_size must be an int"),
        ({"batch_size": True}, advloss.AdvlossTypeError, "batch_size must be an int"),
        ({"batch_size": 8, "target": 1.5}, advloss.AdvlossValueError, r"target must lie in \[-1, 1\]"),
        ({"batch_size": 8, "ada_kimg": 0}, advloss.AdvlossValueError, "ada_kimg must be > 0"),
        ({"batch_size": 8, "ada_kimg": "fast"}, advloss.AdvlossTypeError, "ada_kimg must be a Python number"),
        ({"batch_size": 8, "interval": 0}, advloss.AdvlossValueError, "interval must be an int from 1"),
        ({"batch_size": 8, "initial": 1.5}, advloss.AdvlossValueError, r"initial must lie in \[0, 1\]"),
    ],
)  # fmt: skip
def test_bad_hyperparameters_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaptiveProbability(**kwargs)


def test_bad_state_and_r_t_are_named():
    controller = AdaptiveProbability(batch_size=8)
    state = controller.init(np.zeros(()))
    with pytest.raises(advloss.AdvlossTypeError, match="state must be an AdaptiveProbabilityState"):
        controller.update((0.0, 0.0, 0.0), 0.5)
    with pytest.raises(advloss.AdvlossTypeError, match="state must be an AdaptiveProbabilityState"):
        controller.p({"p": 0.0})
    with pytest.raises(
        advloss.AdvlossValueError, match=r"r_t must be a scalar \(0-d\) tensor.*\(4,\)"
    ):
        controller.update(state, np.zeros(4))
    with pytest.raises(
        advloss.AdvlossTypeError, match=r"r_t must be a 0-d numpy tensor.*builtins\.str"
    ):
        controller.update(state, "0.5")
    with pytest.raises(advloss.AdvlossTypeError, match="received a bool"):
        controller.update(state, True)
    with pytest.raises(advloss.AdvlossValueError, match="r_t must be finite"):
        controller.update(state, float("nan"))


@pytest.mark.skipif("torch" not in NAMES, reason="torch not installed")
def test_state_and_r_t_of_two_frameworks_are_refused():
    import torch

    controller = AdaptiveProbability(batch_size=8)
    state = controller.init(torch.zeros(()))
    with pytest.raises(TypeError, match="numpy"):
        controller.update(state, np.zeros((), np.float32))
