"""Overhead of advloss against the same formula written by hand, per framework, on CPU.

Run from the repository root::

    python -m benchmarks.overhead              # full run (several minutes)
    python -m benchmarks.overhead --quick      # smoke run (~1 minute), writes overhead-quick.*
    python -m benchmarks.overhead --frameworks torch,jax --profile

For every framework that can be imported (torch, tensorflow, jax), every loss call ("case",
e.g. ``ns.D`` = ``get_loss("ns").discriminator(r, f)``, ``ns.G`` = ``.generator(f)``) and every
logits shape, it times the advloss call and a hand-written version of the same formula (written
below from the docstrings of ``advloss/losses.py``, in each framework's own idiom), in every mode:

* torch: ``eager``, ``compile`` (``torch.compile(dynamic=False)``, inductor);
* tensorflow: ``eager``, ``function`` (``tf.function``), ``xla`` (``tf.function(jit_compile=True)``);
* jax: ``eager`` (op-by-op dispatch), ``jit`` (``jax.jit``).

Timing: ``timeit`` with the garbage collector off, the same number of calls per round on both
sides, rounds alternating advloss-first and hand-first, median over rounds.  The ratio is
``median(advloss) / median(hand-written)``; the spread column is the interquartile range of the
per-round paired ratios (a noise indicator).  Results are checked to agree numerically.

Graphs: for one shape the compiled graphs of the two sides are compared (torch: the dynamo FX
graph and the ATen graph after AOT autograd that inductor compiles, defaults of ATen arguments
normalised; tensorflow: the ``tf.function`` GraphDef op types and constants, and XLA's optimized
HLO; jax: the jaxpr and XLA's optimized HLO, names and metadata stripped).

Results go to ``--out`` (default ``benchmarks/results``): ``overhead.md`` and ``overhead.json``
(``overhead-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import datetime
import difflib
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import re
import shlex
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reference_trainers import provenance

# --------------------------------------------------------------------------------------------
# What is measured.

LOSSES = ("minimax", "ns", "lsgan", "hinge", "wgan", "ragan")
ALL_CASES = tuple(f"{loss}.{side}" for side in ("D", "G") for loss in LOSSES)
# The minimum (ns D+G, hinge D, lsgan D, wgan D): used by --quick.
QUICK_CASES = ("ns.D", "ns.G", "lsgan.D", "hinge.D", "wgan.D")
# torch.compile costs seconds per variant even with a warm inductor cache: time fewer cases.
TORCH_COMPILE_CASES = ("ns.D", "ns.G", "lsgan.D", "hinge.D", "wgan.D", "ragan.D")
QUICK_TORCH_COMPILE_CASES = ("ns.D", "lsgan.D")

# Logits shapes: one logit per sample (N, 1), and a 70x70 PatchGAN map on 256x256 images.
FULL_SHAPES = (
    (64, 1),
    (256, 1),
    (1024, 1),
    (4096, 1),
    (1, 1, 30, 30),
    (16, 1, 30, 30),
    (64, 1, 30, 30),
)
QUICK_SHAPES = ((256, 1), (4096, 1), (16, 1, 30, 30))
GRAPH_SHAPE = (256, 1)

FRAMEWORKS = ("torch", "tensorflow", "jax")
TARGET_RATIO = 1.05
LOAD_AT_START: list[float] = []


def shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, shape)) + ")"


# --------------------------------------------------------------------------------------------
# Thread settings: must happen before any framework is imported.


def configure_threads(threads: int) -> None:
    n = str(threads)
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ):
        os.environ[var] = n
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " " + extra).strip()


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# advloss callables (the same for every framework).


def advloss_eager(case: str) -> tuple[str, dict[str, Any]]:
    """Timed statement and its globals for the advloss side of ``case``, called directly."""
    import advloss

    name, side = case.split(".")
    loss = advloss.get_loss(name)
    if side == "D":
        return "fn(r, f)", {"fn": loss.discriminator}
    if getattr(loss, "generator_needs_real", False):
        return "fn(f, real_logits=r)", {"fn": loss.generator}
    return "fn(f)", {"fn": loss.generator}


def advloss_rf(case: str) -> Callable[[Any, Any], Any]:
    """The advloss side as a function of (r, f), for compilers."""
    import advloss

    name, side = case.split(".")
    loss = advloss.get_loss(name)
    if side == "D":

        def fn(r, f):
            return loss.discriminator(r, f)
    elif getattr(loss, "generator_needs_real", False):

        def fn(r, f):
            return loss.generator(f, real_logits=r)
    else:

        def fn(r, f):
            return loss.generator(f)

    fn.__name__ = f"advloss_{name}_{side}"
    return fn


def hand_stmt(case: str) -> str:
    name, side = case.split(".")
    if side == "D":
        return "fn(r, f)"
    return "fn(f, r)" if name == "ragan" else "fn(f)"


def hand_rf(case: str, table: dict[str, Callable]) -> Callable[[Any, Any], Any]:
    """The hand-written side as a function of (r, f), for compilers."""
    fn = table[case]
    name, side = case.split(".")
    # Always a fresh wrapper, as for advloss: jax.jit caches compilations per function object.
    if side == "D":

        def g(r, f):
            return fn(r, f)
    elif name == "ragan":

        def g(r, f):
            return fn(f, r)
    else:

        def g(r, f):
            return fn(f)

    g.__name__ = f"hand_{name}_{side}"
    return g


# --------------------------------------------------------------------------------------------
# Hand-written losses, from the formulas in advloss/losses.py (default hyperparameters:
# real_label = 1, lsgan a, b, c = 0, 1, 1, hinge margins 1), as a user would write them.


def torch_hand() -> dict[str, Callable]:
    import torch.nn.functional as F

    # F.softplus's default threshold (20) is the one advloss uses for float32.
    def ns_d(r, f):
        return F.softplus(-r).mean() + F.softplus(f).mean()

    # Squares as d * d, the ATen op advloss emits (`d ** 2` is aten.pow, which inductor also
    # turns into a multiply), so that the graph comparison shows only real differences.
    def lsgan_d(r, f):
        dr = r - 1.0
        return 0.5 * (dr * dr).mean() + 0.5 * (f * f).mean()

    def hinge_d(r, f):
        return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()

    def wgan_d(r, f):
        return f.mean() - r.mean()

    def ragan_d(r, f):
        return F.softplus(f.mean() - r).mean() + F.softplus(f - r.mean()).mean()

    def minimax_g(f):
        return -F.softplus(f).mean()

    def ns_g(f):
        return F.softplus(-f).mean()

    def lsgan_g(f):
        d = f - 1.0
        return 0.5 * (d * d).mean()

    def neg_mean_g(f):
        return -f.mean()

    def ragan_g(f, r):
        return F.softplus(r - f.mean()).mean() + F.softplus(r.mean() - f).mean()

    return {
        "minimax.D": ns_d,
        "ns.D": ns_d,
        "lsgan.D": lsgan_d,
        "hinge.D": hinge_d,
        "wgan.D": wgan_d,
        "ragan.D": ragan_d,
        "minimax.G": minimax_g,
        "ns.G": ns_g,
        "lsgan.G": lsgan_g,
        "hinge.G": neg_mean_g,
        "wgan.G": neg_mean_g,
        "ragan.G": ragan_g,
    }


def tf_hand() -> dict[str, Callable]:
    import tensorflow as tf

    mean, softplus, relu = tf.reduce_mean, tf.nn.softplus, tf.nn.relu

    def ns_d(r, f):
        return mean(softplus(-r)) + mean(softplus(f))

    def lsgan_d(r, f):
        return 0.5 * mean(tf.square(r - 1.0)) + 0.5 * mean(tf.square(f))

    def hinge_d(r, f):
        return mean(relu(1.0 - r)) + mean(relu(1.0 + f))

    def wgan_d(r, f):
        return mean(f) - mean(r)

    def ragan_d(r, f):
        return mean(softplus(mean(f) - r)) + mean(softplus(f - mean(r)))

    def minimax_g(f):
        return -mean(softplus(f))

    def ns_g(f):
        return mean(softplus(-f))

    def lsgan_g(f):
        return 0.5 * mean(tf.square(f - 1.0))

    def neg_mean_g(f):
        return -mean(f)

    def ragan_g(f, r):
        return mean(softplus(r - mean(f))) + mean(softplus(mean(r) - f))

    return {
        "minimax.D": ns_d,
        "ns.D": ns_d,
        "lsgan.D": lsgan_d,
        "hinge.D": hinge_d,
        "wgan.D": wgan_d,
        "ragan.D": ragan_d,
        "minimax.G": minimax_g,
        "ns.G": ns_g,
        "lsgan.G": lsgan_g,
        "hinge.G": neg_mean_g,
        "wgan.G": neg_mean_g,
        "ragan.G": ragan_g,
    }


def jax_hand() -> dict[str, Callable]:
    import jax
    import jax.numpy as jnp

    mean, softplus, relu = jnp.mean, jax.nn.softplus, jax.nn.relu

    def ns_d(r, f):
        return mean(softplus(-r)) + mean(softplus(f))

    def lsgan_d(r, f):
        return 0.5 * mean(jnp.square(r - 1.0)) + 0.5 * mean(jnp.square(f))

    def hinge_d(r, f):
        return mean(relu(1.0 - r)) + mean(relu(1.0 + f))

    def wgan_d(r, f):
        return mean(f) - mean(r)

    def ragan_d(r, f):
        return mean(softplus(mean(f) - r)) + mean(softplus(f - mean(r)))

    def minimax_g(f):
        return -mean(softplus(f))

    def ns_g(f):
        return mean(softplus(-f))

    def lsgan_g(f):
        return 0.5 * mean(jnp.square(f - 1.0))

    def neg_mean_g(f):
        return -mean(f)

    def ragan_g(f, r):
        return mean(softplus(r - mean(f))) + mean(softplus(mean(r) - f))

    return {
        "minimax.D": ns_d,
        "ns.D": ns_d,
        "lsgan.D": lsgan_d,
        "hinge.D": hinge_d,
        "wgan.D": wgan_d,
        "ragan.D": ragan_d,
        "minimax.G": minimax_g,
        "ns.G": ns_g,
        "lsgan.G": lsgan_g,
        "hinge.G": neg_mean_g,
        "wgan.G": neg_mean_g,
        "ragan.G": ragan_g,
    }


# --------------------------------------------------------------------------------------------
# Per-framework plumbing.


class Bench:
    name = ""
    modes: tuple[str, ...] = ()
    sync = ""  # appended to the timed statement (jax: .block_until_ready())

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.hand = self.hand_table()

    def hand_table(self) -> dict[str, Callable]:
        raise NotImplementedError

    def inputs(self, shape: tuple[int, ...], seed: int) -> tuple[Any, Any]:
        rng = np.random.default_rng(seed)
        r = rng.standard_normal(shape).astype(np.float32) + 1.0
        f = rng.standard_normal(shape).astype(np.float32) - 1.0
        return self.from_numpy(r), self.from_numpy(f)

    def from_numpy(self, a: np.ndarray) -> Any:
        raise NotImplementedError

    def to_float(self, x: Any) -> float:
        return float(np.asarray(x))

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget compiled functions between measurements."""

    def cases_for(self, mode: str, cases: list[str], quick: bool) -> list[str]:
        return cases

    def graphs(self, case: str, r: Any, f: Any) -> list[dict[str, Any]]:
        raise NotImplementedError


