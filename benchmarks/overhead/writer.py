"""The overhead benchmark's results: the run's context (:mod:`benchmarks.report`, the same
provenance every benchmark records), ``overhead[-quick].json`` (raw records) and
``overhead[-quick].md`` (tables), and the summary printed at the end."""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.overhead.cases import GRAPH_SHAPE, TARGET_RATIO, shape_str
from benchmarks.overhead.graphs import describe_difference


def machine_info(
    args: argparse.Namespace, frameworks: list[str], load_at_start: list[float]
) -> dict[str, Any]:
    """:func:`benchmarks.report.machine` (date, command, CPU, versions, commit with the hash of
    any uncommitted change) and this benchmark's settings."""
    import advloss

    meta = report.machine("benchmarks.overhead")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    meta.update(
        quick=args.quick,
        frameworks=frameworks,
        usable_cpus=affinity,
        threads_per_framework=args.threads,
        load_average_start=list(load_at_start),
        advloss_version=advloss.__version__,
        advloss_path=str(Path(advloss.__file__).resolve().parent),
        advloss_commit=meta["commit"],  # the name earlier results used
        rounds=args.rounds,
        round_time_s=args.round_time,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        jax_async_dispatch=args.jax_async_dispatch,
    )
    return meta


def fmt_ratio(x: float) -> str:
    s = f"{x:.3f}"
    return f"**{s}**" if x > TARGET_RATIO else s


def summary_table(records: list) -> list[str]:
    """Per framework and mode (in the records' order): the median and worst ratio, the median
    advloss − hand µs per call, and the cases at parity (the interquartile range of their
    per-round paired ratios holds 1) — overhead.md's summary, also speed.md's."""
    by_fm: dict[tuple, list] = collections.defaultdict(list)
    for rec in records:
        by_fm[(rec["framework"], rec["mode"])].append(rec)
    return report.table(
        ["framework", "mode", "median ratio", "worst ratio", "median extra µs per call",
         "at parity"],
        (
            [
                fw,
                mode,
                f"{statistics.median(r['ratio'] for r in recs):.3f}",
                f"{max(r['ratio'] for r in recs):.3f}",
                f"{statistics.median(r['delta_us'] for r in recs):.2f}",
                f"{sum(r['paired_ratio_q25'] <= 1.0 <= r['paired_ratio_q75'] for r in recs)}"
                f"/{len(recs)}",
            ]
            for (fw, mode), recs in by_fm.items()
        ),
        "llrrrr",
    )  # fmt: skip


