"""Testing helpers: the per-framework harness and the tolerances for comparing results.

* `advloss.testing.harness` — one harness per framework (``get_harness("torch")``,
  ``available_harnesses()``): tensors from NumPy, value and gradient of a function, eagerly or
  compiled, and a small network from NumPy weights (`advloss.testing.nets`).  The test
  suite, ``python -m advloss.equivalence`` and the benchmarks use it; so can a plugin's tests.
  Importing ``advloss.testing`` imports no framework.
* The tolerance table below and `assert_close`.

One table, per dtype, used by the test suite and by ``python -m advloss.equivalence``.  A value
``a`` matches ``b`` when ``|a - b| <= atol + rtol * |b|`` elementwise.

Why these numbers (measured on CPU; see ``docs/spec.md``):

* float64: frameworks reduce in different orders and their softplus kernels differ in the last
  bits; observed differences are below 1e-14 relative.  ``rtol=1e-10`` leaves room for long
  reductions while still catching any formula difference (a wrong ½ is 0.5 relative).
* float32: ``rtol=2e-5`` is about 170 units of float32 rounding (2**-23 ≈ 1.2e-7), enough for
  reductions over ~1e5 elements in different orders.
* bfloat16 / float16: only used for inputs (computation is float32); these bound the difference
  caused by rounding the *inputs*, not the arithmetic.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from advloss.testing import nets
from advloss.testing.harness import FRAMEWORKS, Harness, available_harnesses, get_harness

__all__ = [
    "FRAMEWORKS",
    "TOLERANCES",
    "Harness",
    "Tolerance",
    "assert_close",
    "available_harnesses",
    "get_harness",
    "max_errors",
    "nets",
    "tolerance",
]


class Tolerance(NamedTuple):
    rtol: float
    atol: float


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    "float32": Tolerance(rtol=2e-5, atol=1e-6),
    "bfloat16": Tolerance(rtol=2e-2, atol=1e-2),
    "float16": Tolerance(rtol=2e-3, atol=1e-3),
}


def tolerance(dtype: str) -> Tolerance:
    """The tolerance for ``dtype`` (a name such as ``"float32"``)."""
    try:
        return TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {dtype!r}; known: {sorted(TOLERANCES)}") from None


def max_errors(actual: Any, expected: Any) -> tuple[float, float]:
    """``(max absolute error, max relative error)`` between two arrays (relative to ``expected``,
    with 0/0 counted as 0)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    diff = np.abs(a - e)
    if diff.size == 0:
        return 0.0, 0.0
    scale = np.abs(e)
    rel = np.divide(diff, scale, out=np.where(diff == 0, 0.0, np.inf), where=scale > 0)
    return float(np.max(diff)), float(np.max(rel))


def assert_close(
    actual: Any, expected: Any, dtype: str, *, what: str = "value", scale: float = 1.0
) -> None:
    """Assert ``actual`` matches ``expected`` within the ``dtype`` row of ``TOLERANCES``
    (``atol`` multiplied by ``scale``, for quantities of large magnitude)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected shape {e.shape}")
    if not np.array_equal(np.isfinite(a), np.isfinite(e)):
        raise AssertionError(f"{what}: non-finite entries differ:\n{a}\nvs expected\n{e}")
    tol = tolerance(dtype)
    finite = np.isfinite(e)
    bad = np.abs(a - e)[finite] > tol.atol * scale + tol.rtol * np.abs(e)[finite]
    if np.any(bad):
        abs_err, rel_err = max_errors(a[finite], e[finite])
        raise AssertionError(
            f"{what} ({dtype}): max abs error {abs_err:.3g}, max rel error {rel_err:.3g} exceed "
            f"rtol={tol.rtol}, atol={tol.atol * scale}; {int(bad.sum())} of {bad.size} elements differ"
        )
