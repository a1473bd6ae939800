"""Cost of a discriminator step with gradient penalties and spectral normalization, per framework.

    python -m benchmarks.penalties [--quick] [--frameworks torch,tensorflow,jax] [--threads N]

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
  steps in torch/TF; a traced step under jax.jit, so lax.cond skips the work);
* sn: every weight passed through advloss.spectral_normalize (one power iteration) each step.

The discriminator is built by :mod:`advloss.testing` (the harness the tests use) from
``D_LAYERS``; its gradient by ``Harness.gradient``.  Modes: torch eager, TF tf.function, JAX
jax.jit.  Timing: median over rounds of the per-step time, variants interleaved within each round
(``benchmarks.report.interleaved_rounds``, on ``timeit``).  Results: benchmarks/results/penalties[-quick].{md,json}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

from advloss.testing import get_harness
from benchmarks import report

VARIANTS = ["plain", "gp", "gp_hand", "r1_separate", "r1_fused", "r1_hand", "r1_lazy16", "sn"]


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
        import advloss

        torch, ns = self.torch, advloss.get_loss("ns")
        real, fake, alpha = self.real, self.fake, self.alpha
        grad = self.h.gradient(lambda t: {"loss": loss_fn(t)}, list(self.p))

        def run(step):
            return grad({**self.p, "step": step})[1]

        def loss_fn(t):
            p, step = {k: t[k] for k in self.p}, t["step"]
            if variant == "sn":
                p = dict(p)
                for k, (u, v) in self.sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v).weight
            d = self.d(p)
            if variant == "r1_fused":
                r1, real_logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(real_logits, d(fake)) + r1
            if variant == "r1_lazy16":
                r1, real_logits = advloss.r1_penalty(
                    d, real, every=16, step=step, return_outputs=True
                )
                return ns.discriminator(real_logits, d(fake)) + r1
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

        return run

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
        return [(float(gp.detach()), float(gp_hand)), (float(r1.detach()), float(r1_hand))]


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

        def loss_fn(t):
            p, real, fake, alpha, step = {k: t[k] for k in self.p}, *(t[k] for k in self.DATA)
            if variant == "sn":
                p = dict(p)
                for k, (u, v) in sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v).weight
            d = self.d(p)
            if variant == "r1_fused":
                r1, logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
            if variant == "r1_lazy16":
                r1, logits = advloss.r1_penalty(d, real, every=16, step=step, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
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

        grad = self.h.gradient(lambda t: {"loss": loss_fn(t)}, list(self.p), compiled=True)
        data = {"real": self.real, "fake": self.fake, "alpha": self.alpha}

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

        def loss_fn(t):
            p, step = {k: t[k] for k in self.p}, t["step"]
            if variant == "sn":
                for k, (u, v) in self.sn_state.items():
                    p[k] = advloss.spectral_normalize(p[k], u, v, dim=-1 if k != "w" else 1).weight
            d = self.d(p)
            if variant == "r1_fused":
                r1, logits = advloss.r1_penalty(d, real, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
            if variant == "r1_lazy16":
                r1, logits = advloss.r1_penalty(d, real, every=16, step=step, return_outputs=True)
                return ns.discriminator(logits, d(fake)) + r1
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

        step_graph = self.h.gradient(
            lambda t: {"loss": loss_fn(t)}, list(self.p), compiled=True, mode="function",
            reduce_retracing=True,
        )  # fmt: skip

        def run(step):
            # A Python int step would retrace per value: pass a tensor (tf.cond skips the work).
            return [g.numpy() for g in step_graph({**self.p, "step": tf.constant(step)})[1]][:1]

        return run


BENCHES = {"torch": TorchBench, "tensorflow": TensorflowBench, "jax": JaxBench}


# ------------------------------------------------------------------------------------ timing


def measure(bench, rounds: int, steps_per_round: int) -> dict[str, float]:
    """Median ms per step of every variant over ``rounds`` interleaved rounds."""
    runs = {v: bench.step_fn(v) for v in VARIANTS}
    for v, run in runs.items():  # warm-up: compile / trace every variant and lazy phase
        for i in range(2 if v != "r1_lazy16" else 17):
            run(i)
    # The i-th call of a variant is step i (a lazy penalty's 16 calls per round: one period).
    timers = {v: report.with_step(run) for v, run in runs.items()}
    times = report.interleaved_rounds(
        timers, rounds, {v: 16 if v == "r1_lazy16" else steps_per_round for v in VARIANTS},
        progress=lambda r: print(f"   round {r + 1}/{rounds}", flush=True),
    )  # fmt: skip
    return {v: statistics.median(t) * 1e3 for v, t in times.items()}


def markdown(info: dict, rows: list[dict], checks: list, batch: int, threads: int) -> list[str]:
    lines = [
        "# Penalty and spectral-norm cost per discriminator step",
        "",
        report.header(info),
        "",
        f"{threads} threads per framework. D step = forward on real and fake (batch "
        f"{batch}, 32×32×3), NS loss, penalty, gradients w.r.t. all D parameters. "
        "Median ms per step over interleaved rounds.",
        "",
    ]
    lines += report.table(
        ["framework", "mode", *VARIANTS],
        (
            [r["framework"], r["mode"]]
            + [f"{ms[v]:.2f} (×{ms[v] / ms['plain']:.2f})" for v in VARIANTS]
            for r in rows
            for ms in [r["ms_per_step"]]
        ),
        "ll" + "r" * len(VARIANTS),
    )
    lines += ["", "## Targets", ""]
    lines += report.table(
        ["framework", "GP advloss/hand", "R1 fused advloss/hand (StyleGAN2)",
         "fused < separate R1", "lazy R1 / plain"],
        (
            [r["framework"], f"{ms['gp'] / ms['gp_hand']:.3f}",
             f"{ms['r1_fused'] / ms['r1_hand']:.3f}",
             f"{'yes' if ms['r1_fused'] < ms['r1_separate'] else 'no'} "
             f"({ms['r1_fused'] / ms['r1_separate']:.3f})",
             f"{ms['r1_lazy16'] / ms['plain']:.3f}"]
            for r in rows
            for ms in [r["ms_per_step"]]
        ),
        "lrrlr",
    )  # fmt: skip
    if checks:
        lines += [
            "",
            f"Values (torch, float32): advloss GP {checks[0][0]:.6g} vs pix2pix-style "
            f"{checks[0][1]:.6g}; advloss R1 {checks[1][0]:.6g} vs StyleGAN2-style {checks[1][1]:.6g}.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.penalties", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--quick", action="store_true", help="batch 16, few rounds (about a minute)")
    ap.add_argument("--frameworks", default="torch,tensorflow,jax")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for every framework")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    batch, rounds, steps = (16, 3, 4) if args.quick else (64, 7, 8)
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

            torch.set_num_threads(args.threads)
            checks = bench.penalty_values()
        print(f"== {name} ({bench.mode}), batch {batch}", flush=True)
        ms = measure(bench, rounds, steps)
        rows.append({"framework": name, "mode": bench.mode, "batch": batch, "ms_per_step": ms})
        for v in VARIANTS:
            print(f"   {v:12s} {ms[v]:8.2f} ms/step  x{ms[v] / ms['plain']:.3f} plain", flush=True)

    info = report.machine("benchmarks.penalties", threads=args.threads, quick=args.quick)
    lines = markdown(info, rows, checks, batch, args.threads)
    out = report.paths("penalties", args.quick, args.out)
    report.write(out["md"], "\n".join(lines) + "\n")
    report.write_json(
        out["json"], {"machine": info, "rows": rows, "value_checks": checks, "batch": batch}
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
