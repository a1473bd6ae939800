"""The equivalence suite's full output as a committed result file, with its provenance.

    python -m benchmarks.equivalence            # writes benchmarks/results/equivalence.md
    python -m benchmarks.equivalence --quick    # --quick suite, equivalence-quick.md

Runs ``python -m advloss.equivalence`` (the suite users run; ``--quick`` passes through) in a
subprocess with a cold ``torch.compile`` cache (a fresh ``TORCHINDUCTOR_CACHE_DIR``), and writes
its progress (stderr) and report (stdout) under the header every result file has: command,
date, commit (with the hash of any uncommitted change), machine, load and versions, plus the
wall time and the exit status.  Not a benchmark of speed: the wall time is context.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchmarks import report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.equivalence", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="The suite's --quick subset.")
    p.add_argument("--out", default=None, help="Results folder (default benchmarks/results).")
    args = p.parse_args(argv)
    cmd = [sys.executable, "-m", "advloss.equivalence", *(["--quick"] if args.quick else [])]
    info = report.machine("benchmarks.equivalence", quick=args.quick)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t0
    out = report.paths("equivalence", args.quick, args.out)
    text = "\n".join([
        "# Equivalence suite: a full run" + (" (--quick)" if args.quick else ""), "",
        report.header(info), "",
        f"Ran `{' '.join(['python', *cmd[1:]])}` with a cold torch.compile cache: exit status "
        f"{proc.returncode}, wall time {seconds:.0f} s (imports and compilation included).", "",
        "Progress (stderr):", "", "```", proc.stderr.strip(), "```", "",
        "Report (stdout):", "", "```", proc.stdout.strip(), "```", "",
    ])  # fmt: skip
    report.write(out["md"], text)
    print(f"wrote {out['md']} (suite exit status {proc.returncode})", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