class TorchBench(Bench):
    name = "torch"
    modes = ("eager", "compile")

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # already set (it can be set only once)
            torch.set_num_interop_threads(threads)
        import torch._dynamo

        for attr in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, attr):
                setattr(torch._dynamo.config, attr, 64)
        self.torch = torch
        super().__init__(threads)

    def hand_table(self) -> dict[str, Callable]:
        return torch_hand()

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.torch.from_numpy(a)

    def to_float(self, x: Any) -> float:
        return float(x.detach())

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        return self.torch.compile(fn, dynamic=False)

    def reset(self) -> None:
        self.torch._dynamo.reset()

    def cases_for(self, mode: str, cases: list[str], quick: bool) -> list[str]:
        if mode != "compile" or self.compile_all:
            return cases
        allowed = QUICK_TORCH_COMPILE_CASES if quick else TORCH_COMPILE_CASES
        return [c for c in cases if c in allowed]

    compile_all = False

    @staticmethod
    def _sig(node: Any, normalize_defaults: bool) -> str:
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

    @classmethod
    def _graph(
        cls, gm: Any, normalize_defaults: bool, input_names: list[str] | None = None
    ) -> tuple[list[str], list, list[str]]:
        """Op list (calls only), DAG nodes and input names of an FX graph.  Inputs are named
        after the dynamo placeholders (``L_r_``, ``L_f_``): dynamo orders them by first use,
        which differs between two functions that read ``f`` and ``r`` in another order."""

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
                sig = cls._sig(n, normalize_defaults)
                ops.append(sig)
            dag.append((n.name, sig, inputs))
        return ops, dag, names

    def _capture(self, fn: Callable, r: Any, f: Any) -> tuple[list, list]:
        torch = self.torch
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        fx_graphs: list = []
        aten_graphs: list = []

        def fw(gm: Any, example_inputs: Any) -> Any:
            aten_graphs.append(self._graph(gm, True, fx_graphs[-1][2])[:2])
            return make_boxed_func(gm.forward)

        aot = aot_autograd(fw_compiler=fw)

        def backend(gm: Any, example_inputs: Any) -> Any:
            fx_graphs.append(self._graph(gm, False))
            return aot(gm, example_inputs)

        torch._dynamo.reset()
        torch.compile(fn, backend=backend, dynamic=False)(r, f)
        torch._dynamo.reset()
        return [g[:2] for g in fx_graphs], aten_graphs

    def graphs(self, case: str, r: Any, f: Any) -> list[dict[str, Any]]:
        a_fx, a_aten = self._capture(advloss_rf(case), r, f)
        h_fx, h_aten = self._capture(hand_rf(case, self.hand), r, f)
        out = []
        for level, a, h in (("dynamo FX graph", a_fx, h_fx), ("ATen graph (AOT)", a_aten, h_aten)):
            a_ops = [op for ops, _ in a for op in ops]
            h_ops = [op for ops, _ in h for op in ops]
            a_dags = [dag_digests(dag) for _, dag in a]
            h_dags = [dag_digests(dag) for _, dag in h]
            cmp = compare_ops(a_ops, h_ops, a_dags, h_dags)
            cmp.update(
                level=level,
                n_graphs_advloss=len(a),
                n_graphs_hand=len(h),
                ops_advloss=a_ops,
                ops_hand=h_ops,
                verdict_level=level.startswith("ATen"),
            )
            out.append(cmp)
        return out