def write_report(
    out_dir: Path,
    meta: dict,
    records: list,
    graphs: list,
    compile_times: list,
    profiles: list,
    skipped: dict,
    floors: list | None = None,
) -> tuple[Path, Path]:
    out = report.paths("overhead", meta["quick"], out_dir)
    json_path, md_path = out["json"], out["md"]
    report.write(
        json_path,
        json.dumps(
            {
                "meta": meta,
                "skipped_frameworks": skipped,
                "records": records,
                "graphs": graphs,
                "compile_times": compile_times,
                "profiles": profiles,
                "floor": floors or [],
            },
            indent=1,
        )
        + "\n",
    )
    L: list[str] = []
    title = "advloss overhead versus hand-written losses"
    if meta["quick"]:
        title += " — QUICK MODE (few shapes and repetitions; indicative only)"
    L += [f"# {title}", ""]
    L += [
        "Ratio = median time of the advloss call / median time of the same formula written by "
        "hand in the framework (lower is better; target ≤ "
        f"{TARGET_RATIO}, cells above it in **bold**). Timed with `timeit` (gc off), "
        f"{meta['rounds']} rounds of ~{meta['round_time_s'] * 1e3:.0f} ms per side, "
        "alternating which side goes first; float32 logits; CPU.",
        "",
    ]
    v = meta["versions"]
    L += [
        "## Machine and settings",
        "",
        *report.table(
            ["", ""],
            [
                ["date (UTC)", meta["date"]],
                ["command", f"`{meta['command']}`"],
                ["CPU", meta["cpu"]],
                ["cores", f"{meta['logical_cpus']} logical, {meta['usable_cpus']} usable"],
                [
                    "threads per framework",
                    f"{meta['threads_per_framework']} (intra-op and inter-op, same for both sides)",
                ],
                [
                    "load average at start / end",
                    f"{' '.join(f'{x:.2f}' for x in meta['load_average_start'])} / "
                    f"{' '.join(f'{x:.2f}' for x in meta.get('load_average_end', []))}",
                ],
                *([["load check", report.load_text(meta)]] if "load_before" in meta else []),
                ["platform", meta["platform"]],
                ["versions", ", ".join(f"{k} {val}" for k, val in v.items())],
                [
                    "advloss",
                    f"{meta['advloss_version']} from `{meta['advloss_path']}` "
                    f"(commit {meta['advloss_commit']})",
                ],
                ["XLA_FLAGS", f"`{meta['xla_flags']}`"],
                [
                    "JAX CPU dispatch",
                    "asynchronous" if meta["jax_async_dispatch"] else "synchronous",
                ],
                ["wall time", f"{meta.get('wall_time_s', 0):.0f} s"],
            ],
        ),
        "",
    ]
    if skipped:
        L += ["Skipped frameworks: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()), ""]

    by_fm: dict[tuple, list] = collections.defaultdict(list)
    for rec in records:
        by_fm[(rec["framework"], rec["mode"])].append(rec)
    L += [
        "## Summary",
        "",
        "Per framework and mode, over the cases × shapes below: the median and worst ratio, the "
        "median of advloss − hand per call, and the cases *at parity* (the interquartile range "
        "of their per-round paired ratios holds 1).",
        "",
        *summary_table(records),
        "",
    ]

    # Ratio tables: one per framework/mode, cases x shapes.
    L += ["## Ratios (advloss / hand-written)", ""]
    for (fw, mode), recs in by_fm.items():
        shapes = list(dict.fromkeys(shape_str(tuple(r["shape"])) for r in recs))
        cases = list(dict.fromkeys(r["case"] for r in recs))
        cell = {(r["case"], shape_str(tuple(r["shape"]))): r for r in recs}
        ratios = [r["ratio"] for r in recs]
        L += [
            f"### {fw} — {mode}",
            "",
            f"median ratio {statistics.median(ratios):.3f}, max {max(ratios):.3f}, "
            f"{sum(x > TARGET_RATIO for x in ratios)}/{len(ratios)} above {TARGET_RATIO}; "
            f"median advloss − hand "
            f"{statistics.median(r['delta_us'] for r in recs):+.2f} µs per call",
            "",
            *report.table(
                ["case", *shapes],
                (
                    [c]
                    + [fmt_ratio(cell[(c, s)]["ratio"]) if (c, s) in cell else "" for s in shapes]
                    for c in cases
                ),
                "l" + "r" * len(shapes),
            ),
            "",
        ]

    L += [
        "## Compiled graphs",
        "",
        f"Compared at shape {shape_str(GRAPH_SHAPE)} as dataflow graphs (the order in which "
        "ops were recorded does not matter). *Compiled* is what the compiler optimises and "
        "runs (torch: the ATen graph inductor receives, ATen argument defaults normalised; "
        "TF and JAX: XLA's optimized HLO, names and metadata stripped); *traced* (dynamo FX "
        "graph, tf.function GraphDef, jaxpr) shows where a difference comes from.",
        "",
    ]
    by_fw_case: dict[str, dict[str, dict[bool, dict]]] = collections.defaultdict(dict)
    for g in graphs:
        by_fw_case[g["framework"]].setdefault(g["case"], {})[g["verdict_level"]] = g
    for fw, per_case in by_fw_case.items():
        first = next(iter(per_case.values()))
        n_same = sum(c[True]["identical"] for c in per_case.values() if True in c)
        L += [
            f"### {fw}: compiled graphs identical for {n_same}/{len(per_case)} cases",
            "",
        ]
        rows = []
        for case, levels in per_case.items():
            cells = []
            for key in (True, False):
                g = levels[key]
                text = describe_difference(g)
                if not g["identical"]:
                    text = f"**{text}**" if key else text
                if g.get("n_graphs_advloss", 1) != 1:
                    text += f" ({g['n_graphs_advloss']} graphs for advloss: graph break)"
                if "guards_advloss" in g:
                    text += f"; dynamo guards {g['guards_advloss']} (hand {g['guards_hand']})"
                cells.append(text)
            rows.append([case, *cells])
        header = ["case", f"compiled ({first[True]['level']})", f"traced ({first[False]['level']})"]
        L += [*report.table(header, rows), ""]
    diffs = [
        (g, per)
        for fw, per_case in by_fw_case.items()
        for per in per_case.values()
        for g in (per[True], per[False])
        if not per[True]["identical"] and g.get("diff")
    ]
    if diffs:
        L += [
            "<details><summary>Op-sequence diffs where the compiled graphs differ "
            "(hand → advloss)</summary>",
            "",
        ]
        for g, _ in diffs:
            L += [
                f"**{g['framework']} {g['case']} — {g['level']}**",
                "",
                "```diff",
                *g["diff"],
                "```",
                "",
            ]
        L += ["</details>", ""]

    L += [
        "## Absolute times",
        "",
        "Median µs per call; spread = interquartile range of the per-round paired ratios.",
        "",
        *report.table(
            [
                "framework",
                "mode",
                "case",
                "shape",
                "advloss µs",
                "hand µs",
                "Δ µs",
                "ratio",
                "spread",
                "calls/round",
                "values agree",
            ],
            (
                [
                    r["framework"],
                    r["mode"],
                    r["case"],
                    shape_str(tuple(r["shape"])),
                    f"{r['advloss_us']:.2f}",
                    f"{r['hand_us']:.2f}",
                    f"{r['delta_us']:+.2f}",
                    fmt_ratio(r["ratio"]),
                    f"{r['paired_ratio_q25']:.3f}–{r['paired_ratio_q75']:.3f}",
                    r["calls_per_round"],
                    "yes" if r["values_agree"] else "**NO**",
                ]
                for r in records
            ),
            "llllrrrrlrl",
        ),
        "",
    ]
    if compile_times:
        L += [
            "## First call (trace + compile) times",
            "",
            "Informative only: on-disk caches (inductor's FX-graph cache) and the graph "
            "comparison run before the timings can make these shorter than a cold start.",
            "",
            *report.table(
                ["framework", "mode", "case", "shape", "advloss s", "hand s"],
                (
                    [
                        c["framework"],
                        c["mode"],
                        c["case"],
                        shape_str(tuple(c["shape"])),
                        f"{c['advloss_first_call_s']:.3f}",
                        f"{c['hand_first_call_s']:.3f}",
                    ]
                    for c in compile_times
                ),
                "llllrr",
            ),
            "",
        ]
    if floors:
        L += [
            "## The eager floor: where the extra microseconds go",
            "",
            "`ns.D` four ways, timed in the same interleaved rounds: by hand; the same formula "
            "through advloss's adapter primitives with no checks (*primitives*: the cost of "
            "writing it once); the same plus what any checked call must read — framework "
            "detection, both inputs' dtype and shape, the tests on them (*checks*: the floor of "
            'validation); advloss\'s call; and the same loss through `Objective.parse("ns")'
            ".discriminator` (identity D). Cells: median µs per call more than the hand-written "
            "call, over the rounds (interquartile range of the per-round differences).",
            "",
            *report.table(
                ["framework", "shape", "hand µs", "primitives", "checks", "advloss", "Objective"],
                (
                    [
                        r["framework"],
                        shape_str(tuple(r["shape"])),
                        f"{r['us']['hand']['median']:.2f}",
                        *(
                            f"+{report.fmt_spread(r['minus_hand_us'][side])}"
                            for side in ("primitives", "checks", "advloss", "objective")
                        ),
                    ]
                    for r in floors
                ),
                "llrrrrr",
            ),
            "",
        ]
    if profiles:
        L += [
            "## Where the eager time goes (cProfile of the advloss call)",
            "",
            "cProfile adds a fixed cost per Python function call, so absolute numbers are "
            "inflated; the split is what matters.",
            "",
        ]
        for p in profiles:
            L += [
                f"### {p['framework']} {p['case']} {shape_str(tuple(p['shape']))}",
                "",
                f"{p['total_us_per_call']:.1f} µs per call under the profiler (hand-written: "
                f"{p['hand_total_us_per_call']:.1f} µs); {p['advloss_python_calls_per_call']:.0f}"
                f" calls of advloss functions with {p['advloss_self_us_per_call']:.1f} µs self "
                "time (which includes tensor operators run directly from advloss frames).",
                "",
                *report.table(
                    ["function", "calls per call", "self µs", "cumulative µs"],
                    (
                        [
                            f"`{row['function']}`",
                            f"{row['calls_per_call']:.0f}",
                            f"{row['tottime_us_per_call']:.2f}",
                            f"{row['cumtime_us_per_call']:.2f}",
                        ]
                        for row in p["top"][:15]
                    ),
                    "lrrr",
                ),
                "",
            ]
    report.write(md_path, "\n".join(L))
    return md_path, json_path


def summary_text(records: list, graphs: list) -> str:
    lines = ["Summary (ratio = advloss / hand-written, median over cases and shapes):"]
    by_fm: dict[tuple, list] = collections.defaultdict(list)
    for r in records:
        by_fm[(r["framework"], r["mode"])].append(r)
    for (fw, mode), recs in by_fm.items():
        ratios = [r["ratio"] for r in recs]
        lines.append(
            f"  {fw:10s} {mode:8s} median {statistics.median(ratios):.3f}  "
            f"min {min(ratios):.3f}  max {max(ratios):.3f}  "
            f"above {TARGET_RATIO}: {sum(x > TARGET_RATIO for x in ratios)}/{len(ratios)}"
            f"  median Δ {statistics.median(r['delta_us'] for r in recs):+.2f} µs"
        )
    verdict = [g for g in graphs if g["verdict_level"]]
    if verdict:
        lines.append("Compiled graphs (verdict level):")
        by_fw: dict[str, list] = collections.defaultdict(list)
        for g in verdict:
            by_fw[g["framework"]].append(g)
        for fw, gs in by_fw.items():
            same = [g["case"] for g in gs if g["identical"]]
            diff = [g["case"] for g in gs if not g["identical"]]
            lines.append(
                f"  {fw:10s} {gs[0]['level']}: identical for {len(same)}/{len(gs)}"
                + (f"; differ: {', '.join(diff)}" if diff else "")
            )
    return "\n".join(lines)
