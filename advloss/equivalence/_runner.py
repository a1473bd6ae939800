"""The equivalence suite's view of `advloss.testing.harness`: every result as float64 NumPy
arrays (the suite compares all dtypes in float64)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from advloss.testing.harness import _HARNESSES, get_harness

Fn = Callable[[dict[str, Any]], dict[str, Any]]

COMPILERS = {name: cls.compiler for name, cls in _HARNESSES.items()}


def prepare(framework: str) -> None:
    """Framework settings the suite needs: float64 in JAX, room for many torch.compile graphs."""
    get_harness(framework).prepare()


def evaluate(
    framework: str,
    fn: Fn,
    inputs: Mapping[str, np.ndarray],
    diff: Sequence[str],
    dtype: str,
    compiled: bool,
) -> dict[str, np.ndarray]:
    """``fn(tensors)`` — a dict of named outputs — and the gradient of the sum of all outputs
    with respect to each input named in ``diff`` (as ``"d/d <name>"``), all as float64 NumPy
    arrays (`advloss.testing.Harness.evaluate`)."""
    raw = get_harness(framework).evaluate(fn, inputs, diff, dtype, compiled=compiled)
    return {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