class TensorflowBench(Bench):
    name = "tensorflow"
    modes = ("eager", "function", "xla")

    def __init__(self, threads: int) -> None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.tf = tf
        super().__init__(threads)

    def hand_table(self) -> dict[str, Callable]:
        return tf_hand()

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.tf.constant(a)

    def to_float(self, x: Any) -> float:
        return float(x.numpy())

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        spec = self.tf.TensorSpec(shape, self.tf.float32)
        return self.tf.function(
            fn, jit_compile=(mode == "xla"), input_signature=(spec, spec), reduce_retracing=False
        )

    def graphs(self, case: str, r: Any, f: Any) -> list[dict[str, Any]]:
        tf = self.tf
        spec = tf.TensorSpec(r.shape, tf.float32)
        out = []

        def graph_ops(fn: Callable) -> tuple[list[str], collections.Counter]:
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
            digests = dag_digests([(n, sig, [i.split(":")[0] for i in ins]) for n, sig, ins in dag])
            return ops, digests

        (a_ops, a_dag), (h_ops, h_dag) = (
            graph_ops(advloss_rf(case)),
            graph_ops(hand_rf(case, self.hand)),
        )
        cmp = compare_ops(a_ops, h_ops, a_dag, h_dag)
        cmp.update(
            level="tf.function graph", ops_advloss=a_ops, ops_hand=h_ops, verdict_level=False
        )
        out.append(cmp)

        def hlo(fn: Callable) -> list[str]:
            xla = tf.function(fn, jit_compile=True)
            return normalize_hlo(xla.experimental_get_compiler_ir(r, f)(stage="optimized_hlo"))

        a_hlo, h_hlo = hlo(advloss_rf(case)), hlo(hand_rf(case, self.hand))
        cmp = compare_ops(hlo_ops(a_hlo), hlo_ops(h_hlo), a_hlo, h_hlo)
        cmp.update(
            level="XLA optimized HLO",
            ops_advloss=hlo_ops(a_hlo),
            ops_hand=hlo_ops(h_hlo),
            verdict_level=True,
        )
        out.append(cmp)
        return out


