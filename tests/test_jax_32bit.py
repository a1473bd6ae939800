"""JAX's default 32-bit mode (the test session enables x64 for float64 comparisons, so this runs
in a fresh process): every loss and penalty, eager and under jax.jit, in float32, against the
NumPy float64 formula."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, advloss
assert not jax.config.jax_enable_x64, "this test needs JAX's default 32-bit mode"
rng = np.random.default_rng(0)
r64, f64 = rng.normal(0.5, 2.0, (8, 1)), rng.normal(-0.5, 2.0, (8, 1))
r, f = jnp.asarray(r64, jnp.float32), jnp.asarray(f64, jnp.float32)
for name in advloss.available_losses():
    loss = advloss.get_loss(name)
    for side, args, ref_args in (("D", (r, f), (r64, f64)), ("G", (f,), (f64,))):
        kw = {"real_logits": r} if side == "G" else {}
        kw64 = {"real_logits": r64} if side == "G" else {}
        fn = loss.discriminator if side == "D" else loss.generator
        eager, jitted = fn(*args, **kw), jax.jit(lambda *a: fn(*a, **kw))(*args)
        ref = float(fn(*ref_args, backend="numpy", **kw64))
        for v in (eager, jitted):
            assert v.dtype == jnp.float32, (name, side, v.dtype)
            assert abs(float(v) - ref) <= 2e-5 * max(1.0, abs(ref)), (name, side, float(v), ref)
        g = jax.grad(lambda x: fn(x, *args[1:], **kw))(args[0])
        assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g))), (name, side)
w = jnp.asarray([3.0, 4.0], jnp.float32)
D = lambda x: (x * w).sum(axis=1)
real, fake = jnp.zeros((4, 2), jnp.float32), jnp.ones((4, 2), jnp.float32)
for value, expected in (
    (advloss.r1_penalty(D, real), 125.0),
    (jax.jit(lambda x: advloss.r2_penalty(D, x, gamma=1.0))(fake), 12.5),
    (jax.jit(lambda a, b: advloss.gradient_penalty(D, a, b, key=jax.random.key(0)))(real, fake), 160.0),
    (jax.jit(lambda s: advloss.r1_penalty(D, real, every=4, step=s))(jnp.int32(8)), 500.0),
):
    assert value.dtype == jnp.float32 and abs(float(value) - expected) < 1e-3, (value, expected)
objective = advloss.Objective.parse("ns(real_label=0.9) + r1(gamma=1) + noise(0.1)")
out = jax.jit(lambda a, b, k: objective.discriminator(D, a, b, key=k, step=0))(
    real, fake, jax.random.key(1))
assert out.total.dtype == jnp.float32 and bool(jnp.isfinite(out.total))
print("OK 32-bit")
"""


def test_losses_and_penalties_in_jax_32_bit_mode():
    env = {**os.environ, "JAX_ENABLE_X64": "0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "OK 32-bit" in proc.stdout, proc.stderr[-3000:]
