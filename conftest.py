"""Collection of the doctests under ``advloss/`` when a framework is not installed.

``pip install advloss[torch]`` users run the tests too: a module that imports a missing framework
(an adapter, an ``advloss.nn`` front end) is not collected, and a doctest whose examples import a
missing framework is skipped with the reason, instead of failing at collection.
"""

from __future__ import annotations

import pytest

from advloss.backend import _importable

# The modules under advloss/ that import a framework at the top.
_NEEDS = {
    "torch": ["advloss/adapters/torch.py", "advloss/nn/torch.py"],
    "tensorflow": ["advloss/adapters/tensorflow.py", "advloss/nn/keras.py"],
    "jax": ["advloss/adapters/jax.py", "advloss/nn/flax.py"],
    "flax": ["advloss/nn/flax.py"],
}


MISSING = sorted(m for m in _NEEDS if not _importable(m))
collect_ignore = sorted({path for m in MISSING for path in _NEEDS[m]})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING:
        return
    for item in items:
        dtest = getattr(item, "dtest", None)  # a doctest
        if dtest is None:
            continue
        source = "\n".join(example.source for example in dtest.examples)
        needed = [
            m for m in MISSING if any(t in source for t in (f"import {m}", f"from {m}", f", {m}"))
        ]
        if needed:
            item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(needed)} (not installed)"))
