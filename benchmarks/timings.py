"""How long the README's two commands take: the demo and the default test tier.

    python -m benchmarks.timings            # both (~5 min on a 2-core CPU)
    python -m benchmarks.timings --parts demo

Runs each command as the README gives it (in this environment, after installation), records its
wall time and exit status with the machine, load and commit in
``benchmarks/results/timings.json``; the README quotes these numbers.  Time it on an otherwise
idle machine: the load average at the start is recorded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "demo": [sys.executable, "-m", "reference_trainers.dcgan", "--out", "{tmp}/dcgan"],
    "tests": [sys.executable, "-m", "pytest", "-n", "2", "-m", "not slow", "-q", "-p",
              "no:cacheprovider"],
}  # fmt: skip


def measure(part: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [c.format(tmp=tmp) for c in COMMANDS[part]]
        start = time.perf_counter()
        # the README quotes the file this run writes: its own markers are skipped while timed
        env = {**os.environ, "ADVLOSS_TIMING_RUN": "1"}
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    print(f"{part}: {seconds:.0f} s, exit {proc.returncode}: {tail[0][:120]}", flush=True)
    return {"seconds": round(seconds, 1), "exit": proc.returncode, "last_line": tail[0][:200]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.timings", description=__doc__)
    p.add_argument("--parts", default="demo,tests", help="Comma-separated: demo, tests.")
    p.add_argument("--out", default=None, help="Folder for timings.json (default: results).")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = sorted(set(parts) - set(COMMANDS))
    if unknown:
        p.error(f"--parts: unknown {unknown}; expected some of {sorted(COMMANDS)}")
    info = report.machine("benchmarks.timings")
    results = {part: measure(part) for part in parts}
    path = report.paths("timings", False, args.out)["json"]
    report.write_json(path, {"machine": info, **results})
    print(f"wrote {path}")
    return 0 if all(r["exit"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
