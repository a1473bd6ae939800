"""Limited data: does augmenting what the discriminator sees keep a DCGAN from overfitting?

    python -m benchmarks.limited                # full: 2 sizes x 7 configurations x 3 seeds x 2,000 steps
    python -m benchmarks.limited --quick        # smoke: 1 seed, 100 images, 20 steps
    python -m benchmarks.limited --configs none,diffaug --sizes 100 --seeds 0 --workers 2

The DCGAN reference trainer (PyTorch, the CPU preset: 16×16 digits, batch 64, ns loss, batch
norm in D) trained on ``--train-size`` images of the 1,797 digits (100 and 500, drawn by the
seed) for 2,000 steps, with:

| configuration | options |
|---|---|
| none | no augmentation |
| diffaug | ``--augment diffaug`` (DiffAugment's color,translation,cutout on every real and fake, both steps) |
| ada | ``--augment ada --augment-kimg 50`` (StyleGAN2-ADA's bgc pipeline, adaptive p, target 0.6) |
| apa | ``--augment apa --augment-kimg 50`` (reals replaced by detached fakes with adaptive p, target 0.6) |
| none+r1, diffaug+r1 | the same with R1 (γ = 10; layer norm in D, as the trainer does with a penalty) |
| none+lecam | ``--objective "ns + lecam(start=100)"`` (LeCam, λ = 0.3, decay 0.99, on from step 100; batch norm in D as in none: LeCam acts on logits, not on input gradients) |

``--augment-kimg 50``: p can move by 1 in 50,000 real images, 780 steps of 64 (StyleGAN2-ADA's
500 would let it move by at most 0.26 in the whole run; ``docs/augment.md``).  ``ada`` runs once
``advloss.augment.ada`` exists (the default set leaves it out until then).

Recorded per run: the quality metrics against **all** 1,797 digits every 500 steps (Fréchet
distance on our digit classifier's features, class coverage, class KL), and every 25 steps the
overfitting heuristic r_t = E[sign D(x)] on the reals D saw and the augmentation's p.  Beside
them: the real-vs-real baseline (two halves of the digits) and the same metrics for the training
images themselves (what a generator that memorised them would score), averaged over the seeds'
subsets.  The papers' claim -- without augmentation D overfits (r_t → 1) and quality degrades as
training goes on; with it quality holds -- is what the table and the figure measure.

Runs are trainer processes (``--workers`` at a time, one thread each) in ``--work`` (default
``runs/benchmarks/limited``): finished runs are reused, interrupted ones resumed, and runs that
the committed ``limited.json`` holds are taken from it (``--no-reuse`` recomputes them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report, trainer_runs

#: the adaptive p's speed (StyleGAN2-ADA's ada_kimg) for runs of a few thousand steps
KIMG = "50"
CONFIGS: dict[str, list[str]] = {
    "none": [],
    "diffaug": ["--augment", "diffaug"],
    "ada": ["--augment", "ada", "--augment-kimg", KIMG],
    "apa": ["--augment", "apa", "--augment-kimg", KIMG],
    "none+r1": ["--penalty", "r1"],
    "diffaug+r1": ["--augment", "diffaug", "--penalty", "r1"],
    # LeCam (the paper's λ = 0.3, StudioGAN's decay 0.99); its averages start after 100 of the
    # 2,000 steps (StudioGAN's 1,000 is for runs of 100k iterations and more)
    "none+lecam": ["--objective", "ns + lecam(start=100)"],
}
METHODS = ["none", "diffaug", "ada", "apa", "none+r1", "diffaug+r1", "none+lecam"]
SIZES = [100, 500]
STEPS, QUICK_STEPS = 2000, 20
METRICS = [("fd", "fd ↓", 1), ("fd_best", "best fd ↓", 1), ("coverage", "coverage ↑", 2),
           ("class_kl", "class KL ↓", 3), ("r_t_end", "r_t (last quarter)", 2),
           ("p_end", "p (end)", 2)]  # fmt: skip
IMAGE_SIZE = 16


def ada_available() -> bool:
    import advloss.augment

    return hasattr(advloss.augment, "ada")


def default_configs() -> list[str]:
    return [c for c in METHODS if c != "ada" or ada_available()]


def options(job: dict[str, Any]) -> list[str]:
    steps = job["steps"]
    return [*CONFIGS[job["config"]], "--train-size", str(job["size"]), "--seed", str(job["seed"]),
            "--eval-every", str(max(steps // 4, 1)), "--log-every", str(max(steps // 80, 1)),
            "--eval-samples", str(job["eval_samples"])]  # fmt: skip


def summarize(job: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The curves a run's metrics rows hold: r_t and p over steps, fd at each evaluation, and
    their summaries (r_t over the last quarter of the run, the final p, the best fd)."""
    train = [r for r in rows if "d_loss" in r]
    evals = [r for r in rows if r.get("eval") and "fd" in r]
    steps = [r["step"] for r in train]
    r_t = [r["r_t"] for r in train]
    p = [r.get("augment_p") for r in train]
    last = [x for s, x in zip(steps, r_t, strict=True) if s > 0.75 * job["steps"]] or r_t[-1:]
    out: dict[str, Any] = {
        "size": job["size"],
        "curve": {"step": steps, "r_t": r_t, "p": p},
        "evals": {"step": [r["step"] for r in evals], "fd": [r["fd"] for r in evals]},
        "r_t_end": float(np.mean(last)) if last else float("nan"),
        "fd_best": min((r["fd"] for r in evals), default=float("nan")),
    }
    if p and p[-1] is not None:
        out["p_end"] = p[-1]
    return out


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    seconds = trainer_runs.run_trainer("dcgan", options(job), job["out"], job["steps"])
    row = trainer_runs.final_row(job, options(job), seconds)
    return {**row, **summarize(job, trainer_runs.rows(job["out"]))}


