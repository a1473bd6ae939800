"""One config protocol for every configurable value (losses, penalties, label transforms,
schedules, ratios, noise controllers, the balance monitor): ``config()`` writes the declared
dataclass fields as plain data (a field holding such a value, e.g. a penalty's scheduled γ, as
its own config), ``from_config`` reads them back, and the dataclass itself gives
``__repr__``, ``__eq__`` and ``__hash__`` from the same fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from advloss.errors import AdvlossTypeError, AdvlossValueError

_T = TypeVar("_T", bound="Configurable")


class Configurable:
    """Mixin of frozen dataclasses with a ``name``: ``config()`` and ``from_config``.

    Examples:
        >>> import advloss
        >>> loss = advloss.get_loss("hinge", real_margin=2.0)
        >>> loss.config()
        {'name': 'hinge', 'real_margin': 2.0, 'fake_margin': 1.0}
        >>> type(loss).from_config(loss.config()) == loss
        True
    """

    name: ClassVar[str] = ""
    # No instance __dict__ of its own, so that a subclass declared with slots (the losses) has
    # none: torch.compile then guards no instance dict per method or class attribute read.
    __slots__ = ()

    def config(self) -> dict[str, Any]:
        """The value as plain data (JSON/YAML-ready): ``{"name": ..., **fields}``, tuples as
        lists.  ``from_config`` — or ``advloss.registry.get(kind, config)`` — rebuilds it."""
        out: dict[str, Any] = {"name": self.name}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, Configurable):  # e.g. a scheduled γ: its own config
                value = value.config()
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_config(cls: type[_T], config: Mapping[str, Any]) -> _T:
        """Build from ``config()``'s dict; its ``name``, if any, must be this class's."""
        where = f"{cls.__name__}.from_config"
        if not isinstance(config, Mapping):
            raise AdvlossTypeError(
                f"{where}: config must be a dict; received {type(config).__name__}."
            )
        fields = dict(config)
        name = fields.pop("name", cls.name)
        if name != cls.name:
            raise AdvlossValueError(
                f"{where}: the config names {name!r}; expected {cls.name!r} (or no name). "
                f"advloss.registry.get(kind, config) builds whichever object a config names."
            )
        return cls(**fields)
