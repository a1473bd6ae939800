"""Every peer-library mapping in docs/conventions.md, checked numerically
(docs/check_conventions.py rewrites each peer's formula in NumPy from its source)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "check_conventions.py"


def test_conventions_page_mappings_hold(capsys):
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "checks passed" in out, out
    ran = int(re.search(r"all (\d+) checks passed", out)[1])
    page = (SCRIPT.parent / "conventions.md").read_text(encoding="utf-8")
    assert f"{ran} checks, all equal" in page  # the count the page quotes is the one that ran
