"""Lazy R1 under ``torch.compile``: the traced conditional against ``advloss.lazy_step``.

    python -m benchmarks.lazy_compile [--quick] [--rounds N] [--threads N] [--allow-load]
        [--max-load L] [--out DIR]

The D step is ``benchmarks.penalties``' (D on a real and a fake batch of 64 at 32×32×3, the NS
loss, R1 every 16 steps with its logits feeding the loss, the gradient with respect to every D
parameter; the backward pass runs outside the compiled function, as in training).  Variants,
each timed over one lazy period (16 consecutive steps) per round, interleaved within rounds:

* ``plain (eager)`` / ``plain (compiled)``: the step without a penalty, eager and
  ``torch.compile``-d (the references of the ratios);
* ``lazy, tensor step (eager)``: ``r1_penalty(every=16, step=<CPU tensor>)`` eagerly, where the
  penalty reads the step on the host for free;
* ``lazy, tensor step (compiled)``: the same function ``torch.compile``-d: inside a compiled
  function the step's value is symbolic, so the penalty selects with ``torch.where`` (both
  branches run every step);
* ``lazy_step (compiled)``: ``advloss.lazy_step(fn, every=16, compile=torch.compile)``, the
  recommended pattern: two compiled variants of the step (``regularize=True``/``False``), the
  choice made on the host from ``step % 16``.

Cells: median ms per step over the rounds (interquartile range); ratios are per-round paired
ratios to the plain step of the same mode.  Compilation (dynamo + inductor, cold: tens of
seconds) happens in the warm-up, before any timing.  The run refuses a loaded machine unless
``--allow-load``.  Results: ``benchmarks/results/lazy_compile[-quick].{md,json}``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

from benchmarks import report
from reference_trainers import common

#: Steps per round: one lazy period.
EVERY = 16
VARIANTS = (
    "plain (eager)",
    "plain (compiled)",
    "lazy, tensor step (eager)",
    "lazy, tensor step (compiled)",
    "lazy_step (compiled)",
)
#: Each variant's reference: the plain step of the same mode.
REFERENCE = {
    "lazy, tensor step (eager)": "plain (eager)",
    "lazy, tensor step (compiled)": "plain (compiled)",
    "lazy_step (compiled)": "plain (compiled)",
}


def steps(batch: int) -> dict[str, Any]:
    """``run(i)``, the D step at step ``i`` (a CPU tensor), of each variant."""
    import torch

    import advloss
    from benchmarks import penalties

    bench = penalties.TorchBench(penalties.weights(), batch)
    real, fake = bench.real, bench.fake
    params = list(bench.p.values())
    ns = advloss.get_loss("ns")

    def plain(t: dict[str, Any], *, step: Any = None, regularize: Any = None) -> Any:
        d = bench.d(t)
        return ns.discriminator(d(real), d(fake))

    def lazy(t: dict[str, Any], *, step: Any, regularize: Any = None) -> Any:
        d = bench.d(t)
        r1, real_logits = advloss.r1_penalty(
            d, real, every=EVERY, step=step, regularize=regularize, return_outputs=True
        )
        return ns.discriminator(real_logits, d(fake)) + r1

    def stepper(fn: Any) -> Any:
        return lambda i: torch.autograd.grad(fn(bench.p, step=torch.tensor(i)), params)

    return {
        "plain (eager)": stepper(plain),
        "plain (compiled)": stepper(torch.compile(plain)),
        "lazy, tensor step (eager)": stepper(lazy),
        "lazy, tensor step (compiled)": stepper(torch.compile(lazy)),
        "lazy_step (compiled)": stepper(
            advloss.lazy_step(lazy, every=EVERY, compile=torch.compile)
        ),
    }


def measure(batch: int, rounds: int) -> dict[str, Any]:
    """Warm-up (every variant through one period and one more step: all compiled graphs
    built), then ``rounds`` interleaved rounds of one period per variant."""
    runs = steps(batch)
    compile_s = {}
    for name, run in runs.items():
        start = time.perf_counter()
        for i in range(EVERY + 1):
            run(i)
        compile_s[name] = time.perf_counter() - start
        print(f"   warm-up {name}: {compile_s[name]:.1f} s", flush=True)

    def period(run: Any) -> Any:
        return lambda: [run(i) for i in range(EVERY)]

    times = report.interleaved_rounds(
        {name: period(run) for name, run in runs.items()},
        rounds,
        1,
        progress=lambda r: print(f"   round {r + 1}/{rounds}", flush=True),
    )
    ms = {name: [t / EVERY * 1e3 for t in ts] for name, ts in times.items()}
    return {
        "ms_per_step": ms,
        "warmup_s": compile_s,
        "ratios": {v: report.paired(ms[v], ms[ref]) for v, ref in REFERENCE.items()},
        "compiled_over_eager": report.paired(ms["plain (compiled)"], ms["plain (eager)"]),
    }


def markdown(info: dict[str, Any], result: dict[str, Any], batch: int, rounds: int) -> str:
    ms, ratios = result["ms_per_step"], result["ratios"]
    threads = info.get("threads")
    lines = [
        "# Lazy R1 under torch.compile",
        "",
        report.header(info),
        "",
        f"D step of `benchmarks/penalties.py` (batch {batch}, 32×32×3) with R1 every {EVERY} "
        f"steps, torch on the CPU, {threads} thread{'s' * (threads != 1)}: median ms per step "
        f"over {rounds} interleaved rounds of {EVERY} steps (one lazy period) per variant "
        "(interquartile range); × plain: median of the per-round ratios to the plain step of "
        "the same mode (eager or compiled), *parity* where their interquartile range holds 1.",
        "",
        *report.table(
            ["variant", "ms per step", "× plain (same mode)"],
            (
                [
                    v,
                    report.fmt_spread(report.spread(ms[v])),
                    report.ratio_verdict(ratios[v]) if v in ratios else "",
                ]
                for v in VARIANTS
            ),
            "lrr",
        ),
        "",
        "The compiled plain step takes "
        f"{report.fmt_spread(result['compiled_over_eager'])}× the eager one on this CPU "
        "(not investigated here); the ratios above compare each mode with itself.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.lazy_compile", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="batch 8, 2 rounds (a smoke run)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 7; quick: 2)")
    p.add_argument("--threads", type=int, default=None, help="default: the free cores")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    report.load_options(p)
    args = p.parse_args(argv)
    load = report.check_load(args, "benchmarks.lazy_compile")
    threads = common.apply_threads(args.threads, "benchmarks.lazy_compile")
    batch = 8 if args.quick else 64
    rounds = args.rounds or (2 if args.quick else 7)
    with warnings.catch_warnings():  # dynamo's notes on the graph breaks at autograd.grad
        warnings.simplefilter("ignore")
        result = measure(batch, rounds)
    load = report.end_load(load, threads)
    info = report.machine(
        "benchmarks.lazy_compile", quick=args.quick, threads=threads, batch=batch, **load
    )
    out = report.paths("lazy_compile", args.quick, args.out)
    report.write_json(out["json"], {"machine": info, "batch": batch, "rounds": rounds, **result})
    text = markdown(info, result, batch, rounds)
    report.write(out["md"], text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
