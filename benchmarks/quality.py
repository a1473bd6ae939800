"""Loss × regularizer on the reference trainers' default data: DCGAN and pix2pix tables.

    python -m benchmarks.quality                    # full: both trainers, 3 seeds, CPU presets
    python -m benchmarks.quality --quick            # 1 seed, 300 steps
    python -m benchmarks.quality --trainers pix2pix --losses ns,lsgan --regs none,r1

DCGAN (digits, 16×16, the CPU preset's 1,500 steps): every loss × {none, ln, r1, gp, sn} at the
library's defaults (R1 γ = 10, GP λ = 10, spectral norm on every D layer). With a penalty the
trainer puts layer norm in D instead of batch norm (batch norm mixes the samples a per-sample
gradient penalty differentiates), so ``ln`` -- layer norm, no penalty -- is the control that
separates the penalty's effect from the normalization's. Final Fréchet distance on our digit
classifier's features (real-vs-real baseline beside it), class coverage and class KL.

pix2pix (synthetic-facades, 64×64, the CPU preset's 1,000 steps): every loss × {none, r1, sn}, plus **L1 only**
(``--gan-weight 0``: the generator ignores the discriminator) -- the comparison behind
pix2pix's central claim that the adversarial term makes outputs more realistic, which its paper
measured as a higher FCN-score (0.42 → 0.66 per-pixel accuracy on Cityscapes) even where L1 is
worse.  Final l1, psnr, ssim and the segmentation score.

Runs live under ``--work`` (default ``runs/benchmarks/quality``): finished runs are reused,
interrupted ones resumed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import report, trainer_runs

mean = trainer_runs.mean_of

LOSSES = ["minimax", "ns", "lsgan", "hinge", "wgan", "ragan"]
#: Losses outside the default grid, run by name into a file of their own (``--name``): the
#: pairing losses of the second catalogue.
EXTRA_LOSSES = ["rpgan", "rp_hinge", "rp_lsgan"]
ALL_LOSSES = LOSSES + EXTRA_LOSSES
REGS = {"dcgan": ["none", "ln", "r1", "gp", "sn"], "pix2pix": ["none", "r1", "sn"]}
#: Regularizers outside the default grid (the second catalogue's penalties, each at its own
#: default weight through ``--penalty``), run by name into a file of their own (``--name``).
EXTRA_REGS = {"dcgan": ["lecam", "dragan", "maxgp", "cr", "bcr"], "pix2pix": []}
METRICS = {
    "dcgan": [("fd", "fd ↓", 2), ("coverage", "coverage ↑", 2), ("class_kl", "class KL ↓", 3)],
    "pix2pix": [("l1", "l1 ↓", 3), ("psnr", "psnr ↑", 2), ("ssim", "ssim ↑", 3),
                ("seg_pixel_acc", "seg pixel acc ↑", 3), ("seg_iou", "seg IoU ↑", 3)],
}  # fmt: skip
L1_ONLY = "l1-only"
#: the trainers' CPU presets
STEPS = {"dcgan": 1500, "pix2pix": 1000}


def options(trainer: str, loss: str, reg: str) -> list[str]:
    if loss == L1_ONLY:
        return ["--gan-weight", "0"]
    opts = ["--loss", loss]
    if reg == "sn":
        opts.append("--spectral-norm")
    elif reg == "ln":  # the control for the penalties: their layer norm, without a penalty
        opts += ["--d-norm", "layer"]
    elif reg != "none":
        opts += ["--penalty", reg]
    return opts


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    trainer, steps = job["trainer"], job["steps"]
    opts = [*options(trainer, job["loss"], job["reg"]), "--seed", str(job["seed"]),
            "--eval-every", str(steps)]  # fmt: skip
    seconds = trainer_runs.run_trainer(trainer, opts, job["out"], steps)
    final = next(r for r in trainer_runs.rows(job["out"]) if r.get("eval") and r["step"] == steps)
    keep = {k: v for k, v in final.items() if k not in ("step", "eval")}
    return {**{k: job[k] for k in ("trainer", "loss", "reg", "seed", "steps")},
            "options": options(trainer, job["loss"], job["reg"]), "seconds": seconds,
            "run_seconds": trainer_runs.run_seconds(job["out"]), **keep}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=__doc__.splitlines()[0]
    )
    report.run_options(p, quick="1 seed, 300 steps",
                       steps="default: the CPU presets' (dcgan 1500, pix2pix 1000); quick: 300",
                       work="runs/benchmarks/quality")  # fmt: skip
    p.add_argument("--trainers", default="dcgan,pix2pix")
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument(
        "--regs",
        default=None,
        help="default: none,ln,r1,gp,sn (dcgan; ln = layer norm in D, no penalty); none,r1,sn (pix2pix)",
    )
    p.add_argument("--name", default="quality",
                   help="result file name (default quality): e.g. quality-rp for rows of the "
                        "extra losses beside the committed table")  # fmt: skip
    trainer_runs.reuse_option(p)
    report.replot_option(p, "quality")
    args = p.parse_args(argv)
    if args.replot:
        data, png = report.replot_data(args.name, args)
        plot(data["runs"], list(dict.fromkeys(r["trainer"] for r in data["runs"])), png)
        report.publish(png)
        return 0
    trainers = report.pick(p, "trainers", args.trainers, list(REGS))
    losses = report.pick(p, "losses", args.losses, ALL_LOSSES)
    seeds = report.seeds(args)
    steps = {t: args.steps or (300 if args.quick else STEPS[t]) for t in trainers}
    regs = {
        t: report.pick(p, f"regs ({t})", args.regs or ",".join(REGS[t]), REGS[t] + EXTRA_REGS[t])
        for t in trainers
    }
    work = Path(args.work)
    jobs = []
    for t in trainers:
        combos = [(lo, r) for lo in losses for r in regs[t]]
        if t == "pix2pix":
            combos.insert(0, (L1_ONLY, "none"))
        folder = work / f"steps{steps[t]}" / t
        jobs += [{"trainer": t, "loss": lo, "reg": r, "seed": s, "steps": steps[t],
                  "out": folder / f"{lo}-{r}-seed{s}"} for lo, r in combos for s in seeds]  # fmt: skip
    print(f"quality: {len(jobs)} runs, {args.workers} workers, runs in {work}", file=sys.stderr)

    def describe(r: dict[str, Any]) -> str:
        name, _, digits = METRICS[r["trainer"]][0]
        return (
            f"{r['trainer']} {r['loss']}+{r['reg']} seed {r['seed']}: {name} {r[name]:.{digits}f}"
        )

    results, info, out = trainer_runs.run_reusing(
        args.name, args, jobs, lambda r: tuple(r[k] for k in ("trainer", "loss", "reg", "seed", "steps")),
        lambda j: options(j["trainer"], j["loss"], j["reg"]), run_one, describe, module="quality",
        seeds=seeds, steps=steps,
    )  # fmt: skip
    if args.reuse and out["json"].exists():  # a run of some trainers keeps the others' rows
        committed = json.loads(out["json"].read_text())
        commit = committed.get("machine", {}).get("commit")
        results += [{**r, "commit": r.get("commit", commit), "reused": True}
                    for r in committed["runs"] if r["trainer"] not in trainers]  # fmt: skip
        trainers = [t for t in REGS if t in {r["trainer"] for r in results}]
        steps = {t: next(r["steps"] for r in results if r["trainer"] == t) for t in trainers}
    report.write_json(out["json"], {"machine": info, "runs": results})
    report.write(out["md"], markdown(results, info, trainers, seeds, steps, out["png"].name))
    plot(results, trainers, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def groups(rs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The runs of one trainer by (loss, regularizer), in the order they were run."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rs:
        out.setdefault((r["loss"], r["reg"]), []).append(r)
    return out


def l1_only_summary(rs: list[dict[str, Any]]) -> list[str]:
    """pix2pix's claim in numbers: L1 only against every L1 + cGAN configuration."""
    g = groups(rs)
    base = g.pop((L1_ONLY, "none"), None)
    if not base or not g:
        return []
    l1, seg, iou = (mean(base, k) for k in ("l1", "seg_pixel_acc", "seg_iou"))
    better_seg = [k for k, v in g.items() if mean(v, "seg_pixel_acc") > seg]
    better_iou = [k for k, v in g.items() if mean(v, "seg_iou") > iou]
    worse_l1 = [k for k, v in g.items() if mean(v, "l1") > l1]
    best = max(g, key=lambda k: mean(g[k], "seg_pixel_acc"))
    return [
        f"**L1 only vs L1 + cGAN** (pix2pix's claim): L1 only ends at l1 {l1:.3f}, segmentation "
        f"pixel accuracy {seg:.3f}, IoU {iou:.3f}. Of the {len(g)} L1 + cGAN configurations, "
        f"{len(better_seg)} have a higher segmentation pixel accuracy, {len(better_iou)} a higher "
        f"IoU, and {len(worse_l1)} a worse (higher) l1. The best by segmentation accuracy is "
        f"{best[0]}+{best[1]} ({mean(g[best], 'seg_pixel_acc'):.3f}, IoU "
        f"{mean(g[best], 'seg_iou'):.3f}, l1 {mean(g[best], 'l1'):.3f}).",
        "",
    ]


