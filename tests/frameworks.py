"""One test body, every framework: the harnesses of :mod:`advloss.testing.harness` (tensors from
NumPy, value and gradient, compilation), as pytest parameters.

``FRAMEWORKS`` holds a :class:`~advloss.testing.Harness` per importable framework (or those named
in ``ADVLOSS_TEST_FRAMEWORKS``).  Every harness returns NumPy arrays, so tests compare frameworks
pairwise and against the float64 NumPy reference.
"""

from __future__ import annotations

import os

import pytest

from advloss.testing import FRAMEWORKS as _ALL
from advloss.testing import Harness, available_harnesses


def _selected() -> list[str]:
    wanted = os.environ.get("ADVLOSS_TEST_FRAMEWORKS")
    return [n.strip() for n in wanted.split(",")] if wanted else list(_ALL)


FRAMEWORKS: list[Harness] = available_harnesses([n for n in _selected() if n in _ALL])
FRAMEWORK_PARAMS = [pytest.param(h, id=h.name) for h in FRAMEWORKS]
PAIRS = [
    pytest.param(a, b, id=f"{a.name}-{b.name}")
    for i, a in enumerate(FRAMEWORKS)
    for b in FRAMEWORKS[i + 1 :]
]


def key_for(fw: Harness, seed: int):
    """The randomness argument ``key=`` of advloss for ``fw``, from a seed: a seeded
    ``torch.Generator``, a JAX key, or the seed itself (TensorFlow, NumPy)."""
    if fw.name == "torch":
        import torch

        return torch.Generator().manual_seed(seed)
    if fw.name == "jax":
        import jax

        return jax.random.key(seed)
    return seed
