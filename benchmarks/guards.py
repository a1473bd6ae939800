"""Where the ``torch.compile`` guards of an advloss loss call come from, by source, against the
same formula written by hand.

    python -m benchmarks.guards [--cases ns.D,wgan.G] [--out DIR]

Dynamo checks every guard of a compiled function before each call, so the guards are the
per-call price of ``torch.compile`` outside the kernels (advloss's compiled graphs equal the
hand-written ones: ``benchmarks.overhead``).  For each loss call of ``benchmarks.overhead``
(the 12 cases, logits ``(256, 1)``, float32, warm: advloss has already seen the tensor type)
this traces the advloss call and the hand-written one with ``torch._dynamo.explain`` and sorts
each guard by what it protects, read from the guard's source name:

* *dynamo state* -- grad mode, default device, … (every compiled function has them);
* *inputs* -- the logits tensors (``TENSOR_MATCH``: dtype, shape, device, strides);
* *keyword defaults* -- the loss method's keyword defaults read by the call;
* *loss object* -- the loss instance, its class and class attributes;
* *advloss globals* -- module globals of advloss read by the call (functions, caches,
  constants);
* *builtins* -- Python builtins the traced code calls (``len``, ``isinstance``, …);
* *torch globals* -- ``torch`` / ``torch.nn.functional`` attributes;
* *other* -- the rest: for the hand-written generator formulas, the benchmark's own wrapper
  that gives them the ``(r, f)`` signature.

Guard counts do not depend on the machine's load: the file records the versions that
produced them.  Results: ``benchmarks/results/guards.{md,json}``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import Any

from benchmarks import report
from benchmarks.overhead import cases, hand

CATEGORIES = (
    "dynamo state", "inputs", "keyword defaults", "loss object", "advloss globals", "builtins",
    "torch globals", "other",
)  # fmt: skip


def category(name: str, kind: str) -> str:
    """The source of one guard, from its source name (``guard.name``) and kind."""
    if not name:
        return "dynamo state"
    if "__kwdefaults__" in name:
        return "keyword defaults"
    if "L['loss']" in name:  # the loss the benchmark's function closes over
        return "loss object"
    if name in ("L['r']", "L['f']"):
        return "inputs"
    if "__import_advloss" in name:
        return "advloss globals"
    if "__builtins" in name:
        return "builtins"
    if "torch" in name or "['F']" in name or kind == "CLASS_MATCH":
        return "torch globals"
    return "other"


def guards(fn: Any, *args: Any) -> list[tuple[str, str]]:
    """``(source name, kind)`` of each guard dynamo installs for ``fn(*args)``."""
    import torch

    torch._dynamo.reset()
    found = torch._dynamo.explain(fn)(*args).out_guards
    # dynamo names some globals by an object's address: written as <id>, so reruns compare
    out = [(re.sub(r"_\d+_c(\d+)", r"_<id>_c\1", g.name), g.create_fn_name()) for g in found]
    torch._dynamo.reset()
    return out


def measure(case: str) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    r, f = torch.randn(cases.GRAPH_SHAPE), torch.randn(cases.GRAPH_SHAPE)
    a_fn, h_fn = cases.advloss_rf(case), hand.torch_hand()[case]
    a_fn(r, f)  # warm: the type cache holds torch.Tensor, as in any loop after its first step
    if case.endswith(".D"):
        h_call = h_fn
    elif case == "ragan.G":  # the relativistic generator takes the real logits too

        def h_call(r: Any, f: Any) -> Any:
            return h_fn(f, r)
    else:

        def h_call(r: Any, f: Any) -> Any:
            return h_fn(f)

    sides = {}
    for side, fn in (("advloss", a_fn), ("hand", h_call)):
        found = guards(fn, r, f)
        counts = Counter(category(name, kind) for name, kind in found)
        sides[side] = {
            "total": len(found),
            "by_category": {c: counts.get(c, 0) for c in CATEGORIES},
            "guards": [f"{name} {kind}" for name, kind in found],
        }
    return {"case": case, **sides}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.guards",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--cases", default=",".join(cases.ALL_CASES))
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    chosen = report.pick(p, "cases", args.cases, list(cases.ALL_CASES))
    import torch

    torch.set_num_threads(1)
    info = report.machine("benchmarks.guards")
    rows = []
    for case in chosen:
        row = measure(case)
        rows.append(row)
        print(f"{case}: advloss {row['advloss']['total']}, hand {row['hand']['total']}",
              file=sys.stderr)  # fmt: skip
    out = report.paths("guards", False, args.out)
    report.write_json(out["json"], {"machine": info, "rows": rows})
    header = ["case", "side", "total", *CATEGORIES]
    body = [
        [row["case"], side, row[side]["total"], *(row[side]["by_category"][c] for c in CATEGORIES)]
        for row in rows
        for side in ("advloss", "hand")
    ]
    first = rows[0]
    lines = [
        "# torch.compile guards of a loss call, by source",
        "",
        report.header(info),
        "",
        "Protocol: `benchmarks/guards.py` (module docstring): `torch._dynamo.explain` of each "
        "loss call on `(256, 1)` float32 logits after one eager call, advloss against the "
        "formula written by hand. Counts are exact for these versions and do not depend on the "
        "machine's load.",
        "",
        *report.table(header, body, "ll" + "r" * (len(header) - 2)),
        "",
        f"## The guards of {first['case']}",
        "",
        "advloss:",
        "",
        *[f"- `{g}`" for g in first["advloss"]["guards"]],
        "",
        "hand-written:",
        "",
        *[f"- `{g}`" for g in first["hand"]["guards"]],
    ]
    report.write(out["md"], "\n".join(lines) + "\n")
    print(f"wrote {out['md']} and {out['json']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
