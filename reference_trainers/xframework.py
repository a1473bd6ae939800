"""One DCGAN, three frameworks: train it in PyTorch, JAX and TensorFlow on the same numbers and
compare the curves step for step.

    python -m reference_trainers.xframework                      # every loss family, float64
    python -m reference_trainers.xframework --dtype float32 --steps 50
    python -m reference_trainers.xframework --configs ns,ns+r1 --frameworks torch,jax
    python -m reference_trainers.xframework --speed               # + steps/s at the CPU preset

Each configuration runs ``python -m reference_trainers.dcgan --framework F --numpy-rng`` for
every framework F (in this process), with one metrics row per step: the same architecture,
initial weights, data order, latents and random numbers (label flips, instance noise, WGAN-GP's
interpolation weights), Adam with one update formula.  The per-step ``d_loss`` and ``g_loss``
of JAX and TensorFlow are compared with PyTorch's as ``|a - b| / max(|a|, |b|)``.  Writes, to
``--out`` (default ``runs/xframework``): ``curves_xframework.png`` (the three curves of every
configuration on top of each other, and the per-step differences on a log scale),
``xframework.md`` (the largest difference per configuration and pair) and ``xframework.json``
(every step's values).  Exit status 1 when a difference exceeds ``--tolerance`` (default: 1e-6
in float64; none in float32, where the figure is recorded, not checked).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from reference_trainers import common, dcgan

#: configurations: every loss family, with R1 and WGAN-GP, spectral norm, and the random
#: transforms (smoothing, flips, instance noise) whose numbers come from the shared stream
CONFIGS: dict[str, list[str]] = {
    "minimax": ["--loss", "minimax"],
    "ns": ["--loss", "ns"],
    "lsgan": ["--loss", "lsgan"],
    "hinge": ["--loss", "hinge"],
    "wgan+gp": ["--loss", "wgan", "--penalty", "gp"],
    "ragan": ["--loss", "ragan"],
    "ns+r1": ["--loss", "ns", "--penalty", "r1"],
    "hinge+sn": ["--loss", "hinge", "--spectral-norm"],
    "ns+labels+noise": ["--loss", "ns", "--real-label", "0.9", "--flip-prob", "0.1",
                        "--instance-noise", "0.1:0:40"],
}  # fmt: skip
FRAMEWORKS = ("torch", "jax", "tf")
#: network sizes of the comparison (small: the point is the arithmetic, not the samples)
SIZES = ["--image-size", "16", "--width", "16", "--z-dim", "16", "--batch-size", "16",
         "--eval-samples", "500"]  # fmt: skip
#: the CPU preset's sizes, for --speed
SPEED_SIZES = ["--image-size", "16", "--width", "32", "--z-dim", "32", "--batch-size", "64",
               "--eval-samples", "500"]  # fmt: skip


def relative(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)`` (0 when both are 0); infinite when either is not finite, so
    a framework that diverges never passes for agreement."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


def train_rows(folder: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "d_loss" in r]


def run_trainer(argv: list[str], quiet: bool) -> dict[str, Any]:
    """``python -m reference_trainers.dcgan ARGV`` in this process; returns its summary (the
    last evaluation row and ``steps_per_second``)."""
    stream = io.StringIO() if quiet else sys.stderr
    with contextlib.redirect_stderr(stream), common.one_line_errors():
        return dcgan.train(dcgan.options(argv))


def compare(
    name: str,
    options: list[str],
    frameworks: list[str],
    *,
    steps: int,
    dtype: str,
    work: Path,
    sizes: list[str],
    seed: int,
    quiet: bool,
) -> dict[str, Any]:
    """Run one configuration in every framework; the curves and their differences."""
    curves: dict[str, dict[str, list[float]]] = {}
    for fw in frameworks:
        folder = work / f"{name}-{dtype}" / fw
        shutil.rmtree(folder, ignore_errors=True)
        argv = ["--framework", fw, "--numpy-rng", "--dtype", dtype, "--steps", str(steps),
                "--log-every", "1", "--eval-every", str(steps), "--seed", str(seed),
                "--out", str(folder), *sizes, *options]  # fmt: skip
        t0 = time.perf_counter()
        run_trainer(argv, quiet)
        rows = train_rows(folder)
        curves[fw] = {k: [r[k] for r in rows] for k in ("d_loss", "g_loss")}
        print(f"  {name} [{dtype}] {fw}: {steps} steps in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)  # fmt: skip
    ref = frameworks[0]
    diffs: dict[str, dict[str, list[float]]] = {}
    for fw in frameworks[1:]:
        diffs[f"{fw} vs {ref}"] = {
            k: [relative(a, b) for a, b in zip(curves[ref][k], curves[fw][k], strict=True)]
            for k in ("d_loss", "g_loss")
        }
    worst = max((max(v) for d in diffs.values() for v in d.values()), default=0.0)
    return {"config": name, "options": options, "dtype": dtype, "steps": steps,
            "curves": curves, "diffs": diffs, "max_rel_diff": worst}  # fmt: skip


def speed(frameworks: list[str], steps: int, work: Path, quiet: bool) -> list[dict[str, Any]]:
    """Training iterations per second at the CPU preset's sizes (float32, the ns loss),
    without compilation and evaluations; PyTorch with its own and with NumPy random numbers."""
    runs: list[tuple[str, list[str]]] = [("torch", [])] if "torch" in frameworks else []
    runs += [(fw, ["--numpy-rng"]) for fw in frameworks]
    out = []
    for fw, extra in runs:
        label = fw + (" (NumPy random numbers)" if fw == "torch" and extra else "")
        folder = work / "speed" / (fw + ("-numpy" if extra else ""))
        shutil.rmtree(folder, ignore_errors=True)
        argv = ["--framework", fw, *extra, "--steps", str(steps), "--eval-every", str(steps),
                "--log-every", "10", "--out", str(folder), *SPEED_SIZES]  # fmt: skip
        summary = run_trainer(argv, quiet)
        rate = summary["steps_per_second"]
        out.append({"framework": label, "steps": steps, "steps_per_second": rate,
                    "ms_per_step": 1000 / rate, "fd": summary.get("fd")})  # fmt: skip
        print(f"  speed {label}: {rate:.1f} steps/s", file=sys.stderr)
    return out


def plot(results: list[dict[str, Any]], path: Path, tolerance: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(2 * nrow, ncol, figsize=(4.2 * ncol, 5.0 * nrow), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2] * nrow})  # fmt: skip
    for extra in range(n, nrow * ncol):  # empty cells of the last row
        axes[2 * (extra // ncol)][extra % ncol].axis("off")
        axes[2 * (extra // ncol) + 1][extra % ncol].axis("off")
    styles = {"torch": ("-", 2.5), "jax": ("--", 1.6), "tf": (":", 1.6)}
    for i, res in enumerate(results):
        col = i % ncol
        top, bottom = axes[2 * (i // ncol)][col], axes[2 * (i // ncol) + 1][col]
        for fw, curve in res["curves"].items():
            ls, lw = styles.get(fw, ("-", 1))
            steps = range(1, len(curve["d_loss"]) + 1)
            top.plot(steps, curve["d_loss"], ls, lw=lw, color="tab:blue", label=f"d {fw}")
            top.plot(steps, curve["g_loss"], ls, lw=lw, color="tab:orange", label=f"g {fw}")
        top.set_title(f"{res['config']} ({res['dtype']})", fontsize=9)
        for pair, d in res["diffs"].items():
            for key, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
                values = [max(v, 1e-18) for v in d[key]]
                marker = "o" if pair.startswith("jax") else "x"
                bottom.semilogy(range(1, len(values) + 1), values, marker, ms=2.5, color=color,
                                label=f"{key[0]}: {pair}")  # fmt: skip
        if tolerance:
            bottom.axhline(tolerance, color="red", lw=0.8, ls="--", label="tolerance")
        bottom.set_ylim(1e-18, 1e-1)
        bottom.set_xlabel("step", fontsize=8)
        if col == 0:
            bottom.set_ylabel("relative difference", fontsize=8)
        if i == 0:
            top.set_ylabel("loss")
            top.legend(fontsize=6)
            bottom.legend(fontsize=6)
    fig.suptitle("One DCGAN in PyTorch (solid), JAX (dashed) and TensorFlow (dotted): "
                 "the same numbers, step for step", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(results: list[dict[str, Any]], timing: list[dict[str, Any]], info: dict[str, Any],
             tolerance: float | None) -> str:  # fmt: skip
    title = "per-step loss differences" if results else "speed of the three trainers"
    lines = [f"# One DCGAN, three frameworks: {title}", "",
             f"Command: `{info['command']}`  ",
             f"Date: {info['date']} · commit {info.get('commit', '?')}  ",
             f"Machine: {info['machine']}  ", f"Versions: {info['versions']}", ""]  # fmt: skip
    pairs = list(results[0]["diffs"]) if results else []
    if results:
        lines += ["Each configuration trains the DCGAN with `--numpy-rng` in every framework "
                  "(same weights, data order, latents and random numbers); cells are the largest "
                  "`|a - b| / max(|a|, |b|)` over the steps, for `d_loss` / `g_loss`, against "
                  "PyTorch.", ""]  # fmt: skip
        head = "| configuration | dtype | steps | " + " | ".join(pairs) + " |"
        lines += [head, "|" + "---|" * (3 + len(pairs))]
    for r in results:
        cells = [f"{max(r['diffs'][p]['d_loss']):.1e} / {max(r['diffs'][p]['g_loss']):.1e}"
                 for p in pairs]  # fmt: skip
        lines.append(f"| {r['config']} | {r['dtype']} | {r['steps']} | " + " | ".join(cells) + " |")
    if tolerance and results:
        lines += ["", f"Tolerance: {tolerance:g}."]
    if timing:
        lines += ["", "## Speed (CPU preset sizes: 16×16, width 32, batch 64, float32, ns)", "",
                  "Training iterations (one D and one G update) per second, without compilation "
                  "and evaluations (`Loop.steps_per_second`), on an otherwise idle machine.", "",
                  "| trainer | steps | steps/s | ms/step |", "|---|---|---|---|"]  # fmt: skip
        for t in timing:
            lines.append(f"| {t['framework']} | {t['steps']} | {t['steps_per_second']:.1f} | "
                         f"{t['ms_per_step']:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _info(argv: list[str]) -> dict[str, Any]:
    import numpy as np

    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for mod in ("torch", "jax", "flax", "optax", "tensorflow", "keras"):
        m = sys.modules.get(mod)
        if m is not None:
            versions.append(f"{mod} {getattr(m, '__version__', '?')}")
    from reference_trainers import provenance

    cpu, commit = provenance.cpu_model(), provenance.git_commit()
    return {
        "commit": commit or "?",
        "command": shlex.join(["python", "-m", "reference_trainers.xframework", *argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{cpu} ({os.cpu_count()} logical CPUs), CPU only",
        "load_average": provenance.load_average(),
        "versions": ", ".join(versions),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reference_trainers.xframework",
                                description=__doc__, formatter_class=common.HelpFormatter)  # fmt: skip
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help=f"The configurations to compare, comma-separated, of {', '.join(CONFIGS)} "
                   "('' with --speed: timing only). Default: all of them.")  # fmt: skip
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="The frameworks to train, comma-separated; the first is the reference "
                   "the others are compared with.")  # fmt: skip
    p.add_argument("--steps", type=int, default=50,
                   help="Training iterations per configuration and framework.")  # fmt: skip
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="The precision of the runs (float32: the differences are recorded, not "
                   "checked).")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="The random seed of every run.")
    p.add_argument("--tolerance", type=float, default=None,
                   help="The largest allowed per-step difference. Default: 1e-6 in float64, "
                   "none (not checked) in float32.")  # fmt: skip
    p.add_argument("--tiny", action="store_true",
                   help="Width 8, batch 8: the test's sizes.")  # fmt: skip
    p.add_argument("--speed", action="store_true",
                   help="Also time each trainer at the CPU preset's sizes.")  # fmt: skip
    p.add_argument("--speed-steps", type=int, default=300,
                   help="Training iterations of each --speed run.")  # fmt: skip
    p.add_argument("--out", default="runs/xframework",
                   help="The folder of the figure and the tables.")  # fmt: skip
    p.add_argument("--work", default=None,
                   help="The trainers' run folders. Default: OUT/runs.")  # fmt: skip
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for every framework. One thread makes the float32 table "
        "reproducible run to run; with more, a reduction split over threads sums "
        "in another order and the float32 cells change.",
    )
    p.add_argument("--verbose", action="store_true", help="Show the trainers' progress.")
    return common.show_defaults(p)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    frameworks = [f for f in args.frameworks.split(",") if f]
    bad = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown or bad or len(frameworks) < 2 or args.steps < 1:
        p.error(f"unknown configs {unknown} (known: {', '.join(CONFIGS)})" if unknown else
                f"--frameworks: expected two or more of {', '.join(FRAMEWORKS)}; received "
                f"{args.frameworks!r}" if bad or len(frameworks) < 2 else "--steps must be >= 1")  # fmt: skip
    if args.threads < 1:
        p.error(f"--threads: expected an integer >= 1; received {args.threads}")
    common.limit_threads(args.threads)
    tolerance = args.tolerance if args.tolerance is not None else (
        1e-6 if args.dtype == "float64" else None)  # fmt: skip
    sizes = SIZES
    if args.tiny:
        sizes = ["--image-size", "16", "--width", "8", "--z-dim", "8", "--batch-size", "8",
                 "--eval-samples", "200"]  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out / "runs"
    results = []
    for name in configs:
        results.append(compare(name, CONFIGS[name], frameworks, steps=args.steps, dtype=args.dtype,
                               work=work, sizes=sizes, seed=args.seed,
                               quiet=not args.verbose))  # fmt: skip
    timing = speed(frameworks, args.speed_steps, work, not args.verbose) if args.speed else []
    info = _info(argv)
    info["machine"] += f", {args.threads} thread{'s' * (args.threads > 1)} per framework"
    if results:
        plot(results, out / "curves_xframework.png", tolerance)
    (out / "xframework.md").write_text(markdown(results, timing, info, tolerance))
    (out / "xframework.json").write_text(json.dumps(
        {**info, "tolerance": tolerance, "results": results, "speed": timing}, indent=1))  # fmt: skip
    failed = [r["config"] for r in results if not math.isfinite(r["max_rel_diff"])
              or (tolerance and not r["max_rel_diff"] <= tolerance)]  # fmt: skip
    worst = max((r["max_rel_diff"] for r in results), default=0.0)
    if results:
        print(f"largest per-step difference {worst:.2e} ({args.dtype})", file=sys.stderr)
    print(f"outputs in {out}", file=sys.stderr)
    if failed:
        print(f"error: the frameworks differ by more than {tolerance or 0:g} (or a loss is not "
              f"finite) in {', '.join(failed)}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
