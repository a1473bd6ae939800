"""Every peer-library mapping in docs/conventions.md, checked numerically
(docs/check_conventions.py rewrites each peer's formula in NumPy from its source)."""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "check_conventions.py"


def test_conventions_page_mappings_hold(capsys):
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "checks passed" in out, out
