"""Cost of a discriminator step with gradient penalties and spectral normalization, per framework.

    python -m benchmarks.penalties [--quick] [--frameworks torch,tensorflow,jax] [--threads N]
        [--allow-load] [--max-load L]

A "D step" is: D on a real and a fake batch, the non-saturating loss, the penalty, and the
gradient of the total with respect to every D parameter (no optimizer update: it is the same
for every variant).  D is a small DCGAN-style discriminator on 32x32x3 inputs (conv 3->32 k4 s2,
LeakyReLU(0.2), conv 32->64 k4 s2, LeakyReLU, linear -> 1), built from the same NumPy weights in
each framework and written functionally.  Variants:

* plain: no penalty;
* gp / gp_hand: advloss.gradient_penalty vs WGAN-GP written by hand the way pix2pix's
  cal_gradient_penalty writes it (x̂ = a·real + (1-a)·fake, ((g + 1e-16).norm(2, dim=1) - 1)² × 10);
* r1_separate / r1_fused / r1_hand: advloss.r1_penalty followed by a second D(real) for the loss,
  advloss.r1_penalty(return_outputs=True) reusing its logits, and R1 written by hand the way
  StyleGAN2-ADA's loss.py writes it (also fused: the penalty's logits feed the loss);
* r1_lazy16: advloss.r1_penalty(every=16, step=i), averaged over 16 consecutive steps (Python int
  steps in torch; a traced step under jax.jit and tf.function, so lax.cond / tf.cond choose);
* r1_lazy16_host: the same penalty with the choice made on the host, averaged the same way —
  under jax.jit and tf.function two compiled variants (``regularize=True`` / ``False``) picked
  per call by ``step % 16`` (``advloss.lazy_step``'s pattern), in torch a *tensor* step (a CPU
  tensor, which the penalty reads on the host for free);
* sn / sn_hand: every weight passed through advloss.spectral_normalize (one power iteration)
  each step, against the same power iteration written by hand in each framework the way its own
  layer writes it (torch's ``parametrizations.spectral_norm`` training forward, flax.linen's
  ``SpectralNorm``, Keras' ``SpectralNormalization``: v = n(Wᵀu), u = n(Wv) without gradient,
  W / uᵀWv);
* r3gan / r3gan_hand: R3GAN's discriminator step — ``Objective.parse("rpgan + r1(gamma=1) +
  r2(gamma=1)").discriminator`` (R1's and R2's forward passes give the loss its logits) against
  the step written the way R3GAN's ``Trainer.py`` writes it (both batches with gradients, one D
  pass each, ``softplus(-(D(x) - D(G(z))))`` + γ/2 (R1 + R2) from ``autograd.grad`` of the
  summed logits).

The discriminator is built by :mod:`advloss.testing` (the harness the tests use) from
``D_LAYERS``; its gradient by ``Harness.gradient``.  Modes: torch eager, TF tf.function, JAX
jax.jit.  Timing (:func:`measure`, also the step of ``benchmarks.speed``'s batch sweep, so
the two tables' plain step is one definition): ``STEPS_PER_ROUND`` steps of each variant per
round, variants interleaved within each round (``benchmarks.report.interleaved_rounds``, on
``timeit``); every table gives the median over rounds with the interquartile range, and ratios
are per-round paired ratios (a ratio whose spread holds 1 reads "parity").  The run refuses a
loaded machine unless ``--allow-load`` (then the file says "measured under load"); threads:
``--threads``, default the free cores (``reference_trainers.common.default_threads``).
Results: benchmarks/results/penalties[-quick].{md,json}.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from advloss.testing import get_harness
from benchmarks import report
from reference_trainers import common

VARIANTS = [
    "plain", "gp", "gp_hand", "r1_separate", "r1_fused", "r1_hand", "r1_lazy16", "r1_lazy16_host",
    "sn", "sn_hand", "r3gan", "r3gan_hand",
]  # fmt: skip
#: The variants timed as one lazy period (16 steps) per round.
LAZY = ("r1_lazy16", "r1_lazy16_host")
#: R3GAN's objective as advloss writes it (γ = 1: the cost does not depend on it).
R3GAN = "rpgan + r1(gamma=1) + r2(gamma=1)"


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "k1": rng.normal(0, 0.1, (32, 3, 4, 4)),
        "b1": np.zeros(32),
        "k2": rng.normal(0, 0.05, (64, 32, 4, 4)),
        "b2": np.zeros(64),
        "w": rng.normal(0, 0.02, (64 * 8 * 8, 1)),
        "b": np.zeros(1),
    }


#: The discriminator, as layers of :mod:`advloss.testing.nets` (built by the harness).
D_LAYERS = (
    ("conv", "k1", "b1", 2, 1),
    ("act", "leaky_relu", 0.2),
    ("conv", "k2", "b2", 2, 1),
    ("act", "leaky_relu", 0.2),
    ("flatten",),
    ("dense", "w", "b"),
)


# ------------------------------------------------------------------------------- frameworks


class TorchBench:
    name, mode = "torch", "eager"

    def __init__(self, params_np, batch):
        import torch

        self.torch, self.h = torch, get_harness("torch")
        self.net = self.h.net(D_LAYERS)
        self.p = self.h.params(params_np)
        rng = np.random.default_rng(1)
        self.real = self.h.tensor(rng.normal(size=(batch, 3, 32, 32)))
        self.fake = self.h.tensor(rng.normal(size=(batch, 3, 32, 32)))
        self.alpha = torch.rand(batch)
        self.sn_state = {}
        import advloss

        for k in ("k1", "k2", "w"):
            self.sn_state[k] = advloss.init_state(
                self.p[k].detach(), torch.Generator().manual_seed(0)
            )

    def d(self, p):
        return lambda x: self.net(p, x)

    def step_fn(self, variant):
        torch = self.torch
        loss_fn = self.loss_fn(variant)
        grad = self.h.gradient(lambda t: {"loss": loss_fn(t)}, list(self.p))

        def run(step):
            if variant == "r1_lazy16_host":  # a CPU tensor step: read on the host, free
                step = torch.tensor(step)
            return grad({**self.p, "step": step})[1]

        return run

    def loss_fn(self, variant):
        """The D-step loss of ``variant`` as a function of ``{**params, "step": step}``."""
        import advloss

        torch, ns = self.torch, advloss.get_loss("ns")
        real, fake, alpha = self.real, self.fake, self.alpha
        objective = advloss.Objective.parse(R3GAN)

        def loss_fn(t):
            p, step = {k: t[k] for k in self.p}, t["step"]
            if variant == "sn":
                p = dict(p)
                for k, (u, v) in self.sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v).weight
            elif variant == "sn_hand":  # parametrizations.spectral_norm's training forward
                p = dict(p)
                for k, (u, v) in self.sn_state.items():
                    w = p[k].flatten(1)
                    with torch.no_grad():
                        v = torch.nn.functional.normalize(torch.mv(w.t(), u), dim=0)
                        u = torch.nn.functional.normalize(torch.mv(w, v), dim=0)
                    p[k] = p[k] / torch.dot(u, torch.mv(w, v))
            d = self.d(p)
            if variant == "r1_fused":
                r1, real_logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(real_logits, d(fake)) + r1
            if variant in LAZY:
                r1, real_logits = advloss.r1_penalty(
                    d, real, every=16, step=step, return_outputs=True
                )
                return ns.discriminator(real_logits, d(fake)) + r1
            if variant == "r3gan":
                return objective.discriminator(d, real, fake).total
            if variant == "r3gan_hand":  # R3GAN Trainer.py style
                real_, fake_ = (
                    real.detach().requires_grad_(True),
                    fake.detach().requires_grad_(True),
                )
                real_logits, fake_logits = d(real_), d(fake_)
                adversarial = torch.nn.functional.softplus(-(real_logits - fake_logits))
                (g_r,) = torch.autograd.grad(real_logits.sum(), real_, create_graph=True)
                (g_f,) = torch.autograd.grad(fake_logits.sum(), fake_, create_graph=True)
                r1, r2 = g_r.square().sum([1, 2, 3]), g_f.square().sum([1, 2, 3])
                return (adversarial.flatten() + 0.5 * (r1 + r2)).mean()
            if variant == "r1_hand":  # StyleGAN2-ADA loss.py style
                real_ = real.detach().requires_grad_(True)
                logits = d(real_)
                (g,) = torch.autograd.grad(
                    outputs=[logits.sum()], inputs=[real_], create_graph=True
                )
                penalty = g.square().sum([1, 2, 3])
                return ns.discriminator(logits, d(fake)) + (penalty * 5.0).mean()
            loss = ns.discriminator(d(real), d(fake))
            if variant == "gp":
                loss = loss + advloss.gradient_penalty(d, real, fake, alpha=alpha)
            elif variant == "gp_hand":  # pix2pix cal_gradient_penalty style
                a = (1 - alpha).view(-1, 1, 1, 1)
                x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
                out = d(x_hat)
                (g,) = torch.autograd.grad(
                    outputs=out, inputs=x_hat, grad_outputs=torch.ones_like(out), create_graph=True
                )
                g = g.view(g.size(0), -1)
                loss = loss + (((g + 1e-16).norm(2, dim=1) - 1.0) ** 2).mean() * 10.0
            elif variant == "r1_separate":
                loss = loss + advloss.r1_penalty(d, real)
            return loss

        return loss_fn

    def penalty_values(self):
        """(advloss, hand-written) values of GP and R1, to check the variants compute the same."""
        import advloss

        torch, d = self.torch, self.d(self.p)
        gp = advloss.gradient_penalty(d, self.real, self.fake, alpha=self.alpha)
        a = (1 - self.alpha).view(-1, 1, 1, 1)
        x_hat = (a * self.real + (1 - a) * self.fake).requires_grad_(True)
        (g,) = torch.autograd.grad(d(x_hat).sum(), x_hat)
        gp_hand = (((g.flatten(1) + 1e-16).norm(2, dim=1) - 1.0) ** 2).mean() * 10.0
        real_ = self.real.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d(real_).sum(), real_)
        r1_hand = (g.square().sum([1, 2, 3]) * 5.0).mean()
        r1 = advloss.r1_penalty(d, self.real)
        losses = [self.loss_fn(v)({**self.p, "step": 0}) for v in ("r3gan", "r3gan_hand")]
        sn = [self.loss_fn(v)({**self.p, "step": 0}) for v in ("sn", "sn_hand")]
        return [
            (float(gp.detach()), float(gp_hand)),
            (float(r1.detach()), float(r1_hand)),
            tuple(float(x.detach()) for x in losses),
            tuple(float(x.detach()) for x in sn),
        ]


class JaxBench:
    name, mode = "jax", "jit"
    DATA = ("real", "fake", "alpha", "step")  # traced arguments of the jitted step

    def __init__(self, params_np, batch):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.h = jax, jnp, get_harness("jax")
        self.net = self.h.net(D_LAYERS)
        self.p = self.h.params(params_np)
        rng = np.random.default_rng(1)
        self.real = self.h.tensor(rng.normal(size=(batch, 3, 32, 32)))
        self.fake = self.h.tensor(rng.normal(size=(batch, 3, 32, 32)))
        self.alpha = jax.random.uniform(jax.random.key(0), (batch,))
        import advloss

        self.sn_state = {
            k: advloss.init_state(self.p[k], jax.random.key(i))
            for i, k in enumerate(("k1", "k2", "w"))
        }

    def d(self, p):
        return lambda x: self.net(p, x)

    def step_fn(self, variant):
        import advloss

        jax, jnp, ns = self.jax, self.jnp, advloss.get_loss("ns")
        sn_state = self.sn_state

        objective = advloss.Objective.parse(R3GAN)

        def loss_fn(t, regularize=None):
            p, real, fake, alpha, step = {k: t[k] for k in self.p}, *(t[k] for k in self.DATA)
            if variant == "sn":
                p = dict(p)
                for k, (u, v) in sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v).weight
            elif variant == "sn_hand":  # flax.linen.SpectralNorm-style, one power iteration
                p = dict(p)
                for k, (u, _) in sn_state.items():
                    w = p[k].reshape(p[k].shape[0], -1)
                    v = w.T @ u
                    v = jax.lax.stop_gradient(v / (jnp.linalg.norm(v) + 1e-12))
                    u = w @ v
                    u = jax.lax.stop_gradient(u / (jnp.linalg.norm(u) + 1e-12))
                    p[k] = p[k] / (u @ (w @ v))
            d = self.d(p)
            if variant == "r1_fused":
                r1, logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
            if variant in LAZY:
                r1, logits = advloss.r1_penalty(
                    d, real, every=16, step=step, regularize=regularize, return_outputs=True
                )
                return ns.discriminator(logits, d(fake)) + r1
            if variant == "r3gan":
                return objective.discriminator(d, real, fake).total
            if variant == "r3gan_hand":  # R3GAN Trainer.py style
                real_logits, vjp_r = jax.vjp(d, real)
                fake_logits, vjp_f = jax.vjp(d, fake)
                (g_r,) = vjp_r(jnp.ones_like(real_logits))
                (g_f,) = vjp_f(jnp.ones_like(fake_logits))
                adversarial = jax.nn.softplus(-(real_logits - fake_logits)).reshape(-1)
                r1, r2 = jnp.sum(g_r * g_r, axis=(1, 2, 3)), jnp.sum(g_f * g_f, axis=(1, 2, 3))
                return jnp.mean(adversarial + 0.5 * (r1 + r2))
            if variant == "r1_hand":
                logits, vjp = jax.vjp(d, real)
                (g,) = vjp(jnp.ones_like(logits))
                return ns.discriminator(logits, d(fake)) + jnp.mean(
                    jnp.sum(g * g, axis=(1, 2, 3)) * 5.0
                )
            loss = ns.discriminator(d(real), d(fake))
            if variant == "gp":
                loss = loss + advloss.gradient_penalty(d, real, fake, alpha=alpha)
            elif variant == "gp_hand":
                a = (1 - alpha)[:, None, None, None]
                x_hat = a * real + (1 - a) * fake
                g = jax.grad(lambda x: jnp.sum(d(x)))(x_hat).reshape(x_hat.shape[0], -1)
                norm = jnp.sqrt(jnp.sum((g + 1e-16) ** 2, axis=1))
                loss = loss + jnp.mean((norm - 1.0) ** 2) * 10.0
            elif variant == "r1_separate":
                loss = loss + advloss.r1_penalty(d, real)
            return loss

        data = {"real": self.real, "fake": self.fake, "alpha": self.alpha}
        if variant == "r1_lazy16_host":  # advloss.lazy_step: two jitted variants, host choice
            grads = {
                reg: self.h.gradient(
                    lambda t, reg=reg: {"loss": loss_fn(t, reg)}, list(self.p), compiled=True
                )
                for reg in (True, False)
            }
            lazy = advloss.lazy_step(lambda t, *, step, regularize: grads[regularize](t), every=16)

            def run_host(step):
                out = lazy({**self.p, **data, "step": jnp.asarray(step, jnp.int32)}, step=step)[1]
                jax.block_until_ready(out)
                return out

            return run_host
        grad = self.h.gradient(lambda t: {"loss": loss_fn(t)}, list(self.p), compiled=True)

        def run(step):
            out = grad({**self.p, **data, "step": jnp.asarray(step, jnp.int32)})[1]
            jax.block_until_ready(out)
            return out

        return run


class TensorflowBench:
    name, mode = "tensorflow", "tf.function"

    def __init__(self, params_np, batch):
        import tensorflow as tf

        self.tf, self.h = tf, get_harness("tensorflow")
        # NHWC data and HWIO kernels: TF's CPU convolution layout, as a TF user writes it.
        self.net = self.h.net(D_LAYERS, channels_last=True)
        self.p = self.h.params(params_np, channels_last=True)
        rng = np.random.default_rng(1)
        self.real = self.h.tensor(rng.normal(size=(batch, 32, 32, 3)))  # NHWC
        self.fake = self.h.tensor(rng.normal(size=(batch, 32, 32, 3)))
        self.alpha = tf.random.uniform((batch,), seed=0)
        import advloss

        self.sn_state = {
            k: advloss.init_state(tf.convert_to_tensor(self.p[k]), i, dim=-1 if k != "w" else 1)
            for i, k in enumerate(("k1", "k2", "w"))
        }

    def d(self, p):
        return lambda x: self.net(p, x)

    def step_fn(self, variant):
        import advloss

        tf, ns = self.tf, advloss.get_loss("ns")
        real, fake, alpha = self.real, self.fake, self.alpha

        objective = advloss.Objective.parse(R3GAN)

        def loss_fn(t, regularize=None):
            p, step = {k: t[k] for k in self.p}, t["step"]
            if variant == "sn":
                for k, (u, v) in self.sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v, dim=-1 if k != "w" else 1).weight
            elif variant == "sn_hand":  # Keras SpectralNormalization-style, one iteration
                for k, (u, _) in self.sn_state.items():
                    w = tf.reshape(p[k], (-1, p[k].shape[-1]))  # (inputs, outputs)
                    v = tf.stop_gradient(tf.math.l2_normalize(tf.linalg.matvec(w, u)))
                    u = tf.stop_gradient(tf.math.l2_normalize(tf.linalg.matvec(w, v, True)))
                    p[k] = p[k] / tf.tensordot(u, tf.linalg.matvec(w, v, True), 1)
            d = self.d(p)
            if variant == "r1_fused":
                r1, logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
            if variant in LAZY:
                r1, logits = advloss.r1_penalty(
                    d, real, every=16, step=step, regularize=regularize, return_outputs=True
                )
                return ns.discriminator(logits, d(fake)) + r1
            if variant == "r3gan":
                return objective.discriminator(d, real, fake).total
            if variant == "r3gan_hand":  # R3GAN Trainer.py style
                with tf.GradientTape(persistent=True) as inner:
                    inner.watch([real, fake])
                    real_logits, fake_logits = d(real), d(fake)
                    r_sum, f_sum = tf.reduce_sum(real_logits), tf.reduce_sum(fake_logits)
                g_r, g_f = inner.gradient(r_sum, real), inner.gradient(f_sum, fake)
                adversarial = tf.reshape(tf.nn.softplus(-(real_logits - fake_logits)), [-1])
                r1 = tf.reduce_sum(g_r * g_r, [1, 2, 3])
                r2 = tf.reduce_sum(g_f * g_f, [1, 2, 3])
                return tf.reduce_mean(adversarial + 0.5 * (r1 + r2))
            if variant == "r1_hand":
                with tf.GradientTape() as inner:
                    inner.watch(real)
                    logits = d(real)
                    total = tf.reduce_sum(logits)
                g = inner.gradient(total, real)
                return ns.discriminator(logits, d(fake)) + tf.reduce_mean(
                    tf.reduce_sum(g * g, [1, 2, 3]) * 5.0
                )
            loss = ns.discriminator(d(real), d(fake))
            if variant == "gp":
                loss = loss + advloss.gradient_penalty(d, real, fake, alpha=alpha)
            elif variant == "gp_hand":
                a = tf.reshape(1 - alpha, (-1, 1, 1, 1))
                x_hat = a * real + (1 - a) * fake
                with tf.GradientTape() as inner:
                    inner.watch(x_hat)
                    total = tf.reduce_sum(d(x_hat))
                g = tf.reshape(inner.gradient(total, x_hat), (tf.shape(x_hat)[0], -1))
                norm = tf.sqrt(tf.reduce_sum((g + 1e-16) ** 2, axis=1))
                loss = loss + tf.reduce_mean((norm - 1.0) ** 2) * 10.0
            elif variant == "r1_separate":
                loss = loss + advloss.r1_penalty(d, real)
            return loss

        def graph(regularize=None):
            return self.h.gradient(
                lambda t: {"loss": loss_fn(t, regularize)}, list(self.p), compiled=True,
                mode="function", reduce_retracing=True,
            )  # fmt: skip

        if variant == "r1_lazy16_host":  # advloss.lazy_step: two tf.functions, host choice
            graphs = {reg: graph(reg) for reg in (True, False)}
            lazy = advloss.lazy_step(lambda t, *, step, regularize: graphs[regularize](t), every=16)

            def run_host(step):
                out = lazy({**self.p, "step": tf.constant(step)}, step=step)[1]
                return [g.numpy() for g in out][:1]

            return run_host
        step_graph = graph()

        def run(step):
            # A Python int step would retrace per value: pass a tensor (tf.cond skips the work).
            return [g.numpy() for g in step_graph({**self.p, "step": tf.constant(step)})[1]][:1]

        return run


BENCHES = {"torch": TorchBench, "tensorflow": TensorflowBench, "jax": JaxBench}


# ------------------------------------------------------------------------------------ timing


#: (batch, rounds, steps of each variant per round): full and --quick.  ``benchmarks.speed``'s
#: sweep uses the same rounds and steps, so its plain step at this batch measures what
#: penalties.md's does.
FULL, QUICK = (64, 7, 8), (16, 3, 4)


def measure(
    bench, rounds: int, steps_per_round: int, variants: list[str] = VARIANTS, quiet: bool = False
) -> dict[str, list[float]]:
    """ms per step of each of ``variants``, one value per round: ``rounds`` rounds in which
    every variant runs ``steps_per_round`` steps (the lazy one 16, one period), interleaved
    (:func:`benchmarks.report.interleaved_rounds`), after two warm-up steps (17 for the lazy
    one: every phase compiled)."""
    runs = {v: bench.step_fn(v) for v in variants}
    for v, run in runs.items():  # warm-up: compile / trace every variant and lazy phase
        for i in range(2 if v not in LAZY else 17):
            run(i)
    # The i-th call of a variant is step i (a lazy penalty's 16 calls per round: one period).
    timers = {v: report.with_step(run) for v, run in runs.items()}
    times = report.interleaved_rounds(
        timers, rounds, {v: 16 if v in LAZY else steps_per_round for v in variants},
        progress=None if quiet else lambda r: print(f"   round {r + 1}/{rounds}", flush=True),
    )  # fmt: skip
    return {v: [t * 1e3 for t in ts] for v, ts in times.items()}


def row(name: str, mode: str, batch: int, ms_rounds: dict[str, list[float]]) -> dict:
    """One framework's JSON row: per-round ms, their median (``ms_per_step``) and spread, and
    each variant's per-round ratio to the plain step."""
    return {
        "framework": name,
        "mode": mode,
        "batch": batch,
        "ms_per_step": {v: report.spread(t)["median"] for v, t in ms_rounds.items()},
        "spread": {v: report.spread(t) for v, t in ms_rounds.items()},
        "vs_plain": {v: report.paired(t, ms_rounds["plain"]) for v, t in ms_rounds.items()},
        "ms_rounds": ms_rounds,
    }


