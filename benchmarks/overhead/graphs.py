"""Compiled-graph capture and comparison: torch's dynamo FX graph and the ATen graph after AOT
autograd (what inductor compiles), TensorFlow's ``tf.function`` GraphDef and XLA's optimized
HLO, JAX's jaxpr and XLA's optimized HLO; each normalised (names, metadata, ATen argument
defaults) and compared as dataflow graphs.

Written here because no library compares two programs' graphs independently of the order in
which their ops were recorded (``dag_digests``); the capture uses each framework's own hooks.
"""

from __future__ import annotations

import collections
import difflib
import hashlib
import re
from collections.abc import Callable
from typing import Any

# Graph normalisation and comparison helpers.


def normalize_hlo(text: str) -> list[str]:
    """HLO module text without the module header, metadata and names (names renumbered by
    first appearance), one instruction or computation header per line."""
    keep = []
    for line in text.splitlines():
        s = line.strip()
        if not (s.startswith(("%", "ENTRY", "ROOT", "}"))):
            continue
        s = re.sub(r",?\s*metadata=\{[^}]*\}", "", s)
        s = re.sub(r",?\s*frontend_attributes=\{[^}]*\}", "", s)
        if s.endswith("{"):  # computation header: drop parameter names
            s = re.sub(r"[\w.\-]+: ", "", s)
        keep.append(s)
    names: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        return names.setdefault(m.group(0), f"%v{len(names)}")

    return [re.sub(r"%[\w.\-]+", rename, s) for s in keep]


_HLO_OP = re.compile(r" = (?:\([^)]*\)|\S+) ([a-z][\w\-]*)\(([^)]*)\)(.*)$")


def hlo_ops(lines: list[str]) -> list[str]:
    """Opcode sequence of normalised HLO (constants with their value, compares with direction)."""
    ops = []
    for s in lines:
        m = _HLO_OP.search(s)
        if not m:
            continue
        op, args, rest = m.groups()
        if op == "constant":
            op = f"constant({args})"
        d = re.search(r"direction=(\w+)", rest)
        if d:
            op += f"[{d.group(1)}]"
        if op == "parameter":
            continue
        ops.append(op)
    return ops


def compare_ops(
    adv: list[str], hand: list[str], exact_adv: Any = None, exact_hand: Any = None
) -> dict[str, Any]:
    """Whether two op lists (or the exact representations given) are identical, and how not."""
    identical = (exact_adv == exact_hand) if exact_adv is not None else adv == hand
    same_sequence = adv == hand
    ca, ch = collections.Counter(adv), collections.Counter(hand)
    only_adv = ca - ch
    only_hand = ch - ca
    result: dict[str, Any] = {
        "identical": identical,
        "same_op_sequence": same_sequence,
        "same_op_multiset": ca == ch,
        "n_ops_advloss": len(adv),
        "n_ops_hand": len(hand),
        "only_in_advloss": dict(only_adv),
        "only_in_hand": dict(only_hand),
    }
    if not identical:
        diff = list(difflib.unified_diff(hand, adv, "hand", "advloss", lineterm="", n=1))
        result["diff"] = diff[2:60]
    return result


def dag_digests(nodes: list[tuple[Any, str, list[Any]]]) -> collections.Counter:
    """Multiset of Merkle digests of a dataflow graph given as ``(id, signature, input ids)`` in
    topological order: two graphs have equal multisets when they compute the same thing with the
    same ops, whatever order the ops were recorded in."""
    digest: dict[Any, str] = {}
    for node_id, sig, inputs in nodes:
        h = hashlib.sha1(sig.encode())
        for i in inputs:
            h.update(digest.get(i, f"external:{i}").encode())
        digest[node_id] = h.hexdigest()
    return collections.Counter(digest.values())


def describe_difference(cmp: dict[str, Any]) -> str:
    if cmp["identical"]:
        return (
            "identical" if cmp["same_op_sequence"] else "identical (ops recorded in another order)"
        )
    if cmp["same_op_multiset"]:
        return "same ops, different dataflow (see diff)"

    def fmt(d: dict[str, int]) -> str:
        return ", ".join(f"{k}×{v}" if v > 1 else k for k, v in sorted(d.items())) or "—"

    return f"extra in advloss: {fmt(cmp['only_in_advloss'])}; extra in hand: {fmt(cmp['only_in_hand'])}"


def _compared(level: str, a_ops: list[str], h_ops: list[str], a_exact: Any, h_exact: Any,
              verdict: bool, **extra: Any) -> dict[str, Any]:  # fmt: skip
    cmp = compare_ops(a_ops, h_ops, a_exact, h_exact)
    cmp.update(level=level, **extra, ops_advloss=a_ops, ops_hand=h_ops, verdict_level=verdict)
    return cmp


# --------------------------------------------------------------------------------------- torch


