"""The trainers' thread count on a shared CPU: the framework's default (every core) against
advloss's choice (``--threads`` left unset: the free cores, ``reference_trainers.common.
default_threads``, the function every trainer and benchmark uses), on the machine as it is now.

    python -m benchmarks.threads --name threads-loaded   # while other work runs
    python -m benchmarks.threads --name threads-idle     # on an idle machine

Each round runs the README's demo trainer (``python -m reference_trainers.dcgan``, torch, CPU
preset) for ``--steps`` steps twice, once per variant, alternating which goes first:

* ``all cores``: ``--threads N`` with N the usable cores — what PyTorch does by default;
* ``chosen``: no ``--threads`` and no ``OMP_NUM_THREADS``: the trainer picks the usable cores
  minus the other tasks runnable now (the median of 5 reads of ``/proc/loadavg``'s ``R/T`` over
  0.25 s, less the trainer itself; the 1-minute load average where there is no
  ``/proc/loadavg``), at least 1, and prints its choice and why, recorded here.  This process
  waits for the trainer, so it is not counted.

It records each run's wall time, its CPU time (the child's user + system) and the training rate
the trainer reports, the load average before and after every run, the medians with their
interquartile range over rounds, and the per-round ratio all cores / chosen.  Unlike the speed
tables this benchmark is *meant* to run under load as well: the load is recorded, not refused.
Results: ``benchmarks/results/<name>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("all cores", "chosen")


def _run(variant: str, steps: int, timeout: float) -> dict[str, Any]:
    cores = report.usable_cpus()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "reference_trainers.dcgan", "--steps", str(steps),
               "--eval-every", str(steps), "--out", f"{tmp}/run"]  # fmt: skip
        if variant == "all cores":
            cmd += ["--threads", str(cores)]
        load_before = report.load_average()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
            out, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as err:
            out, code = str(err.stdout or ""), None
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    threads = re.search(r"(\d+) threads? per framework \(([^)]*)\)", out)
    return {
        "variant": variant,
        "exit": code,
        "timed_out": code is None,
        "wall_s": round(wall, 2),
        "cpu_s": round((after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime), 2),
        "threads": int(threads.group(1)) if threads else None,
        "threads_reason": threads.group(2) if threads else None,
        "load_before": load_before,
        "load_after": report.load_average(),
        "last_line": (out.strip().splitlines() or [""])[-1][:200],
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by = {v: [r for r in runs if r["variant"] == v] for v in VARIANTS}
    out: dict[str, Any] = {}
    for v, rs in by.items():
        out[v] = {
            "wall_s": report.spread([r["wall_s"] for r in rs]),
            "cpu_s": report.spread([r["cpu_s"] for r in rs]),
            "threads": sorted({r["threads"] for r in rs if r["threads"] is not None}),
            "timed_out": sum(r["timed_out"] for r in rs),
        }
    out["wall_ratio"] = report.paired(
        [r["wall_s"] for r in by["all cores"]], [r["wall_s"] for r in by["chosen"]]
    )
    return out


def _markdown(info: dict[str, Any], args: Any, runs: list, summary: dict) -> str:
    lines = [f"# Threads: the framework's default against advloss's choice ({args.name})", ""]
    lines += [report.header(info), ""]
    lines += [
        f"{args.rounds} rounds; each runs the demo trainer for {args.steps} steps with every "
        f"usable core (`--threads {report.usable_cpus()}`, PyTorch's default) and with the "
        f"trainer's own choice (no `--threads`), alternating which goes first. Wall and CPU "
        f"time: median (interquartile range) over rounds; the ratio is per round.",
        "",
    ]
    rows = []
    for v in VARIANTS:
        s = summary[v]
        rows.append(
            [
                v,
                ", ".join(map(str, s["threads"])) or "?",
                report.fmt_spread(s["wall_s"], 1),
                report.fmt_spread(s["cpu_s"], 1),
                s["timed_out"],
            ]
        )
    lines += report.table(["variant", "threads", "wall s", "CPU s", "timed out"], rows, "llrrr")
    lines += [
        "",
        f"Wall time all cores / chosen: {report.ratio_verdict(summary['wall_ratio'], 2)}.",
        "",
        "## Runs",
        "",
    ]
    lines += report.table(
        ["round", "variant", "threads (reason)", "wall s", "CPU s", "load before", "load after"],
        [
            [
                i // 2,
                r["variant"],
                f"{r['threads']} ({r['threads_reason']})",
                r["wall_s"],
                r["cpu_s"],
                " ".join(map(str, r["load_before"])),
                " ".join(map(str, r["load_after"])),
            ]
            for i, r in enumerate(runs)
        ],
        "lllrrll",
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--name", default="threads", help="result file name (default threads)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=200, help="training steps per run")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run at most")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be >= 1")
    info = report.machine("benchmarks.threads")
    runs = []
    for i in range(args.rounds):
        order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
        for v in order:
            run = _run(v, args.steps, args.timeout)
            runs.append(run)
            print(f"round {i} {v:9s}: {run['wall_s']:7.1f} s wall, {run['cpu_s']:7.1f} s CPU, "
                  f"{run['threads']} threads ({run['threads_reason']}), load "
                  f"{run['load_before']} -> {run['load_after']}", flush=True)  # fmt: skip
    summary = _summary(runs)
    paths = report.paths(args.name, False, args.out)
    report.write_json(paths["json"], {"machine": info, "steps": args.steps, "runs": runs,
                                      "summary": summary})  # fmt: skip
    report.write(paths["md"], _markdown(info, args, runs, summary))
    print(f"wrote {paths['md']} and {paths['json']}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
