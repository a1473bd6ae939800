"""Test configuration: which frameworks run, JAX in 64-bit mode, hypothesis profiles.

Frameworks: every one of torch / tensorflow / jax that imports, or those named in the
environment variable ADVLOSS_TEST_FRAMEWORKS (comma-separated).  All run in this one process:
detection is per call, so tensors of every framework coexist (and are compared pairwise).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Importing this module registers a deliberately wrong plugin; only its test imports it (and
# cleans up). --doctest-modules would otherwise import it while collecting.
collect_ignore = ["equivalence_plugin.py"]


@pytest.fixture(autouse=True, scope="session")
def _trainer_cache(tmp_path_factory):
    """The reference trainers' cache (digit classifier, procedural facades, segmenter), built
    once per test session and shared by pytest-xdist workers (their base temp dirs are siblings;
    the cache is built under a file lock).  Session-scoped, so module-scoped fixtures that run a
    trainer see it too (they used the user's ~/.cache/advloss, whose classifier may have been
    trained with another thread count: different, though deterministic, numbers)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    previous = os.environ.get("ADVLOSS_CACHE")
    os.environ["ADVLOSS_CACHE"] = str(base / "advloss-cache")
    yield
    if previous is None:
        os.environ.pop("ADVLOSS_CACHE", None)
    else:
        os.environ["ADVLOSS_CACHE"] = previous
