"""CI runs the README's test command (the default tier) and then the slow tier."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_then_the_slow_tier():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -n 2 -m "not slow"' in readme
    assert 'python -m pytest -n 2 -m "$1"' in ci
    assert ci.index('run_tier "not slow"') < ci.index('run_tier "slow"')
    assert '"$status" -eq 5' in ci  # no tests collected fails the run
