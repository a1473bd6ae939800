"""What every benchmark records beside its numbers (machine, versions, commit, date, command)
and how it writes them: ``<name>.md`` (tables), ``<name>.json`` (raw), ``<name>.png`` (plots) in
``benchmarks/results/`` (``<name>-quick.*`` for ``--quick`` runs, so a smoke run never
overwrites the committed full results)."""

from __future__ import annotations

import gc
import itertools
import json
import os
import statistics
import sys
import timeit
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reference_trainers import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def machine(module: str, **extra: Any) -> dict[str, Any]:
    """The context of a run: date, exact command, CPU / GPU, load, versions, commit (with the
    hash of any uncommitted change: :mod:`reference_trainers.provenance`)."""
    return provenance.machine(provenance.module_command(module), **extra)


def header(info: dict[str, Any]) -> str:
    """The markdown lines that open every results file (with :func:`load_text` when the run
    recorded its load before and after, as the speed benchmarks do)."""
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
    if "load_before" in info:
        lines[-1] += "  "
        lines.append(load_text(info))
    return "\n".join(lines)


# -------------------------------------------------------------------------------- machine load


def usable_cpus() -> int:
    """The cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (``[]`` where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


#: A speed run refuses to start when the 1-minute load exceeds this fraction of the usable cores.
MAX_LOAD_PER_CORE = 0.5


def load_options(p: Any) -> None:
    """``--allow-load`` and ``--max-load`` (what :func:`check_load` reads)."""
    p.add_argument("--allow-load", action="store_true",
                   help="measure even when the machine is loaded; the result file then says "
                        "'measured under load'")  # fmt: skip
    p.add_argument("--max-load", type=float, default=None,
                   help=f"the highest 1-minute load average to measure under (default "
                        f"{MAX_LOAD_PER_CORE} x usable cores)")  # fmt: skip


def check_load(args: Any, who: str) -> dict[str, Any]:
    """Before timing: the load average, the threshold (``--max-load``, default
    ``MAX_LOAD_PER_CORE`` × usable cores) and whether it is exceeded.  A loaded machine is
    refused (``SystemExit`` with the reason) unless ``--allow-load``: other processes' work
    shifts every timing, and OpenMP threads that cannot all run spin at every barrier."""
    before = load_average()
    cores = usable_cpus()
    limit = (
        args.max_load if getattr(args, "max_load", None) is not None else MAX_LOAD_PER_CORE * cores
    )
    loaded = bool(before) and before[0] > limit
    if loaded and not getattr(args, "allow_load", False):
        raise SystemExit(
            f"{who}: the 1-minute load average is {before[0]:.2f}, above {limit:.2f} "
            f"({cores} usable cores): timings would measure the other processes too. Run on an "
            f"idle machine, or pass --allow-load to measure anyway (the result file then says "
            f"'measured under load')."
        )
    if loaded:
        print(f"{who}: measuring under load ({before[0]:.2f} > {limit:.2f})", file=sys.stderr)
    return {"load_before": before, "load_limit": round(limit, 2), "usable_cpus": cores,
            "under_load": loaded}  # fmt: skip


def end_load(load: dict[str, Any], threads: int) -> dict[str, Any]:
    """``load`` (from :func:`check_load`) with the load average after the timings.  The run's
    own ``threads`` busy threads count in it, so the run counts as measured under load when
    the load then exceeds the threshold plus ``threads``."""
    after = load_average()
    limit = load["load_limit"] + threads
    under = load["under_load"] or (bool(after) and after[0] > limit)
    return {**load, "load_after": after, "own_threads": threads, "under_load": under}


def load_text(info: Mapping[str, Any]) -> str:
    """One markdown line: the load before and after, and the warning of a loaded run."""
    fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs) or "n/a"  # noqa: E731
    text = (
        f"Load average (1, 5, 15 min) before: {fmt(info['load_before'])}, after: "
        f"{fmt(info.get('load_after', []))}; threshold {info['load_limit']:.2f} "
        f"({info['usable_cpus']} usable cores; after: plus the run's own "
        f"{info.get('own_threads', 0)} busy threads)"
    )
    if info.get("under_load"):
        text += " — **measured under load** (--allow-load): read the numbers as indicative"
    return text


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


# ------------------------------------------------------------------------------------ tables


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """A markdown table as lines: ``header``, then one line per row (cells as given, ``str()``
    of anything else); ``align`` one letter per column, ``l`` (default) or ``r``.

    Not ``tabulate``: it pads every cell to the column's width and writes the alignment row
    differently, which would rewrite every committed results file (and the numbers the docs
    quote from them are checked by line, tests/test_doc_claims.py); this is all the format needs."""
    align = align.ljust(len(header), "l")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "".join("---:|" if a == "r" else "---|" for a in align),
    ]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return lines


# ------------------------------------------------------------------------------------ timing


def as_timer(fn: Callable[[], Any] | timeit.Timer) -> timeit.Timer:
    return fn if isinstance(fn, timeit.Timer) else timeit.Timer(fn)


def with_step(run: Callable[[int], Any]) -> Callable[[], Any]:
    """``run`` as a timer's call: the i-th call passes ``i`` (a training step's index)."""
    steps = itertools.count()
    return lambda: run(next(steps))


def interleaved_rounds(
    timers: Mapping[str, Callable[[], Any] | timeit.Timer],
    rounds: int,
    number: int | Mapping[str, int],
    progress: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each timer, one value per round: in every round each timer makes
    ``number`` calls (``timeit``: garbage collector off), the order reversed every other round
    so that no side always goes first.

    The timing itself is :mod:`timeit`'s; what no library does is this interleaving, which the
    benchmarks compare by: ``torch.utils.benchmark`` (torch only) and ``timeit.repeat`` time one
    statement after the other, so a change in the machine's load between them biases the ratio,
    while within a round both sides see the same load (and per-round paired ratios give the
    spread, :func:`median_iqr`)."""
    ts = {name: as_timer(t) for name, t in timers.items()}
    counts = {name: number if isinstance(number, int) else number[name] for name in ts}
    times: dict[str, list[float]] = {name: [] for name in ts}
    order = list(ts)
    gc.collect()
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            times[name].append(ts[name].timeit(counts[name]) / counts[name])
        if progress is not None:
            progress(r)
    return times


