"""Every committed result file names the commit it was measured at (issue: "Every result file
states the command, the commit (refuse to record from a modified tree, or record the diff
hash), versions and machine").  A commit is 7+ hex digits, optionally ``+diff.<sha256 prefix>``
(what :func:`reference_trainers.provenance.git_commit` writes for a modified tree); "?" or a
bare "(modified)" fails.  Nothing here imports a framework."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
COMMIT = re.compile(
    r"\bcommit:?\s*`?(?P<c>[0-9a-f]{7,40}(?:\+diff\.[0-9a-f]{12})?)`?(?P<rest>[^\n]{0,20})"
)
FILES = sorted(p for p in RESULTS.rglob("*.md") if "runs" not in p.relative_to(RESULTS).parts)


def test_result_files_are_found():
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_result_file_names_command_commit_and_machine(path):
    head = "\n".join(path.read_text(encoding="utf-8").splitlines()[:30])
    m = COMMIT.search(head)
    assert m, f"{path.name}: no 'commit <hash>' in its header"
    assert "modified" not in m["rest"], f"{path.name}: measured on a modified tree ({m['rest']!r})"
    assert re.search(r"[Cc]ommand[:|]|`python -m ", head), f"{path.name}: no command in its header"
    assert re.search(r"Machine:|CPU", head), f"{path.name}: no machine in its header"
    assert re.search(r"[Vv]ersions?[:|]|python \d", head), f"{path.name}: no versions in its header"
