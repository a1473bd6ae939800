"""Peak memory of a discriminator step with R1: advloss's fused R1 against the StyleGAN2-style
step written by hand, in PyTorch on the CPU.

    python -m benchmarks.memory [--quick] [--batch N] [--repeats K] [--threads N]

The step is ``benchmarks.penalties``' D step (forward on real and fake, NS loss, penalty,
gradients with respect to every D parameter) for the variants ``plain``, ``r1_separate``
(advloss.r1_penalty and a second D(real) for the loss), ``r1_fused``
(``r1_penalty(return_outputs=True)``, its logits feed the loss) and ``r1_hand`` (StyleGAN2-ADA's
loss.py: ``autograd.grad(create_graph=True)`` on ``D(real)``, whose logits feed the loss).

Peak memory is read from ``torch.profiler`` (``profile_memory=True``): every op's own
allocations minus its own frees (``self_cpu_memory_usage``) and the frees recorded outside ops,
summed in time order; the peak of that running sum is the most memory the step's tensors held at
once above what was alive before it (the parameters, the batch).  Memory an op allocates and
frees inside itself (a kernel's workspace) is not seen.  The measurement is deterministic for a
given build, so ``--repeats`` (default 3) only guards against a warm-up effect; the table gives
the largest.  Other processes' load does not change it (it counts bytes, not time), so it can
be measured on a busy machine.  Results: ``benchmarks/results/memory.{md,json}`` (committed, at
the defaults; ``--quick`` writes ``memory-quick.*``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmarks import report
from reference_trainers import common

VARIANTS = ["plain", "r1_separate", "r1_fused", "r1_hand"]


def peak_bytes(run: Any) -> int:
    """The peak of the live bytes ``run()`` allocates above what was alive before it."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = sorted(
        (
            e.time_range.start,
            e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage,
        )
        for e in prof.events()
    )
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def measure(batch: int, repeats: int) -> dict[str, list[int]]:
    """Peak bytes of each variant's D step, ``repeats`` times after one warm-up step."""
    from benchmarks import penalties

    bench = penalties.TorchBench(penalties.weights(), batch)
    out: dict[str, list[int]] = {}
    for v in VARIANTS:
        run = bench.step_fn(v)
        run(0)  # warm-up: lazy initialisation is not the step's memory
        out[v] = [peak_bytes(lambda run=run: run(1)) for _ in range(repeats)]
    return out


def markdown(info: dict[str, Any], peaks: dict[str, list[int]], batch: int) -> str:
    top = {v: max(p) for v, p in peaks.items()}
    mib = {v: b / 2**20 for v, b in top.items()}
    threads = info.get("threads")
    lines = [
        "# Peak memory of a discriminator step with R1 (torch, CPU)",
        "",
        report.header(info),
        "",
        f"D step of `benchmarks/penalties.py` at batch {batch} (32×32×3): peak MiB held by the "
        "step's tensors at once (torch.profiler, largest of "
        f"{len(next(iter(peaks.values())))} measurements), × the plain step, × the "
        "StyleGAN2-style step written by hand and × the separate R1 (a second D(real) for the "
        f"loss){f', {threads} thread' + 's' * (threads != 1) if threads else ''}.  The peak "
        "counts bytes, not time: it is the same on a busy machine, and the same in every "
        "measurement of one build (the load average in the header does not affect it).",
        "",
        *report.table(
            ["variant", "peak bytes", "peak MiB", "× plain", "× r1_hand", "× r1_separate"],
            (
                [
                    v,
                    f"{top[v]:,}",
                    f"{mib[v]:.2f}",
                    f"{mib[v] / mib['plain']:.2f}",
                    f"{mib[v] / mib['r1_hand']:.2f}",
                    f"{mib[v] / mib['r1_separate']:.2f}",
                ]
                for v in VARIANTS
            ),
            "lrrrrr",
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.memory", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="batch 8, one measurement (seconds)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 64; quick: 8)")
    p.add_argument("--repeats", type=int, default=None, help="measurements (default 3; quick: 1)")
    p.add_argument("--threads", type=int, default=None, help="default: the free cores")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    threads = common.apply_threads(args.threads, "benchmarks.memory")
    batch = args.batch or (8 if args.quick else 64)
    repeats = args.repeats or (1 if args.quick else 3)
    peaks = measure(batch, repeats)
    info = report.machine("benchmarks.memory", quick=args.quick, threads=threads, batch=batch)
    out = report.paths("memory", args.quick, args.out)
    report.write_json(out["json"], {"machine": info, "batch": batch, "peak_bytes": peaks})
    text = markdown(info, peaks, batch)
    report.write(out["md"], text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
