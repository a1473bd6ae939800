"""The exceptions advloss raises.

Every error advloss raises is an ``AdvlossError``, and also an instance of the builtin
exception a Python user would expect (``TypeError`` for a wrong kind of argument, ``ValueError``
for a wrong value), so ``except ValueError`` keeps working.  Messages say what was received and
what was expected, and name the argument.
"""

from __future__ import annotations

__all__ = ["AdvlossError", "AdvlossPluginWarning", "AdvlossTypeError", "AdvlossValueError"]


class AdvlossError(Exception):
    """Base class of every exception raised by advloss.

    Examples:
        >>> import advloss
        >>> try:
        ...     advloss.get_loss("nonsaturating")
        ... except advloss.AdvlossError as err:
        ...     print(type(err).__name__, "|", str(err)[:43])
        AdvlossValueError | get_loss: unknown loss name 'nonsaturating'
    """


class AdvlossTypeError(AdvlossError, TypeError):
    """An argument has the wrong kind: mixed frameworks, a non-floating dtype, an unknown type.

    Examples:
        >>> import numpy as np, advloss
        >>> try:
        ...     advloss.get_loss("ns").discriminator(np.array([1.0]), [0.0])
        ... except advloss.AdvlossTypeError as err:
        ...     print(isinstance(err, TypeError))
        True
    """


class AdvlossValueError(AdvlossError, ValueError):
    """An argument has a wrong value: an unknown name, a bad hyperparameter, a bad shape.

    Examples:
        >>> import advloss
        >>> try:
        ...     advloss.get_loss("lsgan", a=1, b=1)
        ... except ValueError as err:                           # an AdvlossValueError is a ValueError
        ...     print(str(err)[:62])
        LeastSquaresLoss: the fake target a and the real target b must
    """


class AdvlossPluginWarning(UserWarning):
    """A plugin entry point (group ``advloss.losses`` or ``advloss.penalties``) was skipped: it
    failed to import or load, loaded an object of the wrong kind, has an invalid name, or its name
    is already taken.  Other plugins still load; see ``docs/plugins.md``.

    Examples:
        >>> import advloss
        >>> issubclass(advloss.AdvlossPluginWarning, UserWarning)
        True
    """
