"""One objective, three frameworks, the same numbers.

    python examples/objective_agree.py [--objective SPEC] [--dtype float32|float64]

Builds the objective from one line — by default "ns with real labels 0.9 + R1 (gamma 10, every 16
steps) + label flips + instance noise annealed 0.1 -> 0 over 10k steps" — and runs its
discriminator and generator steps in PyTorch, TensorFlow and JAX on a small MLP discriminator
built from the same NumPy weights, with the same random draws (from NumPy, passed as ``draws=``).
Prints every term and statistic per framework and the largest difference of the totals and of the
discriminator-parameter gradients.  Frameworks that are not installed are skipped; exits non-zero
if two frameworks disagree beyond the tolerance of ``advloss.testing.TOLERANCES``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np

import advloss
from advloss.testing import max_errors, tolerance

DEFAULT = "ns(real_label=0.9) + r1(gamma=10, every=16) + flip(p=0.05) + noise('0.1:0:10000')"


def mlp(framework: str):
    """D(params, x) = tanh(x W1 + b1) W2 + b2 in ``framework``."""
    if framework == "torch":
        import torch

        return lambda p, x: torch.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    if framework == "tensorflow":
        import tensorflow as tf

        return lambda p, x: tf.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    import jax.numpy as jnp

    return lambda p, x: jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def run(framework, objective, weights, real, fake, draws, step, dtype):
    """(terms, stats, generator total, {param: d total / d param}) as NumPy."""
    b = advloss.get_backend(framework)
    fwd = mlp(framework)
    t = {k: b.from_numpy(v, dtype) for k, v in draws.items()}
    g_draws = {k: v for k, v in t.items() if k == "noise.fake"}
    x_real, x_fake = b.from_numpy(real, dtype), b.from_numpy(fake, dtype)
    names = sorted(weights)

    def d_step(params):
        return objective.discriminator(lambda x: fwd(params, x), x_real, x_fake, step=step, draws=t)

    if framework == "torch":
        import torch

        params = {k: b.from_numpy(weights[k], dtype).requires_grad_(True) for k in names}
        out = d_step(params)
        grads = torch.autograd.grad(out.total, [params[k] for k in names])
    elif framework == "tensorflow":
        import tensorflow as tf

        params = {k: tf.Variable(b.from_numpy(weights[k], dtype)) for k in names}
        with tf.GradientTape() as tape:
            out = d_step(params)
        grads = tape.gradient(out.total, [params[k] for k in names])
    else:
        import jax

        params = {k: b.from_numpy(weights[k], dtype) for k in names}
        (_, out), g = jax.value_and_grad(lambda p: (d_step(p).total, d_step(p)), has_aux=True)(
            params
        )
        grads = [g[k] for k in names]
    g_out = objective.generator(
        lambda x: fwd(params, x), x_fake, step=step, draws=g_draws if g_draws else None
    )
    host = lambda x: float(b.to_numpy(x))  # noqa: E731
    return (
        {k: host(v) for k, v in out.terms.items()} | {"total": host(out.total)},
        {k: host(v) for k, v in out.stats.items()},
        host(g_out.total),
        {k: b.to_numpy(g) for k, g in zip(names, grads, strict=True)},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", default=DEFAULT, help="an Objective.parse string")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--steps", default="0,1,16,5000", help="comma-separated steps to show")
    args = parser.parse_args(argv)
    objective = advloss.Objective.parse(args.objective)
    frameworks = [f for f in ("torch", "tensorflow", "jax") if importlib.util.find_spec(f)]
    print(f"objective: {objective}\nframeworks: {frameworks}; dtype {args.dtype}\n")

    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.normal(0, 0.5, (6, 16)),
        "b1": rng.normal(0, 0.1, (16,)),
        "w2": rng.normal(0, 0.5, (16, 1)),
        "b2": rng.normal(0, 0.1, (1,)),
    }
    real, fake = rng.normal(0.5, 1.0, (32, 6)), rng.normal(-0.5, 1.0, (32, 6))
    tol = tolerance(args.dtype)
    worst_ok = True
    for step in (int(s) for s in args.steps.split(",")):
        draws = {
            name: rng.random(shape) if dist == "uniform" else rng.standard_normal(shape)
            for name, (dist, shape) in objective.draw_specs(real.shape, fake.shape).items()
        }
        results = {
            f: run(f, objective, weights, real, fake, draws, step, args.dtype) for f in frameworks
        }
        print(f"step {step}")
        first = results[frameworks[0]]
        for key in [*first[0], "g_total"]:
            row = [
                results[f][0].get(key, results[f][2] if key == "g_total" else None)
                for f in frameworks
            ]
            print(f"  {key:12}" + "".join(f"{v:>14.7f}" for v in row))
        for key in first[1]:
            print(f"  {key:12}" + "".join(f"{results[f][1][key]:>14.7f}" for f in frameworks))
        worst_rel = 0.0
        for f in frameworks[1:]:
            for a, c in [(first[0]["total"], results[f][0]["total"]), (first[2], results[f][2])]:
                abs_err, rel_err = max_errors(np.asarray(c), np.asarray(a))
                worst_rel = max(worst_rel, rel_err)
                worst_ok &= abs_err <= tol.atol + tol.rtol * abs(a)
            for k, ga in first[3].items():
                # Gradient entries are compared relative to the largest entry of their tensor
                # (an entry near 0 next to entries near 100 carries float32 rounding of ~1e-5).
                gb, scale = results[f][3][k], max(1.0, float(np.abs(ga).max()))
                worst_rel = max(worst_rel, float(np.abs(gb - ga).max()) / scale)
                worst_ok &= bool(np.all(np.abs(gb - ga) <= (tol.atol + tol.rtol) * scale))
        print(
            f"  max relative difference across frameworks (totals; D gradients relative to their largest entry): {worst_rel:.2e}\n"
        )
    print("frameworks agree" if worst_ok else "MISMATCH beyond tolerance")
    return 0 if worst_ok else 1


if __name__ == "__main__":
    sys.exit(main())
