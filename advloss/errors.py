"""The exceptions advloss raises.

Every error advloss raises is an :class:`AdvlossError`, and also an instance of the builtin
exception a Python user would expect (``TypeError`` for a wrong kind of argument, ``ValueError``
for a wrong value), so ``except ValueError`` keeps working.  Messages say what was received and
what was expected, and name the argument.
"""

from __future__ import annotations

__all__ = ["AdvlossError", "AdvlossPluginWarning", "AdvlossTypeError", "AdvlossValueError"]


class AdvlossError(Exception):
    """Base class of every exception raised by advloss."""


class AdvlossTypeError(AdvlossError, TypeError):
    """An argument has the wrong kind: mixed frameworks, a non-floating dtype, an unknown type."""


class AdvlossValueError(AdvlossError, ValueError):
    """An argument has a wrong value: an unknown name, a bad hyperparameter, a bad shape."""


class AdvlossPluginWarning(UserWarning):
    """A plugin entry point (group ``advloss.losses`` or ``advloss.penalties``) was skipped: it
    failed to import or load, loaded an object of the wrong kind, has an invalid name, or its name
    is already taken.  Other plugins still load; see ``docs/plugins.md``."""
