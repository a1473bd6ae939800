"""``python -m advloss.equivalence``: check that PyTorch, TensorFlow and JAX give the same numbers
for every advloss loss, penalty, spectral-norm front end and transform — and your plugins."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections import defaultdict

from advloss import backend

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_ENABLE_X64", "1")


_SHORT = {"tensorflow": "tf", "tensorflow float64 eager": "tf f64 eager"}


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m advloss.equivalence",
        description=(
            "Compare values and gradients of every advloss loss, penalty, spectral-norm front end "
            "and transform (and registered plugins) across PyTorch, TensorFlow and JAX, in float32 "
            "and float64, eager and compiled. With one framework installed, compare it with the "
            "NumPy float64 reference (finite-difference gradients) and, where NumPy cannot run an "
            "item, with its own float64 eager result. Exit status 1 on any mismatch, 2 on a usage "
            "error or when no framework is installed."
        ),
    )
    p.add_argument(
        "--frameworks",
        type=_csv,
        default=None,
        help="comma-separated subset of torch,tensorflow,jax (default: all; missing ones are skipped)",
    )
    p.add_argument(
        "--items",
        type=_csv,
        default=None,
        help="comma-separated glob patterns over item names, e.g. 'loss:*,penalty:r1' (see --list)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one input case per item; compiled mode in float32 only (well under a minute)",
    )
    p.add_argument(
        "--dtypes", type=_csv, default=["float32", "float64"], help="default: float32,float64"
    )
    p.add_argument(
        "--modes", type=_csv, default=["eager", "compiled"], help="default: eager,compiled"
    )
    p.add_argument(
        "--json", metavar="PATH", help="write every comparison as a JSON list of records"
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable): modules that register plugin losses/penalties",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="also compare every framework with the NumPy float64 reference (the default when "
        "only one framework is installed)",
    )
    p.add_argument("--list", action="store_true", help="list the items and exit")
    return p


def _table(report) -> str:
    columns = [(d, m) for d in ("float32", "float64") for m in ("eager", "compiled")]
    cells: dict[tuple[str, tuple[str, str]], dict[tuple[str, str], list]] = defaultdict(dict)
    for r in report.records:
        cells[(r.item, r.frameworks)].setdefault((r.dtype, r.mode), []).append(r)
    present = [c for c in columns if any(c in v for v in cells.values())]
    head = f"{'item':34} {'frameworks':18}" + "".join(f"f{d[5:]} {m}".rjust(15) for d, m in present)
    lines = [head, "-" * len(head)]
    for (item, pair), by_col in cells.items():
        row = f"{item:34} {'-'.join(_SHORT.get(p, p) for p in pair):18}"
        for col in present:
            recs = by_col.get(col)
            if not recs:
                row += "-".rjust(15)
            elif any(r.error for r in recs):
                row += "ERROR ✗".rjust(15)
            else:
                used = max(r.tolerance_used for r in recs)
                row += f"{used:.2g}{' ✓' if used <= 1 else ' ✗'}".rjust(15)
        lines.append(row)
    return "\n".join(lines)


_NOT_BUILT_IN = "[not built in: "
_importable = backend._importable  # a seam for tests


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for module in args.imports:
        try:
            importlib.import_module(module)
        except Exception as err:
            print(f"error: --import {module}: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
    from advloss.equivalence import collect_items, run, select

    if args.list:
        for item in select(collect_items(), args.items):
            print(f"{item.name:34} {item.description}")
        return 0
    for d in args.dtypes:
        if d not in ("float32", "float64"):
            print(
                f"error: --dtypes: unknown dtype {d!r}; expected float32,float64", file=sys.stderr
            )
            return 2
    for m in args.modes:
        if m not in ("eager", "compiled"):
            print(f"error: --modes: unknown mode {m!r}; expected eager,compiled", file=sys.stderr)
            return 2

    import advloss
    from advloss.equivalence import FRAMEWORKS

    wanted = args.frameworks or list(FRAMEWORKS)
    present = [f for f in wanted if _importable({"tf": "tensorflow"}.get(f, f))]
    if not present:  # said before any work: nothing to import, compile or compare
        print(
            f"error: none of {', '.join(wanted)} is installed, so nothing can be verified; "
            f"install one (pip install advloss[torch], [tf] or [jax]) or more.",
            file=sys.stderr,
        )
        return 2
    print(
        f"advloss {advloss.__version__} equivalence suite{' (quick)' if args.quick else ''}",
        flush=True,
    )
    reference = args.reference or len(present) == 1
    if len(present) == 1:
        print(
            f"one framework to check ({present[0]}): each item is compared with the NumPy "
            f"float64 reference (values; gradients by finite differences), or, where NumPy cannot "
            f"run it (penalties, spectral norm, objectives: no autodiff), with {present[0]}'s own "
            f"float64 eager result. Install a second framework for cross-framework pairs.",
            flush=True,
        )
    try:
        selected = select(collect_items(), args.items)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    foreign = [i for i in selected if _NOT_BUILT_IN in i.description]
    if foreign:  # a plugin is verified under its own name: say whose code each item runs
        print("items not built into advloss (plugins and registrations), and who provides them:")
        for item in foreign:
            print(f"  {item.name}: {item.description.split(_NOT_BUILT_IN, 1)[1].rstrip(']')}")
    start = time.perf_counter()
    try:
        report = run(
            args.frameworks,
            args.items,
            quick=args.quick,
            dtypes=args.dtypes,
            modes=args.modes,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            reference=reference,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    versions = []
    for fw in report.frameworks:
        versions.append(f"{fw} {importlib.import_module(fw).__version__}")
    print(
        f"frameworks: {', '.join(versions) or 'none'}"
        + (f"; skipped: {', '.join(report.skipped)}" if report.skipped else "")
    )
    if not report.records:
        print("error: no comparison was made (no framework could run the items).", file=sys.stderr)
        return 2
    print(
        "\ncells: the largest fraction of the tolerance used over all quantities and cases "
        "(<= 1 agrees; rtol/atol per dtype from advloss.testing.TOLERANCES)\n"
    )
    print(_table(report))
    by_dtype: dict[str, list] = defaultdict(list)
    for r in report.records:
        if r.error is None:
            by_dtype[r.dtype].append(r)
    print()
    for dtype, recs in sorted(by_dtype.items()):
        worst_abs = max(recs, key=lambda r: r.max_abs_err)
        worst_rel = max(recs, key=lambda r: r.max_rel_err)
        worst_used = max(recs, key=lambda r: r.tolerance_used)
        print(
            f"{dtype}: {len(recs)} comparisons; largest abs error {worst_abs.max_abs_err:.3g} "
            f"({worst_abs.item} {worst_abs.case} {worst_abs.quantity}); largest rel error "
            f"{worst_rel.max_rel_err:.3g} ({worst_rel.item} {worst_rel.case} {worst_rel.quantity}); "
            f"largest fraction of tolerance {worst_used.tolerance_used:.3g} ({worst_used.item} "
            f"{worst_used.case} {worst_used.quantity})"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.as_dict() for r in report.records], fh, indent=1)
        print(f"wrote {len(report.records)} records to {args.json}")
    print(
        f"\n{len(report.records)} comparisons, {len(report.items)} items, "
        f"{time.perf_counter() - start:.0f} s"
    )
    if report.ok:
        if not reference:
            print("all frameworks agree")
        elif len(report.frameworks) > 1:
            print("all frameworks agree, with each other and with the reference")
        else:
            print(f"{report.frameworks[0]} agrees with the reference")
        return 0
    failing = report.failing_items()
    print(f"MISMATCH in {len(failing)} item(s): {', '.join(failing)}")
    for r in report.records:
        if not r.ok:
            detail = r.error or (
                f"max abs err {r.max_abs_err:.3g}, rel {r.max_rel_err:.3g}, "
                f"{r.tolerance_used:.3g}x tolerance"
            )
            print(
                f"  {r.item} [{'-'.join(r.frameworks)} {r.dtype} {r.mode}] {r.case} {r.quantity}: {detail}"
            )
    return 1


if __name__ == "__main__":
    sys.exit(main())