def references(sizes: list[int], seeds: list[int]) -> dict[str, dict[str, float]]:
    """The metrics of each size's training images themselves (mean over the seeds' subsets):
    what a generator that memorised its training set scores."""
    from reference_trainers.data import digits, training_subset
    from reference_trainers.metrics import DigitMetrics

    metrics = DigitMetrics(IMAGE_SIZE)
    real, _ = digits(IMAGE_SIZE)
    out = {}
    for n in sizes:
        scores = [metrics(training_subset(real, n, s)) for s in seeds]
        out[str(n)] = {k: float(np.mean([sc[k] for sc in scores])) for k in scores[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    configs_default = default_configs()
    p = trainer_runs.table_parser(
        "limited", __doc__, quick=f"1 seed, 100 images, {QUICK_STEPS} steps",
        steps=f"default {STEPS}; quick: {QUICK_STEPS}", configs=list(CONFIGS),
        default=configs_default,
    )  # fmt: skip
    p.add_argument("--sizes", default=None,
                   help="comma-separated training-set sizes (default 100,500; quick: 100)")  # fmt: skip
    report.replot_option(p, "limited")
    args = p.parse_args(argv)
    if args.replot:
        data, png = report.replot_data("limited", args)
        plot(data["runs"], data["references"], png)
        report.publish(png)
        info = data["machine"]
        report.write(png.with_suffix(".md"), markdown(data["runs"], data["references"], info,
                                                      png.name))  # fmt: skip
        return 0
    configs = report.pick(p, "configs", args.configs, list(CONFIGS))
    if "ada" in configs and not ada_available():
        p.error("--configs ada: ada is not available yet (advloss.augment has no ada)")
    if "ada" not in configs_default and args.configs == ",".join(configs_default):
        print("limited: advloss.augment has no ada yet: the ada runs are left out",
              file=sys.stderr)  # fmt: skip
    sizes = [int(s) for s in (args.sizes or ("100" if args.quick else "100,500")).split(",")]
    seeds = report.seeds(args)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    eval_samples = 200 if args.quick else 1000
    work = Path(args.work) / f"steps{steps}"
    jobs = [{"config": c, "size": n, "seed": s, "steps": steps, "eval_samples": eval_samples,
             "out": work / f"size{n}" / f"{trainer_runs.folder_name(c)}-seed{s}"}
            for n in sizes for c in configs for s in seeds]  # fmt: skip
    refs = references(sizes, seeds)
    key = lambda r: (r["config"], r["size"], r["seed"], r["steps"])  # noqa: E731
    results, info, out = trainer_runs.run_reusing(
        "limited", args, jobs, key, options, run_one,
        lambda r: f"{r['config']} {r['size']} images seed {r['seed']}: fd {r['fd']:.1f}, "
        f"r_t {r['r_t_end']:.2f}",
        seeds=seeds, steps=steps, sizes=sizes,
    )  # fmt: skip
    report.write_json(out["json"], {"machine": info, "runs": results, "references": refs})
    report.write(out["md"], markdown(results, refs, info, out["png"].name))
    plot(results, refs, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def _groups(results: list[dict[str, Any]]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """size -> configuration -> runs, in the order they appear."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for r in results:
        out.setdefault(int(r["size"]), {}).setdefault(r["config"], []).append(r)
    return out


def markdown(results: list[dict[str, Any]], refs: dict[str, dict[str, float]],
             info: dict[str, Any], figure: str = "limited.png") -> str:  # fmt: skip
    seeds = sorted({r["seed"] for r in results})
    steps = sorted({r["steps"] for r in results})
    lines = trainer_runs.preamble(
        f"Limited data: DCGAN on N digits with and without augmentation ({len(seeds)} seed"
        f"{'s' * (len(seeds) > 1)}, {', '.join(map(str, steps))} steps)", info,
        "Protocol: `benchmarks/limited.py` (module docstring). Mean ± sd over seeds; fd, coverage "
        "and class KL at the end against all 1,797 digits; best fd over the evaluations; r_t = "
        "E[sign D(x)] on the reals D saw, averaged over the last quarter of the run; p at the end "
        f"(ada, apa). Figure: [{figure}]({figure}).", results,
    )  # fmt: skip
    for size, by_config in _groups(results).items():
        header = ["configuration", *(m[1] for m in METRICS)]
        rows = []
        for c, rs in by_config.items():
            cells = [report.fmt_mean_sd([r[k] for r in rs if k in r], d)
                     if any(k in r for r in rs) else "—" for k, _, d in METRICS]  # fmt: skip
            rows.append([c, *cells])
        ref = refs.get(str(size), {})
        if ref:
            rows.append([f"*the {size} training images themselves*",
                         *(f"{ref[k]:.{d}f}" if k in ref else "—" for k, _, d in METRICS)])  # fmt: skip
        lines += [f"## {size} training images", "", *report.table(header, rows), ""]
        base = next((r["fd_baseline"] for rs in by_config.values() for r in rs
                     if "fd_baseline" in r), None)  # fmt: skip
        if base is not None:
            lines += [f"Real-vs-real baseline (two halves of the 1,797 digits): fd {base:.2f}.", ""]
    return "\n".join(lines) + "\n"


def _mean_curve(rs: list[dict[str, Any]], part: str, key: str) -> tuple[list[float], list[float]]:
    """The mean over runs of one curve, at the steps every run logged."""
    series = [dict(zip(r[part]["step"], r[part][key], strict=True)) for r in rs]
    steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
    means = []
    for s in steps:
        values = [x[s] for x in series if x[s] is not None]
        means.append(float(np.mean(values)) if values else float("nan"))
    return steps, means


def plot(results: list[dict[str, Any]], refs: dict[str, dict[str, float]], path: Path) -> None:
    """One row per training-set size: fd over training (log scale; the real-vs-real baseline
    and the training images' own fd dashed), r_t over training (the adaptive target 0.6
    dotted), and the adaptive p; each curve the mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(results)
    configs = list(dict.fromkeys(r["config"] for r in results))
    color = {c: f"C{i}" for i, c in enumerate(configs)}
    fig, axes = plt.subplots(len(groups), 3, figsize=(15, 3.8 * len(groups)), squeeze=False)
    for row, (size, by_config) in zip(axes, groups.items(), strict=True):
        fd_ax, r_ax, p_ax = row
        for c, rs in by_config.items():
            fd_ax.plot(*_mean_curve(rs, "evals", "fd"), "o-", color=color[c], label=c)
            r_ax.plot(*_mean_curve(rs, "curve", "r_t"), color=color[c], label=c, lw=1)
            if any(v is not None for r in rs for v in r["curve"]["p"]):
                p_ax.plot(*_mean_curve(rs, "curve", "p"), color=color[c], label=c)
        base = next((r["fd_baseline"] for rs in by_config.values() for r in rs
                     if "fd_baseline" in r), None)  # fmt: skip
        if base is not None:
            fd_ax.axhline(base, color="k", ls="--", lw=1, label=f"real vs real ({base:.2f})")
        own = refs.get(str(size), {}).get("fd")
        if own is not None:
            fd_ax.axhline(own, color="0.5", ls=":", lw=1, label=f"the {size} images ({own:.1f})")
        if all(v > 0 for line in fd_ax.get_lines() for v in line.get_ydata()):
            fd_ax.set_yscale("log")
        r_ax.axhline(0.6, color="k", ls=":", lw=1, label="adaptive target 0.6")
        r_ax.set_ylim(-1.05, 1.05)
        p_ax.set_ylim(-0.02, 1.02)
        titles = (f"{size} images: fd vs all digits (lower is better)",
                  f"{size} images: r_t = E[sign D(real)] (1 = D sure of every real)",
                  f"{size} images: adaptive p (ada, apa)")  # fmt: skip
        for ax, title in zip(row, titles, strict=True):
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if ax.get_lines():
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
