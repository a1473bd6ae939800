"""2D Gaussian mixtures: every loss × regularizer, several seeds, VEEGAN/PacGAN metrics.

    python -m benchmarks.toy2d                 # full (~1 h on 2 cores): 2 datasets x 6 losses
                                               # x 5 regularizers x 3 seeds x 8,000 steps
    python -m benchmarks.toy2d --quick         # ~5 minutes: 1 seed, 2,000 steps
    python -m benchmarks.toy2d --losses ns,hinge --regs none,r1 --seeds 0,1 --steps 2000

Datasets (PacGAN's settings): ``ring`` -- 8 Gaussians on a circle of radius 1, σ = 0.01;
``grid`` -- 25 Gaussians at {-4, -2, 0, 2, 4}², σ = 0.05.  Equal weights.

Networks: MLPs with three hidden layers of 128 units (G: ReLU, z ~ N(0, I_16); D: LeakyReLU
0.2), Adam(1e-3, β = (0.5, 0.9)), batch 256, one D step per G step.

Regularizers (on top of the loss): ``none``; ``gp`` (WGAN-GP, λ = 0.1 as in the WGAN-GP paper's
toy experiments); ``r1`` (γ = 0.1); ``sn`` (spectral norm on every D layer); ``noise`` (instance
noise, σ from 0.1 linearly to 0 over the first half of training).

Metrics on 2,500 samples (VEEGAN / PacGAN): a sample is *high quality* if it lies within 3σ of
its nearest centre; ``modes`` = centres that are the nearest centre of at least one
high-quality sample; ``hq`` = % of high-quality samples; ``rkl`` = KL(q ‖ uniform), q the
histogram of every sample's nearest centre (0 is perfect, log K when all samples share one).

Every finished run is appended to ``results/<name>[-quick].runs.jsonl`` and reused by the next
invocation with the same settings (``--fresh`` to recompute), so an interrupted benchmark loses
at most the runs in flight.  Runs go to ``--workers`` processes (one thread each).

Options for the spectral-norm study (their defaults are the protocol above, and a run at the
defaults has the same cache key as before they existed):

* ``--scale K`` multiplies the data -- centres and σ -- by K (default 1).  The metrics are those
  of the scaled mixture (high quality = within 3Kσ of a scaled centre), computed as the
  identical metrics of the samples divided by K; the stored samples and the figure are in the
  original units.  With SN's 1-Lipschitz D, scaling the data by K is the same as allowing D a
  Lipschitz constant of K on the original data.
* ``--sn-power-iterations N``: power-iteration steps per D forward (default 1, SN-GAN's).
* ``--sn-layers all|all-but-last``: which D layers SN normalizes (default all).
* ``--variants base,lr=2e-4,scale=10,...``: one table row per variant, each the options above
  with some overridden (``+`` joins several: ``scale=10+lr=2e-4``; keys ``lr``, ``scale``,
  ``sn_iters``, ``sn_layers`` and ``steps``; ``base`` changes nothing).  The SN keys change
  only ``sn`` runs: a ``none`` run of an SN variant is the base's run (reused, not rerun).
* ``--losses rpgan`` and ``--regs r1r2`` (RpGAN; R1 + R2 at γ = 0.1, R3GAN's regularization)
  are available beyond the default protocol: ``python -m benchmarks.toy2d --name toy2d-rp
  --losses ns,rpgan --regs none,r1,r1r2 --seeds 0,1,2 --steps 2000 --workers 2``
  (``results/toy2d-rp.md``).
* ``--losses rp_hinge,rp_lsgan`` (the paired relativistic hinge and least squares) and
  ``--regs dragan,maxgp`` (DRAGAN, StudioGAN's form, and MaxGP, each at λ = 0.1 as ``gp``):
  ``python -m benchmarks.toy2d --name toy2d-cat2 --losses ns,hinge,lsgan,rp_hinge,rp_lsgan
  --regs none,dragan,maxgp --seeds 0,1,2 --steps 2000 --workers 1`` (``results/toy2d-cat2.md``).
* ``--name NAME`` writes ``results/NAME.{md,json,png}`` (default ``toy2d``), e.g.
  ``python -m benchmarks.toy2d --name toy2d-sn --datasets ring --losses ns,hinge --regs none,sn
  --seeds 0,1,2 --steps 2000 --variants base,scale=10,lr=2e-4,sn_iters=5,scale=10+steps=8000
  --workers 1`` (``results/toy2d-sn.md``, the spectral-norm study).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

from benchmarks import report

LOSSES = ["minimax", "ns", "lsgan", "hinge", "wgan", "ragan"]
REGS = ["none", "gp", "r1", "sn", "noise"]
#: Available with --losses / --regs beyond the default protocol: RpGAN (paired relativistic)
#: and its hinge and least-squares forms, R1 + R2 together (R3GAN's regularization, each at the
#: protocol's γ = 0.1), DRAGAN and MaxGP (at the protocol's gradient-penalty λ = 0.1).
EXTRA_LOSSES, EXTRA_REGS = ["rpgan", "rp_hinge", "rp_lsgan"], ["r1r2", "dragan", "maxgp"]
DATASETS = ["ring", "grid"]
VERSION = 1  # bump when the protocol changes: cached runs of another version are ignored
N_EVAL = 2500
#: The SN-study settings at their defaults (absent from the cache key when at these values).
DEFAULTS: dict[str, Any] = {"scale": 1.0, "sn_iters": 1, "sn_layers": "all"}
SN_LAYERS = ["all", "all-but-last"]
VARIANT_KEYS = {"lr": float, "scale": float, "sn_iters": int, "sn_layers": str, "steps": int}


def centres(dataset: str) -> tuple[np.ndarray, float]:
    if dataset == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], 1), 0.01
    if dataset == "grid":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.05
    raise ValueError(f"dataset: expected one of {DATASETS}; received {dataset!r}")


def score(samples: np.ndarray, dataset: str) -> dict[str, float]:
    """modes captured, % high-quality samples, reverse KL over modes (see the module doc)."""
    c, sigma = centres(dataset)
    d = np.linalg.norm(samples[:, None, :] - c[None], axis=-1)
    nearest, dist = d.argmin(1), d.min(1)
    hq = dist <= 3 * sigma
    q = np.bincount(nearest, minlength=len(c)) / len(samples)
    rkl = float(np.sum(np.where(q > 0, q * np.log(np.maximum(q, 1e-12) * len(c)), 0.0)))
    return {
        "modes": len(np.unique(nearest[hq])),
        "hq": float(100 * hq.mean()),
        "rkl": rkl,
        "n_modes": len(c),
    }


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """One run: returns the metrics, and 500 samples for the plots."""
    import torch
    from torch import nn

    import advloss

    torch.set_num_threads(1)
    dataset, loss, reg, seed, steps = (job[k] for k in ("dataset", "loss", "reg", "seed", "steps"))
    scale = float(job.get("scale", DEFAULTS["scale"]))
    c, sigma = centres(dataset)
    c, sigma = c * scale, sigma * scale
    c_t = torch.tensor(c, dtype=torch.float32)
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))  # fmt: skip
    D = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128),
                      nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2),
                      nn.Linear(128, 1))  # fmt: skip
    if reg == "sn":
        from advloss.nn.torch import spectral_norm

        linears = [m for m in D if isinstance(m, nn.Linear)]
        if job.get("sn_layers", DEFAULTS["sn_layers"]) == "all-but-last":
            linears = linears[:-1]
        for m in linears:
            spectral_norm(m, n_power_iterations=job.get("sn_iters", DEFAULTS["sn_iters"]))
    penalties = {"gp": [advloss.get_penalty("gp", weight=0.1)],
                 "r1": [advloss.get_penalty("r1", gamma=0.1)],
                 "r1r2": [advloss.get_penalty("r1", gamma=0.1),
                          advloss.get_penalty("r2", gamma=0.1)],
                 "dragan": [advloss.get_penalty("dragan", weight=0.1)],
                 "maxgp": [advloss.get_penalty("maxgp", weight=0.1)]}.get(reg, [])  # fmt: skip
    noise = f"0.1:0:{steps // 2}" if reg == "noise" else None
    objective = advloss.Objective(loss, penalties=penalties, instance_noise=noise)
    g_opt = torch.optim.Adam(G.parameters(), job["lr"], betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(D.parameters(), job["lr"], betas=(0.5, 0.9))
    gen = torch.Generator().manual_seed(seed + 1)
    batch = job["batch"]

    def real_batch() -> torch.Tensor:
        idx = torch.randint(0, len(c), (batch,), generator=gen)
        return c_t[idx] + sigma * torch.randn(batch, 2, generator=gen)

    t0 = time.perf_counter()
    nonfinite = False
    for step in range(steps):
        real = real_batch()
        out = objective.discriminator(D, real, G(torch.randn(batch, 16, generator=gen)).detach(),
                                      step=step, key=gen)  # fmt: skip
        d_opt.zero_grad()
        out.total.backward()
        d_opt.step()
        fake = G(torch.randn(batch, 16, generator=gen))
        g_out = objective.generator(D, fake, real=real if objective.loss.generator_needs_real else None, step=step,
                                    key=gen)  # fmt: skip
        g_opt.zero_grad()
        g_out.total.backward()
        g_opt.step()
        if step % 500 == 0 and not torch.isfinite(out.total + g_out.total):
            nonfinite = True
            break
    with torch.no_grad():
        eval_gen = torch.Generator().manual_seed(10_000 + seed)
        samples = G(torch.randn(N_EVAL, 16, generator=eval_gen)).double().numpy() / scale
    finite = np.isfinite(samples).all(1)
    result = {**job, "version": VERSION, "seconds": time.perf_counter() - t0}
    if nonfinite or not finite.all():
        result.update({"modes": 0, "hq": 0.0, "rkl": math.log(len(c)), "n_modes": len(c),
                       "nonfinite": True})  # fmt: skip
    else:
        result.update(score(samples, dataset))
    result["samples"] = np.where(np.isfinite(samples[:500]), samples[:500], 0.0).round(4).tolist()
    return result


def key(job: dict[str, Any]) -> str:
    """The cache key: the protocol's fields, then only the SN-study settings that differ from
    ``DEFAULTS`` and matter for the run (the SN ones for ``sn`` runs), so that a run at the
    defaults keeps the key it had before those options existed."""
    fields = ("dataset", "loss", "reg", "seed", "steps", "batch", "lr")
    base = [job.get("version", VERSION), *(job.get(k) for k in fields)]
    relevant = ("scale", "sn_iters", "sn_layers") if job.get("reg") == "sn" else ("scale",)
    extra = {k: job[k] for k in relevant if k in job and job[k] != DEFAULTS[k]}
    return json.dumps([*base, extra] if extra else base)


def parse_variants(p: argparse.ArgumentParser, text: str, base: dict[str, Any]) -> dict[str, dict]:
    """``base,lr=2e-4,scale=10+sn_iters=5`` -> {label: settings} (see the module doc)."""
    variants: dict[str, dict[str, Any]] = {}
    for label in (v.strip() for v in text.split(",")):
        settings = dict(base)
        for item in label.split("+") if label != "base" else []:
            name, _, value = item.partition("=")
            if name not in VARIANT_KEYS or not value:
                p.error(f"--variants: {item!r} is not KEY=VALUE with KEY in {list(VARIANT_KEYS)}")
            try:
                settings[name] = VARIANT_KEYS[name](value)
            except ValueError:
                p.error(f"--variants: {item!r}: {value!r} is not a {VARIANT_KEYS[name].__name__}")
        if settings["sn_layers"] not in SN_LAYERS:
            p.error(f"--variants: sn_layers must be one of {SN_LAYERS}")
        if settings["scale"] <= 0 or settings["sn_iters"] < 1 or settings["steps"] < 1:
            p.error(f"--variants: {label!r}: scale must be > 0, sn_iters and steps >= 1")
        variants[label] = settings
    return variants


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.toy2d", description=__doc__.splitlines()[0]
    )
    report.run_options(p, quick="1 seed, 2,000 steps (~5 minutes)",
                       steps="default 8000; quick: 2000")  # fmt: skip
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--regs", default=",".join(REGS))
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate for G and D")
    p.add_argument("--scale", type=float, default=DEFAULTS["scale"],
                   help="multiply the data (centres and σ) by this; metrics in the scaled space")  # fmt: skip
    p.add_argument("--sn-power-iterations", type=int, default=DEFAULTS["sn_iters"],
                   help="SN power-iteration steps per D forward (default 1)")  # fmt: skip
    p.add_argument("--sn-layers", choices=SN_LAYERS, default=DEFAULTS["sn_layers"],
                   help="D layers SN normalizes (default all)")  # fmt: skip
    p.add_argument("--variants", default="base",
                   help="comma-separated settings, one table row each: base, lr=2e-4, scale=10, "
                        "sn_iters=5, sn_layers=all-but-last, scale=10+lr=2e-4 (see the doc)")  # fmt: skip
    p.add_argument("--name", default="toy2d", help="results file stem (default toy2d)")
    p.add_argument("--fresh", action="store_true", help="ignore cached runs")
    args = p.parse_args(argv)
    seeds = report.seeds(args)
    steps = args.steps or (2000 if args.quick else 8000)
    lists = {name: report.pick(p, name, getattr(args, name), allowed)
             for name, allowed in (("datasets", DATASETS), ("losses", [*LOSSES, *EXTRA_LOSSES]), ("regs", [*REGS, *EXTRA_REGS]))}  # fmt: skip
    base = {"lr": args.lr, "scale": args.scale, "sn_iters": args.sn_power_iterations,
            "sn_layers": args.sn_layers, "steps": steps}  # fmt: skip
    variants = parse_variants(p, args.variants, base)
    lists["variants"] = list(variants)
    out = report.paths(args.name, args.quick, args.out)
    cache = out["md"].with_suffix(".runs.jsonl")
    done: dict[str, dict[str, Any]] = {}
    if cache.exists() and not args.fresh:
        for line in cache.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[key(r)] = r
    jobs = [
        {"dataset": d, "loss": lo, "reg": r, "seed": s, "steps": v["steps"], "batch": args.batch,
         "lr": v["lr"], **{k: v[k] for k in DEFAULTS if v[k] != DEFAULTS[k]}, "variant": label}
        for d in lists["datasets"] for label, v in variants.items() for lo in lists["losses"]
        for r in lists["regs"] for s in seeds
    ]  # fmt: skip
    pending: dict[str, dict[str, Any]] = {}
    for j in jobs:  # a run two variants share (see the module doc) runs once, as the first's
        if key(j) not in done:
            pending.setdefault(key(j), j)
    todo = list(pending.values())
    print(f"toy2d: {len(jobs)} runs ({len(jobs) - len(todo)} cached), {args.workers} workers",
          file=sys.stderr)  # fmt: skip
    t0 = time.perf_counter()
    if todo:
        pool = (
            ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"))
            if args.workers > 1
            else None
        )
        results = pool.map(train_one, todo) if pool else map(train_one, todo)
        with cache.open("a") as fh:
            for i, r in enumerate(results, 1):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                done[key(r)] = r
                rate = (time.perf_counter() - t0) / i
                print(
                    f"[{i}/{len(todo)}] {r['dataset']} {r['loss']}+{r['reg']} "
                    f"{r.get('variant', 'base')} seed {r['seed']}: "
                    f"modes {r['modes']}/{r['n_modes']}, hq {r['hq']:.1f}%, rkl {r['rkl']:.3f} "
                    f"({r['seconds']:.0f} s; eta {rate * (len(todo) - i):.0f} s)",
                    file=sys.stderr,
                )
        if pool:
            pool.shutdown()
    # a run shared by two variants (a none run of an SN-only variant) is listed under each
    runs = [{**done[key(j)], "variant": j["variant"]} for j in jobs]
    info = report.machine("benchmarks.toy2d", seeds=seeds, steps=steps, batch=args.batch,
                          quick=args.quick, workers=args.workers)  # fmt: skip
    if lists["variants"] != ["base"] or any(base[k] != DEFAULTS[k] for k in DEFAULTS):
        info["variants"] = variants
    report.write_json(out["json"], {"machine": info, "cells": cells(runs, lists), "runs": [
        {k: v for k, v in r.items() if k != "samples"} for r in runs]})  # fmt: skip
    report.write(out["md"], markdown(runs, info, lists, seeds, steps))
    plot(runs, lists, out["png"])
    report.publish(out["png"])
    print(f"wrote {out['md']}, {out['json'].name}, {out['png'].name}", file=sys.stderr)
    return 0


def _group(runs: list[dict[str, Any]], dataset: str, variant: str, loss: str, reg: str) -> list:
    return [
        r
        for r in runs
        if (r["dataset"], r.get("variant", "base"), r["loss"], r["reg"])
        == (dataset, variant, loss, reg)
    ]


def cells(runs: list[dict[str, Any]], lists: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per dataset × variant × loss × regularizer: mean and sd over seeds of each metric."""
    out = []
    for dataset in lists["datasets"]:
        for variant in lists["variants"]:
            for loss in lists["losses"]:
                for reg in lists["regs"]:
                    group = _group(runs, dataset, variant, loss, reg)
                    cell: dict[str, Any] = {"dataset": dataset, "variant": variant, "loss": loss,
                                            "reg": reg, "n": len(group)}  # fmt: skip
                    for metric in ("modes", "hq", "rkl"):
                        cell[metric], cell[metric + "_sd"] = report.mean_sd(
                            [r[metric] for r in group]
                        )
                    out.append(cell)
    return out


