"""Mode coverage on stacked digits (the Stacked-MNIST protocol on the bundled digits).

    python -m benchmarks.modes                 # full: 19 configurations x 3 seeds x 3,000 steps
    python -m benchmarks.modes --quick         # 1 seed, 600 steps, 2,000 evaluation samples
    python -m benchmarks.modes --configs ns,ns+r1 --seeds 0,1

The DCGAN reference trainer on ``--data stacked-digits`` (three random digits as the R, G, B
channels: 1,000 modes) at 16×16, width 32, batch 64, with the main losses with and without
regularizers at the library's defaults (R1 γ = 10, GP λ = 10, spectral norm on every D layer):

    ns, ns+ln, ns+r1, ns+sn, minimax, lsgan, hinge, hinge+sn, wgan+gp, ragan, rpgan, r3gan,
    rp_hinge, rp_lsgan, ns+lecam, ns+dragan, ns+maxgp, ns+cr, ns+bcr

(``ns+ln``: layer norm in D and no penalty -- the runs with a penalty use layer norm in D
instead of batch norm, so this is their control.  ``r3gan`` is ``--recipe r3gan``: RpGAN + R1
+ R2 with γ on R3GAN's cosine from 0.05 to 0.005 and its Adam schedules, over the run.  The
second catalogue's penalties run at their own defaults: LeCam λ = 0.3 with its moving averages,
DRAGAN and MaxGP λ = 10, CR λ = 10 and bCR 10/10 with StudioGAN's flip-and-shift transform;
LeCam and CR/bCR keep D's batch norm, the input-gradient penalties use layer norm as R1 does.)

At the end each run draws ``--eval-samples`` samples (10,000 in the full run, as the protocol),
classifies each channel with our digit classifier and reports the modes covered (of 1,000) and
KL(mode histogram ‖ uniform), beside the same numbers for as many real stacked digits (the
ceiling at this sample count).  Runs live under ``--work`` (default ``runs/benchmarks/modes``):
finished runs are reused, interrupted ones resumed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmarks import report, trainer_runs

CONFIGS: dict[str, list[str]] = {
    "ns": [],
    "ns+ln": ["--d-norm", "layer"],
    "ns+r1": ["--penalty", "r1"],
    "ns+sn": ["--spectral-norm"],
    "minimax": ["--loss", "minimax"],
    "lsgan": ["--loss", "lsgan"],
    "hinge": ["--loss", "hinge"],
    "hinge+sn": ["--loss", "hinge", "--spectral-norm"],
    "wgan+gp": ["--loss", "wgan", "--penalty", "gp"],
    "ragan": ["--loss", "ragan"],
    "rpgan": ["--loss", "rpgan"],
    "r3gan": ["--recipe", "r3gan"],
    "rp_hinge": ["--loss", "rp_hinge"],
    "rp_lsgan": ["--loss", "rp_lsgan"],
    "ns+lecam": ["--penalty", "lecam"],
    "ns+dragan": ["--penalty", "dragan"],
    "ns+maxgp": ["--penalty", "maxgp"],
    "ns+cr": ["--penalty", "cr"],
    "ns+bcr": ["--penalty", "bcr"],
}
KEYS = ["modes", "mode_kl", "fd"]


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    steps = job["steps"]
    options = [*CONFIGS[job["config"]], "--data", "stacked-digits", "--seed", str(job["seed"]),
               "--eval-every", str(steps), "--eval-samples", str(job["eval_samples"])]  # fmt: skip
    seconds = trainer_runs.run_trainer("dcgan", options, job["out"], steps)
    final = next(r for r in trainer_runs.rows(job["out"]) if r.get("eval") and r["step"] == steps)
    return {"config": job["config"], "seed": job["seed"], "steps": steps,
            "options": [*CONFIGS[job["config"]], "--eval-samples", str(job["eval_samples"])],
            "seconds": seconds,
            "run_seconds": trainer_runs.run_seconds(job["out"]),
            **{k: final[k] for k in (*KEYS, "modes_baseline", "mode_kl_baseline", "fd_baseline")}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.modes", description=__doc__.splitlines()[0]
    )
    report.run_options(p, quick="1 seed, 600 steps, 2,000 samples",
                       steps="default 3000; quick: 600", work="runs/benchmarks/modes")  # fmt: skip
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--eval-samples", type=int, default=None, help="default 10000; quick: 2000")
    trainer_runs.reuse_option(p)
    report.replot_option(p, "modes")
    args = p.parse_args(argv)
    if args.replot:
        data, png = report.replot_data("modes", args)
        plot(data["runs"], list(dict.fromkeys(r["config"] for r in data["runs"])), png)
        report.publish(png)
        return 0
    configs = report.pick(p, "configs", args.configs, list(CONFIGS))
    seeds = report.seeds(args)
    steps = args.steps or (600 if args.quick else 3000)
    n_eval = args.eval_samples or (2000 if args.quick else 10000)
    work = Path(args.work) / f"steps{steps}-eval{n_eval}"
    jobs = [{"config": c, "seed": s, "steps": steps, "eval_samples": n_eval,
             "out": work / f"{trainer_runs.folder_name(c)}-seed{s}"}
            for c in configs for s in seeds]  # fmt: skip
    print(f"modes: {len(jobs)} runs, {args.workers} workers, runs in {work}", file=sys.stderr)
    results, info, out = trainer_runs.run_reusing(
        "modes", args, jobs, lambda r: (r["config"], r["seed"], r["steps"]),
        lambda j: [*CONFIGS[j["config"]], "--eval-samples", str(j["eval_samples"])], run_one,
        lambda r: f"{r['config']} seed {r['seed']}: modes {r['modes']:.0f}, KL {r['mode_kl']:.3f}",
        seeds=seeds, steps=steps, eval_samples=n_eval,
    )  # fmt: skip
    report.write_json(out["json"], {"machine": info, "runs": results})
    lines = [
        f"# Stacked digits: modes covered ({len(seeds)} seed{'s' * (len(seeds) > 1)}, {steps} "
        f"steps, {n_eval} samples)", "", report.header(info), "",
        "Protocol: `benchmarks/modes.py` (module docstring). Mean ± sd over seeds. The last row "
        "is the same measurement on as many real stacked digits: the ceiling at this sample "
        "count.", "", trainer_runs.provenance_note(results, info.get("commit")), "",
        "| configuration | modes (of 1,000) ↑ | KL to uniform ↓ | fd ↓ |", "|---|---|---|---|",
    ]  # fmt: skip
    for c in configs:
        rs = [r for r in results if r["config"] == c]
        cells = [
            report.fmt_mean_sd([r[k] for r in rs], d) for k, d in zip(KEYS, (1, 3, 2), strict=True)
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    first = results[0]
    lines.append(f"| real stacked digits | {first['modes_baseline']:.0f} | "
                 f"{first['mode_kl_baseline']:.3f} | {first['fd_baseline']:.2f} |")  # fmt: skip
    lines += ["", f"Figure: [{out['png'].name}]({out['png'].name})."]
    report.write(out["md"], "\n".join(lines) + "\n")
    plot(results, configs, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def plot(results: list[dict[str, Any]], configs: list[str], path: Path) -> None:
    """Modes covered and KL to uniform per configuration (mean, error bar = the table's sd over
    seeds), the real-data ceiling dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n_seeds = len({r["seed"] for r in results})
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.4 * len(configs) + 2))
    y = np.arange(len(configs))[::-1]
    for ax, key, label in zip(axes, ("modes", "mode_kl"),
                              ("modes covered (of 1,000; higher is better)",
                               "KL of the mode histogram to uniform (lower is better)"),
                              strict=True):  # fmt: skip
        vals = [[r[key] for r in results if r["config"] == c] for c in configs]
        m, sd = zip(*(report.mean_sd(v) for v in vals), strict=True)
        ax.barh(y, m, xerr=sd, capsize=3, color="C0", label=f"mean ± sd, {n_seeds} seeds")
        base = results[0][f"{key}_baseline"]
        ax.axvline(base, color="k", ls="--", lw=1, label=f"real stacked digits ({base:.4g})")
        ax.set_yticks(y, configs)
        ax.set_xlabel(label)
        ax.set_ylabel("loss + regularizer")
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
