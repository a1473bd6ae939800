"""What the overhead benchmark measures: the loss calls ("cases"), the logits shapes, and the
advloss side of each case (the hand-written side is in :mod:`benchmarks.overhead.hand`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
#: The shapes of the eager floor decomposition (``timing.floor_decomposition``): small logits,
#: where the per-call constant shows, and a PatchGAN map.
FLOOR_SHAPES = ((64, 1), (16, 1, 30, 30))


TARGET_RATIO = 1.05


def shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, shape)) + ")"


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
