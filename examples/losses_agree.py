"""advloss demo: every loss, computed by PyTorch, TensorFlow and JAX on the same logits, next to
the NumPy float64 reference — values and gradients agree.

    python examples/losses_agree.py [--dtype float32|float64]

Frameworks that are not installed are skipped.  Exits non-zero if any framework disagrees
beyond the documented tolerance (``advloss.testing.TOLERANCES``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np

import advloss
from advloss.testing import max_errors, tolerance


def value_and_grads(framework: str, fn, arrays, dtype):
    """fn(*tensors) and d sum(fn)/d tensors, as NumPy arrays."""
    b = advloss.get_backend(framework)
    if framework == "torch":
        import torch

        ts = [b.from_numpy(a, dtype).requires_grad_(True) for a in arrays]
        out = fn(*ts)
        grads = torch.autograd.grad(out.sum(), ts, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(ts, grads, strict=True)]
    elif framework == "tensorflow":
        import tensorflow as tf

        ts = [b.from_numpy(a, dtype) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            out = fn(*ts)
        grads = tape.gradient(out, ts, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    else:
        import jax

        out, grads = jax.value_and_grad(fn, argnums=tuple(range(len(arrays))))(
            *[b.from_numpy(a, dtype) for a in arrays]
        )
    return b.to_numpy(out), [b.to_numpy(g) for g in grads]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    frameworks = [f for f in ("torch", "tensorflow", "jax") if importlib.util.find_spec(f)]
    missing = sorted({"torch", "tensorflow", "jax"} - set(frameworks))
    print(
        f"advloss {advloss.__version__}: frameworks {frameworks}"
        + (f" (not installed: {missing})" if missing else "")
    )
    start = time.perf_counter()
    for f in frameworks:
        advloss.get_backend(f)
    print(f"imported in {time.perf_counter() - start:.1f} s; dtype {args.dtype}\n")

    rng = np.random.default_rng(0)
    real = rng.normal(1.0, 2.0, size=(8, 1, 4, 4))  # a PatchGAN-shaped batch of logits
    fake = rng.normal(-1.0, 2.0, size=(8, 1, 4, 4))
    tol = tolerance(args.dtype)
    header = (
        f"{'loss':8} {'term':4} {'numpy float64':>14} "
        + " ".join(f"{f:>12}" for f in frameworks)
        + "   max rel err (value vs numpy, grads across frameworks)"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    failures = []
    for name in advloss.available_losses():
        loss = advloss.get_loss(name)
        for term, fn, arrays in [
            ("D", lambda r, f, loss=loss: loss.discriminator(r, f), [real, fake]),
            ("G", lambda f, r, loss=loss: loss.generator(f, real_logits=r), [fake, real]),
        ]:
            reference = fn(*arrays)  # NumPy arrays in: the float64 reference backend
            results = {fw: value_and_grads(fw, fn, arrays, args.dtype) for fw in frameworks}
            rel_v = rel_g = 0.0
            for value, grads in results.values():
                other = results[frameworks[0]]
                rel_v = max(rel_v, max_errors(value, reference)[1])
                for g, g0 in zip(grads, other[1], strict=True):
                    # relative to the gradient's scale: elementwise relative errors of entries
                    # that are zero up to rounding say nothing
                    abs_err, _ = max_errors(g, g0)
                    rel_g = max(rel_g, abs_err / max(float(np.max(np.abs(g0))), 1e-30))
            ok = rel_v <= tol.rtol and rel_g <= tol.rtol
            worst = max(worst, rel_v, rel_g)
            if not ok:
                failures.append(f"{name}.{term}")
            values = " ".join(f"{float(results[fw][0]):12.6f}" for fw in frameworks)
            print(
                f"{name:8} {term:4} {float(reference):14.6f} {values}   {rel_v:.1e}, {rel_g:.1e} {'ok' if ok else 'MISMATCH'}"
            )
    print(
        f"\nlargest relative difference: {worst:.2e} (tolerance for {args.dtype}: rtol {tol.rtol})"
    )
    if failures:
        print(f"MISMATCH in {failures}", file=sys.stderr)
        return 1
    print("all frameworks agree.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