def markdown(runs: list[dict[str, Any]], info: dict[str, Any], lists: dict[str, list[str]],
             seeds: list[int], steps: int) -> str:  # fmt: skip
    variants = lists.get("variants", ["base"])
    several = variants != ["base"]
    lines = [f"# 2D mixtures: loss × regularizer ({len(seeds)} seed{'s' * (len(seeds) > 1)}, "
             f"{steps} steps)", "", report.header(info), "",
             "Protocol: `benchmarks/toy2d.py` (module docstring). Cells: mean ± sd over seeds. "
             "modes = modes captured by at least one high-quality sample (of 8 / 25); hq = % "
             "of samples within 3σ of the nearest centre; rkl = KL(mode histogram ‖ uniform), "
             "0 is perfect.", ""]  # fmt: skip
    if several:
        lines += ["Settings (rows): `base` is the protocol (lr 1e-3, scale 1, SN on all layers "
                  "with 1 power iteration); each other row overrides what its name says "
                  "(`scale=K`: data and σ × K, metrics in the scaled space; `sn_iters`: SN power "
                  "iterations; `sn_layers`: which D layers SN normalizes; `steps`: training "
                  "steps). SN settings change only the `sn` column.", ""]  # fmt: skip
    for dataset in lists["datasets"]:
        n_modes = centres(dataset)[0].shape[0]
        for metric, title, digits in (("modes", f"modes captured (of {n_modes})", 1),
                                      ("hq", "% high-quality samples", 1),
                                      ("rkl", "reverse KL", 3)):  # fmt: skip
            first = "| loss | setting | " if several else "| loss | "
            lines += [f"## {dataset}: {title}", "",
                      first + " | ".join(lists["regs"]) + " |",
                      "|---|" + "---|" * (len(lists["regs"]) + several)]  # fmt: skip
            for loss in lists["losses"]:
                for variant in variants:
                    cells_ = []
                    for reg in lists["regs"]:
                        group = _group(runs, dataset, variant, loss, reg)
                        bad = sum(bool(r.get("nonfinite")) for r in group)
                        cells_.append(
                            report.fmt_mean_sd([r[metric] for r in group], digits)
                            + (f" ({bad} NaN)" if bad else "")
                        )
                    row = f"| {loss} | {variant} | " if several else f"| {loss} | "
                    lines.append(row + " | ".join(cells_) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], lists: dict[str, list[str]], path: Any) -> None:
    """One panel per loss × regularizer (first seed), one column block per dataset (× setting)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses, regs = lists["losses"], lists["regs"]
    variants = lists.get("variants", ["base"])
    blocks = [(d, v) for d in lists["datasets"] for v in variants]
    fig, axes = plt.subplots(len(losses), len(regs) * len(blocks), squeeze=False,
                             figsize=(1.6 * len(regs) * len(blocks), 1.6 * len(losses)))  # fmt: skip
    for bi, (dataset, variant) in enumerate(blocks):
        c, _ = centres(dataset)
        lim = 1.6 if dataset == "ring" else 5.5
        for li, loss in enumerate(losses):
            for ri, reg in enumerate(regs):
                ax = axes[li][bi * len(regs) + ri]
                first = _group(runs, dataset, variant, loss, reg)[0]
                s = np.asarray(first["samples"])
                ax.scatter(c[:, 0], c[:, 1], s=6, c="red", marker="x", linewidths=0.6)
                ax.scatter(s[:, 0], s[:, 1], s=0.5, alpha=0.5)
                ax.set_xlim(-lim, lim)
                ax.set_ylim(-lim, lim)
                ax.set_xticks([])
                ax.set_yticks([])
                if li == 0:
                    title = f"{dataset}: {reg}" if variants == ["base"] else f"{variant}: {reg}"
                    ax.set_title(title, fontsize=7)
                if ri == 0 and bi == 0:
                    ax.set_ylabel(loss, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
