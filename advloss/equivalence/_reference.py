"""The reference a single installed framework is checked against.

With one framework there is no second framework to compare with, so each item is compared with

* the **NumPy float64 reference** where the item runs on NumPy (the losses and the transforms
  that need no autodiff): values from the same written-once formula on the NumPy adapter, and
  gradients by fourth-order central finite differences of those values in float64 (their error is
  ~1e-10 relative; entries where the step straddles a kink of relu / hinge are left out); or
* the framework's own **float64 eager** result where it does not (penalties, spectral norm and
  objectives need autodiff, which NumPy lacks), so float32 and compiled runs are still checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from advloss.backend import get_backend
from advloss.equivalence._items import Item
from advloss.testing import Tolerance

#: The finite-difference tolerance for gradients against the NumPy reference (the truncation and
#: rounding error of the 4-point stencil is far below it; a wrong factor of 2 is far above).
FD_TOLERANCE = Tolerance(rtol=1e-6, atol=1e-8)


def numpy_reference(item: Item, quick: bool) -> dict[tuple[str, str], np.ndarray]:
    """Values and finite-difference gradients of ``item`` on the NumPy adapter in float64
    (raises if the item cannot run on NumPy)."""
    assert item.build is not None and item.runner is None
    f = item.build("numpy")
    backend = get_backend("numpy")
    results: dict[tuple[str, str], np.ndarray] = {}
    for case in item.cases(quick):
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in case.inputs.items()}
        frozen = _FrozenStopGradient()
        backend.stop_gradient = frozen  # type: ignore[method-assign]
        try:
            for quantity, value in f(case, inputs).items():  # records stop_gradient's values
                results[(case.name, quantity)] = np.asarray(value, dtype=np.float64)

            def total(values: dict[str, Any], case: Any = case, frozen: Any = frozen) -> float:
                frozen.replay()
                out = f(case, values)
                frozen.check()
                return float(sum(np.sum(np.asarray(v, np.float64)) for v in out.values()))

            for name in case.diff:
                results[(case.name, f"d/d {name}")] = _gradient(total, inputs, name)
        finally:
            del backend.stop_gradient  # the class's method again
    return results


class _FrozenStopGradient:
    """``stop_gradient`` for finite differences: the first evaluation records what each call
    returns; perturbed evaluations get those recorded values back (calls come in the same
    order), so nothing behind a stop_gradient moves — as autodiff sees it."""

    def __init__(self) -> None:
        self.recorded: list[np.ndarray] = []
        self.replaying = False
        self.calls = 0

    def __call__(self, x: Any) -> Any:
        if not self.replaying:
            self.recorded.append(np.array(x, copy=True))
            return x
        value = self.recorded[self.calls]
        self.calls += 1
        return value

    def replay(self) -> None:
        self.replaying, self.calls = True, 0

    def check(self) -> None:
        if self.calls != len(self.recorded):
            raise RuntimeError("stop_gradient was called a different number of times")


def _gradient(total: Any, inputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    x = inputs[name]
    grad = np.empty_like(x)
    flat = grad.reshape(-1)
    for i in range(x.size):
        h = 1e-3 * max(1.0, abs(float(x.flat[i])))

        def at(delta: float, i: int = i) -> float:
            moved = x.copy()
            moved.flat[i] += delta
            return total({**inputs, name: moved})

        f2m, f1m, f0, f1p, f2p = at(-2 * h), at(-h), at(0.0), at(h), at(2 * h)
        central = (f2m - 8 * f1m + 8 * f1p - f2p) / (12 * h)
        # A kink (relu, hinge margins) inside the stencil makes the second-order one-sided
        # slopes differ (for a smooth function they agree to ~h^2): no reliable reference
        # there, so the entry is not compared.
        left = (3 * f0 - 4 * f1m + f2m) / (2 * h)
        right = (-3 * f0 + 4 * f1p - f2p) / (2 * h)
        kink = abs(left - right) > 1e-4 * max(1.0, abs(left), abs(right))
        flat[i] = np.nan if kink else central
    return grad