def median_iqr(values: Sequence[float]) -> tuple[float, float, float]:
    """``(median, first quartile, third quartile)`` (all three the value itself for one)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return statistics.median(values), q[0], q[2]


def spread(values: Sequence[float], scale: float = 1.0) -> dict[str, Any]:
    """Median and interquartile range of per-round values (times ``scale``) and their number:
    what every speed table reports."""
    med, q1, q3 = median_iqr([v * scale for v in values])
    return {"median": med, "q1": q1, "q3": q3, "rounds": len(values)}


def paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """:func:`spread` of the per-round ratios ``a[i] / b[i]`` of two interleaved timings: the
    ratio's own spread (each round's two sides saw the same load)."""
    return spread([x / y for x, y in zip(a, b, strict=True)])


def fmt_spread(s: Mapping[str, Any], digits: int = 2) -> str:
    """``median (q1–q3)``."""
    return f"{s['median']:.{digits}f} ({s['q1']:.{digits}f}–{s['q3']:.{digits}f})"


def ratio_verdict(s: Mapping[str, Any], digits: int = 3) -> str:
    """A ratio ``a / b`` with its spread, and what it supports: ``parity`` when the
    interquartile range of the per-round ratios holds 1 (a difference within the noise),
    ``faster`` or ``slower`` only beyond it."""
    word = "parity" if s["q1"] <= 1.0 <= s["q3"] else "faster" if s["q3"] < 1.0 else "slower"
    return f"{fmt_spread(s, digits)} {word}"


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
