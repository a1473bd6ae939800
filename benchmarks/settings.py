"""Each regularizer at its paper's recommended setting, and R1 across its strength (DCGAN).

    python -m benchmarks.settings               # full: 10 configurations x 3 seeds x 1,500 steps
    python -m benchmarks.settings --quick       # 1 seed, 300 steps
    python -m benchmarks.settings --configs "hinge+sn (SN-GAN)" --seeds 0

``benchmarks.quality`` runs every loss × regularizer at one setting for all: the trainer's
DCGAN defaults (Adam 2e-4, β = (0.5, 0.999), 1:1 updates) with spectral norm added *on top of*
D's batch norm.  A verdict on a regularizer needs the setting its paper recommends:

| configuration | options | the paper's setting |
|---|---|---|
| hinge+sn (SN-GAN) | ``--loss hinge --spectral-norm --d-norm none`` | SN-GAN (Miyato et al. 2018): no batch norm in D; hinge loss; Adam 2e-4, β = (0.5, 0.999), n_dis = 1 is its setting "C" (the DCGAN setting) |
| ns+sn (SN-GAN) | ``--loss ns --spectral-norm --d-norm none`` | the same, with the non-saturating loss SN-GAN also reports |
| minimax+sn (SN-GAN) | ``--loss minimax --spectral-norm --d-norm none`` | the same, for the collapse ``quality`` saw with SN on top of batch norm |
| hinge (no norm) | ``--loss hinge --d-norm none`` | the control: the same D without SN |
| wgan+gp (WGAN-GP) | ``--loss wgan --penalty gp --d-steps 5 --lr-d 1e-4 --lr-g 1e-4 --beta1 0 --beta2 0.9`` | WGAN-GP (Gulrajani et al. 2017), Algorithm 1: λ = 10, n_critic = 5, Adam 1e-4, β = (0, 0.9); layer norm in D |
| ns+r1(γ=0.1), ns+r1(γ=1), ns+r1(γ=10) | ``--loss ns --penalty r1 --penalty-weight γ`` | R1 (Mescheder et al. 2018) has no universal γ (StyleGAN uses 10 at 1024², 0.1–1 at low resolution): the curve |
| ns+r2(γ=0.1), ns+r2(γ=1), ns+r2(γ=10) | ``--loss ns --penalty r2 --penalty-weight γ`` | R2 (Mescheder et al. 2018: the same penalty on generated samples; R3GAN uses it beside R1 with the same γ): the curve |
| ns+ln | ``--loss ns --d-norm layer`` | the control for the penalized runs (layer norm, no penalty) |

The default set (what the committed table ran) leaves out ns+sn and ns+ln, which
``benchmarks.quality`` covers at the same settings (``--configs`` runs them here).

DCGAN on the bundled digits (16×16, the CPU preset: width 32, batch 64, 1,500 iterations);
final Fréchet distance on our digit classifier's features (real-vs-real baseline beside it),
class coverage and class KL.  Runs are trainer processes (``--workers`` at a time, one thread
each) in ``--work`` (default ``runs/benchmarks/settings``); finished runs are reused,
interrupted ones resumed, and runs the committed ``settings.json`` holds are taken from it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks import report, trainer_runs

SN = ["--spectral-norm", "--d-norm", "none"]
CONFIGS: dict[str, list[str]] = {
    "hinge+sn (SN-GAN)": ["--loss", "hinge", *SN],
    "ns+sn (SN-GAN)": ["--loss", "ns", *SN],
    "minimax+sn (SN-GAN)": ["--loss", "minimax", *SN],
    "hinge (no norm)": ["--loss", "hinge", "--d-norm", "none"],
    "wgan+gp (WGAN-GP)": ["--loss", "wgan", "--penalty", "gp", "--d-steps", "5", "--lr-d", "1e-4",
                          "--lr-g", "1e-4", "--beta1", "0", "--beta2", "0.9"],
    **{f"ns+{pen}(γ={g})": ["--loss", "ns", "--penalty", pen, "--penalty-weight", g]
       for pen in ("r1", "r2") for g in ("0.1", "1", "10")},
    "ns+ln": ["--loss", "ns", "--d-norm", "layer"],
}  # fmt: skip
#: what the committed table ran (the others: --configs): ns+sn and ns+ln are in
#: benchmarks.quality's one-setting table already; CPU time bounded what one session ran
DEFAULT = [
    "hinge+sn (SN-GAN)",
    "hinge (no norm)",
    "minimax+sn (SN-GAN)",
    "wgan+gp (WGAN-GP)",
    "ns+r1(γ=0.1)",
    "ns+r1(γ=1)",
    "ns+r1(γ=10)",
    "ns+r2(γ=0.1)",
    "ns+r2(γ=1)",
    "ns+r2(γ=10)",
]
METRICS = [("fd", "fd ↓", 2), ("coverage", "coverage ↑", 2), ("class_kl", "class KL ↓", 3)]


def options(job: dict[str, Any]) -> list[str]:
    return [*CONFIGS[job["config"]], "--seed", str(job["seed"]), "--eval-every",
            str(job["steps"])]  # fmt: skip


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    seconds = trainer_runs.run_trainer("dcgan", options(job), job["out"], job["steps"])
    return trainer_runs.final_row(job, options(job), seconds)


def main(argv: list[str] | None = None) -> int:
    p = trainer_runs.table_parser("settings", __doc__, quick="1 seed, 300 steps", steps="default 1500; quick: 300",
                                  configs=list(CONFIGS), default=DEFAULT)  # fmt: skip
    args = p.parse_args(argv)
    configs = report.pick(p, "configs", args.configs, list(CONFIGS))
    seeds = report.seeds(args)
    steps = args.steps or (300 if args.quick else 1500)
    jobs = trainer_runs.config_jobs(configs, seeds, steps, Path(args.work) / f"steps{steps}")
    results, info, out = trainer_runs.run_table(
        "settings", args, jobs, options, run_one,
        lambda r: f"{r['config']} seed {r['seed']}: fd {r['fd']:.2f}", seeds=seeds, steps=steps,
    )  # fmt: skip
    report.write_json(out["json"], {"machine": info, "runs": results})
    report.write(out["md"], markdown(results, info, configs, seeds, steps))
    print(f"wrote {out['md']}, {out['json'].name}", file=sys.stderr)
    return 0


def markdown(results: list[dict[str, Any]], info: dict[str, Any], configs: list[str],
             seeds: list[int], steps: int) -> str:  # fmt: skip
    n = len(seeds)
    lines = [
        *trainer_runs.preamble(
            f"Regularizers at their papers' settings (DCGAN, digits 16×16; {n} seed"
            f"{'s' * (n > 1)}, {steps} steps)", info,
            "Protocol: `benchmarks/settings.py` (module docstring). Mean ± sd over seeds (n = "
            "runs); final evaluation of each run.", results,
        ),
        "| configuration | n | " + " | ".join(m[1] for m in METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]  # fmt: skip
    for c in configs:
        rs = [r for r in results if r["config"] == c]
        cells = [report.fmt_mean_sd([r[k] for r in rs if k in r], d) for k, _, d in METRICS]
        lines.append(f"| {c} | {len(rs)} | " + " | ".join(cells) + " |")
    base = next((r["fd_baseline"] for r in results if "fd_baseline" in r), None)
    if base is not None:
        lines += ["", f"Real-vs-real fd: {base:.2f}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