def _fx_sig(node: Any, normalize_defaults: bool) -> str:
    """``op(arg, ...)`` with tensor arguments written ``%`` and constants by value."""
    import torch.fx

    target = node.target
    if isinstance(target, str):
        name = f"{node.op}:{target}"
    elif hasattr(target, "_schema"):  # an ATen OpOverload
        name = str(target)
    else:
        mod = getattr(target, "__module__", None) or ""
        name = f"{mod}.{getattr(target, '__name__', repr(target))}".lstrip(".")
    args, kwargs = list(node.args), dict(node.kwargs)
    if normalize_defaults and hasattr(target, "_schema"):
        merged = {}
        for i, a in enumerate(target._schema.arguments):
            if i < len(args):
                val = args[i]
            elif a.name in kwargs:
                val = kwargs[a.name]
            else:
                continue
            if (
                a.has_default_value()
                and not isinstance(val, torch.fx.Node)
                and val == a.default_value
            ):
                continue  # an ATen default, spelled out or not
            merged[a.name] = val
        args, kwargs = [], merged

    def show(v: Any) -> str:
        return "%" if isinstance(v, torch.fx.Node) else repr(v)

    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _fx_graph(
    gm: Any, normalize_defaults: bool, input_names: list[str] | None = None
) -> tuple[list[str], list, list[str]]:
    """Op list (calls only), DAG nodes and input names of an FX graph.  Inputs are named after
    the dynamo placeholders (``L_r_``, ``L_f_``): dynamo orders them by first use, which differs
    between two functions that read ``f`` and ``r`` in another order."""
    ops, dag, names = [], [], []
    for n in gm.graph.nodes:
        inputs = [x.name for x in n.all_input_nodes]
        if n.op == "placeholder":
            i = len(names)
            sig = input_names[i] if input_names and i < len(input_names) else str(n.target)
            names.append(sig)
            sig = f"input:{sig}"
        elif n.op == "output":
            sig = "output"
        elif n.op == "get_attr":
            sig = f"get_attr:{n.target}"
        else:
            sig = _fx_sig(n, normalize_defaults)
            ops.append(sig)
        dag.append((n.name, sig, inputs))
    return ops, dag, names


def _torch_capture(fn: Callable, r: Any, f: Any) -> tuple[list, list]:
    """The dynamo FX graphs and the ATen graphs AOT autograd hands to its compiler."""
    import torch
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    fx_graphs: list = []
    aten_graphs: list = []

    def fw(gm: Any, example_inputs: Any) -> Any:
        aten_graphs.append(_fx_graph(gm, True, fx_graphs[-1][2])[:2])
        return make_boxed_func(gm.forward)

    aot = aot_autograd(fw_compiler=fw)

    def backend(gm: Any, example_inputs: Any) -> Any:
        fx_graphs.append(_fx_graph(gm, False))
        return aot(gm, example_inputs)

    torch._dynamo.reset()
    torch.compile(fn, backend=backend, dynamic=False)(r, f)
    torch._dynamo.reset()
    return [g[:2] for g in fx_graphs], aten_graphs


def torch_guards(fn: Callable, r: Any, f: Any) -> int:
    """How many guards dynamo installs for ``fn(r, f)`` (checked before every call of the
    compiled function): ``torch._dynamo.explain``, a trace without compilation, from a reset
    cache (a process's first call)."""
    import torch

    torch._dynamo.reset()
    n = len(torch._dynamo.explain(fn)(r, f).out_guards)
    torch._dynamo.reset()
    return n


def torch_graphs(a_fn: Callable, h_fn: Callable, r: Any, f: Any) -> list[dict[str, Any]]:
    a_fx, a_aten = _torch_capture(a_fn, r, f)
    h_fx, h_aten = _torch_capture(h_fn, r, f)
    guards = {"guards_advloss": torch_guards(a_fn, r, f), "guards_hand": torch_guards(h_fn, r, f)}
    out = []
    for level, a, h in (("dynamo FX graph", a_fx, h_fx), ("ATen graph (AOT)", a_aten, h_aten)):
        a_ops = [op for ops, _ in a for op in ops]
        h_ops = [op for ops, _ in h for op in ops]
        a_dags = [dag_digests(dag) for _, dag in a]
        h_dags = [dag_digests(dag) for _, dag in h]
        out.append(
            _compared(
                level,
                a_ops,
                h_ops,
                a_dags,
                h_dags,
                level.startswith("ATen"),
                n_graphs_advloss=len(a),
                n_graphs_hand=len(h),
            )
        )
    out[0].update(guards)  # the dynamo level: guards belong to the traced graph
    return out


# ---------------------------------------------------------------------------------- tensorflow


