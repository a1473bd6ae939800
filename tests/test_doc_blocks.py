"""Every Python block in README.md and docs/**/*.md runs as written (issue 16, item 10).

A fenced ```python block runs unless the line before it (blank lines aside) is
``<!-- not-run: REASON -->`` with a reason: pseudo-code, a signature, or a block that needs a GPU,
a dataset or a long training run.  The blocks of one file run in order in one namespace (a page
can build on its earlier blocks), in a fresh Python process per file (frameworks keep global
state), from the repository root, with one thread.  A block whose first line starts with
``>>>`` is an interactive session and runs as a doctest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")
# Files another branch owns that still have blocks to complete or mark (xfail, not strict).
PENDING: dict[str, str] = {}


def python_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, not_run_reason)`` for every ```python block of a Markdown file; the
    reason is None for a block that runs.  A not-run marker without a reason is an error."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if m.group("lang") == "python":
            body = [
                ln[len(indent) :] if ln.startswith(indent) else ln.lstrip()
                for ln in lines[i + 1 : j]
            ]
            previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            marker = NOT_RUN.match(previous)
            reason = None
            if marker:
                reason = marker.group("reason").strip()
                if not reason:
                    raise ValueError(f"{path}:{i}: <!-- not-run: --> needs a reason")
            blocks.append((i + 2, "\n".join(body), reason))  # first line of code, 1-based
        i = j + 1
    return blocks


# Runs in the child process: the blocks as JSON on stdin; on the first failure, prints the
# block's line and the error and exits 1.
RUNNER = r"""
import doctest, json, sys, traceback
doc, blocks = json.load(sys.stdin)
namespace = {"__name__": "__doc_block__"}
for line, code in blocks:
    try:
        if code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, namespace, doc, doc, line - 1)
            out = []
            runner = doctest.DocTestRunner(
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            runner.run(test, out=out.append, clear_globs=False)
            if runner.failures:
                raise AssertionError("".join(out))
        else:
            exec(compile("\n" * (line - 1) + code, doc, "exec"), namespace)
    except BaseException:
        print(f"DOC-BLOCK-FAILED {doc}:{line}\n" + traceback.format_exc(), flush=True)
        sys.exit(1)
"""


def _param(path: Path):
    name = path.relative_to(ROOT).as_posix()
    # The README's blocks in the default tier (what a newcomer pastes first); every page's in
    # the slow tier (~3 min of framework imports and first traces).
    marks = [] if name == "README.md" else [pytest.mark.slow]
    if name in PENDING:
        marks.append(pytest.mark.xfail(reason=PENDING[name], strict=False))
    return pytest.param(path, id=name, marks=marks)


RUNNABLE = [p for p in FILES if any(r is None for _, _, r in python_blocks(p))]


def test_not_run_markers_have_reasons() -> None:
    marked = [(p, line, r) for p in FILES for line, _, r in python_blocks(p) if r is not None]
    for path, line, reason in marked:
        assert len(reason) >= 10, f"{path.relative_to(ROOT)}:{line}: say why it does not run"


def run_blocks(doc: str, blocks: list[tuple[int, str]]) -> subprocess.CompletedProcess[str]:
    """Run the blocks of one document in a fresh process (see RUNNER)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "MPLBACKEND": "Agg",
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps([doc, blocks]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_runner_reports_the_failing_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```python\nx = 1\n```\n\n<!-- not-run: pseudo-code for the test -->\n"
        "```python\nundefined_name\n```\n\n```python\n>>> x + 1\n2\n```\n\n"
        "```bash\necho not python\n```\n\n```python\ny = x\nraise ValueError('boom')\n```\n"
    )
    blocks = python_blocks(page)
    assert [(line, reason) for line, _, reason in blocks] == [
        (4, None),
        (9, "pseudo-code for the test"),
        (13, None),
        (22, None),
    ]
    result = run_blocks("page.md", [(line, code) for line, code, r in blocks if r is None])
    assert result.returncode == 1
    assert "DOC-BLOCK-FAILED page.md:22" in result.stdout
    assert 'page.md", line 23' in result.stdout and "ValueError: boom" in result.stdout


@pytest.mark.parametrize("path", [_param(p) for p in RUNNABLE])
def test_python_blocks_run(path: Path) -> None:
    doc = path.relative_to(ROOT).as_posix()
    blocks = [(line, code) for line, code, reason in python_blocks(path) if reason is None]
    result = run_blocks(doc, blocks)
    if result.returncode != 0:
        detail = result.stdout[result.stdout.find("DOC-BLOCK-FAILED") :] or result.stderr[-3000:]
        pytest.fail(f"a Python block in {doc} does not run as written:\n{detail}", pytrace=False)
