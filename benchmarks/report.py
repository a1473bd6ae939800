"""What every benchmark records beside its numbers (machine, versions, commit, date, command)
and how it writes them: ``<name>.md`` (tables), ``<name>.json`` (raw), ``<name>.png`` (plots) in
``benchmarks/results/`` (``<name>-quick.*`` for ``--quick`` runs, so a smoke run never
overwrites the committed full results)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reference_trainers import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def machine(module: str, **extra: Any) -> dict[str, Any]:
    """The context of a run: date, exact command, CPU / GPU, load, versions, commit (with the
    hash of any uncommitted change: :mod:`reference_trainers.provenance`)."""
    return provenance.machine(provenance.module_command(module), **extra)


def header(info: dict[str, Any]) -> str:
    """The markdown lines that open every results file."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    lines = [
        f"Command: `{info['command'].strip()}`  ",
        f"Date: {info['date']} · commit {info['commit']}  ",
        f"Machine: {info['cpu']} ({info['logical_cpus']} logical CPUs)"
        + (f", GPU {info['gpu']}" if "gpu" in info else "")
        + (f", load average {info['load_average'][0]}" if info.get("load_average") else "")
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


def replot_option(p: Any, name: str) -> None:
    """``--replot``: redraw ``<name>.png`` from the committed ``<name>.json``, without training."""
    p.add_argument("--replot", action="store_true",
                   help=f"redraw {name}.png from {name}.json (no runs); the committed figure is "
                        f"also copied to docs/results/{name}.png")  # fmt: skip


def replot_data(name: str, args: Any) -> tuple[dict[str, Any], Path]:
    """The raw results a ``--replot`` reads and the figure it writes (``--quick`` and ``--out``
    pick the files as for a run)."""
    out = paths(name, getattr(args, "quick", False), args.out)
    return json.loads(out["json"].read_text()), out["png"]


def publish(png: Path) -> None:
    """Copy a committed figure to the docs (``docs/results/<name>.png``, which the results pages
    show beside the table that the page includes); figures written elsewhere stay where they are."""
    import shutil

    if png.parent.resolve() == RESULTS.resolve() and "-quick" not in png.stem:
        docs = RESULTS.parents[1] / "docs" / "results"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(png, docs / png.name)


def seeds(args: Any) -> list[int]:
    return [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]


def pick(p: Any, option: str, value: str, allowed: list[str]) -> list[str]:
    """``value`` split on commas, each checked against ``allowed`` (a usage error otherwise)."""
    chosen = value.split(",")
    bad = [v for v in chosen if v not in allowed]
    if bad:
        p.error(f"--{option}: unknown {bad}; expected some of {allowed}")
    return chosen
