"""Timing of the two sides of a case (advloss and hand-written) and the eager-call profile.

Timing is :mod:`timeit` (garbage collector off) in rounds that alternate which side goes
first (``benchmarks.report.interleaved_rounds``); the calls per round are calibrated on the
slower side and the same for both, so each round gives a paired ratio (its spread is the noise
indicator).  The timed statement is compiled by ``timeit`` with the call written out
(``fn(r, f)``), so no wrapper call is timed: at a few µs per call a lambda would show.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
import timeit
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.overhead.cases import (
    TARGET_RATIO,
    advloss_eager,
    advloss_rf,
    hand_rf,
    hand_stmt,
    shape_str,
)
from benchmarks.overhead.frameworks import Bench


def time_pair(
    stmt_a: str, glob_a: dict, stmt_h: str, glob_h: dict, rounds: int, round_time: float
) -> dict[str, Any]:
    """Per-call seconds of both statements: ``rounds`` rounds of ``number`` calls each,
    alternating which side goes first; the same ``number`` for both sides."""
    ta = timeit.Timer(stmt_a, globals=glob_a)
    th = timeit.Timer(stmt_h, globals=glob_h)
    ta.timeit(5), th.timeit(5)  # warm-up
    number = 10
    for _ in range(2):  # calibrate on the slower side
        per_call = max(ta.timeit(number), th.timeit(number)) / number
        number = max(1, int(round_time / max(per_call, 1e-9)))
    times = report.interleaved_rounds({"advloss": ta, "hand": th}, rounds, number)
    a_times, h_times = times["advloss"], times["hand"]
    paired = sorted(a / h for a, h in zip(a_times, h_times, strict=True))
    paired_median, q25, q75 = report.median_iqr(paired)
    a_med, h_med = statistics.median(a_times), statistics.median(h_times)
    return {
        "advloss_us": a_med * 1e6,
        "hand_us": h_med * 1e6,
        "delta_us": (a_med - h_med) * 1e6,
        "ratio": a_med / h_med,
        "paired_ratio_median": paired_median,
        "paired_ratio_q25": q25,
        "paired_ratio_q75": q75,
        "advloss_min_us": min(a_times) * 1e6,
        "hand_min_us": min(h_times) * 1e6,
        "calls_per_round": number,
        "rounds": rounds,
        "advloss_rounds_us": [t * 1e6 for t in a_times],
        "hand_rounds_us": [t * 1e6 for t in h_times],
    }


def run_framework(
    bench: Bench,
    cases: list[str],
    shapes: tuple,
    args: argparse.Namespace,
    records: list,
    compile_times: list,
) -> None:
    total = sum(len(bench.cases_for(m, cases, args.quick)) for m in bench.modes) * len(shapes)
    done = 0
    for mode in bench.modes:
        for case in bench.cases_for(mode, cases, args.quick):
            for shape in shapes:
                done += 1
                r, f = bench.inputs(shape, seed=done)
                bench.reset()
                if mode == "eager":
                    stmt_a, glob_a = advloss_eager(case)
                    stmt_h, glob_h = hand_stmt(case), {"fn": bench.hand[case]}
                else:
                    ca = bench.compile(mode, advloss_rf(case), shape)
                    ch = bench.compile(mode, hand_rf(case, bench.hand), shape)
                    times = {}
                    for side, fn in (("advloss", ca), ("hand", ch)):
                        t0 = time.perf_counter()
                        out = fn(r, f)
                        if bench.sync:
                            out.block_until_ready()
                        times[side] = time.perf_counter() - t0
                    compile_times.append(
                        {
                            "framework": bench.name,
                            "mode": mode,
                            "case": case,
                            "shape": list(shape),
                            "advloss_first_call_s": times["advloss"],
                            "hand_first_call_s": times["hand"],
                        }
                    )
                    stmt_a = stmt_h = "fn(r, f)"
                    glob_a, glob_h = {"fn": ca}, {"fn": ch}
                glob_a.update(r=r, f=f)
                glob_h.update(r=r, f=f)
                # Same value on both sides?
                va = bench.to_float(eval(stmt_a, glob_a))
                vh = bench.to_float(eval(stmt_h, glob_h))
                agree = abs(va - vh) <= 1e-6 + 2e-5 * abs(vh)
                res = time_pair(
                    stmt_a + bench.sync,
                    glob_a,
                    stmt_h + bench.sync,
                    glob_h,
                    args.rounds,
                    args.round_time,
                )
                rec = {
                    "framework": bench.name,
                    "mode": mode,
                    "case": case,
                    "shape": list(shape),
                    "n_elements": int(np.prod(shape)),
                    "advloss_value": va,
                    "hand_value": vh,
                    "values_agree": agree,
                    **res,
                }
                records.append(rec)
                flag = "" if res["ratio"] <= TARGET_RATIO else "  > target"
                bad = "" if agree else f"  VALUES DIFFER: advloss {va!r} vs hand {vh!r}"
                print(
                    f"  [{done:3d}/{total}] {bench.name:10s} {mode:8s} {case:9s} "
                    f"{shape_str(shape):14s} advloss {res['advloss_us']:9.2f} µs  "
                    f"hand {res['hand_us']:9.2f} µs  ratio {res['ratio']:.3f} "
                    f"[{res['paired_ratio_q25']:.3f}–{res['paired_ratio_q75']:.3f}]"
                    f"{flag}{bad}",
                    flush=True,
                )
    bench.reset()


def _profile(code: Any, glob: dict, calls: int) -> pstats.Stats:
    for _ in range(20):
        eval(code, glob)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        eval(code, glob)
    prof.disable()
    return pstats.Stats(prof)


def profile_eager(bench: Bench, case: str, shape: tuple, calls: int) -> dict[str, Any]:
    """cProfile of ``calls`` eager calls of advloss and of the hand-written loss: where the
    Python time goes.  Self time of advloss's frames includes the framework's C-level work
    that advloss code triggers directly (operators such as ``-x`` on tensors)."""
    r, f = bench.inputs(shape, seed=0)
    stmt, glob = advloss_eager(case)
    glob.update(r=r, f=f)
    stats = _profile(compile(stmt + bench.sync, "<advloss call>", "eval"), glob, calls)
    hand_glob = {"fn": bench.hand[case], "r": r, "f": f}
    hand_stats = _profile(
        compile(hand_stmt(case) + bench.sync, "<hand call>", "eval"), hand_glob, calls
    )
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({func})",
                "file": file,
                "calls_per_call": nc / calls,
                "tottime_us_per_call": tt / calls * 1e6,
                "cumtime_us_per_call": ct / calls * 1e6,
            }
        )
    rows.sort(key=lambda x: -x["tottime_us_per_call"])
    total = stats.total_tt / calls * 1e6
    in_advloss = sum(
        x["tottime_us_per_call"] for x in rows if f"{os.sep}advloss{os.sep}" in x["file"]
    )
    n_advloss_funcs = sum(
        x["calls_per_call"] for x in rows if f"{os.sep}advloss{os.sep}" in x["file"]
    )
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats("tottime").print_stats(25)
    return {
        "framework": bench.name,
        "case": case,
        "shape": list(shape),
        "calls": calls,
        "total_us_per_call": total,
        "hand_total_us_per_call": hand_stats.total_tt / calls * 1e6,
        "advloss_self_us_per_call": in_advloss,
        "advloss_python_calls_per_call": n_advloss_funcs,
        "top": rows[:25],
        "pstats": buf.getvalue(),
    }


#: The layers of an eager loss call, cheapest first (``floor_decomposition``).
FLOOR_SIDES = ("hand", "primitives", "checks", "advloss", "objective")


def _floor_functions(case: str) -> dict[str, Any]:
    """``ns.D`` four ways: by hand; the same formula through advloss's adapter primitives (no
    checks); the same plus the reads every advloss call makes (framework detection, both
    inputs' dtype and shape, the checks on them); and advloss's call."""
    import advloss
    from advloss.backend import FLOATING_DTYPES, backend_for

    if case != "ns.D":
        raise ValueError(f"the floor decomposition is written for ns.D; received {case!r}")

    def primitives(r: Any, f: Any) -> Any:
        b = backend_for(r, f)
        return b.mean(b.softplus(-r)) + b.mean(b.softplus(f))

    def checks(r: Any, f: Any) -> Any:
        b = backend_for(r, f)
        dr, df = b.dtype(r), b.dtype(f)
        sr, sf = b.shape(r), b.shape(f)
        if dr not in FLOATING_DTYPES or dr != df or not sr or not sf or not sr[0] or not sf[0]:
            raise TypeError("floor: bad logits")
        return b.mean(b.softplus(-r)) + b.mean(b.softplus(f))

    objective = advloss.Objective.parse("ns")

    def through_objective(r: Any, f: Any) -> Any:
        return objective.discriminator(_identity, r, f).total

    return {
        "primitives": primitives,
        "checks": checks,
        "advloss": advloss.get_loss("ns").discriminator,
        "objective": through_objective,
    }


def _identity(x: Any) -> Any:
    return x


def floor_decomposition(
    bench: Bench, shapes: tuple, rounds: int, round_time: float, case: str = "ns.D"
) -> list[dict[str, Any]]:
    """Where an eager call's overhead goes, per shape: the four :data:`FLOOR_SIDES` timed in
    interleaved rounds (median µs per call, interquartile range, and each side minus the hand
    side).  ``primitives - hand`` is the cost of writing the formula once over the adapters;
    ``checks - primitives`` the floor of validating and dispatching (reading a tensor's dtype
    and shape is a Python-level call in every framework); ``advloss - checks`` what advloss's
    own call path adds beyond that floor; ``objective - advloss`` what ``Objective`` adds to the
    loss call."""
    fns = {"hand": bench.hand[case], **_floor_functions(case)}
    rows = []
    for shape in shapes:
        r, f = bench.inputs(shape, seed=0)
        glob = {"r": r, "f": f}
        timers = {
            side: timeit.Timer(f"fn(r, f){bench.sync}", globals={**glob, "fn": fn})
            for side, fn in fns.items()
        }
        for t in timers.values():
            t.timeit(20)  # warm-up
        per_call = max(t.timeit(50) / 50 for t in timers.values())
        number = max(1, int(round_time / max(per_call, 1e-9)))
        times = report.interleaved_rounds(timers, rounds, number)
        us = {side: report.spread(ts, 1e6) for side, ts in times.items()}
        row = {
            "framework": bench.name,
            "case": case,
            "shape": list(shape),
            "rounds": rounds,
            "calls_per_round": number,
            "us": us,
            "minus_hand_us": {
                side: report.spread(
                    [a - h for a, h in zip(times[side], times["hand"], strict=True)], 1e6
                )
                for side in FLOOR_SIDES[1:]
            },
        }
        rows.append(row)
        parts = "  ".join(
            f"{side} +{row['minus_hand_us'][side]['median']:.2f}" for side in FLOOR_SIDES[1:]
        )
        print(
            f"   floor {case} {shape_str(shape):14s} hand {us['hand']['median']:.2f} µs  {parts}",
            flush=True,
        )
    return rows
