"""Benchmarks built on the reference trainers: each run is a trainer process (one thread) with
its own folder; a finished run is reused and an interrupted one resumed (``--resume``), so a
benchmark can be stopped and restarted without losing work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def rows(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def finished(out: Path, steps: int) -> bool:
    return any(r.get("eval") and r["step"] == steps for r in rows(out))


#: the wall time a benchmark spent on a run folder, summed over resumes
TIMING = "benchmark_seconds.json"


def run_seconds(out: Path) -> float | None:
    """The wall time recorded for the run in ``out`` (None for a run finished before the
    benchmarks recorded it, or one not started)."""
    path = out / TIMING
    return float(json.loads(path.read_text())["seconds"]) if path.exists() else None


def run_trainer(trainer: str, options: list[str], out: Path, steps: int) -> float:
    """Run ``python -m reference_trainers.<trainer>`` to ``steps`` in ``out`` (resuming an
    interrupted run, skipping a finished one); returns the seconds spent now (0 for a reused
    run) and adds them to ``out/benchmark_seconds.json`` (see :func:`run_seconds`)."""
    t0 = time.perf_counter()
    if finished(out, steps):
        return 0.0
    resumed = (out / "checkpoint.pt").exists()
    cmd = [sys.executable, "-m", f"reference_trainers.{trainer}", "--out", str(out),
           "--steps", str(steps), *options]  # fmt: skip
    if resumed or (out / "config.json").exists():  # no checkpoint yet: --resume starts afresh
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"{' '.join(cmd[2:])}: {tail[0]}")
    spent = time.perf_counter() - t0
    before = (run_seconds(out) or 0.0) if resumed else 0.0
    from reference_trainers import provenance

    record = {"seconds": before + spent, "resumed": resumed, "commit": provenance.git_commit()}
    (out / TIMING).write_text(json.dumps(record))
    return spent


def run_commit(out: Path) -> str | None:
    """The commit the run in ``out`` was trained at (None for a run folder that predates the
    record: it may come from an earlier checkout, so a table must not stamp it with its own)."""
    path = out / TIMING
    return json.loads(path.read_text()).get("commit") if path.exists() else None


def run_all(
    jobs: list[dict[str, Any]],
    work: Callable[[dict[str, Any]], dict[str, Any]],
    workers: int,
    describe: Callable[[dict[str, Any]], str],
    name: str,
) -> list[dict[str, Any]]:
    """Run ``work(job)`` for every job on ``workers`` threads (each starts a trainer process),
    printing one progress line per finished job with an ETA."""
    t0 = time.perf_counter()
    results = []
    with ThreadPoolExecutor(workers) as pool:
        for i, r in enumerate(pool.map(work, jobs), 1):
            results.append(r)
            eta = (time.perf_counter() - t0) / i * (len(jobs) - i)
            print(f"[{i}/{len(jobs)}] {describe(r)} ({r['seconds']:.0f} s; eta {eta:.0f} s)",
                  file=sys.stderr)  # fmt: skip
    print(f"{name}: {len(jobs)} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def mean_of(rows: Iterable[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if key in r]
    return float(np.mean(values)) if values else float("nan")


def folder_name(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in label)


def reuse_committed(
    jobs: list[dict[str, Any]],
    path: Path,
    key: Callable[[dict[str, Any]], tuple[Any, ...]],
    options: Callable[[dict[str, Any]], list[str]],
    enabled: bool = True,
) -> tuple[list[dict[str, Any]], dict[tuple[Any, ...], dict[str, Any]]]:
    """Split ``jobs`` into those to run and the rows to take from the committed result file
    ``path`` (a JSON with ``machine`` and ``runs``): a job whose run folder is not finished here
    but whose (key, options) row is committed is not run again -- a fresh clone regenerates a
    table by running only its new cells.  Each reused row keeps the commit it was computed at
    (``commit``; rows from files that predate per-row commits get the file's commit).  Rows
    that recorded other options than the job's are not reused."""
    if not enabled or not path.exists():
        return jobs, {}
    data = json.loads(path.read_text())
    file_commit = data.get("machine", {}).get("commit")
    committed = {key(r): r for r in data.get("runs", [])}
    todo, reused = [], {}
    for job in jobs:
        row = committed.get(key(job))
        same = row is not None and row.get("options", options(job)) == options(job)
        if same and not finished(job["out"], job["steps"]):
            reused[key(job)] = {**row, "commit": row.get("commit", file_commit), "reused": True}
        else:
            todo.append(job)
    return todo, reused


def provenance_note(results: list[dict[str, Any]], commit: str | None) -> str:
    """One sentence on where a table's runs were computed: all now, or how many were reused
    from which earlier commits (a run folder trained at another commit says so)."""
    reused = [r for r in results if r.get("reused")]
    own: dict[str, int] = {}
    for r in results:
        if not r.get("reused"):
            c = str(r.get("commit", commit))
            own[c] = own.get(c, 0) + 1
    n_own = len(results) - len(reused)
    if set(own) <= {str(commit)}:
        head = f"{n_own} of {len(results)} runs computed at commit {commit}"
    else:
        where = ", ".join(f"{n} at {c}" for c, n in sorted(own.items()))
        head = f"{n_own} of {len(results)} runs computed in this table's run folders ({where})"
    if not reused:
        same = set(own) <= {str(commit)}
        return f"All {len(results)} runs computed at commit {commit}." if same else head + "."
    commits = sorted({str(r.get("commit")) for r in reused})
    return (
        f"{head}; {len(reused)} reused from the committed results (computed at "
        f"{', '.join(commits)}; `--no-reuse` recomputes them)."
    )


def table_parser(
    name: str, doc: str, *, quick: str, steps: str, configs: list[str], default: list[str]
) -> Any:
    """The command line every configuration-table benchmark shares: the run options
    (``report.run_options``), ``--configs`` and ``--reuse`` / ``--no-reuse``."""
    import argparse

    from benchmarks import report

    p = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{name}", description=doc.splitlines()[0]
    )
    report.run_options(p, quick=quick, steps=steps, work=f"runs/benchmarks/{name}")
    p.add_argument("--configs", default=",".join(default),
                   help=f"Comma-separated configurations of {', '.join(configs)} (default: "
                   f"{', '.join(default)}).")  # fmt: skip
    reuse_option(p)
    return p


