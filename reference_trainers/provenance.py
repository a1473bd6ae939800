"""Where a number came from: the commit (and a hash of any uncommitted change), the CPU, the
load, the versions and the command.  Every result file the trainers and the benchmarks write
records this (one implementation; imports no framework).

A result measured on a modified tree names the commit **and** the SHA-256 of the uncommitted
change (``git diff HEAD`` of the tracked files plus the untracked files' names and contents under
``advloss/``, ``reference_trainers/`` and ``benchmarks/``, results excluded), so the exact code
can be identified: ``"85f25a6+diff.1f3c9a0b2d4e"``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The code a result depends on (a change elsewhere, e.g. in docs/, does not make it "modified").
CODE_PATHS = ("advloss", "reference_trainers", "benchmarks")
#: Written by the benchmarks themselves: never part of the change that produced them.
EXCLUDED = (":(exclude)benchmarks/results",)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def git_commit(root: Path = ROOT, paths: tuple[str, ...] = CODE_PATHS) -> str:
    """``"<short commit>"`` for a clean tree, ``"<short commit>+diff.<sha256[:12]>"`` when the
    code under ``paths`` differs from the commit, ``"?"`` outside a git checkout."""
    try:
        commit = _git(root, "rev-parse", "--short", "HEAD").strip()
        spec = ["--", *paths, *EXCLUDED]
        diff = _git(root, "diff", "HEAD", "--binary", *spec)
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", *spec).split()
    except (OSError, subprocess.SubprocessError):
        return "?"
    if not diff and not untracked:
        return commit
    digest = hashlib.sha256(diff.encode())
    for name in sorted(untracked):
        digest.update(name.encode() + b"\0")
        path = root / name
        if path.is_file():
            digest.update(path.read_bytes())
    return f"{commit}+diff.{digest.hexdigest()[:12]}"


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str]:
    """Python, NumPy, advloss, and each framework already imported."""
    import numpy as np

    import advloss

    found = {"python": platform.python_version(), "numpy": np.__version__}
    found["advloss"] = advloss.__version__
    for name in ("torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "optax"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "?"))
    return found


def machine(command: str, **extra: Any) -> dict[str, Any]:
    """The context of a run: date, exact command, CPU / GPU, load, versions, commit."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "versions": versions(),
        "commit": git_commit(),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info.update(extra)
    return info


def module_command(module: str, argv: list[str] | None = None) -> str:
    """``python -m <module> <arguments>``, quoted as a shell would need them."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
