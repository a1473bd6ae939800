"""What every benchmark records beside its numbers (machine, versions, commit, date, command)
and how it writes them: ``<name>.md`` (tables), ``<name>.json`` (raw), ``<name>.png`` (plots) in
``benchmarks/results/`` (``<name>-quick.*`` for ``--quick`` runs, so a smoke run never
overwrites the committed full results)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "advloss", "reference_trainers"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        return commit + (" (modified)" if dirty else "") if commit else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine(module: str, **extra: Any) -> dict[str, Any]:
    """The context of a run: date, exact command, CPU / GPU, versions, commit."""
    import numpy as np

    import advloss

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "advloss": advloss.__version__}  # fmt: skip
    for name in ("torch", "tensorflow", "jax"):
        mod = sys.modules.get(name)
        if mod is not None:
            versions[name] = getattr(mod, "__version__", "?")
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m {module} " + " ".join(map(shlex.quote, sys.argv[1:])),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": git_commit(),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info.update(extra)
    return info


def header(info: dict[str, Any]) -> str:
    """The markdown lines that open every results file."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    lines = [
        f"Command: `{info['command'].strip()}`  ",
        f"Date: {info['date']} · commit {info['commit']}  ",
        f"Machine: {info['cpu']} ({info['logical_cpus']} logical CPUs)"
        + (f", GPU {info['gpu']}" if "gpu" in info else "")
        + "  ",
        f"Versions: {versions}",
    ]
    return "\n".join(lines)


def paths(name: str, quick: bool, out: str | os.PathLike | None = None) -> dict[str, Path]:
    folder = Path(out) if out else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-quick" if quick else name
    return {ext: folder / f"{stem}.{ext}" for ext in ("md", "json", "png")}


def write(path: Path, text: str) -> None:
    """Write atomically: an interrupted run never leaves half a results file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write(path, json.dumps(data, indent=1, sort_keys=True, default=float) + "\n")


def mean_sd(values: list[float]) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def fmt_mean_sd(values: list[float], digits: int = 2) -> str:
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


# ------------------------------------------------------------------------------ command line


def run_options(
    p: Any, *, quick: str, steps: str, work: str | None = None, workers: bool = True
) -> None:
    """The options every benchmark shares: --quick, --seeds, --steps, --workers, --work, --out."""
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--seeds", default=None, help="comma-separated (default 0,1,2; quick: 0)")
    p.add_argument("--steps", type=int, default=None, help=steps)
    if workers:
        p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="runs at a time (one thread each)")  # fmt: skip
    if work:
        p.add_argument("--work", default=work, help="folder for the runs (reused and resumed)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")


def seeds(args: Any) -> list[int]:
    return [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]


def pick(p: Any, option: str, value: str, allowed: list[str]) -> list[str]:
    """``value`` split on commas, each checked against ``allowed`` (a usage error otherwise)."""
    chosen = value.split(",")
    bad = [v for v in chosen if v not in allowed]
    if bad:
        p.error(f"--{option}: unknown {bad}; expected some of {allowed}")
    return chosen
