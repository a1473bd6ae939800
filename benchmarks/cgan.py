"""pix2pix's central claim on a multimodal set: does L1 + cGAN beat L1 alone in realism?

    python -m benchmarks.cgan                   # full: 8 configurations x 3 seeds x 1,000 steps
    python -m benchmarks.cgan --quick           # 1 seed, 300 steps
    python -m benchmarks.cgan --configs l1-only,ns --seeds 0

The pix2pix reference trainer's CPU preset (64×64, batch 8, width 16, λ_L1 = 100, 1,000
steps) on ``--data multimodal-facades`` (:mod:`reference_trainers.facades`): every part of a
photo draws its look at random from several choices that the label map does not determine, so
the L1-optimal output is the per-pixel median over them -- blurred and greyed.  pix2pix's paper
(Isola et al. 2017, Fig. 4 and Table 1) reports that L1 alone gives blurry results and that the
adversarial term makes them sharp and realistic while L1 gets worse.

| configuration | options |
|---|---|
| l1-only | ``--gan-weight 0`` (G ignores D: the paper's "L1" row) |
| ns, lsgan, hinge, ragan (minimax, wgan) | ``--loss <name>`` (the paper's "L1 + cGAN" uses ns) |
| ns+r1(γ=0.1), ns+r1(γ=1), ns+r1(γ=10) | ``--loss ns --penalty r1 --penalty-weight γ`` (R1's strength curve) |

The configurations in parentheses are available (``--configs``) but not in the default set,
which is what the committed table ran: ``benchmarks.quality`` already shows minimax ending
equal to L1 only on synthetic-facades.

Recorded per run, on the 200 validation pairs at the end: l1, psnr, ssim, the segmentation
score (fidelity to the label map), and the realism metrics of :mod:`reference_trainers.realism`
(fd, kid, precision / recall / density / coverage, spectrum distance, high-frequency power
ratio, the classifier two-sample test).  Beside them, the same metrics for reference image
sets computed without training: another real draw of each validation label map's appearance
(an ideal generator's output), that draw blurred (σ = 1 and 2 px) and the conditional median of
9 draws (the L1-optimal output) -- each realism metric must rank the last three below the
first.

Runs are trainer processes (``--workers`` at a time, one thread each) in ``--work`` (default
``runs/benchmarks/cgan``): finished runs are reused, interrupted ones resumed, and runs that
the committed ``cgan.json`` holds are taken from it (``--no-reuse`` recomputes them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report, trainer_runs

CONFIGS: dict[str, list[str]] = {
    "l1-only": ["--gan-weight", "0"],
    **{loss: ["--loss", loss] for loss in ("ns", "lsgan", "hinge", "ragan", "minimax", "wgan")},
    **{f"ns+r1(γ={g})": ["--loss", "ns", "--penalty", "r1", "--penalty-weight", g]
       for g in ("0.1", "1", "10")},
}  # fmt: skip
#: what the committed table ran (the others: --configs); CPU time bounded what one session ran
DEFAULT = ["l1-only", "ns", "lsgan", "hinge", "ragan", "ns+r1(γ=0.1)", "ns+r1(γ=1)", "ns+r1(γ=10)"]
FIDELITY = [("l1", "l1 ↓", 3), ("psnr", "psnr ↑", 2), ("ssim", "ssim ↑", 3),
            ("seg_pixel_acc", "seg acc ↑", 3)]  # fmt: skip
REALISM = [("fd", "fd ↓", 1), ("kid", "kid ↓", 1), ("precision", "precision ↑", 2),
           ("recall", "recall ↑", 2), ("density", "density ↑", 2), ("coverage", "coverage ↑", 2),
           ("spectrum", "spectrum ↓", 3), ("hf_ratio", "hf ratio (1 = real)", 2),
           ("c2st", "c2st acc (0.5 = real)", 2)]  # fmt: skip
DATA = "multimodal-facades"
SIZE = 64


def options(job: dict[str, Any]) -> list[str]:
    return [*CONFIGS[job["config"]], "--data", DATA, "--seed", str(job["seed"]),
            "--eval-every", str(job["steps"])]  # fmt: skip


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    seconds = trainer_runs.run_trainer("pix2pix", options(job), job["out"], job["steps"])
    return trainer_runs.final_row(job, options(job), seconds)


def references(draws: int = 9) -> dict[str, dict[str, float]]:
    """The realism (and fidelity) metrics of image sets made without training, against the
    validation photos."""
    import torch

    from reference_trainers import facades, realism
    from reference_trainers.data import paired_folder
    from reference_trainers.metrics import PairMetrics, cache_dir

    folder = facades.ensure(cache_dir(), DATA)
    metric_set, accuracy = realism.for_dataset(folder, SIZE)
    val = torch.from_numpy(paired_folder(str(folder), "val", SIZE, nearest_a=True)[1])
    other = realism.photos(folder / "val-redraw", SIZE)
    pair = PairMetrics(val, realism=metric_set)
    textures = facades._textures()
    from PIL import Image

    medians = np.stack([
        np.asarray(Image.fromarray(facades.conditional_median("val", i, textures, draws))
                   .resize((SIZE, SIZE), Image.Resampling.BICUBIC))
        for i in range(len(val))
    ])  # fmt: skip
    median = torch.from_numpy(medians.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)
    sets = {
        "real: another draw per label map": other,
        "that draw blurred, σ = 1 px": realism.degraded(other, 1.0),
        "that draw blurred, σ = 2 px": realism.degraded(other, 2.0),
        f"conditional median of {draws} draws (L1-optimal)": median,
    }
    out = {name: pair(images) for name, images in sets.items()}
    out["_feature_net_accuracy"] = {"accuracy": accuracy}
    return out


def main(argv: list[str] | None = None) -> int:
    p = trainer_runs.table_parser("cgan", __doc__, quick="1 seed, 300 steps", steps="default 1000; quick: 300",
                                  configs=list(CONFIGS), default=DEFAULT)  # fmt: skip
    report.replot_option(p, "cgan")
    args = p.parse_args(argv)
    if args.replot:  # the figure and the tables, from the committed JSON
        data, png = report.replot_data("cgan", args)
        plot(data["runs"], data["references"], png)
        report.publish(png)
        runs, info = data["runs"], data["machine"]
        configs = list(dict.fromkeys(r["config"] for r in runs))
        report.write(png.with_suffix(".md"), markdown(runs, data["references"], info, configs,
                                                      info["seeds"], info["steps"]))  # fmt: skip
        return 0
    configs = report.pick(p, "configs", args.configs, list(CONFIGS))
    seeds = report.seeds(args)
    steps = args.steps or (300 if args.quick else 1000)
    jobs = trainer_runs.config_jobs(configs, seeds, steps, Path(args.work) / f"steps{steps}")
    committed = report.paths("cgan", args.quick, args.out)["json"]
    cached = Path(args.work) / "references.json"  # survives an interrupted benchmark
    if args.reuse and committed.exists() and "references" in json.loads(committed.read_text()):
        refs = json.loads(committed.read_text())["references"]  # minutes of rendering saved
    elif args.reuse and cached.exists():
        refs = json.loads(cached.read_text())
    else:
        refs = references()  # first: a broken metric shows before an hour of training
        cached.parent.mkdir(parents=True, exist_ok=True)
        report.write_json(cached, refs)
    for name in reference_names(refs):
        print(f"  {name}: {_describe(refs[name])}", file=sys.stderr)
    results, info, out = trainer_runs.run_table(
        "cgan", args, jobs, options, run_one,
        lambda r: f"{r['config']} seed {r['seed']}: {_describe(r)}", seeds=seeds, steps=steps,
    )  # fmt: skip
    report.write_json(out["json"], {"machine": info, "runs": results, "references": refs})
    report.write(out["md"], markdown(results, refs, info, configs, seeds, steps))
    plot(results, refs, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def badness(key: str, value: float) -> float:
    """How far from real a metric value is, larger = worse (the direction each metric reads)."""
    if key == "hf_ratio":
        return abs(float(np.log(max(value, 1e-12))))
    if key == "c2st":
        return abs(value - 0.5)
    return -value if key in ("precision", "recall", "density", "coverage") else value


def reference_names(refs: dict[str, dict[str, float]]) -> list[str]:
    """The reference sets in reading order (the real draw, the blurred ones, the median), also
    when read back from a JSON file with sorted keys."""
    names = [n for n in refs if not n.startswith("_")]
    return sorted(names, key=lambda n: (not n.startswith("real"), "median" in n, n))


def sanity(refs: dict[str, dict[str, float]]) -> list[str]:
    """Which realism metrics rank each degraded reference set below the real draw."""
    names = reference_names(refs)
    if len(names) < 2:
        return []
    real, degraded = refs[names[0]], names[1:]
    lines = ["**Does each metric see the degradation?** For each reference set, the metrics that "
             f"rank it below *{names[0]}*, each read in its own direction (fd, kid, spectrum: "
             "lower is better; precision, recall, density, coverage: higher is better; hf ratio: "
             "best at 1; c2st: best at 0.5):", ""]  # fmt: skip
    for n in degraded:
        keys = [k for k, _, _ in REALISM if k in refs[n] and k in real]
        seen = [k for k in keys if badness(k, refs[n][k]) > badness(k, real[k])]
        missed = [k for k in keys if k not in seen]
        lines.append(f"- *{n}*: {len(seen)} of {len(keys)} ({', '.join(seen)})"
                     + (f"; not: {', '.join(missed)}" if missed else "") + ".")  # fmt: skip
    return [*lines, ""]


def _describe(row: dict[str, Any]) -> str:
    keys = ("l1", "fd", "hf_ratio", "c2st")
    return ", ".join(f"{k} {row[k]:.3g}" for k in keys if k in row)


def markdown(results: list[dict[str, Any]], refs: dict[str, dict[str, float]],
             info: dict[str, Any], configs: list[str], seeds: list[int], steps: int) -> str:  # fmt: skip
    n = len(seeds)
    lines = trainer_runs.preamble(
        f"pix2pix on multimodal-facades: L1 alone vs L1 + cGAN ({n} seed{'s' * (n > 1)}, "
        f"{steps} steps)", info,
        "Protocol: `benchmarks/cgan.py` (module docstring). Mean ± sd over seeds of the final "
        "evaluation on the 200 validation pairs (64×64).", results,
    )  # fmt: skip
    for title, metrics in (("Fidelity to the target", FIDELITY), ("Realism", REALISM)):
        lines += [f"## {title}", "", "| configuration | " + " | ".join(m[1] for m in metrics)
                  + " |", "|---|" + "---|" * len(metrics)]  # fmt: skip
        for c in configs:
            rs = [r for r in results if r["config"] == c]
            cells = [report.fmt_mean_sd([r[k] for r in rs if k in r], d) for k, _, d in metrics]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        for name in reference_names(refs):
            row = refs[name]
            cells = [f"{row[k]:.{d}f}" if k in row else "—" for k, _, d in metrics]
            lines.append(f"| *{name}* | " + " | ".join(cells) + " |")
        lines.append("")
    base = next((r["seg_pixel_acc_baseline"] for r in results if "seg_pixel_acc_baseline" in r),
                None)  # fmt: skip
    if base is not None:
        lines += [f"Segmentation pixel accuracy of the real validation photos: {base:.3f}.", ""]
    lines += sanity(refs)
    acc = refs.get("_feature_net_accuracy", {}).get("accuracy")
    if acc is not None:
        lines += [f"The feature network (reference_trainers.realism.AppearanceNet) recognises "
                  f"the held-out real photos' part appearances with accuracy {acc:.3f}.", ""]  # fmt: skip
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], refs: dict[str, dict[str, float]], path: Path) -> None:
    """Left: l1 (fidelity) against fd (realism) per configuration, mean ± sd over seeds, with
    the reference sets as grey crosses. Right: the high-frequency power ratio and the
    two-sample test's accuracy per configuration (bars, ± sd), the real photos' values dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(dict.fromkeys(r["config"] for r in results))
    n_seeds = len({r["seed"] for r in results})

    def stat(c: str, k: str) -> tuple[float, float]:
        return report.mean_sd([r[k] for r in results if r["config"] == c and k in r])

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 5.4), gridspec_kw={"width_ratios": [1.25, 1]})
    for i, c in enumerate(configs):
        (x, xe), (y, ye) = stat(c, "l1"), stat(c, "fd")
        ax.errorbar(x, y, xerr=xe, yerr=ye, ls="none", marker="*" if c == "l1-only" else "o",
                    ms=13 if c == "l1-only" else 7, color="k" if c == "l1-only" else f"C{i}",
                    capsize=2, elinewidth=0.8, label=c)  # fmt: skip
    for name, marker in zip(reference_names(refs), "xP^v", strict=False):
        row = refs[name]  # reference sets: grey markers named in the legend (no overlapping text)
        if "fd" in row:
            ax.scatter(row["l1"], row["fd"], marker=marker, color="0.45", s=40, label=name)
    ax.set_xlabel("validation L1 distance to the target (lower = closer)")
    ax.set_ylabel("Fréchet distance to real photos (lower = more realistic)")
    ax.set_yscale("log")
    ax.set_title(f"fidelity vs realism (mean ± sd, {n_seeds} seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
              title="configuration (mean ± sd) / reference set", title_fontsize=7)  # fmt: skip
    ax.grid(alpha=0.3)
    xs = np.arange(len(configs))
    for j, (k, label) in enumerate((("hf_ratio", "high-frequency power / real's"),
                                    ("c2st", "two-sample test accuracy"))):  # fmt: skip
        vals = [stat(c, k) for c in configs]
        bx.bar(xs + (j - 0.5) * 0.4, [v[0] for v in vals], 0.4, yerr=[v[1] for v in vals],
               capsize=2, color=f"C{j}", label=label)  # fmt: skip
    bx.axhline(1.0, color="C0", ls="--", lw=1, label="real photos: hf ratio 1")
    bx.axhline(0.5, color="C1", ls="--", lw=1, label="indistinguishable: accuracy 0.5")
    bx.set_xticks(xs, configs, rotation=35, ha="right", fontsize=8)
    bx.set_ylabel("ratio / accuracy")
    bx.set_title("fine detail and distinguishability (mean ± sd)", fontsize=10)
    bx.set_ylim(0, 1.35)  # room for the legend above the bars
    bx.legend(fontsize=7, loc="upper left", ncol=2)
    bx.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
