"""The random numbers of an augmentation: drawn from ``key``, or given explicitly as ``draws=``
(tensors of the batch's framework or NumPy arrays), checked and converted once, here.

Each transform declares its draws as ``Draw`` values: per-sample uniforms in [0, 1) or standard
normals (shape ``(N,)``, or ``(N, k)`` with ``columns=k``), or per-sample integers, one column
per image axis (shape ``(N, k)``, column ``j`` uniform on ``low[j]..high[j]`` inclusive).  Only static attributes (dtype, shape) of explicit
draws are checked, so nothing here reads a value from a device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from advloss.backend import FLOATING_DTYPES, Backend
from advloss.errors import AdvlossTypeError, AdvlossValueError

#: The dtype of integer draws (shifts and offsets), in every framework.
INDEX_DTYPE = "int32"


class Draw(NamedTuple):
    """One named draw: ``(N,)`` uniforms in [0, 1) when ``low`` is empty (N(0, 1) normals with
    ``normal=True``; shape ``(N, columns)`` with ``columns > 0``), else ``(N, len(low))``
    integers with column ``j`` uniform on ``low[j]..high[j]``."""

    name: str
    low: tuple[int, ...] = ()
    high: tuple[int, ...] = ()
    normal: bool = False
    columns: int = 0

    @property
    def integer(self) -> bool:
        return bool(self.low)

    @property
    def distribution(self) -> str:
        """``"integer"``, ``"normal"`` or ``"uniform"`` (the names of ``draw_specs``)."""
        return "integer" if self.integer else "normal" if self.normal else "uniform"

    def shape(self, n: int | None) -> tuple[int | None, ...]:
        if self.integer:
            return (n, len(self.low))
        return (n, self.columns) if self.columns else (n,)

    def describe(self, n: int | None) -> str:
        size = "N" if n is None else str(n)
        if not self.integer:
            shape = f"({size}, {self.columns})" if self.columns else f"({size},)"
            values = "standard normal floats" if self.normal else "floats in [0, 1)"
            return f"shape {shape}, {values}"
        ranges = ", ".join(f"{lo}..{hi}" for lo, hi in zip(self.low, self.high, strict=True))
        return f"shape ({size}, {len(self.low)}), integers in {ranges} (one column each)"


def resolve(
    where: str,
    b: Backend,
    like: Any,
    n: int | None,
    float_dtype: str,
    specs: list[Draw],
    key: Any,
    draws: Any,
) -> dict[str, Any]:
    """``{name: tensor}`` for every draw of ``specs``: uniforms in ``float_dtype``, integers in
    ``INDEX_DTYPE``, on ``like``'s framework and device, constants for differentiation.  From
    ``draws`` when given (it must hold exactly these names), else drawn from ``key``."""
    if draws is None:
        sources = b.split_key(key, len(specs)) if specs else []
        return {
            d.name: _draw(b, rng, like, n, float_dtype, d)
            for d, rng in zip(specs, sources, strict=True)
        }
    if not isinstance(draws, Mapping):
        raise AdvlossTypeError(
            f"{where}: draws must be a dict {{name: array}} (what return_draws=True returns); "
            f"received {type(draws).__name__}."
        )
    names = [d.name for d in specs]
    missing = [k for k in names if k not in draws]
    unknown = [k for k in draws if k not in names]
    if missing or unknown:
        parts = [f"missing {missing}"] if missing else []
        parts += [f"unexpected {unknown}"] if unknown else []
        raise AdvlossValueError(
            f"{where}: draws must hold exactly the draws of this call, {names or 'none'}; "
            f"received {sorted(draws, key=str)} ({', '.join(parts)})."
        )
    return {d.name: _given(where, b, like, n, float_dtype, d, draws[d.name]) for d in specs}


def _constant(b: Backend, values: list[int], dtype: str, like: Any) -> Any:
    return b.to_device(b.asarray(values, dtype), like)


def _draw(b: Backend, rng: Any, like: Any, n: int | None, dtype: str, d: Draw) -> Any:
    if d.normal:
        return b.normal(rng, d.shape(n), dtype, like)
    u = b.uniform(rng, d.shape(n), dtype, like)
    if not d.integer:
        return u
    # floor(u * count) is uniform on 0..count-1; the minimum guards u * count rounding up to
    # count.  u >= 0, so the cast (which truncates) is the floor.  Python numbers where every
    # column has the same range (square images): no constant tensors to build and move (the
    # same values: small integer counts are exact in every float dtype).
    counts = [hi - lo + 1 for lo, hi in zip(d.low, d.high, strict=True)]
    if len(set(counts)) == 1 and len(set(d.low)) == 1:
        count = float(counts[0])
        index = b.cast(b.minimum(u * count, count - 1.0), INDEX_DTYPE)
        return index + d.low[0] if d.low[0] else index
    count_t = _constant(b, counts, dtype, like)
    low = _constant(b, list(d.low), INDEX_DTYPE, like)
    return b.cast(b.minimum(u * count_t, count_t - 1.0), INDEX_DTYPE) + low


def _given(
    where: str, b: Backend, like: Any, n: int | None, dtype: str, d: Draw, value: Any
) -> Any:
    label = f"draws[{d.name!r}]"
    if b.is_tensor_type(type(value)):
        tensor = value
    elif isinstance(value, (np.ndarray, np.generic, list, tuple)):
        tensor = b.to_device(b.from_numpy(np.asarray(value)), like)
    else:
        raise AdvlossTypeError(
            f"{where}: {label} must be a {b.name} tensor or a NumPy array ({d.describe(n)}); "
            f"received {type(value).__module__}.{type(value).__qualname__}."
        )
    got, want = b.shape(tensor), d.shape(n)
    if len(got) != len(want) or any(
        p is not None and q is not None and p != q for p, q in zip(got, want, strict=False)
    ):
        raise AdvlossValueError(
            f"{where}: {label} must have {d.describe(n)}; received shape {tuple(got)}."
        )
    kind = b.dtype(tensor)
    if d.integer and not kind.startswith(("int", "uint")):
        raise AdvlossTypeError(
            f"{where}: {label} must hold integers ({d.describe(n)}); received dtype {kind}."
        )
    if not d.integer and kind not in FLOATING_DTYPES:
        raise AdvlossTypeError(
            f"{where}: {label} must hold floats ({d.describe(n)}); received dtype {kind}."
        )
    return b.cast(b.stop_gradient(tensor), INDEX_DTYPE if d.integer else dtype)
