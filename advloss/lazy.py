r"""Lazy regularization with the step chosen on the host: two compiled variants of a training
step, one that computes the lazy penalties and one that skips them.

A lazy penalty (``every=k``) runs on steps where ``step % k == 0``.  With a Python-int step the
choice is made in Python; with a step *traced* inside a compiled function (``jax.jit``,
``tf.function``, ``torch.compile``) it is the framework's conditional — ``lax.cond``,
``tf.cond`` or, in PyTorch, which has no differentiable one, both branches and a select.  Around
a convolutional discriminator's double backward that costs: XLA:CPU runs the convolutions
inside ``lax.cond`` several times slower, and PyTorch computes the penalty on every step.

``lazy_step`` keeps the step traced (no recompilation per step) and moves the choice out of the
graph: the step function takes a Python bool ``regularize``, which it passes to
``Objective.discriminator`` (or to a penalty); each value is compiled once, and each call reads
the step on the host (a Python int, or a CPU tensor: no device sync) and runs the variant of
``step % every == 0``.  The numbers equal the traced-conditional version's.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from advloss._checks import interval
from advloss.errors import AdvlossTypeError

__all__ = ["LazyStep", "lazy_step"]


class LazyStep:
    """A training step with a regularized and a plain variant, compiled once each and chosen
    per call by ``step % every == 0`` on the host (made by ``lazy_step``).

    Examples:
        >>> import advloss
        >>> lazy = advloss.lazy_step(lambda *, step, regularize: regularize, every=16)
        >>> lazy.due(32), lazy.due(33), lazy(step=48)
        (True, False, True)
    """

    __slots__ = ("_compiled", "compile", "every", "fn")

    def __init__(self, fn: Callable[..., Any], every: int, compile: Callable[..., Any] | None):
        if not callable(fn):
            raise AdvlossTypeError(
                f"lazy_step: fn must be the training-step function (a callable taking "
                f"regularize=<bool>); received {type(fn).__name__}."
            )
        if compile is not None and not callable(compile):
            raise AdvlossTypeError(
                f"lazy_step: compile must be a callable such as jax.jit, tf.function or "
                f"torch.compile (or None); received {type(compile).__name__}."
            )
        self.fn, self.every, self.compile = fn, interval("lazy_step", "every", every), compile
        self._compiled: dict[bool, Callable[..., Any]] = {}

    def variant(self, regularize: bool) -> Callable[..., Any]:
        """The compiled step with ``regularize`` fixed (compiled on first use)."""
        try:
            return self._compiled[regularize]
        except KeyError:
            pass
        fn = functools.partial(self.fn, regularize=regularize)
        functools.update_wrapper(fn, self.fn)
        compiled = fn if self.compile is None else self.compile(fn)
        self._compiled[regularize] = compiled
        return compiled

    def due(self, step: Any) -> bool:
        """Whether ``step`` (a Python int, a NumPy integer or a 0-d integer tensor whose value
        the host can read: a CPU tensor, an eager TF tensor, a JAX array) is a regularized
        step."""
        try:
            value = operator.index(step)
        except TypeError:
            raise AdvlossTypeError(
                f"lazy_step: step must be an int or a 0-d integer tensor the host can read "
                f"(e.g. a CPU tensor); received {step!r:.60} of type {type(step).__name__}."
            ) from None
        return value % self.every == 0

    def __call__(self, *args: Any, step: Any, **kwargs: Any) -> Any:
        """``fn(*args, step=step, regularize=step % every == 0, **kwargs)``, compiled."""
        return self.variant(self.due(step))(*args, step=step, **kwargs)

    def __repr__(self) -> str:
        return f"lazy_step({getattr(self.fn, '__name__', self.fn)!s}, every={self.every})"


def lazy_step(
    fn: Callable[..., Any], *, every: int, compile: Callable[..., Any] | None = None
) -> LazyStep:
    r"""The recommended form of lazy regularization under ``jax.jit``, ``tf.function`` and
    ``torch.compile``: ``fn`` compiled twice, with ``regularize=True`` and ``False``, and each
    call running the variant of ``step % every == 0``, decided on the host.

    ``fn(*args, step, regularize, **kwargs)`` is the user's training step; it passes
    ``regularize`` on to ``Objective.discriminator(..., step=step, regularize=regularize)`` (or
    to ``r1_penalty(..., regularize=...)``), which then computes ``every`` × the lazy penalties
    or skips them with no traced conditional.  The call ``lazy(*args, step=step, **kwargs)``
    reads ``step`` on the host — pass a Python int (``jax.jit`` traces it; ``tf.function`` and
    ``torch.compile`` need a tensor to avoid one graph per value: a CPU tensor is read for free)
    — and passes it on unchanged, so schedules (instance noise) still see the traced step.
    Values equal those of the same step with the traced conditional.

    Args:
        fn: the training step; takes the keyword arguments ``step`` and ``regularize``.
        every: the penalties' interval ``k`` (an int >= 1), equal to their ``every``.
        compile: ``jax.jit``, ``tf.function``, ``torch.compile`` (or a ``functools.partial``
            of one, e.g. with ``donate_argnums``), applied to each variant; ``None`` runs
            ``fn`` as it is (eager).

    Returns:
        A ``LazyStep``: call it with ``step=``; ``.variant(True)`` is the compiled regularized
        step.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> objective = advloss.Objective.parse("ns + r1(gamma=2, every=4)")
        >>> def d_step(real, fake, *, step, regularize):
        ...     out = objective.discriminator(D, real, fake, step=step, regularize=regularize)
        ...     return out.terms["r1"]
        >>> lazy = advloss.lazy_step(d_step, every=4)       # compile=torch.compile, jax.jit, ...
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> [round(float(lazy(real, fake, step=torch.tensor(s))), 4) for s in range(5)]
        [100.0, 0.0, 0.0, 0.0, 100.0]
    """
    return LazyStep(fn, every, compile)
