"""Validation shared by every module: one helper per kind of check, so each is written once and
its message reads the same everywhere (the argument, what was expected, what was received).
Hyperparameters are Python numbers, checked once at construction, and tensors are checked on
static attributes (dtype, shape) only, so no check ever needs a value from a device (no host
synchronisation)."""

from __future__ import annotations

import math
from typing import Any

from advloss.backend import FLOATING_DTYPES
from advloss.errors import AdvlossTypeError, AdvlossValueError


def hyperparameter(where: str, name: str, value: Any) -> float:
    """A finite Python float from a hyperparameter (Python or NumPy number; not a tensor)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:  # NumPy scalars and 0-d arrays, never tensors: those would need a host sync.
            import numpy as np

            if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
                value = value.item()
            else:
                raise TypeError
        except TypeError:
            raise AdvlossTypeError(
                f"{where}: {name} must be a Python number; received {value!r} "
                f"of type {type(value).__name__}."
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise AdvlossValueError(f"{where}: {name} must be finite; received {value}.")
    return value


def non_negative(where: str, name: str, value: Any) -> float:
    value = hyperparameter(where, name, value)
    if value < 0:
        raise AdvlossValueError(f"{where}: {name} must be >= 0; received {value}.")
    return value


def positive(where: str, name: str, value: Any, why: str = "") -> float:
    """A finite Python number > 0; ``why`` (e.g. what the value means) follows "> 0" in the
    message."""
    value = hyperparameter(where, name, value)
    if not value > 0:
        raise AdvlossValueError(
            f"{where}: {name} must be > 0{f' ({why})' if why else ''}; received {value}."
        )
    return value


#: The largest interval (``every=``) accepted: a traced step is an int32 in JAX and TensorFlow,
#: and a penalty multiplied by a larger interval is no longer a finite float32.
MAX_INTERVAL = 2**31 - 1


class _NotAnInt(AdvlossTypeError, AdvlossValueError):
    """A non-integer where an int is expected: an ``AdvlossTypeError``, and also the
    ``AdvlossValueError`` some of these checks raised before they were written once here."""


def integer(
    where: str,
    name: str,
    value: Any,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    note: str = "",
) -> int:
    """A Python int (a NumPy integer is converted; a bool is refused) in ``[minimum, maximum]``.

    A value that is not an integer raises ``AdvlossTypeError`` (also an ``AdvlossValueError``), one out
    of range ``AdvlossValueError``; ``note`` (e.g. ``"(1 = every step)"``) follows the range in
    the message."""
    if type(value).__module__ == "numpy":
        import numpy as np

        if isinstance(value, np.integer):
            value = int(value)
    expected = f"an int >= {minimum}" if maximum is None else f"an int from {minimum} to {maximum}"
    expected += f" {note}" if note else ""
    if isinstance(value, bool) or not isinstance(value, int):
        text = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise _NotAnInt(
            f"{where}: {name} must be an int; received {text} of type {type(value).__name__} "
            f"(expected {expected})."
        )
    if value < minimum or (maximum is not None and value > maximum):
        text = repr(value) if len(repr(value)) <= 40 else f"an int of {len(str(value))} digits"
        raise AdvlossValueError(f"{where}: {name} must be {expected}; received {text}.")
    return value


def interval(where: str, name: str, value: Any) -> int:
    """A lazy-regularization interval: a Python int in [1, ``MAX_INTERVAL``]."""
    return integer(where, name, value, minimum=1, maximum=MAX_INTERVAL, note="(1 = every step)")


def floating(where: object, name: str, b: Any, x: Any, *, hint: str = "") -> str:
    """The dtype of ``x``, a tensor of backend ``b``, which must be a floating dtype (float16,
    bfloat16, float32 or float64); ``hint`` ends the message (e.g. how to cast)."""
    dtype = b.dtype(x)
    if dtype not in FLOATING_DTYPES:
        raise AdvlossTypeError(
            f"{where}: {name} must be a floating-point tensor (float16, bfloat16, float32 or "
            f"float64); received a {b.name} tensor of dtype {dtype}.{' ' + hint if hint else ''}"
        )
    return dtype


class NoAutodiff(AdvlossTypeError, NotImplementedError):
    """A tensor of a backend without automatic differentiation where a gradient is needed (an
    ``AdvlossTypeError``, and also the ``NotImplementedError`` raised here before)."""


def discriminator(where: str, value: Any) -> None:
    """A discriminator: any callable from a batch to logits."""
    if not callable(value):
        raise AdvlossTypeError(
            f"{where}: discriminator must be a callable mapping a batch to logits (an nn.Module, "
            f"a Keras model, functools.partial(model.apply, params), ...); received "
            f"{type(value).__name__}."
        )


def flag(where: str, name: str, value: Any) -> bool:
    """A Python bool (not a truthy string such as ``'yes'``)."""
    if not isinstance(value, bool):
        raise AdvlossTypeError(
            f"{where}: {name} must be a bool (True or False); received {value!r} of type "
            f"{type(value).__name__}."
        )
    return value


def not_a_number(where: object, name: str, value: Any) -> None:
    """Refuse a Python number where a batch tensor is expected (framework detection skips
    numbers, so without this they would fail later inside a framework call)."""
    if isinstance(value, (int, float, complex)):
        raise AdvlossTypeError(
            f"{where}: {name} must be a tensor of shape (N, ...); received the Python "
            f"{type(value).__name__} {value!r}."
        )


def batch_shape(where: object, name: str, shape: tuple[Any, ...], what: str = "tensor") -> None:
    """A static shape ``(N, ...)`` with ``N >= 1`` (``N`` may be unknown at trace time): a 0-d
    value has no batch dimension, and an empty batch would give a silent NaN mean."""
    if len(shape) == 0:
        raise AdvlossValueError(
            f"{where}: {name} must have a batch dimension, shape (N, ...) with one entry per "
            f"sample; received a 0-d {what}. Do not reduce over the batch before the loss."
        )
    if shape[0] == 0:
        raise AdvlossValueError(
            f"{where}: {name} is an empty batch (shape {tuple(shape)}); expected at least one "
            f"sample. A mean over zero samples is NaN."
        )


def step(where: str, value: Any) -> None:
    """A training step: a Python int (not a bool), or a 0-d integer tensor / variable of any
    framework (a NumPy integer, ``optimizer.iterations``, a traced step).  Only static
    attributes are read: no host sync."""
    if isinstance(value, int) and not isinstance(value, bool):
        return
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        name = str(getattr(dtype, "name", dtype)).removeprefix("torch.")
        try:
            shape = tuple(value.shape)
        except (AttributeError, TypeError, ValueError):  # unknown rank at trace time
            shape = None
        if name.startswith(("int", "uint")) and shape in ((), None):
            return
        shown = f"a {type(value).__name__} of dtype {name} and shape {shape}"
    else:
        shown = f"{value!r:.60} of type {type(value).__name__}"
    raise AdvlossTypeError(
        f"{where}: step must be a Python int or a 0-d integer tensor (the training step); "
        f"received {shown}."
    )
