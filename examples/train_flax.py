"""advloss with Flax and optax under ``jax.jit``: a GAN on a ring of 8 Gaussians.

    python examples/train_flax.py [--steps 2000]

Parameters and optimizer states live in two ``flax.training.train_state.TrainState``; one jitted
function does a D step and a G step.  The step counter is traced (lazy R1 goes through
``lax.cond``) and every random draw comes from a key folded with the step.
"""

from __future__ import annotations

import argparse
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

import advloss


class MLP(nn.Module):
    out: int
    leaky: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = partial(nn.leaky_relu, negative_slope=0.2) if self.leaky else nn.relu
        x = act(nn.Dense(128)(x))
        x = act(nn.Dense(128)(x))
        return nn.Dense(self.out)(x)


def ring(key: jax.Array, n: int) -> jax.Array:
    k1, k2 = jax.random.split(key)
    angle = jax.random.randint(k1, (n,), 0, 8) * (2 * jnp.pi / 8)
    return jnp.stack([jnp.cos(angle), jnp.sin(angle)], 1) + 0.02 * jax.random.normal(k2, (n, 2))


def make_step(objective: advloss.Objective, G: MLP, D: MLP, batch: int):
    @jax.jit
    def train_step(g: TrainState, d: TrainState, step: jax.Array, key: jax.Array):
        k_real, k_z1, k_z2, k_obj_d, k_obj_g = jax.random.split(jax.random.fold_in(key, step), 5)
        real = ring(k_real, batch)
        fake = G.apply(g.params, jax.random.normal(k_z1, (batch, 8)))

        def d_loss(params):
            out = objective.discriminator(lambda x: D.apply(params, x), real, fake, step=step,
                                          key=k_obj_d)  # fmt: skip
            return out.total, out

        (_, out), grads = jax.value_and_grad(d_loss, has_aux=True)(d.params)
        d = d.apply_gradients(grads=grads)

        def g_loss(params):
            fake = G.apply(params, jax.random.normal(k_z2, (batch, 8)))
            g_out = objective.generator(lambda x: D.apply(d.params, x), fake, step=step,
                                        key=k_obj_g)  # fmt: skip
            return g_out.total, g_out

        (_, g_out), grads = jax.value_and_grad(g_loss, has_aux=True)(g.params)
        g = g.apply_gradients(grads=grads)
        return g, d, {"d_loss": out.total, "g_loss": g_out.total,
                      "d_real_acc": out.stats["real_acc"], "d_fake_acc": out.stats["fake_acc"]}  # fmt: skip

    return train_step


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--objective", default="ns + r1(gamma=0.1, every=4) + noise('0.05:0:1000')")
    args = p.parse_args(argv)
    G, D = MLP(2), MLP(1, leaky=True)
    kg, kd, key = jax.random.split(jax.random.key(0), 3)
    tx = lambda: optax.adam(1e-3, b1=0.5, b2=0.9)  # noqa: E731
    g = TrainState.create(apply_fn=G.apply, params=G.init(kg, jnp.zeros((1, 8))), tx=tx())
    d = TrainState.create(apply_fn=D.apply, params=D.init(kd, jnp.zeros((1, 2))), tx=tx())
    train_step = make_step(advloss.Objective.parse(args.objective), G, D, args.batch)
    for step in range(args.steps):
        g, d, logs = train_step(g, d, jnp.asarray(step), key)
        if (step + 1) % max(args.steps // 5, 1) == 0:  # host reads only when printing
            print(f"step {step + 1}: " + " ".join(f"{k} {float(v):.3f}" for k, v in logs.items()))
    samples = G.apply(g.params, jax.random.normal(jax.random.key(2), (2000, 8)))
    distance = float(jnp.abs(jnp.linalg.norm(samples, axis=1) - 1).mean())
    print(f"mean distance of samples to the ring: {distance:.3f}")
    return distance


if __name__ == "__main__":
    main()
