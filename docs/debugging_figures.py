"""The figures of docs/debugging.md, from short reference-trainer runs.

Run from the root of a checkout (with the ``trainers`` extra installed)::

    python docs/debugging_figures.py

It trains the runs listed in ``RUNS`` one after another, each as its own process
(``python -m reference_trainers.dcgan ...`` or ``... pix2pix ...``) with ``--out
runs/debugging/<name>``, and draws ``docs/img/debugging-*.png`` from their ``metrics.jsonl``.
A run whose metrics already hold the final evaluation row is reused; an interrupted one is
continued with ``--resume`` (which reproduces the uninterrupted run on CPU).  On a 2-core CPU
the nine runs take about 11 minutes in all, each at most about 2 minutes; OMP_NUM_THREADS
defaults to 1.  The trainer's output of each run is kept in ``runs/debugging/<name>/log.txt``.

The shaded backgrounds are the BalanceMonitor's regimes, replayed from the logged rows (one
row every 20 or 25 steps, so the monitor here averages rows, not every step: an
approximation of the verdicts the trainer prints).  The script ends by printing the numbers
that docs/debugging.md quotes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "runs" / "debugging"
IMG = ROOT / "docs" / "img"

# name: (trainer, options); every run names --steps so the final evaluation row is known
RUNS: dict[str, tuple[str, list[str]]] = {
    "pix2pix-ns": ("pix2pix", ["--steps", "800"]),
    "pix2pix-lsgan-smooth-lrd": (
        "pix2pix",
        ["--steps", "800", "--loss", "lsgan", "--real-label", "0.9", "--lr-d", "5e-5"],
    ),
    "dcgan-ns": ("dcgan", ["--steps", "1500"]),
    "dcgan-lr2e-2": ("dcgan", ["--steps", "1500", "--lr-d", "2e-2", "--lr-g", "2e-2"]),
    "dcgan-wgan-none": ("dcgan", ["--steps", "1500", "--loss", "wgan"]),
    "dcgan-wgan-gp": ("dcgan", ["--steps", "1500", "--loss", "wgan", "--penalty", "gp"]),
    "dcgan-wgan-lr2e-2": (
        "dcgan",
        ["--steps", "500", "--loss", "wgan", "--lr-d", "2e-2", "--lr-g", "2e-2"],
    ),
    "dcgan-weak-d": ("dcgan", ["--steps", "1500", "--lr-g", "2e-3", "--lr-d", "2e-5"]),
    "dcgan-weak-d-adaptive": (
        "dcgan",
        ["--steps", "1000", "--lr-g", "2e-3", "--lr-d", "2e-5", "--adaptive-ratio"],
    ),
}

REGIME_COLOURS = {
    "discriminator_dominating": "#d62728",
    "generator_dominating": "#1f77b4",
    "diverging": "#000000",
}


# ---------------------------------------------------------------------------------- runs


def final_step(options: list[str]) -> int:
    return int(options[options.index("--steps") + 1])


def rows(name: str) -> list[dict[str, Any]]:
    path = RUN_DIR / name / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def finished(name: str) -> bool:
    last = final_step(RUNS[name][1])
    return any(r.get("eval") and r["step"] == last for r in rows(name))


def train(name: str) -> float:
    """Train one run (or reuse it); returns the seconds spent."""
    if finished(name):
        print(f"{name}: reusing {RUN_DIR / name}", file=sys.stderr)
        return 0.0
    trainer, options = RUNS[name]
    out = RUN_DIR / name
    command = [sys.executable, "-m", f"reference_trainers.{trainer}", *options, "--out", str(out)]
    if (out / "checkpoint.pt").exists():
        command.append("--resume")
    elif out.exists():
        shutil.rmtree(out)  # started but never checkpointed: start again
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    print(f"{name}: {' '.join(command[1:])}", file=sys.stderr)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "log.txt").open("a") as log:
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=log, check=True)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------- helpers


def train_rows(name: str) -> list[dict[str, Any]]:
    return [r for r in rows(name) if "d_loss" in r]


def eval_rows(name: str) -> list[dict[str, Any]]:
    return [r for r in rows(name) if r.get("eval")]


def series(name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    train_ = train_rows(name)
    return (
        np.array([r["step"] for r in train_]),
        np.array([r.get(key, np.nan) for r in train_], dtype=float),
    )


def smooth(y: np.ndarray, k: int = 5) -> np.ndarray:
    """Running mean over ``k`` logged rows (same length; shorter windows at the start)."""
    c = np.cumsum(np.insert(y, 0, 0.0))
    out = np.empty_like(y)
    for i in range(len(y)):
        lo = max(0, i + 1 - k)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def regimes(name: str) -> list[tuple[int, str]]:
    """The BalanceMonitor's regime after each logged row, replayed from metrics.jsonl.

    The trainers run ``BalanceMonitor(decay=0.98, warmup=50)`` on every step; the rows come
    every 20-25 steps, so ``decay=0.6`` (about 0.98**25) averages a similar stretch."""
    import advloss

    monitor = advloss.BalanceMonitor(decay=0.6, warmup=2)
    state, last, out = monitor.init(), None, []
    for r in train_rows(name):
        stats = {k: r[f"d_{k}" if k in ("real_acc", "fake_acc") else k]
                 for k in ("real_acc", "fake_acc", "d_real", "d_fake", "r_t")}  # fmt: skip
        stats["d_gap"] = r["d_real"] - r["d_fake"]
        state = monitor.update(
            state, stats, d_loss=np.float32(r["d_loss"]), g_loss=np.float32(r["g_loss"])
        )
        last = monitor.verdict(state, previous=last)
        out.append((r["step"], last.regime))
    return out


def shade(ax: Any, name: str) -> None:
    """Shade the stretches where the replayed monitor reports a dominating or diverging run."""
    previous = 0
    for step, regime in regimes(name):
        if regime in REGIME_COLOURS:
            ax.axvspan(previous, step, color=REGIME_COLOURS[regime], alpha=0.08, lw=0)
        previous = step


def accuracy_panel(ax: Any, name: str, title: str) -> None:
    shade(ax, name)
    for key, colour in (("d_real_acc", "tab:green"), ("d_fake_acc", "tab:red")):
        x, y = series(name, key)
        ax.plot(x, y, color=colour, alpha=0.25, lw=0.8)
        ax.plot(x, smooth(y), color=colour, lw=1.8, label=f"{key} (5-row mean)")
    ax.axhline(0.9, color="gray", ls=":", lw=1, label="monitor thresholds (0.9, 0.1)")
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.axhspan(0.4, 0.6, color="green", alpha=0.06)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
    ax.legend(fontsize=7, loc="lower right")


def samples_panel(ax: Any, name: str, step: int, title: str) -> None:
    ax.imshow(
        plt.imread(RUN_DIR / name / "samples" / f"step_{step:06d}.png"),
        cmap="gray",
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def save(fig: Any, stem: str) -> None:
    fig.tight_layout()
    fig.savefig(IMG / f"debugging-{stem}.png", dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------- figures


def figure_dominance() -> None:
    """pix2pix: the dominating discriminator, and lsgan + real_label 0.9 + lr_d/4."""
    base, fix = "pix2pix-ns", "pix2pix-lsgan-smooth-lrd"
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    accuracy_panel(axes[0], base, "ns (default): D accuracy per patch")
    accuracy_panel(axes[1], fix, "--loss lsgan --real-label 0.9 --lr-d 5e-5")
    for name, label in ((base, "ns"), (fix, "lsgan + 0.9 + lr_d 5e-5")):
        x, y = series(name, "d_loss")
        axes[2].plot(x, smooth(y), label=f"d_loss, {label}")
        evals = eval_rows(name)
        axes[3].plot([r["step"] for r in evals], [r["l1"] for r in evals], "o-", label=label)
    axes[2].set_ylim(bottom=0)
    axes[2].set_title("discriminator loss (5-row mean)", fontsize=9)
    axes[3].set_title("validation L1 (lower is better)", fontsize=9)
    axes[3].set_ylim(0.15, 0.35)
    for ax in axes[2:]:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    save(fig, "pix2pix-dominance")


def figure_learning_rate() -> None:
    """DCGAN: the default learning rate against 100 times it."""
    base, fast = "dcgan-ns", "dcgan-lr2e-2"
    runs = ((base, "lr 2e-4 (default)"), (fast, "--lr-d 2e-2 --lr-g 2e-2"))
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for name, label in runs:
        x, y = series(name, "g_loss")
        axes[0, 0].plot(x, y, lw=1, label=f"g_loss, {label}")
        x, y = series(name, "d_loss")
        axes[0, 1].plot(x, y, lw=1, label=f"d_loss, {label}")
        evals = eval_rows(name)
        axes[0, 2].plot([r["step"] for r in evals], [r["fd"] for r in evals], "o-", label=label)
    axes[0, 0].set_title("generator loss (every logged row)", fontsize=9)
    axes[0, 1].set_title("discriminator loss (every logged row)", fontsize=9)
    axes[0, 2].axhline(eval_rows(base)[-1]["fd_baseline"], color="gray", ls="--", lw=1)
    axes[0, 2].set_yscale("log")
    axes[0, 2].set_title("Fréchet distance (log; dashed: real vs real)", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    accuracy_panel(axes[1, 0], base, "lr 2e-4 (default): D accuracy")
    accuracy_panel(axes[1, 1], fast, "--lr-d 2e-2 --lr-g 2e-2: D accuracy")
    samples_panel(axes[1, 2], fast, 1500, "--lr-d 2e-2 --lr-g 2e-2, samples at step 1500")
    save(fig, "dcgan-lr")


def figure_wgan() -> None:
    """DCGAN with the WGAN loss: no penalty, GP, and no penalty at lr 2e-2 (diverging)."""
    runs = (
        ("dcgan-wgan-none", "wgan, no penalty"),
        ("dcgan-wgan-gp", "wgan --penalty gp"),
        ("dcgan-wgan-lr2e-2", "wgan, no penalty, lr 2e-2"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for name, label in runs:
        x, real = series(name, "d_real")
        _, fake = series(name, "d_fake")
        axes[0].plot(x, real - fake, label=label)
        x, y = series(name, "d_loss")
        axes[1].plot(x, np.abs(y), label=label)
        evals = eval_rows(name)
        axes[2].plot([r["step"] for r in evals], [r["fd"] for r in evals], "o-", label=label)
    axes[0].set_yscale("symlog", linthresh=1)
    axes[0].set_title("critic gap d_real − d_fake (symlog)", fontsize=9)
    axes[1].axhline(1e4, color="gray", ls=":", lw=1, label="monitor: explode = 1e4")
    axes[1].set_yscale("log")
    axes[1].set_title("|d_loss| (log)", fontsize=9)
    axes[2].axhline(eval_rows("dcgan-wgan-gp")[-1]["fd_baseline"], color="gray", ls="--", lw=1)
    axes[2].set_yscale("log")
    axes[2].set_title("Fréchet distance (log; dashed: real vs real)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    save(fig, "dcgan-wgan")


def figure_collapse() -> None:
    """DCGAN: samples of a healthy run and of a collapsed one (weak D), and what the
    monitor and AdaptiveRatio see."""
    fig, axes = plt.subplots(
        1, 4, figsize=(17, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.5, 1.5]}
    )
    samples_panel(axes[0], "dcgan-ns", 1500, "default, step 1500")
    samples_panel(axes[1], "dcgan-weak-d", 1500, "--lr-g 2e-3 --lr-d 2e-5, step 1500")
    accuracy_panel(axes[2], "dcgan-weak-d", "--lr-g 2e-3 --lr-d 2e-5: D accuracy")
    x, real = series("dcgan-weak-d", "d_real_acc")
    _, fake = series("dcgan-weak-d", "d_fake_acc")
    axes[2].plot(x, smooth((real + fake) / 2), color="black", lw=1.2, label="mean (AdaptiveRatio)")
    axes[2].legend(fontsize=7, loc="center right")
    x, d_steps = series("dcgan-weak-d-adaptive", "d_steps")
    axes[3].step(x, d_steps, where="post", label="d_steps per iteration (--adaptive-ratio)")
    runs = (
        ("dcgan-ns", "default lrs"),
        ("dcgan-weak-d", "weak D, 1:1"),
        ("dcgan-weak-d-adaptive", "weak D, --adaptive-ratio"),
    )
    for name, label in runs:
        evals = eval_rows(name)
        covered = [10 * r["coverage"] for r in evals]
        axes[3].plot([r["step"] for r in evals], covered, "o-", label=f"classes covered, {label}")
    axes[3].set_ylim(0, 10.5)
    axes[3].set_title("digit classes covered (of 10); AdaptiveRatio's D steps", fontsize=9)
    axes[3].set_xlabel("step")
    axes[3].legend(fontsize=7)
    save(fig, "dcgan-collapse")


# ------------------------------------------------------------------------------- numbers


def summary() -> None:
    """The numbers docs/debugging.md quotes."""

    def mean_between(name: str, key: str, lo: float, hi: float) -> float:
        x, y = series(name, key)
        return float(np.nanmean(y[(x > lo) & (x <= hi)]))

    for name in RUNS:
        last = final_step(RUNS[name][1])
        x, g = series(name, "g_loss")
        _, d = series(name, "d_loss")
        late = x > last * 0.2
        first, final = eval_rows(name)[0], eval_rows(name)[-1]
        quality = {k: round(v, 3) for k, v in final.items() if isinstance(v, float)}
        verdicts = [regime for _, regime in regimes(name)]
        share = {r: round(verdicts.count(r) / len(verdicts), 2) for r in sorted(set(verdicts))}
        print(f"\n{name}: {RUNS[name][0]} {' '.join(RUNS[name][1])}")
        print(
            f"  accuracy real/fake, first 20 %: {mean_between(name, 'd_real_acc', 0, last * 0.2):.2f}"
            f" / {mean_between(name, 'd_fake_acc', 0, last * 0.2):.2f}; last 20 %: "
            f"{mean_between(name, 'd_real_acc', last * 0.8, last):.2f} / "
            f"{mean_between(name, 'd_fake_acc', last * 0.8, last):.2f}"
        )
        print(
            f"  after the first 20 %: g_loss {np.nanmin(g[late]):.3g} .. {np.nanmax(g[late]):.3g}"
            f" (sd {np.nanstd(g[late]):.3g}), d_loss {np.nanmin(d[late]):.3g} .. "
            f"{np.nanmax(d[late]):.3g}; nonfinite rows: "
            f"{sum(bool(r.get('nonfinite')) for r in train_rows(name))}"
        )
        print(f"  regimes (share of rows, replayed): {share}")
        print(f"  step 0: {first.get('fd', first.get('l1')):.4g}; final eval: {quality}")


def main() -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    IMG.mkdir(parents=True, exist_ok=True)
    for name in RUNS:
        seconds = train(name)
        if seconds:
            print(f"{name}: {seconds:.0f} s", file=sys.stderr)
    figure_dominance()
    figure_learning_rate()
    figure_wgan()
    figure_collapse()
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