def reuse_option(p: Any) -> None:
    """``--reuse`` / ``--no-reuse``: take the rows the committed result file holds."""
    import argparse

    p.add_argument("--reuse", action=argparse.BooleanOptionalAction, default=True,
                   help="Take the runs that the committed result file already holds (same "
                   "configuration, seed, steps and options) instead of running them again.")  # fmt: skip


def run_reusing(
    name: str,
    args: Any,
    jobs: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], tuple[Any, ...]],
    options: Callable[[dict[str, Any]], list[str]],
    work: Callable[[dict[str, Any]], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
    module: str | None = None,
    **extra: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Path]]:
    """Reuse the committed rows (``args.reuse``), run the rest on ``args.workers``, stamp each
    fresh row with the commit. Returns (rows in job order, the machine record, output paths).
    ``module``: the benchmark's module when ``name`` (the result file) is not its name."""
    from benchmarks import report

    out = report.paths(name, args.quick, args.out)
    todo, reused = reuse_committed(jobs, out["json"], key, options, args.reuse)
    print(f"{name}: {len(jobs)} runs ({len(reused)} taken from {out['json'].name}), "
          f"{args.workers} workers", file=sys.stderr)  # fmt: skip
    ran = run_all(todo, work, args.workers, describe, name)
    info = report.machine(f"benchmarks.{module or name}", quick=args.quick, **extra)
    # a run finished in an earlier invocation keeps the commit its folder recorded
    commits = {key(j): run_commit(j["out"]) for j in todo}
    fresh = {key(r): {**r, "commit": commits.get(key(r)) or "unknown"} for r in ran}
    return [{**reused, **fresh}[key(j)] for j in jobs], info, out


def config_jobs(
    configs: list[str], seeds: list[int], steps: int, work: Path
) -> list[dict[str, Any]]:
    """One job per configuration and seed, each with its run folder under ``work``."""
    return [{"config": c, "seed": s, "steps": steps, "out": work / f"{folder_name(c)}-seed{s}"}
            for c in configs for s in seeds]  # fmt: skip


def run_table(
    name: str,
    args: Any,
    jobs: list[dict[str, Any]],
    options: Callable[[dict[str, Any]], list[str]],
    work: Callable[[dict[str, Any]], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
    **extra: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Path]]:
    """The body every configuration-table benchmark shares: reuse the committed rows
    (``args.reuse``), run the rest on ``args.workers``, stamp each fresh row with the commit.
    Returns (rows in job order, the machine record, the output paths)."""
    key = lambda r: (r["config"], r["seed"], r["steps"])  # noqa: E731
    return run_reusing(name, args, jobs, key, options, work, describe, **extra)


def final_row(job: dict[str, Any], options: list[str], seconds: float) -> dict[str, Any]:
    """A finished run's summary: the job's identity, its options and wall times, and its final
    evaluation row."""
    final = next(r for r in rows(job["out"]) if r.get("eval") and r["step"] == job["steps"])
    keep = {k: v for k, v in final.items() if k not in ("step", "eval")}
    return {"config": job["config"], "seed": job["seed"], "steps": job["steps"],
            "options": options, "seconds": seconds, "run_seconds": run_seconds(job["out"]),
            **keep}  # fmt: skip


def preamble(
    title: str, info: dict[str, Any], protocol: str, results: list[dict[str, Any]]
) -> list[str]:
    """The lines that open a configuration table's markdown: the title, the provenance header,
    the protocol sentence and where the runs were computed."""
    from benchmarks import report

    return [f"# {title}", "", report.header(info), "", protocol, "",
            provenance_note(results, info.get("commit")), ""]  # fmt: skip
