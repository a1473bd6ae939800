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


def interval(where: str, name: str, value: Any) -> int:
    """A lazy-regularization interval: a Python int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AdvlossValueError(
            f"{where}: {name} must be an int >= 1 (1 = every step); received {value!r}."
        )
    return value
