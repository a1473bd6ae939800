"""Test helpers around :mod:`advloss.testing.nets` (the small discriminators built from the
same NumPy weights in every framework)."""

from __future__ import annotations

from advloss.testing import get_harness
from advloss.testing.nets import INPUT_SHAPES, forward, numpy_forward, weights

__all__ = ["INPUT_SHAPES", "forward", "numpy_forward", "penalty_and_param_grads", "weights"]


def penalty_and_param_grads(framework, kind, params_np, penalty, inputs_np, dtype, compiled=False):
    """``penalty(D, *inputs)`` with ``D = forward(params)`` and its gradient w.r.t. the params,
    as NumPy: ``(value, {name: grad})``; a parameter the penalty does not reach (the output bias
    never affects the input gradient) has a zero gradient."""
    fwd = forward(framework, kind)
    names = sorted(params_np)
    xs = [f"input{i}" for i in range(len(inputs_np))]

    def run(t):
        p = {k: t[f"param.{k}"] for k in names}
        return {"value": penalty(lambda x: fwd(p, x), *[t[x] for x in xs])}

    inputs = {f"param.{k}": params_np[k] for k in names} | dict(zip(xs, inputs_np, strict=True))
    out = get_harness(framework).evaluate(
        run, inputs, [f"param.{k}" for k in names], dtype, compiled=compiled
    )
    return out["value"], {k: out[f"d/d param.{k}"] for k in names}
