"""Per-framework plumbing of the overhead benchmark: thread settings, inputs, the compiled
modes (by :mod:`advloss.testing`'s harness, as the tests compile) and the graph capture."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from advloss.testing import get_harness
from benchmarks.overhead import graphs, hand
from benchmarks.overhead.cases import QUICK_TORCH_COMPILE_CASES, TORCH_COMPILE_CASES


class Bench:
    name = ""
    modes: tuple[str, ...] = ()
    sync = ""  # appended to the timed statement (jax: .block_until_ready())

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.h = get_harness(self.name)
        self.hand = hand.HAND[self.name]()

    def inputs(self, shape: tuple[int, ...], seed: int) -> tuple[Any, Any]:
        rng = np.random.default_rng(seed)
        r = rng.standard_normal(shape).astype(np.float32) + 1.0
        f = rng.standard_normal(shape).astype(np.float32) - 1.0
        return self.h.tensor(r), self.h.tensor(f)

    def to_float(self, x: Any) -> float:
        return float(self.h.numpy(x))

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        return self.h.compile(fn, mode)

    def reset(self) -> None:
        """Forget compiled functions between measurements."""

    def cases_for(self, mode: str, cases: list[str], quick: bool) -> list[str]:
        return cases

    def graphs(self, case: str, r: Any, f: Any) -> list[dict[str, Any]]:
        from benchmarks.overhead.cases import advloss_rf, hand_rf

        return graphs.GRAPHS[self.name](advloss_rf(case), hand_rf(case, self.hand), r, f)


class TorchBench(Bench):
    name = "torch"
    modes = ("eager", "compile")
    compile_all = False

    def __init__(self, threads: int) -> None:
        import torch
        import torch._dynamo

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # already set (it can be set only once)
            torch.set_num_interop_threads(threads)
        for attr in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, attr):
                setattr(torch._dynamo.config, attr, 64)
        self.torch = torch
        super().__init__(threads)

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        # Not fullgraph: a graph break is measured (and reported by the graph comparison).
        return self.h.compile(fn, mode, fullgraph=False)

    def reset(self) -> None:
        self.torch._dynamo.reset()

    def cases_for(self, mode: str, cases: list[str], quick: bool) -> list[str]:
        if mode != "compile" or self.compile_all:
            return cases
        allowed = QUICK_TORCH_COMPILE_CASES if quick else TORCH_COMPILE_CASES
        return [c for c in cases if c in allowed]


class TensorflowBench(Bench):
    name = "tensorflow"
    modes = ("eager", "function", "xla")

    def __init__(self, threads: int) -> None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.tf = tf
        super().__init__(threads)

    def compile(self, mode: str, fn: Callable, shape: tuple[int, ...]) -> Callable:
        spec = self.tf.TensorSpec(shape, self.tf.float32)
        return self.h.compile(fn, mode, input_signature=(spec, spec))


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


BENCHES: dict[str, type[Bench]] = {
    "torch": TorchBench,
    "tensorflow": TensorflowBench,
    "jax": JaxBench,
}
