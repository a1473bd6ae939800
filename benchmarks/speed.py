"""The speed tables in one command: advloss vs hand-written losses, penalty and spectral-norm
costs, fused vs separate R1, and how a discriminator step's cost grows with the batch size.

    python -m benchmarks.speed                  # everything, full (~25 min on 2 cores)
    python -m benchmarks.speed --quick          # every part in its quick form (~5 min)
    python -m benchmarks.speed --parts sweep --frameworks torch,jax

Parts (``--parts``, default all):

* ``overhead`` -- runs ``python -m benchmarks.overhead [--quick]`` (advloss / hand-written time
  per loss call, per framework and mode; its own tables in ``results/overhead.md``);
* ``penalties`` -- runs ``python -m benchmarks.penalties [--quick]`` (GP, R1 separate / fused /
  StyleGAN2-style / lazy, SN relative to a plain D step; ``results/penalties.md``);
* ``sweep`` -- the D step of ``benchmarks/penalties.py`` (plain, gp, r1_fused, sn) at batch sizes
  8 … 256 per framework (torch eager, TF tf.function, JAX jit): a table and a log-log plot.
  Timed by ``benchmarks.penalties.measure`` with its rounds and steps per round, so its plain
  step at penalties' batch is the same measurement as penalties.md's (speed.md compares them).

``results/speed.md`` then collects the headline numbers of all three (from the JSON files each
part writes), with the machine and versions.  Parts run as separate processes so one framework's
threads never slow another's measurements.  Every table gives medians over interleaved rounds
with their interquartile range and the number of rounds.  The run refuses a loaded machine
(1-minute load above ``--max-load``, default half the usable cores) unless ``--allow-load``,
which marks every file "measured under load"; ``--threads`` (default: the free cores,
``reference_trainers.common.default_threads``) is passed to the penalties part and the sweep
(the overhead part keeps its own default, 1 thread).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.overhead import writer
from reference_trainers import common

PARTS = ["overhead", "penalties", "sweep"]
SWEEP_VARIANTS = ["plain", "gp", "r1_fused", "sn"]
FRAMEWORKS = ["torch", "tensorflow", "jax"]


def sweep_framework(name: str, batches: list[int], quick: bool, threads: int) -> dict[str, Any]:
    """ms per D step for each variant and batch size, in this process (one framework): the
    medians (``ms``) and their spread over ``benchmarks.penalties.measure``'s rounds."""
    common.limit_threads(threads)
    from benchmarks import penalties

    if name == "torch":
        import torch

        torch.set_num_threads(threads)
    params = penalties.weights()
    _, rounds, steps = penalties.QUICK if quick else penalties.FULL
    out: dict[str, Any] = {"framework": name, "ms": {}, "spread": {}, "rounds": rounds,
                           "steps_per_round": steps}  # fmt: skip
    for batch in batches:
        bench = penalties.BENCHES[name](params, batch)
        out["mode"] = bench.mode
        times = penalties.measure(bench, rounds, steps, SWEEP_VARIANTS, quiet=True)
        out["spread"][str(batch)] = {v: report.spread(t) for v, t in times.items()}
        out["ms"][str(batch)] = {v: st["median"] for v, st in out["spread"][str(batch)].items()}
        print(f"   {name} batch {batch}: " + ", ".join(
            f"{v} {ms:.2f} ms" for v, ms in out["ms"][str(batch)].items()), file=sys.stderr)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads per framework (default: the free cores)")  # fmt: skip
    p.add_argument("--batches", default=None, help="sweep batch sizes (default 8,16,32,64,128,256)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--sweep-worker", default=None, help=argparse.SUPPRESS)  # internal
    report.load_options(p)
    report.replot_option(p, "speed")
    args = p.parse_args(argv)
    if args.replot:
        data, png = report.replot_data("speed", args)
        plot(data["sweep"], png)
        report.publish(png)
        return 0
    batches = [
        int(b)
        for b in (args.batches or ("8,32,128" if args.quick else "8,16,32,64,128,256")).split(",")
    ]
    if args.sweep_worker:  # a child process: one framework's sweep, JSON on stdout
        print(json.dumps(sweep_framework(args.sweep_worker, batches, args.quick, args.threads)))
        return 0
    parts = args.parts.split(",")
    frameworks = args.frameworks.split(",")
    for name, values, allowed in (("parts", parts, PARTS), ("frameworks", frameworks, FRAMEWORKS)):
        bad = [v for v in values if v not in allowed]
        if bad:
            p.error(f"--{name}: unknown {bad}; expected some of {allowed}")
    load = report.check_load(args, "benchmarks.speed")
    threads = common.apply_threads(args.threads, "benchmarks.speed")
    out = report.paths("speed", args.quick, args.out)
    folder = out["md"].parent
    quick = ["--quick"] if args.quick else []
    # The parts run one after the other: the 1-minute load a part starts under still holds the
    # previous part's own threads (they are no other process's load).
    load_args = ["--max-load", f"{load['load_limit'] + threads:.2f}"]
    load_args += ["--allow-load"] if args.allow_load else []
    root = Path(__file__).resolve().parent.parent
    for part in ("overhead", "penalties"):
        if part in parts:
            print(f"== {part}", file=sys.stderr)
            cmd = [sys.executable, "-m", f"benchmarks.{part}", *quick, "--frameworks",
                   ",".join(frameworks), "--out", str(folder), *load_args]  # fmt: skip
            if part == "penalties":  # the sweep's threads: one plain step, one definition
                cmd += ["--threads", str(threads)]
            subprocess.run(cmd, check=True, cwd=root)
    sweep: list[dict[str, Any]] = []
    if "sweep" in parts:
        print("== sweep", file=sys.stderr)
        for fw in frameworks:
            cmd = [sys.executable, "-m", "benchmarks.speed", "--sweep-worker", fw, "--threads",
                   str(threads), "--batches", ",".join(map(str, batches)), *quick]  # fmt: skip
            proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0 or not proc.stdout.strip():
                print(f"   {fw}: skipped (exit {proc.returncode})", file=sys.stderr)
                continue
            sweep.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    info = report.machine("benchmarks.speed", quick=args.quick, threads=threads,
                          **report.end_load(load, threads))  # fmt: skip
    report.write_json(out["json"], {"machine": info, "sweep": sweep})
    if sweep:
        plot(sweep, out["png"])
        report.publish(out["png"])
    report.write(out["md"], markdown(info, sweep, folder, args.quick))
    print(f"wrote {out['md']}", file=sys.stderr)
    return 0


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _ms(r: dict[str, Any], v: str) -> str:
    """A penalties.json cell: median (IQR) ×ratio, or the median alone in files older than the
    recorded spread."""
    ms = r["ms_per_step"]
    if "spread" not in r:
        return f"{ms[v]:.2f}" if v == "plain" else f"{ms[v]:.2f} (×{ms[v] / ms['plain']:.2f})"
    cell = report.fmt_spread(r["spread"][v])
    return cell if v == "plain" else f"{cell} ×{r['vs_plain'][v]['median']:.2f}"


