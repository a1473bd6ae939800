"""Seed 000's scenario: pix2pix with BCE, a dominating discriminator, and the usual fixes.

    python -m benchmarks.balance                # full: 11 configurations x 3 seeds x 1,500 steps
    python -m benchmarks.balance --quick        # a few minutes: 1 seed, 400 steps
    python -m benchmarks.balance --configs baseline,lsgan --seeds 0

Runs the pix2pix reference trainer (CPU preset: synthetic-facades at 64×64, batch 8) once per
configuration and seed:

| configuration | options on top of the defaults (ns loss, λ_L1 = 100, 1:1, lr 2e-4) |
|---|---|
| baseline | (none: the non-saturating BCE loss) |
| lsgan | ``--loss lsgan`` |
| l1=300 | ``--lambda-l1 300`` |
| g:d=3:1 | ``--g-steps 3`` (three generator updates per discriminator update) |
| g:d=6:1 | ``--g-steps 6`` (the other end of seed 000's 3:1–6:1 range) |
| real_label=0.9 | ``--real-label 0.9`` (one-sided label smoothing) |
| lr_d/4 | ``--lr-d 5e-5`` |
| noise | ``--instance-noise 0.1:0:<half the steps>`` |
| combined | all of the above together (with the 3:1 ratio) |
| adaptive_noise | ``--instance-noise adaptive`` (advloss's ``AdaptiveNoise``: ADA's r_t heuristic, target 0.6) |
| adaptive_ratio | ``--adaptive-ratio`` (advloss's ``AdaptiveRatio``: D:G steps set to keep D's mean accuracy in 40–60 %) |
| adaptive_both | both controllers together |

Recorded per run: the discriminator's real and fake accuracy (per patch, at the loss's
decision threshold) averaged over the last 20 % of training and over the first 20 %, the
fraction of logged steps whose mean accuracy ((real + fake) / 2, what ``AdaptiveRatio``
steers) lies in the 40–60 % band and the fraction with both accuracies in it, and the final
validation l1, psnr, ssim and segmentation score.  The table gives the mean ± sd over
seeds; the figure plots the accuracy curves.

Runs are separate trainer processes (``--workers`` at a time, one thread each), each in its own
folder under ``--work`` (default ``runs/benchmarks/balance``): a finished run is reused, an
interrupted one resumed with ``--resume``, so nothing is lost on interruption.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report, trainer_runs

CONFIGS: dict[str, list[str]] = {
    "baseline": [],
    "lsgan": ["--loss", "lsgan"],
    "l1=300": ["--lambda-l1", "300"],
    "g:d=3:1": ["--g-steps", "3"],
    "g:d=6:1": ["--g-steps", "6"],
    "real_label=0.9": ["--real-label", "0.9"],
    "lr_d/4": ["--lr-d", "5e-5"],
    "noise": ["--instance-noise", "NOISE"],
    "combined": ["--loss", "lsgan", "--lambda-l1", "300", "--g-steps", "3", "--real-label", "0.9",
                 "--lr-d", "5e-5", "--instance-noise", "NOISE"],
    "adaptive_noise": ["--instance-noise", "adaptive"],
    "adaptive_ratio": ["--adaptive-ratio"],
    "adaptive_both": ["--instance-noise", "adaptive", "--adaptive-ratio"],
}  # fmt: skip
BAND = (0.4, 0.6)
#: what the committed table ran (adaptive_both: --configs; CPU time bounded one session)
DEFAULT = [c for c in CONFIGS if c != "adaptive_both"]
QUALITY = ["l1", "psnr", "ssim", "seg_pixel_acc", "seg_iou"]


def options(job: dict[str, Any]) -> list[str]:
    """The trainer options of a job (the configuration's, then the seed and evaluation
    interval)."""
    steps = job["steps"]
    opts = [o.replace("NOISE", f"0.1:0:{steps // 2}") for o in CONFIGS[job["config"]]]
    return [*opts, "--seed", str(job["seed"]), "--eval-every", str(max(steps // 4, 1))]


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    seconds = trainer_runs.run_trainer("pix2pix", options(job), job["out"], job["steps"])
    return summarize(job, trainer_runs.rows(job["out"]), seconds)


def band_fractions(curve: list[list[float]]) -> tuple[float, float]:
    """Of the logged (step, real acc, fake acc) rows: the fraction whose mean accuracy lies in
    the band, and the fraction with both accuracies in it."""
    low, high = BAND
    c = np.asarray(curve, dtype=float)
    inside = (c[:, 1:] >= low) & (c[:, 1:] <= high)
    mean = c[:, 1:].mean(1)
    return float(((mean >= low) & (mean <= high)).mean()), float(inside.all(1).mean())


def with_band(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its band fractions (computed from its curve: also for reused rows)."""
    mean_in, both_in = band_fractions(row["curve"])
    return {**row, "band_mean": mean_in, "band_both": both_in}