def _graphdef_ops(fn: Callable, spec: Any) -> tuple[list[str], collections.Counter]:
    import tensorflow as tf

    cf = tf.function(fn).get_concrete_function(spec, spec)
    ops, dag = [], []
    n_inputs = 0
    for op in cf.graph.get_operations():
        if op.type == "Const":
            value = tf.make_ndarray(op.get_attr("value"))
            sig = f"Const({value.dtype}{list(value.shape)}={value.tolist()!r})"
        elif op.type == "Placeholder":
            sig = f"input{n_inputs}"
            n_inputs += 1
        else:
            sig = op.type
        ops.append(sig)
        dag.append(
            (
                op.name,
                sig,
                [f"{t.op.name}:{t.value_index}" for t in op.inputs]
                + [f"^{c.name}" for c in op.control_inputs],
            )
        )
    # inputs name "op:index"; outputs of an op share its digest
    return ops, dag_digests([(n, sig, [i.split(":")[0] for i in ins]) for n, sig, ins in dag])


def tf_graphs(a_fn: Callable, h_fn: Callable, r: Any, f: Any) -> list[dict[str, Any]]:
    import tensorflow as tf

    spec = tf.TensorSpec(r.shape, tf.float32)
    (a_ops, a_dag), (h_ops, h_dag) = _graphdef_ops(a_fn, spec), _graphdef_ops(h_fn, spec)
    out = [_compared("tf.function graph", a_ops, h_ops, a_dag, h_dag, False)]

    def hlo(fn: Callable) -> list[str]:
        xla = tf.function(fn, jit_compile=True)
        return normalize_hlo(xla.experimental_get_compiler_ir(r, f)(stage="optimized_hlo"))

    a_hlo, h_hlo = hlo(a_fn), hlo(h_fn)
    out.append(_compared("XLA optimized HLO", hlo_ops(a_hlo), hlo_ops(h_hlo), a_hlo, h_hlo, True))
    return out


# ----------------------------------------------------------------------------------------- jax


def _jaxpr_ops(jaxpr: Any, depth: int = 0) -> list[str]:
    """Primitive sequence, nested jaxprs (e.g. the jitted softplus) indented."""
    out = []
    for eqn in jaxpr.eqns:
        out.append("  " * depth + _eqn_sig(eqn))
        for sub in _subjaxprs(eqn):
            out.extend(_jaxpr_ops(sub, depth + 1))
    return out


def _subjaxprs(eqn: Any) -> list[Any]:
    subs = []
    for p in eqn.params.values():
        for j in p if isinstance(p, (tuple, list)) else (p,):
            sub = getattr(j, "jaxpr", j)
            if hasattr(sub, "eqns"):
                subs.append(sub)
    return subs


def _eqn_sig(eqn: Any) -> str:
    name = eqn.primitive.name
    if isinstance(eqn.params.get("name"), str):
        name += f"[{eqn.params['name']}]"
    args = [str(v) if type(v).__name__ == "Literal" else "%" for v in eqn.invars]
    return f"{name}({', '.join(args)})"


def _jaxpr_dag(jaxpr: Any) -> collections.Counter:
    nodes: list[tuple[Any, str, list[Any]]] = [
        (id(v), f"input{i}", []) for i, v in enumerate(jaxpr.invars)
    ]
    for k, eqn in enumerate(jaxpr.eqns):
        sig = _eqn_sig(eqn)
        other = sorted((key, str(val)) for key, val in eqn.params.items() if key != "name")
        sig += " " + " ".join(f"{key}={val}" for key, val in other)
        ins = [id(v) for v in eqn.invars if type(v).__name__ != "Literal"]
        nodes.append((("eqn", k), sig, ins))
        for j, v in enumerate(eqn.outvars):
            nodes.append((id(v), f"out{j}", [("eqn", k)]))
    nodes.append(("output", "output", [id(v) for v in jaxpr.outvars]))
    return dag_digests(nodes)


def jax_graphs(a_fn: Callable, h_fn: Callable, r: Any, f: Any) -> list[dict[str, Any]]:
    import jax

    a_jp, h_jp = jax.make_jaxpr(a_fn)(r, f), jax.make_jaxpr(h_fn)(r, f)
    a_ops, h_ops = _jaxpr_ops(a_jp.jaxpr), _jaxpr_ops(h_jp.jaxpr)
    out = [_compared("jaxpr", a_ops, h_ops, _jaxpr_dag(a_jp.jaxpr), _jaxpr_dag(h_jp.jaxpr), False)]
    a_hlo = normalize_hlo(jax.jit(a_fn).lower(r, f).compile().as_text())
    h_hlo = normalize_hlo(jax.jit(h_fn).lower(r, f).compile().as_text())
    out.append(_compared("XLA optimized HLO", hlo_ops(a_hlo), hlo_ops(h_hlo), a_hlo, h_hlo, True))
    return out


#: Per framework: the compiled graphs of the advloss and the hand-written side of a case.
GRAPHS = {"torch": torch_graphs, "tensorflow": tf_graphs, "jax": jax_graphs}
