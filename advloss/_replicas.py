"""Means over data-parallel replicas: the one place the core calls the backend primitive
``replica_mean`` (see ``advloss.backend.Backend.replica_mean`` for what ``replicas`` names in
each framework).  ``replicas=None`` — one device, or a global view such as ``jax.jit`` over
sharded arrays — returns the values unchanged."""

from __future__ import annotations

from typing import Any

from advloss.backend import Backend, optional_primitive
from advloss.errors import AdvlossTypeError


def replica_mean(where: str, b: Backend, values: list[Any], replicas: Any) -> list[Any]:
    """``values`` (0-d tensors) averaged over ``replicas``, with no gradient; unchanged for
    ``replicas=None``."""
    if replicas is None:
        return list(values)
    reduce = optional_primitive(b, "replica_mean")
    if reduce is None:
        raise AdvlossTypeError(
            f"{where}: the {b.name!r} backend has no replica_mean primitive, so replicas= "
            f"cannot be used with it; received replicas={replicas!r:.60}."
        )
    try:
        return reduce(values, replicas)
    except AdvlossTypeError as err:
        raise AdvlossTypeError(f"{where}: {err}") from None
