"""``python -m benchmarks.overhead``: the options, the thread settings (before any framework is
imported) and the run over frameworks."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import benchmarks.overhead as package
from benchmarks import report
from benchmarks.overhead.cases import (
    ALL_CASES,
    FLOOR_SHAPES,
    FULL_SHAPES,
    GRAPH_SHAPE,
    QUICK_CASES,
    QUICK_SHAPES,
    QUICK_TORCH_COMPILE_CASES,
    TORCH_COMPILE_CASES,
)
from benchmarks.overhead.graphs import describe_difference
from reference_trainers import common

FRAMEWORKS = ("torch", "tensorflow", "jax")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="few cases, shapes and repetitions (about a minute); writes overhead-quick.{md,json}",
    )
    p.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated subset of torch,tensorflow,jax (default: all)",
    )
    p.add_argument(
        "--cases",
        default=None,
        help=f"comma-separated cases such as ns.D,ns.G (default: all 12; quick: "
        f"{','.join(QUICK_CASES)})",
    )
    p.add_argument("--out", default="benchmarks/results", help="output directory")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads of every framework (default 1: see README)",
    )
    p.add_argument("--rounds", type=int, default=None, help="timing rounds (default 9; quick 5)")
    p.add_argument(
        "--round-time",
        type=float,
        default=None,
        help="seconds per round per side (default 0.05; quick 0.02)",
    )
    p.add_argument(
        "--torch-compile-all",
        action="store_true",
        help="time torch.compile for every case (default: "
        f"{','.join(TORCH_COMPILE_CASES)}; quick: "
        f"{','.join(QUICK_TORCH_COMPILE_CASES)})",
    )
    p.add_argument(
        "--jax-async-dispatch",
        action="store_true",
        help="keep JAX's asynchronous CPU dispatch (default: synchronous, see README)",
    )
    p.add_argument("--no-graphs", action="store_true", help="skip the compiled-graph comparison")
    p.add_argument("--no-timing", action="store_true", help="only compare graphs / profile")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile one eager advloss call (ns.D, (256,1)) per framework",
    )
    report.load_options(p)
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 9
    if args.round_time is None:
        args.round_time = 0.02 if args.quick else 0.05
    cases = args.cases.split(",") if args.cases else list(QUICK_CASES if args.quick else ALL_CASES)
    for c in cases:
        if c not in ALL_CASES:
            p.error(f"unknown case {c!r}; known: {', '.join(ALL_CASES)}")
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    frameworks = ["tensorflow" if f == "tf" else f for f in frameworks]
    for fw in frameworks:
        if fw not in FRAMEWORKS:
            p.error(f"unknown framework {fw!r}; known: {', '.join(FRAMEWORKS)}")
    shapes = QUICK_SHAPES if args.quick else FULL_SHAPES
    graph_cases = args.cases.split(",") if args.cases else list(ALL_CASES)  # cheap: always all

    load = report.check_load(args, "benchmarks.overhead") if not args.no_timing else None
    common.apply_threads(args.threads, "benchmarks.overhead")
    # Imported after the thread settings (they import no framework, but keep it that way).
    from benchmarks.overhead.frameworks import BENCHES, JaxBench, TorchBench
    from benchmarks.overhead.timing import floor_decomposition, profile_eager, run_framework
    from benchmarks.overhead.writer import machine_info, summary_text, write_report

    load_at_start = list(os.getloadavg())
    t_start = time.perf_counter()
    records: list = []
    graphs: list = []
    compile_times: list = []
    profiles: list = []
    floors: list = []
    skipped: dict[str, str] = {}
    used: list[str] = []
    for fw in frameworks:
        print(f"== {fw}", flush=True)
        try:
            t0 = time.perf_counter()
            if fw == "jax":
                bench = JaxBench(args.threads, async_dispatch=args.jax_async_dispatch)
            else:
                bench = BENCHES[fw](args.threads)
            print(f"   imported in {time.perf_counter() - t0:.1f} s", flush=True)
        except ImportError as err:
            print(f"   skipped: cannot import {fw} ({err})", flush=True)
            skipped[fw] = f"cannot import: {err}"
            continue
        if isinstance(bench, TorchBench):
            bench.compile_all = args.torch_compile_all
        used.append(fw)
        if not args.no_graphs:
            r, f = bench.inputs(GRAPH_SHAPE, seed=0)
            for case in graph_cases:
                for g in bench.graphs(case, r, f):
                    g.update(framework=fw, case=case)
                    graphs.append(g)
                    print(
                        f"   graph {case:9s} {g['level']:20s} {describe_difference(g)}", flush=True
                    )
        if args.profile:
            prof = profile_eager(bench, "ns.D", (256, 1), calls=2000)
            profiles.append(prof)
            print(
                f"   profile ns.D eager under cProfile: advloss {prof['total_us_per_call']:.1f} "
                f"µs/call (hand-written {prof['hand_total_us_per_call']:.1f}), self time in "
                f"advloss frames {prof['advloss_self_us_per_call']:.1f} µs over "
                f"{prof['advloss_python_calls_per_call']:.0f} advloss function calls; top:"
            )
            for row in prof["top"][:10]:
                print(
                    f"     {row['tottime_us_per_call']:7.2f} µs  x{row['calls_per_call']:.0f}"
                    f"  {row['function']}"
                )
        if not args.no_timing:
            run_framework(bench, cases, shapes, args, records, compile_times)
            floors += floor_decomposition(bench, FLOOR_SHAPES, args.rounds, args.round_time)

    meta = machine_info(args, used, load_at_start)
    meta["load_average_end"] = list(os.getloadavg())
    if load is not None:
        meta.update(report.end_load(load, args.threads))
    meta["wall_time_s"] = time.perf_counter() - t_start
    md, js = write_report(
        Path(args.out), meta, records, graphs, compile_times, profiles, skipped, floors
    )
    print()
    print(summary_text(records, graphs))
    print(f"\nwrote {md} and {js} in {meta['wall_time_s']:.0f} s")
    return 0