class JaxBench(Bench):
    name = "jax"
    modes = ("eager", "jit")
    sync = ".block_until_ready()"

    def __init__(self, threads: int, async_dispatch: bool = False) -> None:
        import jax

        # JAX's CPU client runs computations on a worker thread by default; the hand-off costs
        # ~20 µs and is noisy on a loaded machine.  It is the same for both sides, so it only
        # dilutes the ratio: by default dispatch synchronously (--jax-async-dispatch to keep it).
        jax.config.update("jax_cpu_enable_async_dispatch", async_dispatch)
        self.jax = jax
        super().__init__(threads)

    def hand_table(self) -> dict[str, Callable]:
        return jax_hand()

    def from_numpy(self, a: np.ndarray) -> Any:
        import jax.numpy as jnp

        return jnp.asarray(a)

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        return self.jax.jit(fn)

    @classmethod
    def _jaxpr_ops(cls, jaxpr: Any, depth: int = 0) -> list[str]:
        """Primitive sequence, nested jaxprs (e.g. the jitted softplus) indented."""
        out = []
        for eqn in jaxpr.eqns:
            out.append("  " * depth + cls._eqn_sig(eqn))
            for sub in cls._subjaxprs(eqn):
                out.extend(cls._jaxpr_ops(sub, depth + 1))
        return out

    @staticmethod
    def _subjaxprs(eqn: Any) -> list[Any]:
        subs = []
        for p in eqn.params.values():
            for j in p if isinstance(p, (tuple, list)) else (p,):
                sub = getattr(j, "jaxpr", j)
                if hasattr(sub, "eqns"):
                    subs.append(sub)
        return subs

    @staticmethod
    def _eqn_sig(eqn: Any) -> str:
        name = eqn.primitive.name
        if isinstance(eqn.params.get("name"), str):
            name += f"[{eqn.params['name']}]"
        args = [str(v) if type(v).__name__ == "Literal" else "%" for v in eqn.invars]
        return f"{name}({', '.join(args)})"

    @classmethod
    def _jaxpr_dag(cls, jaxpr: Any) -> collections.Counter:
        nodes = [(id(v), f"input{i}", []) for i, v in enumerate(jaxpr.invars)]
        for k, eqn in enumerate(jaxpr.eqns):
            sig = cls._eqn_sig(eqn)
            other = sorted((key, str(val)) for key, val in eqn.params.items() if key != "name")
            sig += " " + " ".join(f"{key}={val}" for key, val in other)
            ins = [id(v) for v in eqn.invars if type(v).__name__ != "Literal"]
            nodes.append((("eqn", k), sig, ins))
            for j, v in enumerate(eqn.outvars):
                nodes.append((id(v), f"out{j}", [("eqn", k)]))
        nodes.append(("output", "output", [id(v) for v in jaxpr.outvars]))
        return dag_digests(nodes)

    def graphs(self, case: str, r: Any, f: Any) -> list[dict[str, Any]]:
        jax = self.jax
        a_fn, h_fn = advloss_rf(case), hand_rf(case, self.hand)
        a_jp, h_jp = jax.make_jaxpr(a_fn)(r, f), jax.make_jaxpr(h_fn)(r, f)
        a_ops, h_ops = self._jaxpr_ops(a_jp.jaxpr), self._jaxpr_ops(h_jp.jaxpr)
        cmp = compare_ops(a_ops, h_ops, self._jaxpr_dag(a_jp.jaxpr), self._jaxpr_dag(h_jp.jaxpr))
        cmp.update(level="jaxpr", ops_advloss=a_ops, ops_hand=h_ops, verdict_level=False)
        out = [cmp]
        a_hlo = normalize_hlo(jax.jit(a_fn).lower(r, f).compile().as_text())
        h_hlo = normalize_hlo(jax.jit(h_fn).lower(r, f).compile().as_text())
        cmp = compare_ops(hlo_ops(a_hlo), hlo_ops(h_hlo), a_hlo, h_hlo)
        cmp.update(
            level="XLA optimized HLO",
            ops_advloss=hlo_ops(a_hlo),
            ops_hand=hlo_ops(h_hlo),
            verdict_level=True,
        )
        out.append(cmp)
        return out