def summarize(job: dict[str, Any], rs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    steps = job["steps"]
    train = [r for r in rs if "d_loss" in r]
    last = [r for r in train if r["step"] > 0.8 * steps]
    first = [r for r in train if r["step"] <= 0.2 * steps]
    final = next(r for r in rs if r.get("eval") and r["step"] == steps)
    mean = trainer_runs.mean_of
    return {
        "config": job["config"], "seed": job["seed"], "steps": steps, "seconds": seconds,
        "options": options(job),
        "run_seconds": trainer_runs.run_seconds(job["out"]),
        "real_acc_last": mean(last, "d_real_acc"), "fake_acc_last": mean(last, "d_fake_acc"),
        "real_acc_first": mean(first, "d_real_acc"), "fake_acc_first": mean(first, "d_fake_acc"),
        **{k: final[k] for k in QUALITY if k in final},
        "seg_pixel_acc_baseline": final.get("seg_pixel_acc_baseline"),
        "curve": [[r["step"], r["d_real_acc"], r["d_fake_acc"]] for r in train],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = trainer_runs.table_parser("balance", __doc__, quick="1 seed, 400 steps", steps="default 1500; quick: 400",
                                  configs=list(CONFIGS), default=DEFAULT)  # fmt: skip
    report.replot_option(p, "balance")
    args = p.parse_args(argv)
    if args.replot:
        data, png = report.replot_data("balance", args)
        plot(data["runs"], list(dict.fromkeys(r["config"] for r in data["runs"])), png)
        report.publish(png)
        return 0
    configs = report.pick(p, "configs", args.configs, list(CONFIGS))
    seeds = report.seeds(args)
    steps = args.steps or (400 if args.quick else 1500)
    jobs = trainer_runs.config_jobs(configs, seeds, steps, Path(args.work) / f"steps{steps}")
    rows, info, out = trainer_runs.run_table(
        "balance", args, jobs, options, run_one, lambda r: (
            f"{r['config']} seed {r['seed']}: real/fake acc {r['real_acc_last']:.2f}/"
            f"{r['fake_acc_last']:.2f}, l1 {r.get('l1', 0):.3f}, seg {r.get('seg_pixel_acc', 0):.3f}"
        ), seeds=seeds, steps=steps,
    )  # fmt: skip
    results = [with_band(r) for r in rows]  # also for reused rows committed before the bands
    report.write_json(out["json"], {"machine": info, "runs": results})
    report.write(out["md"], markdown(results, info, configs, seeds, steps))
    plot(results, configs, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def markdown(results: list[dict[str, Any]], info: dict[str, Any], configs: list[str],
             seeds: list[int], steps: int) -> str:  # fmt: skip
    lines = [
        *trainer_runs.preamble(
            f"Seed 000's scenario: pix2pix discriminator balance ({len(seeds)} seed"
            f"{'s' * (len(seeds) > 1)}, {steps} steps)", info,
            "Protocol: `benchmarks/balance.py` (module docstring). Accuracies are per PatchGAN "
            "patch, averaged over the first and the last 20 % of training; quality on the 100 "
            "validation pairs at the end. Mean ± sd over seeds. In band: the fraction of logged "
            "steps (every 20) whose mean accuracy (real + fake) / 2 lies in 40–60 %, and with "
            "both accuracies in it.", results,
        ),
        "| configuration | real acc (first → last) | fake acc (first → last) | in band: mean "
        "| in band: both | l1 ↓ | psnr ↑ | ssim ↑ | seg pixel acc ↑ | seg IoU ↑ |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c in configs:
        rs = [r for r in results if r["config"] == c]
        f = lambda k, d=2, rs=rs: report.fmt_mean_sd([r[k] for r in rs], d)  # noqa: E731
        lines.append(
            f"| {c} | {f('real_acc_first')} → {f('real_acc_last')} | {f('fake_acc_first')} → "
            f"{f('fake_acc_last')} | {f('band_mean')} | {f('band_both')} | {f('l1', 3)} | {f('psnr')} | {f('ssim', 3)} | "
            f"{f('seg_pixel_acc', 3)} | {f('seg_iou', 3)} |"
        )
    base = [r["seg_pixel_acc_baseline"] for r in results if r.get("seg_pixel_acc_baseline")]
    if base:
        lines += ["", f"Segmentation pixel accuracy of the real validation photos: {base[0]:.3f}."]
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], configs: list[str], path: Path) -> None:
    """D's real and fake accuracy over training per configuration: mean over seeds (a moving
    average over ~1/15 of the run), shaded ± sd over seeds, the 40–60 % band in green."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(configs))
    nrows = (len(configs) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.2 * nrows), squeeze=False,
                             sharex=True, sharey=True)  # fmt: skip
    n_seeds = 0
    for ax, c in zip(axes.flat, configs, strict=False):
        curves = [np.asarray(r["curve"]) for r in results if r["config"] == c]
        n = min(len(v) for v in curves)
        stack = np.stack([v[:n] for v in curves])  # seeds × rows × (step, real, fake)
        n_seeds = max(n_seeds, len(curves))
        k = max(1, n // 15)  # moving average over ~1/15 of the run
        smooth = lambda v, k=k: np.convolve(v, np.ones(k) / k, mode="valid")  # noqa: E731
        x = stack[0, k - 1 :, 0]
        ax.axhspan(0.4, 0.6, color="green", alpha=0.1)
        for col, color, ls in ((1, "C0", "-"), (2, "C1", "--")):
            s = np.stack([smooth(v[:, col]) for v in stack])
            m, sd = s.mean(0), (s.std(0, ddof=1) if len(s) > 1 else np.zeros_like(s[0]))
            ax.plot(x, m, color=color, ls=ls, lw=1.5)
            ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.25, lw=0)
        ax.set_ylim(0, 1.02)
        ax.set_title(c, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(configs) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("D accuracy (fraction of patches)")
    for ax in axes[-1]:
        ax.set_xlabel("training step")
        ax.xaxis.set_tick_params(labelbottom=True)
    for i in range(len(configs), nrows * cols):  # the last row's empty panels: label the row above
        above = axes.flat[i - cols]
        above.set_xlabel("training step")
        above.xaxis.set_tick_params(labelbottom=True)
    from matplotlib.patches import Patch

    handles = [
        plt.Line2D([], [], color="C0", lw=1.5, label=f"real acc (mean ± sd, {n_seeds} seeds)"),
        plt.Line2D(
            [], [], color="C1", lw=1.5, ls="--", label=f"fake acc (mean ± sd, {n_seeds} seeds)"
        ),
        Patch(color="green", alpha=0.2, label="40–60 % (the advice's target)"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