def agreement(pen: dict[str, Any] | None, sweep: list[dict[str, Any]]) -> list[str]:
    """Lines comparing the plain step penalties.md and the sweep measured at the same batch:
    one definition (``benchmarks.penalties.measure``), so their ranges should overlap."""
    if not pen or not sweep or "spread" not in pen["rows"][0]:
        return []
    batch = str(pen["batch"])
    lines = []
    for r in pen["rows"]:
        s = next((s for s in sweep if s["framework"] == r["framework"]), None)
        if s is None or batch not in s.get("spread", {}):
            continue
        a, b = r["spread"]["plain"], s["spread"][batch]["plain"]
        agree = a["q1"] <= b["q3"] and b["q1"] <= a["q3"]
        lines.append(
            f"- {r['framework']}: plain step at batch {batch}: penalties {report.fmt_spread(a)} "
            f"ms, sweep {report.fmt_spread(b)} ms — "
            + ("ranges overlap" if agree else "**ranges do not overlap: the machine's load "
                                              "changed between the two parts**")
        )  # fmt: skip
    return lines


def markdown(info: dict[str, Any], sweep: list[dict[str, Any]], folder: Path, quick: bool) -> str:
    sfx = "-quick" if quick else ""
    lines = ["# Speed", "", report.header(info), ""]
    overhead = _load(folder / f"overhead{sfx}.json")
    if overhead:
        rounds = overhead.get("meta", {}).get("rounds", "?")
        lines += [f"## advloss vs hand-written losses ([overhead{sfx}.md](overhead{sfx}.md))", "",
                  "Ratio = advloss time / hand-written time per loss call (1.00 = no overhead); "
                  "median and worst over the 12 cases × shapes measured. Each case's ratio is "
                  f"the median of {rounds} interleaved rounds' paired ratios; *at parity*: cases "
                  "whose interquartile range holds 1.", ""]  # fmt: skip
        lines += [*writer.summary_table(overhead["records"]), ""]
    pen = _load(folder / f"penalties{sfx}.json")
    if pen:
        rounds = pen["machine"].get("rounds")
        lines += [f"## Penalty and spectral-norm cost ([penalties{sfx}.md](penalties{sfx}.md))", "",
                  f"ms per D step at batch {pen['batch']}: median (interquartile range) over "
                  f"{rounds if rounds else 'the'} rounds, and × the plain step.", ""]  # fmt: skip
        rows = []
        for r in pen["rows"]:
            variants = ("plain", "gp", "r1_separate", "r1_fused", "r1_lazy16", "r1_lazy16_host",
                        "sn", "r3gan")  # fmt: skip
            cells = [_ms(r, v) if v in r["ms_per_step"] else "—" for v in variants]
            rows.append([r["framework"], r["mode"], *cells])
        lines += report.table(["framework", "mode", "plain", "gp", "r1 separate", "r1 fused",
                               "r1 lazy/16", "r1 lazy/16 host", "sn", "r3gan"], rows,
                              "llrrrrrrrr")  # fmt: skip
        lines.append("")
    if sweep:
        batches = list(sweep[0]["ms"])
        rounds = sweep[0].get("rounds", "?")
        lines += ["## Cost growth with batch size", "",
                  "ms per D step (32×32×3 inputs, the `benchmarks/penalties.py` discriminator, "
                  f"timed as penalties.md times it): median (interquartile range) over {rounds} "
                  f"rounds; the log-log plot is [speed{sfx}.png](speed{sfx}.png). The last "
                  "column is the slope of log(time) on log(batch) between the two largest "
                  "batches (1 = linear).", ""]  # fmt: skip
        import math

        rows = []
        for s in sweep:
            for v in SWEEP_VARIANTS:
                ms = [s["ms"][b][v] for b in batches]
                cells = [report.fmt_spread(s["spread"][b][v]) if "spread" in s else f"{m:.2f}"
                         for b, m in zip(batches, ms, strict=True)]  # fmt: skip
                slope = (math.log(ms[-1] / ms[-2]) / math.log(int(batches[-1]) / int(batches[-2]))
                         if len(ms) > 1 else float("nan"))  # fmt: skip
                rows.append([f"{s['framework']} ({s['mode']})", v, *cells, f"{slope:.2f}"])
        lines += report.table(["framework", "variant", *(f"b={b}" for b in batches), "slope"],
                              rows, "ll" + "r" * (len(batches) + 1))  # fmt: skip
        lines.append("")
        same = agreement(pen, sweep)
        if same:
            lines += ["The plain step, measured by both parts with one definition:", "", *same, ""]
    return "\n".join(lines) + "\n"


def plot(sweep: list[dict[str, Any]], path: Path) -> None:
    """ms per D step against batch size (log-log), one panel per framework, one line per
    variant; a dotted line of slope 1 (linear cost) for reference. Each point is one median over
    interleaved rounds (no seeds, so no error bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"plain": "plain D step", "gp": "+ GP", "r1_fused": "+ R1 (fused)",
              "sn": "+ spectral norm"}  # fmt: skip
    fig, axes = plt.subplots(1, len(sweep), figsize=(5 * len(sweep), 4.4), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax, s in zip(axes[0], sweep, strict=True):
        batches = sorted(int(b) for b in s["ms"])
        for v in SWEEP_VARIANTS:
            ax.plot(batches, [s["ms"][str(b)][v] for b in batches], "o-", label=labels.get(v, v))
        b0, t0 = batches[0], s["ms"][str(batches[0])]["plain"]
        ax.plot(batches, [t0 * b / b0 for b in batches], "k:", lw=1, label="slope 1 (linear)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size (log scale)")
        ax.set_title(f"{s['framework']} ({s['mode']})", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("median ms per D step (log scale)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