BENCHES = {"torch": TorchBench, "tensorflow": TensorflowBench, "jax": JaxBench}
IMPORT_NAMES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


# --------------------------------------------------------------------------------------------
# Timing.


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
    gc.collect()
    a_times, h_times = [], []
    for i in range(rounds):
        first, second = (ta, th) if i % 2 == 0 else (th, ta)
        t1 = first.timeit(number) / number
        t2 = second.timeit(number) / number
        if first is ta:
            a_times.append(t1), h_times.append(t2)
        else:
            h_times.append(t1), a_times.append(t2)
    paired = sorted(a / h for a, h in zip(a_times, h_times, strict=True))
    q = statistics.quantiles(paired, n=4) if len(paired) >= 2 else [paired[0]] * 3
    a_med, h_med = statistics.median(a_times), statistics.median(h_times)
    return {
        "advloss_us": a_med * 1e6,
        "hand_us": h_med * 1e6,
        "delta_us": (a_med - h_med) * 1e6,
        "ratio": a_med / h_med,
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_q25": q[0],
        "paired_ratio_q75": q[2],
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


# --------------------------------------------------------------------------------------------
# Machine description and report.


def machine_info(args: argparse.Namespace, frameworks: list[str]) -> dict[str, Any]:
    import advloss

    cpu = provenance.cpu_model()
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for fw in frameworks:
        mod = sys.modules.get(IMPORT_NAMES[fw])
        versions[fw] = getattr(mod, "__version__", "?")
    if "jax" in frameworks:
        import jaxlib

        versions["jaxlib"] = jaxlib.__version__
    commit = provenance.git_commit()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.overhead " + " ".join(map(shlex.quote, sys.argv[1:])),
        "quick": args.quick,
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "threads_per_framework": args.threads,
        "load_average_start": list(LOAD_AT_START),
        "platform": platform.platform(),
        "versions": versions,
        "advloss_version": advloss.__version__,
        "advloss_path": str(Path(advloss.__file__).resolve().parent),
        "advloss_commit": commit,
        "rounds": args.rounds,
        "round_time_s": args.round_time,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_async_dispatch": args.jax_async_dispatch,
    }


