"""Schedules (Python and tensor paths agree with the closed forms, traced steps), instance noise
(exact with explicit draws, cross-framework, statistics of keyed draws, gradients) and the
adaptive noise controller (direction, interval, clamping, jit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import advloss
from advloss.noise import AdaptiveNoise, instance_noise
from advloss.schedules import Constant, Cosine, Exponential, Linear, Piecewise, get_schedule
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS, key_for

NAMES = {h.name for h in FRAMEWORKS}
STEPS = [0, 1, 7, 50, 99, 100, 101, 250, 1000, 5000]

SCHEDULES = [
    (Constant(value=0.3), lambda t: 0.3),
    (
        Linear(start=0.1, end=0.0, steps=1000, begin=100),
        lambda t: 0.1 - 0.1 * min(max((t - 100) / 1000, 0), 1),
    ),
    (
        Cosine(start=0.5, end=0.1, steps=200),
        lambda t: 0.1 + 0.4 * 0.5 * (1 + math.cos(math.pi * min(t / 200, 1))),
    ),
    (
        Exponential(start=1.0, half_life=100, end=0.05, begin=50),
        lambda t: 0.05 + 0.95 * 0.5 ** (max(t - 50, 0) / 100),
    ),
    (
        Piecewise(boundaries=(100, 250), values=(0.3, 0.2, 0.0)),
        lambda t: 0.3 if t < 100 else 0.2 if t < 250 else 0.0,
    ),
]
IDS = [s.name for s, _ in SCHEDULES]


@pytest.mark.parametrize("schedule,formula", SCHEDULES, ids=IDS)
def test_python_steps_give_python_floats_of_the_closed_form(schedule, formula):
    for t in STEPS:
        value = schedule(t)
        assert type(value) is float
        assert value == pytest.approx(formula(t), rel=1e-12, abs=1e-15)
    assert schedule(np.int64(7)) == pytest.approx(formula(7))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("schedule,formula", SCHEDULES, ids=IDS)
def test_tensor_steps_give_float32_tensors_equal_to_the_python_path(fw, schedule, formula):
    b = fw.backend
    for dtype in ("int32", "int64", "float32"):
        steps = b.asarray(STEPS, dtype)
        for i, t in enumerate(STEPS):
            out = schedule(steps[i])
            assert b.dtype(out) == "float32" and b.shape(out) == ()
            assert_close(b.to_numpy(out), formula(t), "float32", what=f"{schedule} at {t}")


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_schedules_trace_under_jax_jit():
    import jax
    import jax.numpy as jnp

    for schedule, formula in SCHEDULES:
        values = jax.jit(jax.vmap(schedule))(jnp.asarray(STEPS))
        np.testing.assert_allclose(np.asarray(values), [formula(t) for t in STEPS], rtol=2e-6)


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
def test_schedules_trace_under_tf_function():
    import tensorflow as tf

    for schedule, formula in SCHEDULES:
        fn = tf.function(schedule, jit_compile=True)
        got = [float(fn(tf.constant(t, tf.int64))) for t in (0, 100, 250)]
        np.testing.assert_allclose(got, [formula(t) for t in (0, 100, 250)], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    "spec, want",
    [
        (0.1, Constant(value=0.1)),
        ("0.25", Constant(value=0.25)),
        ("0.1:0:10000", Linear(start=0.1, end=0.0, steps=10_000)),
        ("linear:0.1:0.01:500:20", Linear(start=0.1, end=0.01, steps=500, begin=20)),
        ("cosine:0.2:0:50", Cosine(start=0.2, end=0.0, steps=50)),
        ("exponential:0.1:300", Exponential(start=0.1, half_life=300)),
        (
            {"name": "piecewise", "boundaries": [5, 9], "values": [1, 2, 3]},
            Piecewise(boundaries=(5, 9), values=(1.0, 2.0, 3.0)),
        ),
    ],
)
def test_get_schedule_forms_and_config_round_trip(spec, want):
    got = get_schedule(spec)
    assert got == want
    assert get_schedule(got.config()) == got
    assert get_schedule(got) is got


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Linear(start=0.1, steps=0), "steps must be an int >= 1"),
        (lambda: Linear(start=0.1, steps=1.5), "steps must be an int"),
        (lambda: Linear(start=float("nan"), steps=10), "start must be finite"),
        (lambda: Exponential(start=0.1, half_life=0), "half_life must be > 0"),
        (lambda: Piecewise(boundaries=(5, 5), values=(1, 2, 3)), "strictly increasing"),
        (lambda: Piecewise(boundaries=(5,), values=(1,)), "one more entry"),
        (lambda: get_schedule("warp:1:2"), "unknown name 'warp'"),
        (lambda: get_schedule("0.1:x:10"), "is not a number"),
        (lambda: get_schedule("linear", start=0.1, steps=10, slope=2), "no hyperparameter 'slope'"),
        (lambda: get_schedule({"name": "linear", "start": 0.1}), "missing"),
        (lambda: get_schedule([1, 2]), "expected a number"),
        (lambda: Constant(value=1.0)(float("inf")), "step must be finite"),
    ],
)
def test_schedule_errors_are_clear(make, match):
    with pytest.raises((advloss.AdvlossValueError, advloss.AdvlossTypeError), match=match):
        make()


# ------------------------------------------------------------------------- instance noise


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_explicit_noise_is_exact_and_gradient_is_identity(fw, dtype):
    rng = np.random.default_rng(0)
    x, eps = rng.normal(size=(4, 3, 2, 2)), rng.normal(size=(4, 3, 2, 2))
    b = fw.backend
    eps_t = b.from_numpy(eps, dtype)
    value, (grad,) = fw.value_and_grad(lambda t: instance_noise(t, 0.3, noise=eps_t), [x], dtype)
    x_d, eps_d = [b.to_numpy(b.from_numpy(a, dtype)).astype(np.float64) for a in (x, eps)]
    assert_close(value, x_d + 0.3 * eps_d, dtype, what="x + s eps")
    np.testing.assert_array_equal(grad, np.ones_like(x))
    std_t = b.from_numpy(np.asarray(0.3), dtype)
    out = b.to_numpy(instance_noise(b.from_numpy(x, dtype), std_t, noise=eps_t))
    assert_close(out, x_d + 0.3 * eps_d, dtype, what="tensor std")


@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree_on_the_same_draws(a, b):
    rng = np.random.default_rng(1)
    x, eps = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    outs = [
        fw.numpy(instance_noise(fw.tensor(x, "float32"), 0.17, noise=fw.tensor(eps, "float32")))
        for fw in (a, b)
    ]
    assert_close(outs[0], outs[1], "float32", what="instance noise")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_keyed_noise_std_follows_the_schedule(fw):
    """The sample std of (out - in) over 100k draws is within 5 standard errors of s
    (the standard error of a sample std of n normals is about s / sqrt(2n)); the mean is ~0."""
    schedule = Linear(start=0.4, end=0.0, steps=100)
    n = 100_000
    x = fw.tensor(np.zeros((n, 1)), "float32")
    for step in (0, 50, 75):
        s = schedule(step)
        diff = fw.numpy(instance_noise(x, s, key=key_for(fw, step))).astype(np.float64)
        assert abs(diff.std() - s) < 5 * s / math.sqrt(2 * n)
        assert abs(diff.mean()) < 5 * s / math.sqrt(n)
    assert instance_noise(x, schedule(100), key=key_for(fw, 0)) is x  # std 0: no draw


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_keys_reproduce_and_differ(fw):
    x = fw.tensor(np.zeros((64,)), "float32")
    a, b_, c = (fw.numpy(instance_noise(x, 1.0, key=key_for(fw, s))) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b_)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_inputs_keep_their_dtype(fw):
    b = fw.backend
    x = fw.tensor(np.zeros((8, 2)), "bfloat16")
    eps = fw.tensor(np.full((8, 2), 2.0), "float32")
    out = instance_noise(x, 0.25, noise=eps)
    assert b.dtype(out) == "bfloat16"
    np.testing.assert_array_equal(fw.numpy(out), np.full((8, 2), 0.5))


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_noise_with_traced_std_under_jit():
    import jax
    import jax.numpy as jnp

    schedule = Cosine(start=0.5, end=0.0, steps=10)

    @jax.jit
    def f(x, step, key):
        return instance_noise(x, schedule(step), key=key)

    x = jnp.zeros((20_000,), jnp.float32)
    out = f(x, jnp.asarray(5), jax.random.key(0))
    assert abs(float(jnp.std(out)) - 0.25) < 0.01


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_instance_noise_errors(fw):
    x = fw.tensor(np.zeros((2, 3)), "float32")
    with pytest.raises(advloss.AdvlossValueError, match="std must be >= 0"):
        instance_noise(x, -0.1)
    with pytest.raises(
        advloss.AdvlossValueError, match=r"noise must have the inputs' shape \(2, 3\)"
    ):
        instance_noise(x, 0.1, noise=fw.tensor(np.zeros((3, 2)), "float32"))
    with pytest.raises(advloss.AdvlossValueError, match="scalar"):
        instance_noise(x, fw.tensor(np.ones(2), "float32"))
    with pytest.raises(advloss.AdvlossTypeError, match="floating-point"):
        instance_noise(fw.backend.asarray([1, 2], "int32"), 0.1)
    if fw.name == "jax":
        with pytest.raises(ValueError, match="JAX has no global random state"):
            instance_noise(x, 0.1)


def test_mixed_frameworks_are_rejected():
    if len(FRAMEWORKS) < 2:
        pytest.skip("needs two frameworks")
    a, b = FRAMEWORKS[:2]
    with pytest.raises(advloss.AdvlossTypeError, match="mix frameworks"):
        instance_noise(
            a.tensor(np.zeros(2), "float32"), 0.1, noise=b.tensor(np.zeros(2), "float32")
        )


# ---------------------------------------------------------------------- adaptive controller


def _run_controller(fw, ada, stream):
    b = fw.backend
    state = ada.init(fw.tensor(np.zeros(1), "float32"))
    stds = []
    for r in stream:
        state = ada.update(state, b.from_numpy(np.asarray(r), "float32"))
        stds.append(float(b.to_numpy(ada.std(state))))
    return np.array(stds)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_adaptive_noise_moves_every_interval_and_clamps(fw):
    ada = AdaptiveNoise(target=0.6, step_size=0.1, interval=3, initial=0.0, max_std=0.25)
    # r_t above target: +0.1 every third update, clamped at 0.25; then below: down to 0.
    stds = _run_controller(fw, ada, [0.9] * 9 + [0.2] * 12)
    np.testing.assert_allclose(
        stds,
        [
            0,
            0,
            0.1,
            0.1,
            0.1,
            0.2,
            0.2,
            0.2,
            0.25,
            0.25,
            0.25,
            0.15,
            0.15,
            0.15,
            0.05,
            0.05,
            0.05,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        atol=1e-6,
    )
    # The interval's mean decides: 0.9, 0.9, 0.0 averages 0.6 -> no move.
    np.testing.assert_allclose(_run_controller(fw, ada, [0.9, 0.9, 0.0]), [0, 0, 0], atol=1e-7)


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_adaptive_noise_update_jits_and_equals_eager():
    import jax
    import jax.numpy as jnp

    ada = AdaptiveNoise(target=0.5, step_size=0.02, interval=2)
    stream = np.random.default_rng(0).uniform(-1, 1, 40).astype(np.float32)
    step = jax.jit(ada.update)
    state_j = state_e = ada.init(jnp.zeros(1))
    for r in stream:
        state_j = step(state_j, jnp.asarray(r))
        state_e = ada.update(state_e, jnp.asarray(r))
    for a, b in zip(state_j, state_e, strict=True):
        np.testing.assert_allclose(float(a), float(b), rtol=1e-6)
    other = [_run_controller(fw, ada, stream)[-1] for fw in FRAMEWORKS]
    np.testing.assert_allclose(other, float(state_e.std), atol=1e-6)


def test_adaptive_noise_validation_and_config():
    ada = AdaptiveNoise(target=0.6, step_size=0.01, interval=4)
    config = ada.config()
    assert config["name"] == "adaptive"
    assert AdaptiveNoise(**{k: v for k, v in config.items() if k != "name"}) == ada
    for kwargs, match in [
        ({"target": 2.0}, r"target must lie in \[-1, 1\]"),
        ({"interval": 0}, "interval must be an int from 1 to"),
        ({"step_size": -1.0}, "step_size must be >= 0"),
        ({"initial": 2.0, "max_std": 1.0}, "must not exceed max_std"),
    ]:
        with pytest.raises(advloss.AdvlossValueError, match=match):
            AdaptiveNoise(**kwargs)
    with pytest.raises(advloss.AdvlossTypeError, match="AdaptiveNoiseState"):
        ada.update((0.0, 0.0, 0.0), np.float32(1.0))
