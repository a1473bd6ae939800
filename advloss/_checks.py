"""Validation shared by losses and penalties.  Hyperparameters are Python numbers, checked once
at construction, so no check ever needs a value from a device (no host synchronisation)."""

from __future__ import annotations

import math
from typing import Any

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


#: The largest interval (``every=``) accepted: a traced step is an int32 in JAX and TensorFlow,
#: and a penalty multiplied by a larger interval is no longer a finite float32.
MAX_INTERVAL = 2**31 - 1


def interval(where: str, name: str, value: Any) -> int:
    """A lazy-regularization interval: a Python int in [1, ``MAX_INTERVAL``]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INTERVAL:
        text = repr(value) if len(repr(value)) <= 40 else f"an int of {len(str(value))} digits"
        raise AdvlossValueError(
            f"{where}: {name} must be an int from 1 to {MAX_INTERVAL} (1 = every step); "
            f"received {text}."
        )
    return value


def flag(where: str, name: str, value: Any) -> bool:
    """A Python bool (not a truthy string such as ``'yes'``)."""
    if not isinstance(value, bool):
        raise AdvlossTypeError(
            f"{where}: {name} must be a bool (True or False); received {value!r} of type "
            f"{type(value).__name__}."
        )
    return value


def not_a_number(where: str, name: str, value: Any) -> None:
    """Refuse a Python number where a batch tensor is expected (framework detection skips
    numbers, so without this they would fail later inside a framework call)."""
    if isinstance(value, (int, float, complex)):
        raise AdvlossTypeError(
            f"{where}: {name} must be a tensor of shape (N, ...); received the Python "
            f"{type(value).__name__} {value!r}."
        )


def batch_shape(where: str, name: str, shape: tuple[Any, ...], what: str = "tensor") -> None:
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
