"""Fault injection: a tiny PyTorch DCGAN run killed with SIGKILL again and again, resumed with
``--resume`` after every kill, must end with the uninterrupted run's ``metrics.jsonl`` — the
same rows, in order, no duplicates.

Run from the repository root::

    python -m benchmarks.fault_injection               # 10 kills, writes fault_injection.json
    python -m benchmarks.fault_injection --kills 5 --out /tmp/fi --seed 1

The kills (seeded) cycle through four kinds, in a shuffled order:

* ``write``: while a checkpoint is being written (``checkpoint.pt.tmp`` on disk, its checksum
  not yet written; the second checkpoint write of the process, so that every such kill follows
  some progress);
* ``rename``: between the checkpoint's rename and its checksum's (the new checkpoint with the
  old checksum on disk, the new one still in ``checkpoint.pt.sha256.tmp``);
* ``rows``: after 1-3 more metrics rows, plus up to 0.1 s (anywhere in training);
* ``early``: 0.3-2.5 s after the process starts (during start-up, often before any checkpoint).

Each process runs :func:`child`, the trainer with its checkpoint windows widened (a sleep after
the checkpoint is hashed and one between the two renames) so that the polling kills land
inside them.  The uninterrupted reference is the plain trainer.  Every resumed process must
write the reference's rows (checked after each kill on the complete lines on disk, and on the
final file).  Results (the number of kills by kind, resumes whose rows are the reference's,
whether the final rows are identical) go to ``benchmarks/results/fault_injection.json`` with the
machine, versions and commit (:func:`benchmarks.report.machine`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("write", "rename", "rows", "early")
WINDOW = 0.15  # seconds: each widened checkpoint window in the killed processes
TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--image-size", "16",
        "--log-every", "1", "--eval-every", "2", "--eval-samples", "200"]  # fmt: skip


def child(argv: list[str]) -> int:
    """The DCGAN trainer with wide checkpoint windows (this process only)."""
    from reference_trainers import common, dcgan

    hash_file, replace = common.sha256_of, os.replace

    def slow_hash(path: Path) -> str:
        digest = hash_file(path)
        if path.name.endswith(".tmp"):  # the new checkpoint is on disk as .tmp only
            time.sleep(WINDOW)
        return digest

    def slow_replace(src: Any, dst: Any) -> None:
        replace(src, dst)
        if str(src).endswith("checkpoint.pt.tmp"):  # new checkpoint, old checksum
            time.sleep(WINDOW)

    common.sha256_of = slow_hash
    os.replace = slow_replace  # type: ignore[assignment]
    return dcgan.main(argv)


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}  # fmt: skip


def trainer_command(out: Path, steps: int, *, killed: bool, resume: bool) -> list[str]:
    module = ["-m", "benchmarks.fault_injection", "--child"] if killed else [
        "-m", "reference_trainers.dcgan"]  # fmt: skip
    args = ["--out", str(out), "--steps", str(steps), *TINY]
    return [sys.executable, *module, *args, *(["--resume"] if resume else [])]


def rows(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def complete_rows(out: Path) -> list[dict[str, Any]]:
    """The rows on disk, without a last line a kill cut short."""
    path = out / "metrics.jsonl"
    text = path.read_text() if path.exists() else ""
    return [json.loads(x) for x in text.split("\n")[:-1]]


def _count_lines(out: Path) -> int:
    try:
        return (out / "metrics.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def _kill_when(proc: subprocess.Popen, out: Path, kind: str, rng: random.Random) -> bool:
    """Wait for the moment of ``kind``, SIGKILL the process; False if it ended before."""
    tmp, sums_tmp = out / "checkpoint.pt.tmp", out / "checkpoint.pt.sha256.tmp"
    t0, seen_tmp, was_tmp = time.monotonic(), 0, False
    early = rng.uniform(0.3, 2.5)
    more_rows, start_rows = rng.randint(1, 3), _count_lines(out)
    while proc.poll() is None:
        if kind == "early" and time.monotonic() - t0 >= early:
            break
        if kind == "write":
            now_tmp = tmp.exists()
            if now_tmp and not was_tmp:
                seen_tmp += 1
            was_tmp = now_tmp
            if now_tmp and seen_tmp >= 2:
                break
        if kind == "rename" and sums_tmp.exists() and not tmp.exists():
            break
        if kind == "rows" and _count_lines(out) >= start_rows + more_rows:
            time.sleep(rng.uniform(0, 0.1))  # rows written after the ones there at the start
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def inject(kills: int, work: Path, seed: int = 0, steps: int | None = None) -> dict[str, Any]:
    """Run the reference, then the killed-and-resumed run; the comparison as a dict."""
    steps = steps or 4 * kills + 8
    rng = random.Random(seed)
    reference, killed = work / "reference", work / "killed"
    for folder in (reference, killed):
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
    t0 = time.perf_counter()
    subprocess.run(trainer_command(reference, steps, killed=False, resume=False), check=True,
                   env=_env(), cwd=ROOT, capture_output=True)  # fmt: skip
    reference_seconds = time.perf_counter() - t0
    ref = rows(reference)
    agree: list[bool] = []  # per resumed process: its rows are the reference's
    order = [KINDS[i % len(KINDS)] for i in range(kills)]
    rng.shuffle(order)
    done: list[str] = []
    resumes, t0 = 0, time.perf_counter()
    for i, kind in enumerate(order):
        cmd = trainer_command(killed, steps, killed=True, resume=i > 0)
        proc = subprocess.Popen(cmd, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip
        resumes += i > 0
        if _kill_when(proc, killed, kind, rng):
            done.append(kind)
            if i > 0:  # what the resumed process wrote before its kill: the reference's rows
                got = complete_rows(killed)
                agree.append(got == ref[: len(got)])
        else:
            err = proc.stderr.read().decode() if proc.stderr else ""
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[1:])} failed: {err.strip()[-500:]}")
            break  # the run finished before this kill
        if proc.stderr:
            proc.stderr.close()
    final = subprocess.run(trainer_command(killed, steps, killed=True, resume=True), env=_env(),
                           cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    if final.returncode != 0:
        raise RuntimeError(f"the last resume failed: {final.stderr.strip()[-500:]}")
    got = rows(killed)
    agree.append(got == ref)
    keys = [(r["step"], bool(r.get("eval"))) for r in got]
    return {
        "kills": len(done),
        "kills_by_kind": {k: done.count(k) for k in KINDS},
        "kill_order": done,
        "resumes": resumes + 1,
        "identical_resumes": sum(agree),
        "steps": steps,
        "window_seconds": WINDOW,
        "rows": len(got),
        "reference_rows": len(ref),
        "identical": got == ref,
        "duplicates": len(keys) - len(set(keys)),
        "reference_seconds": round(reference_seconds, 1),
        "killed_seconds": round(time.perf_counter() - t0, 1),
        "trainer": " ".join(trainer_command(Path("OUT"), steps, killed=False, resume=False)[1:]),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    p = argparse.ArgumentParser(prog="python -m benchmarks.fault_injection",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="default 4 x kills + 8")
    p.add_argument("--work", default="runs/fault_injection", help="folder for the two runs")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    result = inject(args.kills, Path(args.work), args.seed, args.steps)
    import torch  # noqa: F401  (its version in the record)

    from benchmarks import report

    result["machine"] = report.machine("benchmarks.fault_injection")
    folder = Path(args.out) if args.out else report.RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    report.write_json(folder / "fault_injection.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    ok = result["identical"] and result["duplicates"] == 0 and result["kills"] == args.kills
    ok = ok and result["identical_resumes"] == result["resumes"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
