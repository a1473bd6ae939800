"""advloss in a Keras 3 model with a custom ``train_step`` (TensorFlow backend): a GAN on a ring
of 8 Gaussians, trained with ``model.fit``.

    python examples/train_keras.py [--steps 2000]

``fit`` runs ``train_step`` inside ``tf.function``: the advloss objective is traced once, with
the step counter (an optimizer's ``iterations`` variable) as a tensor, so lazy R1 runs through
``tf.cond`` instead of retracing.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

import advloss


def mlp(n_out: int, activation: str) -> keras.Sequential:
    return keras.Sequential([keras.layers.Dense(128, activation=activation),
                             keras.layers.Dense(128, activation=activation),
                             keras.layers.Dense(n_out)])  # fmt: skip


class GAN(keras.Model):
    def __init__(self, objective: str) -> None:
        super().__init__()
        self.G, self.D = mlp(2, "relu"), mlp(1, "leaky_relu")
        self.objective = advloss.Objective.parse(objective)
        self.seed = keras.random.SeedGenerator(0)

    def compile(self, g_optimizer: keras.Optimizer, d_optimizer: keras.Optimizer) -> None:
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def call(self, z: tf.Tensor) -> tf.Tensor:
        return self.G(z)

    def train_step(self, real: tf.Tensor) -> dict[str, tf.Tensor]:
        n = tf.shape(real)[0]
        step = self.d_optimizer.iterations  # a tensor: lazy penalties trace through tf.cond
        fake = self.G(keras.random.normal((n, 8), seed=self.seed))
        with tf.GradientTape() as tape:
            out = self.objective.discriminator(self.D, real, fake, step=step)
        grads = tape.gradient(out.total, self.D.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.D.trainable_weights, strict=True))

        with tf.GradientTape() as tape:
            g_out = self.objective.generator(self.D, self.G(keras.random.normal((n, 8), seed=self.seed)),
                                             step=step)  # fmt: skip
        grads = tape.gradient(g_out.total, self.G.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.G.trainable_weights, strict=True))
        return {"d_loss": out.total, "g_loss": g_out.total,
                "d_real_acc": out.stats["real_acc"], "d_fake_acc": out.stats["fake_acc"]}  # fmt: skip


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--objective", default="ns + r1(gamma=0.1, every=4)")
    args = p.parse_args(argv)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    angle = rng.integers(0, 8, args.steps * args.batch) * (2 * np.pi / 8)
    data = np.stack([np.cos(angle), np.sin(angle)], 1) + 0.02 * rng.standard_normal((len(angle), 2))
    gan = GAN(args.objective)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
                keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9))  # fmt: skip
    history = gan.fit(data.astype("float32"), batch_size=args.batch, epochs=1, verbose=0)
    samples = gan.G(keras.random.normal((2000, 8), seed=1)).numpy()
    distance = float(np.abs(np.linalg.norm(samples, axis=1) - 1).mean())
    last = {k: round(float(v[-1]), 3) for k, v in history.history.items()}
    print(f"last step: {last}; mean distance of samples to the ring: {distance:.3f}")
    return distance


if __name__ == "__main__":
    main()