#: The targets table: (column, numerator variant, denominator variant).
TARGETS = [
    ("GP advloss / hand (pix2pix)", "gp", "gp_hand"),
    ("R1 fused advloss / hand (StyleGAN2)", "r1_fused", "r1_hand"),
    ("R1 fused / separate", "r1_fused", "r1_separate"),
    ("lazy R1 / plain", "r1_lazy16", "plain"),
    ("lazy R1, host choice / plain", "r1_lazy16_host", "plain"),
    ("SN / plain", "sn", "plain"),
    ("SN advloss / hand", "sn", "sn_hand"),
    ("R3GAN advloss / hand", "r3gan", "r3gan_hand"),
]


def markdown(
    info: dict, rows: list[dict], checks: list, batch: int, threads: int, rounds: int, steps: int
) -> list[str]:
    lines = [
        "# Penalty and spectral-norm cost per discriminator step",
        "",
        report.header(info),
        "",
        f"{threads} thread{'s' * (threads != 1)} per framework. D step = forward on real and fake (batch "
        f"{batch}, 32×32×3), NS loss, penalty, gradients w.r.t. all D parameters. "
        f"{rounds} rounds of {steps} steps per variant (lazy R1: 16), variants interleaved "
        "within each round. Cells: median ms per step over the rounds (interquartile range).",
        "",
    ]
    lines += report.table(
        ["framework", "mode", *VARIANTS],
        ([r["framework"], r["mode"]] + [report.fmt_spread(r["spread"][v]) for v in VARIANTS]
         for r in rows),
        "ll" + "r" * len(VARIANTS),
    )  # fmt: skip
    lines += ["", "× the plain step: median of the per-round ratios (interquartile range).", ""]
    lines += report.table(
        ["framework", *VARIANTS[1:]],
        ([r["framework"]] + [report.fmt_spread(r["vs_plain"][v]) for v in VARIANTS[1:]]
         for r in rows),
        "l" + "r" * (len(VARIANTS) - 1),
    )  # fmt: skip
    lines += [
        "",
        "## Targets",
        "",
        "Per-round paired ratios, median (interquartile range): *parity* where the range holds "
        "1, *faster* or *slower* only beyond it.",
        "",
    ]
    lines += report.table(
        ["framework", *(t[0] for t in TARGETS)],
        ([r["framework"]] + [report.ratio_verdict(report.paired(r["ms_rounds"][a], r["ms_rounds"][b]))
                             for _, a, b in TARGETS] for r in rows),
        "l" + "r" * len(TARGETS),
    )  # fmt: skip
    if checks:
        lines += [
            "",
            f"Values (torch, float32): advloss GP {checks[0][0]:.6g} vs pix2pix-style "
            f"{checks[0][1]:.6g}; advloss R1 {checks[1][0]:.6g} vs StyleGAN2-style {checks[1][1]:.6g}"
            + (f"; advloss R3GAN D loss {checks[2][0]:.6g} vs R3GAN-style {checks[2][1]:.6g}"
               if len(checks) > 2 else "")
            + (f"; D loss with advloss SN {checks[3][0]:.6g} vs hand-written SN {checks[3][1]:.6g}"
               if len(checks) > 3 else "") + ".",
        ]  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.penalties", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--quick", action="store_true", help="batch 16, few rounds (about a minute)")
    ap.add_argument("--frameworks", default="torch,tensorflow,jax")
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads for every framework (default: the free cores)")  # fmt: skip
    ap.add_argument("--out", default="benchmarks/results")
    report.load_options(ap)
    args = ap.parse_args(argv)
    load = report.check_load(args, "benchmarks.penalties")
    threads = common.apply_threads(args.threads, "benchmarks.penalties")
    batch, rounds, steps = QUICK if args.quick else FULL
    params = weights()
    rows, checks = [], []
    for name in args.frameworks.split(","):
        try:
            bench = BENCHES[name](params, batch)
        except ImportError as err:
            print(f"== {name}: skipped ({err})")
            continue
        if name == "torch":
            import torch

            torch.set_num_threads(threads)
            checks = bench.penalty_values()
        print(f"== {name} ({bench.mode}), batch {batch}", flush=True)
        rows.append(row(name, bench.mode, batch, measure(bench, rounds, steps)))
        for v in VARIANTS:
            ms, x = rows[-1]["spread"][v], rows[-1]["vs_plain"][v]
            print(f"   {v:12s} {report.fmt_spread(ms):>24s} ms/step  "
                  f"x{report.fmt_spread(x, 3)} plain", flush=True)  # fmt: skip

    info = report.machine("benchmarks.penalties", threads=threads, quick=args.quick,
                          rounds=rounds, steps_per_round=steps, **report.end_load(load, threads))  # fmt: skip
    lines = markdown(info, rows, checks, batch, threads, rounds, steps)
    out = report.paths("penalties", args.quick, args.out)
    report.write(out["md"], "\n".join(lines) + "\n")
    report.write_json(
        out["json"], {"machine": info, "rows": rows, "value_checks": checks, "batch": batch}
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