def fmt_ratio(x: float) -> str:
    s = f"{x:.3f}"
    return f"**{s}**" if x > TARGET_RATIO else s


def write_report(
    out_dir: Path,
    meta: dict,
    records: list,
    graphs: list,
    compile_times: list,
    profiles: list,
    skipped: dict,
) -> tuple[Path, Path]:
    stem = "overhead-quick" if meta["quick"] else "overhead"
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(
        json.dumps(
            {
                "meta": meta,
                "skipped_frameworks": skipped,
                "records": records,
                "graphs": graphs,
                "compile_times": compile_times,
                "profiles": profiles,
            },
            indent=1,
        )
        + "\n"
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
        "| | |",
        "|---|---|",
        f"| date (UTC) | {meta['date']} |",
        f"| command | `{meta['command']}` |",
        f"| CPU | {meta['cpu']} |",
        f"| cores | {meta['logical_cpus']} logical, {meta['usable_cpus']} usable |",
        f"| threads per framework | {meta['threads_per_framework']} (intra-op and inter-op, "
        "same for both sides) |",
        f"| load average at start / end | {' '.join(f'{x:.2f}' for x in meta['load_average_start'])}"
        f" / {' '.join(f'{x:.2f}' for x in meta.get('load_average_end', []))} |",
        f"| platform | {meta['platform']} |",
        f"| versions | {', '.join(f'{k} {val}' for k, val in v.items())} |",
        f"| advloss | {meta['advloss_version']} from `{meta['advloss_path']}` "
        f"(commit {meta['advloss_commit']}) |",
        f"| XLA_FLAGS | `{meta['xla_flags']}` |",
        f"| JAX CPU dispatch | {'asynchronous' if meta['jax_async_dispatch'] else 'synchronous'} |",
        f"| wall time | {meta.get('wall_time_s', 0):.0f} s |",
        "",
    ]
    if skipped:
        L += ["Skipped frameworks: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()), ""]

    # Summary tables: one per framework/mode, cases x shapes.
    L += ["## Ratios (advloss / hand-written)", ""]
    by_fm: dict[tuple, list] = collections.defaultdict(list)
    for rec in records:
        by_fm[(rec["framework"], rec["mode"])].append(rec)
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
            "| case | " + " | ".join(shapes) + " |",
            "|---|" + "---:|" * len(shapes),
        ]
        for c in cases:
            row = [fmt_ratio(cell[(c, s)]["ratio"]) if (c, s) in cell else "" for s in shapes]
            L.append(f"| {c} | " + " | ".join(row) + " |")
        L.append("")

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
            f"| case | compiled ({first[True]['level']}) | traced ({first[False]['level']}) |",
            "|---|---|---|",
        ]
        for case, levels in per_case.items():
            cells = []
            for key in (True, False):
                g = levels[key]
                text = describe_difference(g)
                if not g["identical"]:
                    text = f"**{text}**" if key else text
                if g.get("n_graphs_advloss", 1) != 1:
                    text += f" ({g['n_graphs_advloss']} graphs for advloss: graph break)"
                cells.append(text)
            L.append(f"| {case} | {cells[0]} | {cells[1]} |")
        L.append("")
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
        "| framework | mode | case | shape | advloss µs | hand µs | Δ µs | ratio | spread | "
        "calls/round | values agree |",
        "|---|---|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in records:
        L.append(
            f"| {r['framework']} | {r['mode']} | {r['case']} | "
            f"{shape_str(tuple(r['shape']))} | {r['advloss_us']:.2f} | {r['hand_us']:.2f} | "
            f"{r['delta_us']:+.2f} | {fmt_ratio(r['ratio'])} | "
            f"{r['paired_ratio_q25']:.3f}–{r['paired_ratio_q75']:.3f} | "
            f"{r['calls_per_round']} | {'yes' if r['values_agree'] else '**NO**'} |"
        )
    L.append("")
    if compile_times:
        L += [
            "## First call (trace + compile) times",
            "",
            "Informative only: on-disk caches (inductor's FX-graph cache) and the graph "
            "comparison run before the timings can make these shorter than a cold start.",
            "",
            "| framework | mode | case | shape | advloss s | hand s |",
            "|---|---|---|---|---:|---:|",
        ]
        for c in compile_times:
            L.append(
                f"| {c['framework']} | {c['mode']} | {c['case']} | "
                f"{shape_str(tuple(c['shape']))} | {c['advloss_first_call_s']:.3f} | "
                f"{c['hand_first_call_s']:.3f} |"
            )
        L.append("")
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
                "| function | calls per call | self µs | cumulative µs |",
                "|---|---:|---:|---:|",
            ]
            for row in p["top"][:15]:
                L.append(
                    f"| `{row['function']}` | {row['calls_per_call']:.0f} | "
                    f"{row['tottime_us_per_call']:.2f} | {row['cumtime_us_per_call']:.2f} |"
                )
            L.append("")
    md_path.write_text("\n".join(L))
    return md_path, json_path


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead",
        description=__doc__,
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

    configure_threads(args.threads)
    LOAD_AT_START[:] = os.getloadavg()
    t_start = time.perf_counter()
    records: list = []
    graphs: list = []
    compile_times: list = []
    profiles: list = []
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

    meta = machine_info(args, used)
    meta["load_average_end"] = list(os.getloadavg())
    meta["wall_time_s"] = time.perf_counter() - t_start
    md, js = write_report(Path(args.out), meta, records, graphs, compile_times, profiles, skipped)
    print()
    print(summary_text(records, graphs))
    print(f"\nwrote {md} and {js} in {meta['wall_time_s']:.0f} s")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
