r"""Step → value schedules (for the instance-noise standard deviation, or anything else).

A schedule is a small frozen value called with the training step:

* a Python ``int`` (or float, or NumPy scalar) step gives a Python ``float``, computed with
  ``math`` — so a caller can skip work when the value is exactly 0;
* a tensor step (PyTorch, TensorFlow or JAX, integer or float, including a traced step inside
  ``jax.jit`` or ``tf.function`` and a 0-d tensor under ``torch.compile``) gives a 0-d float32
  tensor of that framework (``schedule(step, dtype="float64")``: float64, for a value that
  enters a float64 computation, such as a penalty's scheduled γ), computed with backend
  primitives only: no host synchronisation, no Python branch on the step's value.

Both paths compute the same formula (equal to the tensor dtype's rounding).  With $t$ the step:

| schedule | value at step $t$ |
|---|---|
| ``constant`` | $v$ |
| ``linear`` | $v_0 + (v_1 - v_0)\,u$, $u = \operatorname{clip}((t - t_0)/T, 0, 1)$ |
| ``cosine`` | $v_1 + (v_0 - v_1)\,\tfrac12\,(1 + \cos \pi u)$, same $u$ |
| ``exponential`` | $v_1 + (v_0 - v_1)\,2^{-\max(t - t_0, 0)/h}$ (half-life $h$) |
| ``piecewise`` | $v_i$ for $b_{i-1} \le t < b_i$ |

($v_0$ = ``start``, $v_1$ = ``end``, $T$ = ``steps``, $t_0$ = ``begin``.)
Build them directly, from a config dict with ``get_schedule``, or from the compact string
of a command line: ``"0.1"`` (constant), ``"0.1:0:10000"`` (linear from 0.1 to 0 over 10 000
steps), ``"cosine:0.1:0:5000"``, ``"exponential:0.1:2000"`` (start, half-life).

Examples:
    >>> import advloss
    >>> linear = advloss.get_schedule("0.1:0:100")        # 0.1 -> 0 over 100 steps
    >>> linear(0), linear(50), linear(100), linear(200)
    (0.1, 0.05, 0.0, 0.0)
    >>> round(advloss.get_schedule("cosine:0.1:0:100")(50), 4)
    0.05
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from advloss import registry
from advloss._checks import hyperparameter, integer, positive
from advloss._config import Configurable
from advloss.backend import backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = [
    "Constant",
    "Cosine",
    "Exponential",
    "Linear",
    "Piecewise",
    "Schedule",
    "available_schedules",
    "get_schedule",
]


def _is_number(step: Any) -> bool:
    if isinstance(step, bool):
        return False
    if isinstance(step, (int, float)):
        return True
    import numpy as np

    return isinstance(step, (np.integer, np.floating)) or (
        isinstance(step, np.ndarray) and step.ndim == 0 and step.dtype.kind in "iuf"
    )


def _steps(where: str, name: str, value: Any, *, minimum: int) -> int:
    return integer(where, name, value, minimum=minimum)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule(Configurable):
    """Base class of the schedules: ``schedule(step)`` and ``config()``."""

    name: ClassVar[str] = ""

    def __call__(self, step: Any, *, dtype: str = "float32") -> Any:
        """The value at ``step``: a Python float for a Python step, a 0-d tensor of the step's
        framework for a tensor step, computed in ``dtype`` (``"float32"``, or ``"float64"``
        where a float64 computation uses the value, e.g. a penalty's scheduled γ)."""
        if dtype not in ("float32", "float64"):
            raise AdvlossValueError(
                f"{type(self).__name__}: dtype must be 'float32' or 'float64'; received {dtype!r}."
            )
        if _is_number(step):
            t = float(step)
            if not math.isfinite(t):
                raise AdvlossValueError(
                    f"{type(self).__name__}: step must be finite; received {step}."
                )
            return float(self._python(t))
        b = backend_for(step, where=type(self).__name__)
        if b.host_values:  # NumPy: the value is on the host, so compute it in Python
            return float(self._python(float(step)))
        t = b.cast(step, dtype)
        return self._tensor(b, t)

    def _python(self, t: float) -> float:
        raise NotImplementedError

    def _tensor(self, b: Any, t: Any) -> Any:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class Constant(Schedule):
    """``value`` at every step.

    >>> Constant(value=0.1)(5)
    0.1
    """

    name: ClassVar[str] = "constant"
    value: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", hyperparameter("Constant", "value", self.value))

    def _python(self, t: float) -> float:
        return self.value

    def _tensor(self, b: Any, t: Any) -> Any:
        return t * 0.0 + self.value


def _fraction_python(t: float, begin: int, steps: int) -> float:
    return min(max((t - begin) / steps, 0.0), 1.0)


def _fraction_tensor(b: Any, t: Any, begin: int, steps: int) -> Any:
    return b.minimum(b.maximum((t - float(begin)) / float(steps), 0.0), 1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Ramp(Schedule):
    start: float
    end: float = 0.0
    steps: int
    begin: int = 0

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "start", hyperparameter(where, "start", self.start))
        object.__setattr__(self, "end", hyperparameter(where, "end", self.end))
        object.__setattr__(self, "steps", _steps(where, "steps", self.steps, minimum=1))
        object.__setattr__(self, "begin", _steps(where, "begin", self.begin, minimum=0))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Linear(_Ramp):
    """``start`` until step ``begin``, then linearly to ``end`` at ``begin + steps``, then
    ``end``.

    >>> s = Linear(start=0.1, end=0.0, steps=10_000)
    >>> print(s(0), f"{s(2_500):.4f}", s(10_000), s(20_000))
    0.1 0.0750 0.0 0.0
    """

    name: ClassVar[str] = "linear"

    def _python(self, t: float) -> float:
        return self.start + (self.end - self.start) * _fraction_python(t, self.begin, self.steps)

    def _tensor(self, b: Any, t: Any) -> Any:
        u = _fraction_tensor(b, t, self.begin, self.steps)
        return self.start + (self.end - self.start) * u


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cosine(_Ramp):
    """Half a cosine from ``start`` (step ``begin``) to ``end`` (step ``begin + steps``).

    >>> s = Cosine(start=0.1, end=0.0, steps=100)
    >>> print(f"{s(0):.4f} {s(25):.4f} {s(50):.4f} {s(100):.4f}")
    0.1000 0.0854 0.0500 0.0000
    """

    name: ClassVar[str] = "cosine"

    def _python(self, t: float) -> float:
        u = _fraction_python(t, self.begin, self.steps)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * u))

    def _tensor(self, b: Any, t: Any) -> Any:
        u = _fraction_tensor(b, t, self.begin, self.steps)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + b.cos(math.pi * u))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Exponential(Schedule):
    """Exponential decay from ``start`` towards ``end`` with half-life ``half_life`` steps,
    starting at step ``begin``.

    >>> s = Exponential(start=0.1, half_life=1000)
    >>> print(f"{s(0):.4f} {s(1000):.4f} {s(3000):.5f}")
    0.1000 0.0500 0.01250
    """

    name: ClassVar[str] = "exponential"
    start: float
    half_life: float
    end: float = 0.0
    begin: int = 0

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "start", hyperparameter(where, "start", self.start))
        object.__setattr__(self, "end", hyperparameter(where, "end", self.end))
        object.__setattr__(self, "half_life", positive(where, "half_life", self.half_life))
        object.__setattr__(self, "begin", _steps(where, "begin", self.begin, minimum=0))

    def _python(self, t: float) -> float:
        return self.end + (self.start - self.end) * 0.5 ** (
            max(t - self.begin, 0.0) / self.half_life
        )

    def _tensor(self, b: Any, t: Any) -> Any:
        exponent = b.maximum(t - float(self.begin), 0.0) / self.half_life
        return self.end + (self.start - self.end) * (0.5**exponent)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Piecewise(Schedule):
    """``values[i]`` on ``boundaries[i-1] <= step < boundaries[i]``.

    >>> s = Piecewise(boundaries=(100, 200), values=(0.1, 0.05, 0.0))
    >>> print(s(0), s(99), s(100), s(250))
    0.1 0.1 0.05 0.0
    """

    name: ClassVar[str] = "piecewise"
    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        where = type(self).__name__
        for field in ("boundaries", "values"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise AdvlossTypeError(f"{where}: {field} must be a list; received {value!r}.")
        bounds = tuple(_steps(where, "boundaries[i]", v, minimum=0) for v in self.boundaries)
        values = tuple(hyperparameter(where, "values[i]", v) for v in self.values)
        if any(a >= c for a, c in itertools.pairwise(bounds)):
            raise AdvlossValueError(
                f"{where}: boundaries must be strictly increasing; received {list(bounds)}."
            )
        if len(values) != len(bounds) + 1:
            raise AdvlossValueError(
                f"{where}: values needs one more entry than boundaries ({len(bounds) + 1}); "
                f"received {len(values)}."
            )
        object.__setattr__(self, "boundaries", bounds)
        object.__setattr__(self, "values", values)

    def _python(self, t: float) -> float:
        value = self.values[0]
        for bound, v in zip(self.boundaries, self.values[1:], strict=True):
            if t >= bound:
                value = v
        return value

    def _tensor(self, b: Any, t: Any) -> Any:
        # One exact 0/1 indicator per piece, so each value is returned exactly (a running sum
        # of differences would leave rounding residue, e.g. 1.5e-8 where the value is 0).
        steps_past = [b.cast(t >= float(bound), b.dtype(t)) for bound in self.boundaries]
        value = t * 0.0
        lower: Any = None
        indicator: Any
        for i, v in enumerate(self.values):
            below_next = 1.0 - steps_past[i] if i < len(steps_past) else None
            if lower is None and below_next is None:  # no boundaries: a constant
                indicator = 1.0
            elif lower is None:
                indicator = below_next
            elif below_next is None:
                indicator = lower
            else:
                indicator = lower * below_next
            value = value + v * indicator
            lower = steps_past[i] if i < len(steps_past) else None
        return value


_register_builtins("schedule", Constant, Linear, Cosine, Exponential, Piecewise)
# Positional fields of the compact string form, per schedule.
_STRING_FIELDS = {
    "constant": ("value",),
    "linear": ("start", "end", "steps", "begin"),
    "cosine": ("start", "end", "steps", "begin"),
    "exponential": ("start", "half_life", "end", "begin"),
}


def available_schedules() -> list[str]:
    """Names ``get_schedule`` accepts (``advloss.registry.available("schedule")``).

    >>> available_schedules()
    ['constant', 'cosine', 'exponential', 'linear', 'piecewise']
    """
    return registry.available("schedule")


def _parse(text: str) -> Schedule:
    where = "get_schedule"
    parts = [p.strip() for p in text.strip().split(":")]
    name = "constant" if len(parts) == 1 else "linear"
    if parts and parts[0] and not _looks_numeric(parts[0]):
        name, parts = parts[0], parts[1:]
    if name not in _STRING_FIELDS:
        raise AdvlossValueError(
            f"{where}: cannot read the schedule {text!r}: unknown name {name!r}; expected "
            f"'V' (constant), 'START:END:STEPS' (linear) or NAME:ARGS with NAME one of "
            f"{sorted(_STRING_FIELDS)} (piecewise needs a dict)."
        )
    fields = _STRING_FIELDS[name]
    if not 1 <= len(parts) <= len(fields):
        raise AdvlossValueError(
            f"{where}: the schedule {text!r} gives {len(parts)} values; {name} takes up to "
            f"{len(fields)}: {':'.join(fields)}."
        )
    kwargs: dict[str, Any] = {}
    for field, part in zip(fields, parts, strict=False):
        try:
            number = float(part)
        except ValueError:
            raise AdvlossValueError(
                f"{where}: {field}={part!r} in the schedule {text!r} is not a number."
            ) from None
        kwargs[field] = (
            int(number) if field in ("steps", "begin") and number.is_integer() else number
        )
    return registry._KINDS["schedule"].get(where, name, kwargs)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def get_schedule(spec: Any, **hyperparameters: Any) -> Schedule:
    """A schedule from a number (constant), a name with keyword hyperparameters, a config dict,
    a compact string, or a schedule (returned as is).

    >>> get_schedule(0.1)
    Constant(value=0.1)
    >>> get_schedule("0.1:0:10000")
    Linear(start=0.1, end=0.0, steps=10000, begin=0)
    >>> get_schedule({"name": "cosine", "start": 0.2, "steps": 50})
    Cosine(start=0.2, end=0.0, steps=50, begin=0)
    >>> get_schedule("exponential", start=0.1, half_life=500)
    Exponential(start=0.1, half_life=500.0, end=0.0, begin=0)
    """
    where = "get_schedule"
    if _is_number(spec) and not hyperparameters:
        return Constant(value=float(spec))
    schedules = registry._KINDS["schedule"]
    # The compact form ("0.1", "0.1:0:10000", "cosine:0.1:0:5000"); its error for an unknown
    # name shows that syntax too (the form a command-line user typed).
    if (
        isinstance(spec, str)
        and not hyperparameters
        and (":" in spec or _looks_numeric(spec) or schedules.lookup(spec) is None)
    ):
        return _parse(spec)
    if isinstance(spec, (str, Mapping)) or schedules.is_object(spec):
        return schedules.build(where, spec, hyperparameters)
    raise AdvlossValueError(
        f"{where}: expected a number, a schedule, a config dict with a 'name', a string such as "
        f"'0.1:0:10000', or one of {available_schedules()}; received {spec!r}."
    )