def markdown(results: list[dict[str, Any]], info: dict[str, Any], trainers: list[str],
             seeds: list[int], steps: dict[str, int], figure: str = "quality.png") -> str:  # fmt: skip
    counts = ", ".join(f"{t} {steps[t]} steps" for t in trainers)
    lines = [f"# Quality: loss × regularizer on the reference trainers ({len(seeds)} seed"
             f"{'s' * (len(seeds) > 1)}; {counts})", "", report.header(info), "",
             "Protocol: `benchmarks/quality.py` (module docstring). Mean ± sd over seeds; "
             f"final evaluation of each run. Figure: [{figure}]({figure}).", "",
             trainer_runs.provenance_note(results, info.get("commit")), ""]  # fmt: skip
    for t in trainers:
        rs = [r for r in results if r["trainer"] == t]
        metrics = METRICS[t]
        lines += [f"## {t}", "", "| loss | regularizer | " + " | ".join(m[1] for m in metrics) + " |",
                  "|---|---|" + "---|" * len(metrics)]  # fmt: skip
        for (lo, reg), group in groups(rs).items():
            cells = [report.fmt_mean_sd([r[k] for r in group if k in r], d) for k, _, d in metrics]
            label = "L1 only (no adversarial term)" if lo == L1_ONLY else lo
            lines.append(
                f"| {label} | {'—' if lo == L1_ONLY else reg} | " + " | ".join(cells) + " |"
            )
        base = next((r for r in rs), {})
        baselines = [
            f"{k} {base[k + '_baseline']:.3g}" for k, _, _ in metrics if k + "_baseline" in base
        ]
        if baselines:
            lines += ["", "Real-data baselines: " + ", ".join(baselines) + "."]
        lines.append("")
        if t == "dcgan" and any(r["reg"] == "ln" for r in rs):
            lines += ["`ln`: layer norm in D and no penalty, the control for `r1` / `gp` (which "
                      "run with layer norm in D; `none` and `sn` keep batch norm).", ""]  # fmt: skip
        if t == "pix2pix":
            lines += l1_only_summary(rs)
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], trainers: list[str], path: Path) -> None:
    """DCGAN: final fd per loss, one bar per regularizer (log scale, real-vs-real baseline
    dashed). pix2pix: l1 against segmentation pixel accuracy per configuration, L1 only marked.
    Error bars: sd over seeds, as in the tables. The pix2pix points carry no text labels (they
    overlap where configurations end equal): colour is the loss, the marker the regularizer, and
    the configurations that end equal to L1 only are named once, with an arrow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def sd(v: list[dict[str, Any]], key: str) -> float:
        return report.mean_sd([r[key] for r in v if key in r])[1]

    n_seeds = len({r["seed"] for r in results})
    fig, axes = plt.subplots(1, len(trainers), figsize=(7.2 * len(trainers), 5.4), squeeze=False)
    for ax, t in zip(axes[0], trainers, strict=True):
        rs = [r for r in results if r["trainer"] == t]
        g = groups(rs)
        steps = f", {rs[0]['steps']} steps" if "steps" in rs[0] else ""
        if t == "dcgan":
            losses = list(dict.fromkeys(lo for lo, _ in g))
            regs = list(dict.fromkeys(r for _, r in g))
            width = 0.8 / len(regs)
            for j, reg in enumerate(regs):
                xs = [i + (j - (len(regs) - 1) / 2) * width for i, lo in enumerate(losses)
                      if (lo, reg) in g]  # fmt: skip
                vals = [g[lo, reg] for lo in losses if (lo, reg) in g]
                ax.bar(xs, [mean(v, "fd") for v in vals], width, label=reg, color=f"C{j}",
                       yerr=[sd(v, "fd") for v in vals], capsize=2,
                       error_kw={"elinewidth": 0.8})  # fmt: skip
            base = next(iter(g.values()))[0].get("fd_baseline")
            if base is not None:
                ax.axhline(base, color="k", ls="--", lw=1, label=f"real vs real ({base:.2f})")
            ax.set_xticks(range(len(losses)), losses)
            ax.set_yscale("log")
            ax.set_ylim(1, 3000)  # room for the legend above the bars
            ax.set_xlabel("loss")
            ax.set_ylabel("final Fréchet distance (log scale; lower is better)")
            ax.legend(title="regularizer in D", fontsize=8, title_fontsize=8, ncol=3,
                      loc="upper left")  # fmt: skip
            ax.set_title(f"DCGAN, digits 16×16{steps}: fd (mean ± sd, {n_seeds} seeds)",
                         fontsize=10)  # fmt: skip
        else:
            markers = {"none": "o", "r1": "s", "sn": "^"}
            base_runs = g.get((L1_ONLY, "none"))
            same: list[str] = []
            for (lo, reg), v in g.items():
                x, y = mean(v, "l1"), mean(v, "seg_pixel_acc")
                xe, ye = sd(v, "l1"), sd(v, "seg_pixel_acc")
                if lo == L1_ONLY:
                    ax.errorbar(x, y, xerr=xe, yerr=ye, color="k", marker="*", ms=14, zorder=4,
                                elinewidth=0.8, capsize=2, ls="none")  # fmt: skip
                    continue
                color = f"C{ALL_LOSSES.index(lo)}"
                ax.errorbar(x, y, xerr=xe, yerr=ye, marker=markers.get(reg, "D"), color=color,
                            ms=7, mec="k", mew=0.5, elinewidth=0.8, capsize=2, ls="none",
                            alpha=0.85)  # fmt: skip
                if base_runs and abs(x - mean(base_runs, "l1")) < 0.0015:
                    same.append(f"{lo}+{reg}")
            if base_runs:
                x0, y0 = mean(base_runs, "l1"), mean(base_runs, "seg_pixel_acc")
                text = "L1 only (★)"
                if same:
                    text += " and, within 0.0015 of its L1:\n" + "\n".join(
                        ", ".join(same[i : i + 3]) for i in range(0, len(same), 3)
                    )
                ax.annotate(text, (x0, y0), xytext=(0.35, 0.93), textcoords="axes fraction",
                            fontsize=8, va="top", bbox={"fc": "white", "ec": "0.7", "pad": 3},
                            arrowprops={"arrowstyle": "->", "color": "0.3"})  # fmt: skip
            base = next(iter(g.values()))[0].get("seg_pixel_acc_baseline")
            if base is not None:
                ax.axhline(base, color="k", ls="--", lw=1)
            used = list(dict.fromkeys(lo for lo, _ in g if lo != L1_ONLY))
            regs_used = list(dict.fromkeys(reg for lo, reg in g if lo != L1_ONLY))
            handles = [Line2D([], [], color=f"C{ALL_LOSSES.index(lo)}", marker="o", ls="none",
                              label=lo) for lo in used]  # fmt: skip
            handles += [Line2D([], [], color="0.4", marker=markers.get(r, "D"), ls="none",
                               label=f"+ {r}") for r in regs_used]  # fmt: skip
            handles += [Line2D([], [], color="k", marker="*", ms=10, ls="none", label="L1 only")]
            if base is not None:
                handles.append(
                    Line2D([], [], color="k", ls="--", label=f"real photos ({base:.3f})")
                )
            ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5),
                      title="loss (colour), reg. (marker)", title_fontsize=8)  # fmt: skip
            ax.set_xlabel("final validation L1 distance to the target (lower is better)")
            ax.set_ylabel("segmentation pixel accuracy of the outputs (higher is better)")
            ax.set_title(f"pix2pix, facades 64×64{steps} (mean ± sd, {n_seeds} seeds)",
                         fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
