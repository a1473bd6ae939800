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

The parts: ``cases`` (what is measured), ``hand`` (the hand-written losses), ``frameworks``
(per-framework settings and compilation, on :mod:`advloss.testing`'s harness), ``graphs``
(graph capture and comparison), ``timing``, ``writer`` (results files, on
:mod:`benchmarks.report`) and ``cli`` (the options).
"""

from __future__ import annotations

from benchmarks.overhead.cases import (
    ALL_CASES,
    FULL_SHAPES,
    GRAPH_SHAPE,
    LOSSES,
    QUICK_CASES,
    QUICK_SHAPES,
    TARGET_RATIO,
)
from benchmarks.overhead.cli import FRAMEWORKS, main

__all__ = [
    "ALL_CASES",
    "FRAMEWORKS",
    "FULL_SHAPES",
    "GRAPH_SHAPE",
    "LOSSES",
    "QUICK_CASES",
    "QUICK_SHAPES",
    "TARGET_RATIO",
    "main",
]
