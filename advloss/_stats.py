"""``Stats``: the balance statistics of an ``Objective`` call, computed on first access.

In eager mode every tensor op is paid for when it runs, and a training loop that never reads
``out.stats`` would pay the statistics' ops (about 18 in PyTorch) on every step; a compiled
graph (``torch.compile``, ``jax.jit``, ``tf.function``) drops the unused ones itself.  So in
eager mode the objective returns this mapping, which holds the (detached) logits and computes
the statistics the first time any of them is read — the same values, at the price of one
closure.  It is a mapping like the ``dict`` it replaces: indexing, iteration, ``**stats``,
``dict(stats)``, equality, and it flattens as a dict in JAX's and PyTorch's pytrees and in
``tf.nest`` (the adapters register it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any


class Stats(MutableMapping):
    """A ``dict`` of statistics whose computed entries are produced on first access.

    ``Stats(compute, extra)``: ``compute()`` returns the computed entries (they come first, in
    its order), ``extra`` entries already known (an explicit state's next value).  Also
    ``Stats(mapping_or_pairs)`` (how ``tf.nest`` rebuilds a mapping), like ``dict``.

    Examples:
        >>> from advloss._stats import Stats
        >>> s = Stats(lambda: {"d_real": 1.0}, {"lecam.ema_real": 0.5})
        >>> s.computed, s["d_real"], s.computed, dict(s)
        (False, 1.0, True, {'d_real': 1.0, 'lecam.ema_real': 0.5})
    """

    __slots__ = ("_compute", "_data")

    def __init__(self, compute: Any = None, extra: Any = None) -> None:
        if compute is not None and not callable(compute):  # a mapping or pairs, as dict()
            compute, extra = None, dict(compute, **(extra or {}))
        self._compute: Callable[[], dict[str, Any]] | None = compute
        self._data: dict[str, Any] = dict(extra or {})

    @property
    def computed(self) -> bool:
        """Whether the statistics have been computed."""
        return self._compute is None

    def _filled(self) -> dict[str, Any]:
        compute = self._compute
        if compute is not None:
            self._compute = None
            self._data = {**compute(), **self._data}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._filled()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._filled()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._filled()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._filled())

    def __len__(self) -> int:
        return len(self._filled())

    def __contains__(self, key: object) -> bool:
        return key in self._filled()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Stats):
            other = other._filled()
        return self._filled() == other

    __hash__ = None  # type: ignore[assignment]  # mutable, as dict

    def __repr__(self) -> str:
        return repr(self._filled())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Stats, (None, self._filled()))


def flatten(stats: Stats) -> tuple[list[Any], list[str]]:
    """``(values, keys)`` — the pytree flattening the adapters register."""
    data = stats._filled()
    return list(data.values()), list(data)


def unflatten(keys: Any, values: Any) -> Stats:
    """The mapping rebuilt from ``flatten``'s parts (already computed)."""
    return Stats(None, dict(zip(keys, values, strict=True)))
