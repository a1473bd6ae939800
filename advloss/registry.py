"""Names -> objects: one registry for every kind of pluggable object, and plugins.

Kinds (``kinds()``): ``"loss"``, ``"penalty"``, ``"label_transform"``, ``"schedule"``,
``"ratio"`` (D:G update ratios), ``"noise"`` (instance-noise controllers), ``"augmentation"``,
``"recipe"`` (a published setup: objective and optimizer schedules, ``advloss.recipes``)
and ``"backend"`` (framework adapters, see ``advloss.backend``).  Each kind has the same three
sources of names, looked up in this order:

1. **in-process registrations** (``register(kind, name, obj)``; ``register_loss``,
   ``register_penalty``);
2. **built-ins**, registered by the module that defines them (the losses ``minimax``, ``ns``,
   ``lsgan``, ``hinge``, ``wgan``, ``ragan``, ``rpgan``, ..., the penalties ``gp``, ``r1``, ``r2``, ...); a
   registration replaces one only with ``overwrite=True``;
3. **entry points** of installed distributions, in the kind's group (``ENTRY_POINT_GROUPS``:
   ``advloss.losses``, ``advloss.penalties``, ``advloss.label_transforms``, ...).

Entry points are read lazily: ``import advloss`` reads none, and neither does a lookup of a
built-in or registered name.  They are read, and their objects imported, on the first lookup
of any other name of that kind and on the first ``available(kind)``; ``refresh_plugins``
reads them again (after installing a plugin in a running process).  A plugin that cannot be
used is skipped with an ``AdvlossPluginWarning`` naming it; it never breaks advloss or the
other plugins.

What each name maps to is either a **factory** (a class or callable that returns the object
when called with keyword hyperparameters, as the built-in classes do) or an **instance** (the
object itself, which then takes no hyperparameters).  ``get(kind, spec)`` takes a name (with
keyword hyperparameters), a config dict ``{"name": ..., **hyperparameters}`` (what the
built-ins' ``config()`` returns) or an object of the kind (returned as it is).

A loss object has callable ``discriminator(real_logits, fake_logits, **options)`` and
``generator(fake_logits, **options)`` (``advloss.losses.AdversarialLoss``); a penalty object has
a callable ``term(discriminator, real, fake, *, step=None, key=None)`` returning the weighted
penalty as a 0-d tensor, and optionally ``draw_specs(n_real, n_fake)`` (the random numbers it
consumes) and ``term_and_logits(...)`` (the penalty and the logits its forward pass computed,
for the loss to reuse).  See ``docs/plugins.md`` for every kind's protocol.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from advloss.errors import AdvlossError, AdvlossPluginWarning, AdvlossTypeError, AdvlossValueError

if TYPE_CHECKING:  # the losses register themselves here: no import at run time
    from advloss.losses import AdversarialLoss

__all__ = [
    "ENTRY_POINT_GROUPS",
    "LOSS_ENTRY_POINT_GROUP",
    "PENALTY_ENTRY_POINT_GROUP",
    "available",
    "available_losses",
    "available_penalties",
    "get",
    "get_loss",
    "get_penalty",
    "kinds",
    "refresh_plugins",
    "register",
    "register_loss",
    "register_penalty",
    "unregister",
    "unregister_loss",
    "unregister_penalty",
]

#: The entry-point group third-party distributions use to provide losses.
LOSS_ENTRY_POINT_GROUP = "advloss.losses"
#: The entry-point group third-party distributions use to provide penalties.
PENALTY_ENTRY_POINT_GROUP = "advloss.penalties"

_NAME = re.compile(r"[a-z0-9_.\-]+")
_NAME_RULE = "a non-empty string of lowercase letters, digits, '_', '-' and '.'"

# Held by registrations and entry-point scans; built-in and registered names are looked up
# without it (a dict read is atomic).
_LOCK = threading.RLock()

# The entry point whose object is being loaded in this thread (its module may call
# register_loss/register_penalty while it is imported), so that a registration made by a plugin
# is attributed to it and can never replace a built-in.
_LOADING = threading.local()


class _BuiltinReplaced(AdvlossValueError):
    """A plugin tried to replace a built-in name while it was loaded (not skipped: raised)."""


def _loading_plugin() -> str | None:
    return getattr(_LOADING, "plugin", None)


@dataclasses.dataclass(frozen=True)
class _Entry:
    """What a name maps to."""

    obj: Any
    is_instance: bool
    #: "built-in", "registered in this process", or the entry point's description.
    origin: str
    builtin: bool = False
    #: Hyperparameters a factory accepts; None: not checked (``**kwargs``, or no signature).
    accepted: tuple[str, ...] | None = None


def _accepted_hyperparameters(factory: Any) -> tuple[str, ...] | None:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # some builtins and C extensions have no signature
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


def _describe(obj: Any) -> str:
    """``module.QualName`` for classes and functions, ``TypeName repr`` for other objects."""
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(obj).__name__} {text}"


def _check_name(where: str, name: Any) -> str:
    if not isinstance(name, str):
        raise AdvlossTypeError(f"{where}: name must be a str; received {type(name).__name__}.")
    if not _NAME.fullmatch(name):
        raise AdvlossValueError(f"{where}: name must be {_NAME_RULE}; received {name!r}.")
    return name


def _caller() -> tuple[FrameType | None, int]:
    """The first frame outside this module, and its ``stacklevel`` as seen from the caller of
    this function's caller (for ``warnings.warn``)."""
    level = 2
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return frame, level


def _warn(message: str) -> None:
    """An ``AdvlossPluginWarning`` attributed to the first caller outside this module."""
    warnings.warn(message, AdvlossPluginWarning, stacklevel=_caller()[1])


def _caller_module() -> str:
    """The ``__name__`` of the first caller outside this module (who registered a name)."""
    frame = _caller()[0]
    return "?" if frame is None else str(frame.f_globals.get("__name__", "?"))


def _entry_points(group: str) -> Iterable[Any]:
    """The installed entry points of ``group`` (a seam for tests)."""
    from importlib.metadata import entry_points

    return entry_points(group=group)


def _describe_entry_point(ep: Any) -> str:
    text = f"entry point '{getattr(ep, 'name', '?')} = {getattr(ep, 'value', '?')}'"
    dist = getattr(ep, "dist", None)
    if dist is not None:
        with contextlib.suppress(Exception):  # metadata without a name or a version
            text += f" (distribution {dist.name} {dist.version})"
    return text


class _Registry:
    """One kind's namespace: built-ins, registrations and entry points."""

    def __init__(
        self,
        kind: str,
        noun: str,
        plural: str,
        group: str,
        is_object: Callable[[Any], bool],
        protocol: str,
    ) -> None:
        self.kind, self.noun, self.plural, self.group = kind, noun, plural, group
        self.builtins: dict[str, _Entry] = {}
        self.is_object = is_object
        self.protocol = protocol
        self.registered: dict[str, _Entry] = {}
        self.plugins: dict[str, _Entry] = {}
        self.scanned = False
        #: Called with no argument after every change of the names (caches to empty).
        self.listeners: list[Callable[[], None]] = []

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    def add_builtin(self, name: str, obj: Any) -> None:
        """Make the factory ``obj`` the built-in ``name`` (called by the defining module)."""
        self.builtins[name] = _Entry(obj, False, "built-in", True, _accepted_hyperparameters(obj))

    def api(self, verb: str, *args: str) -> str:
        """How a user calls ``verb`` for this kind: ``register_loss('x', ...)`` for losses and
        penalties (their own functions), ``register('schedule', 'x', ...)`` otherwise."""
        if self.kind in ("loss", "penalty"):
            return f"{verb}_{self.kind}({', '.join(args)})"
        return f"{verb}({', '.join([repr(self.kind), *args])})"

    # ---------------------------------------------------------------- lookup

    def available(self) -> list[str]:
        with _LOCK:  # waits for a scan under way in another thread
            if not self.scanned:
                self.scan()
            return sorted({*self.registered, *self.builtins, *self.plugins})

    def lookup_local(self, name: Any) -> _Entry | None:
        """A registered or built-in name, without reading the entry points."""
        if not isinstance(name, str):
            return None
        return self.registered.get(name) or self.builtins.get(name)

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: "built-in", "registered in this process", "registered
        by <entry point> while it was loaded", or the entry point's description."""
        entry = self.lookup(name)
        return "unknown" if entry is None else entry.origin

    def lookup(self, name: Any) -> _Entry | None:
        if not isinstance(name, str):
            return None
        entry = self.lookup_local(name)
        if entry is None:
            with _LOCK:  # waits for a scan under way in another thread
                if not self.scanned:
                    self.scan()
                entry = self.plugins.get(name)
        return entry

    def build(self, where: str, spec: Any, hyperparameters: dict[str, Any]) -> Any:
        """An object of this kind from a name (with ``hyperparameters``), a config dict
        ``{"name": ..., **hyperparameters}`` or such an object (returned as it is)."""
        if isinstance(spec, Mapping):
            config = dict(spec)
            twice = sorted(set(config) & set(hyperparameters))
            if twice:
                raise AdvlossTypeError(
                    f"{where}: {', '.join(map(repr, twice))} given both in the config dict and as "
                    f"a keyword argument; expected each once."
                )
            return self.get(where, config.pop("name", None), {**config, **hyperparameters})
        if not isinstance(spec, str) and not inspect.isclass(spec) and self.is_object(spec):
            if hyperparameters:
                raise AdvlossTypeError(
                    f"{where}: hyperparameters were given with a {self.noun} object; pass a "
                    f"name or a config dict instead."
                )
            return spec
        return self.get(where, spec, hyperparameters)

    def get(self, where: str, name: Any, hyperparameters: dict[str, Any]) -> Any:
        entry = self.lookup(name)
        if entry is None:
            raise AdvlossValueError(
                f"{where}: unknown {self.noun} name {name!r}; known {self.plural}: "
                f"{self.available()}."
            )
        if entry.is_instance:
            if hyperparameters:
                raise AdvlossTypeError(
                    f"{where}: {self.noun} {name!r} is registered as an instance; it takes no "
                    f"hyperparameters; received {', '.join(map(repr, sorted(hyperparameters)))}. "
                    f"Register a factory (a class or callable) to build it with hyperparameters."
                )
            return entry.obj
        if entry.accepted is not None:
            unknown = sorted(set(hyperparameters) - set(entry.accepted))
            if unknown:
                raise AdvlossTypeError(
                    f"{where}: {self.noun} {name!r} has no hyperparameter "
                    f"{', '.join(map(repr, unknown))}; it accepts {list(entry.accepted) or 'none'}."
                )
        try:
            obj = entry.obj(**hyperparameters)
        except TypeError as err:  # e.g. a required hyperparameter is missing
            if isinstance(err, AdvlossError):
                raise
            accepted = list(entry.accepted) if entry.accepted is not None else "see its signature"
            raise AdvlossTypeError(
                f"{where}: {self.noun} {name!r}: {err}; it takes {accepted}."
            ) from err
        if not entry.builtin and not self.is_object(obj):
            raise AdvlossTypeError(
                f"{where}: the factory {_describe(entry.obj)} registered as {self.noun} "
                f"{name!r} ({entry.origin}) returned {_describe(obj)}; expected "
                f"{self.protocol}."
            )
        return obj

    # ---------------------------------------------------------------- registration

    def classify(self, obj: Any) -> bool | None:
        """True for an instance, False for a factory, None for neither."""
        if inspect.isclass(obj):
            return False
        if self.is_object(obj):
            return True
        if callable(obj):
            return False
        return None

    def register(self, where: str, argument: str, name: Any, obj: Any, overwrite: Any) -> None:
        _check_name(where, name)
        if not isinstance(overwrite, bool):
            raise AdvlossTypeError(
                f"{where}: overwrite must be a bool; received {type(overwrite).__name__}."
            )
        is_instance = self.classify(obj)
        if is_instance is None:
            raise AdvlossTypeError(
                f"{where}: {argument} must be a {self.noun} factory (a class or callable that "
                f"returns {self.protocol} when called with keyword hyperparameters) or such an "
                f"object; received {_describe(obj)}."
            )
        accepted = None if is_instance else _accepted_hyperparameters(obj)
        plugin = _loading_plugin()
        origin = (
            f"registered in this process by the module {_caller_module()}"
            if plugin is None
            else f"registered by the plugin {plugin} while it was loaded"
        )
        entry = _Entry(obj, is_instance, origin, accepted=accepted)
        with _LOCK:
            existing = self.registered.get(name) or self.builtins.get(name)
            if plugin is not None and name in self.builtins:
                raise _BuiltinReplaced(
                    f"advloss: the plugin {plugin} tried to replace the built-in {self.noun} "
                    f"{name!r} with {_describe(obj)} while it was imported ({where}); a plugin "
                    f"cannot replace a built-in. The built-in {name!r} is unchanged; uninstall "
                    f"the plugin, or register the replacement yourself with "
                    f"{self.api('register', repr(name), '...', 'overwrite=True')}."
                )
            if existing is not None and not overwrite:
                raise AdvlossValueError(
                    f"{where}: {self.noun} name {name!r} is already taken ({existing.origin}: "
                    f"{_describe(existing.obj)}); pass overwrite=True to replace it, or choose "
                    f"another name."
                )
            self.registered[name] = entry
            shadowed = self.plugins.pop(name, None)
        self.changed()
        if existing is not None and existing.builtin:
            _warn(
                f"advloss: {self.api('register', repr(name), '...', 'overwrite=True')} replaces the built-in "
                f"{self.noun} {name!r} with {_describe(obj)} in this process; "
                f"{self.api('unregister', repr(name))} restores it."
            )
        if shadowed is not None:
            _warn(
                f"advloss: {self.noun} {shadowed.origin} is shadowed by the {self.noun} "
                f"registered in this process under the same name."
            )

    def unregister(self, where: str, name: Any) -> None:
        with _LOCK:
            if isinstance(name, str) and name in self.registered:
                del self.registered[name]
                self.changed()
                return
        if isinstance(name, str) and name in self.builtins:
            raise AdvlossValueError(
                f"{where}: {name!r} is a built-in {self.noun}; built-ins cannot be unregistered "
                f"({self.api('register', repr(name), '...', 'overwrite=True')} replaces it in this "
                f"process)."
            )
        if isinstance(name, str) and name in self.plugins:
            raise AdvlossValueError(
                f"{where}: {self.noun} {name!r} comes from an installed plugin "
                f"({self.plugins[name].origin}), not from {self.api('register').split('(')[0]}; uninstall "
                f"its distribution and call refresh_plugins(), or shadow it with "
                f"{self.api('register').split('(')[0]}."
            )
        raise AdvlossValueError(
            f"{where}: no {self.noun} is registered in this process under the name {name!r}; "
            f"registered: {sorted(self.registered)}."
        )

    # ---------------------------------------------------------------- entry points

    def _skip(self, ep: Any, reason: str) -> None:
        _warn(
            f"advloss: skipped the plugin {self.noun} {_describe_entry_point(ep)} in group "
            f"{self.group!r}: {reason}"
        )

    def scan(self) -> None:
        """Read this group's entry points and load their objects into ``plugins``."""
        with _LOCK:
            # Set first, so that a plugin module looking names up while it is imported does not
            # start a second scan.
            self.scanned = True
            try:
                self.plugins = self._load_entry_points()
            except BaseException:  # e.g. a plugin warning turned into an error: read again later
                self.scanned = False
                raise
        self.changed()

    def _load_entry_points(self) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        origins: dict[str, Any] = {}
        try:
            eps = list(_entry_points(self.group))
        except Exception as err:  # unreadable metadata of some installed distribution
            _warn(
                f"advloss: could not read the entry points of group {self.group!r}: "
                f"{type(err).__name__}: {err}"
            )
            return found
        for ep in eps:
            name = getattr(ep, "name", None)
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                self._skip(ep, f"its name must be {_NAME_RULE}.")
                continue
            if name in self.registered:
                self._skip(
                    ep,
                    f"the name {name!r} is registered in this process "
                    f"({_describe(self.registered[name].obj)}), which takes precedence.",
                )
                continue
            if name in self.builtins:
                self._skip(ep, f"the name {name!r} is a built-in {self.noun}.")
                continue
            if name in found:
                first = origins[name]
                if _describe_entry_point(first) == _describe_entry_point(ep):
                    continue  # the same distribution found twice on sys.path
                self._skip(
                    ep,
                    f"the name {name!r} is already provided by {_describe_entry_point(first)}, "
                    f"which was found first.",
                )
                continue
            description = _describe_entry_point(ep)
            if description in _REFUSED:
                self._skip(ep, "it tried to replace a built-in name when it was first loaded.")
                continue
            previous = _loading_plugin()
            _LOADING.plugin = description
            try:
                obj = ep.load()
            except _BuiltinReplaced:
                _REFUSED.add(description)
                raise
            except Exception as err:
                self._skip(ep, f"loading it raised {type(err).__name__}: {err}")
                continue
            finally:
                _LOADING.plugin = previous
            is_instance = self.classify(obj)
            if is_instance is None:
                self._skip(
                    ep,
                    f"it loaded {_describe(obj)}; expected a {self.noun} factory (a class or "
                    f"callable returning {self.protocol}) or such an object.",
                )
                continue
            accepted = None if is_instance else _accepted_hyperparameters(obj)
            found[name] = _Entry(obj, is_instance, _describe_entry_point(ep), False, accepted)
            origins[name] = ep
        return found


# Entry points refused for trying to replace a built-in: skipped (with a warning) by later scans,
# whose ep.load() would not run the module's registrations again.
_REFUSED: set[str] = set()


def _has(*methods: str) -> Callable[[Any], bool]:
    """A protocol check: ``obj`` has every one of ``methods``, callable."""

    def check(obj: Any) -> bool:
        return all(callable(getattr(obj, m, None)) for m in methods)

    check.__name__ = f"has_{'_'.join(methods)}"
    return check


def _is_schedule(obj: Any) -> bool:
    """A schedule: a callable ``step -> value`` with ``config()`` (not a class)."""
    return callable(obj) and not inspect.isclass(obj) and callable(getattr(obj, "config", None))


#: kind -> (noun, plural, entry-point group, protocol check, protocol in words)
_KIND_TABLE: dict[str, tuple[str, str, str, Callable[[Any], bool], str]] = {
    "loss": (
        "loss",
        "losses",
        LOSS_ENTRY_POINT_GROUP,
        _has("discriminator", "generator"),
        "an object with callable .discriminator(real_logits, fake_logits, **options) and "
        ".generator(fake_logits, **options)",
    ),
    "penalty": (
        "penalty",
        "penalties",
        PENALTY_ENTRY_POINT_GROUP,
        _has("term"),
        "an object with a callable .term(discriminator, real, fake, *, step=None, key=None) "
        "returning the weighted penalty as a 0-d tensor",
    ),
    "label_transform": (
        "label transform",
        "label transforms",
        "advloss.label_transforms",
        _has("transform", "config"),
        "an object with .kind ('value' or 'flip'), .stochastic, callable .config() and "
        ".transform(y_real, y_fake, uniform) (see advloss.labels.LabelTransform)",
    ),
    "schedule": (
        "schedule",
        "schedules",
        "advloss.schedules",
        _is_schedule,
        "a callable step -> value with a callable .config()",
    ),
    "ratio": (
        "ratio",
        "ratios",
        "advloss.ratios",
        _has("init", "update", "plan"),
        "an object with callable .init(), .update(state, stats) and .plan(state)",
    ),
    "noise": (
        "noise controller",
        "noise controllers",
        "advloss.noise",
        _has("init", "update", "std"),
        "an object with callable .init(like), .update(state, r_t) and .std(state)",
    ),
    "augmentation": (
        "augmentation",
        "augmentations",
        "advloss.augmentations",
        _has("augment"),
        "an object with a callable .augment(x, *, key=None) returning the augmented batch",
    ),
    "recipe": (
        "recipe",
        "recipes",
        "advloss.recipes",
        _has("objective", "config"),
        "an object with callable .objective() returning an advloss.Objective and .config()",
    ),
}

_KINDS: dict[str, _Registry] = {kind: _Registry(kind, *spec) for kind, spec in _KIND_TABLE.items()}
#: kind -> the entry-point group installed distributions use to provide objects of that kind.
ENTRY_POINT_GROUPS: dict[str, str] = {kind: reg.group for kind, reg in _KINDS.items()}

_LOSS_REGISTRY = _KINDS["loss"]
_PENALTY_REGISTRY = _KINDS["penalty"]


def _define_kind(
    kind: str,
    noun: str,
    plural: str,
    group: str,
    is_object: Callable[[Any], bool],
    protocol: str,
) -> _Registry:
    """Add a kind whose protocol is defined elsewhere (the backends: ``advloss.backend``)."""
    registry = _KINDS[kind] = _Registry(kind, noun, plural, group, is_object, protocol)
    ENTRY_POINT_GROUPS[kind] = group
    return registry


def _kind(where: str, kind: Any) -> _Registry:
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise AdvlossValueError(
            f"{where}: unknown kind {kind!r}; expected one of {sorted(_KINDS)}."
        ) from None


def _register_builtins(kind: str, *factories: Any) -> None:
    """Make each factory the built-in of ``kind`` under its ``name`` (called by the module that
    defines them, when it is imported)."""
    registry = _KINDS[kind]
    for factory in factories:
        registry.add_builtin(factory.name, factory)


# ------------------------------------------------------------------------------ every kind


def kinds() -> list[str]:
    """The kinds of pluggable objects: ``"loss"``, ``"penalty"``, ``"label_transform"``, ...,
    and ``"backend"`` (defined by ``advloss.backend``).

    Examples:
        >>> import advloss
        >>> advloss.registry.kinds()
        ['augmentation', 'backend', 'label_transform', 'loss', 'noise', 'penalty', 'ratio', 'recipe', 'schedule']
    """
    return sorted(_KINDS)


def available(kind: str) -> list[str]:
    """The names ``get(kind, ...)`` accepts: built-ins, registrations and installed plugins.

    Examples:
        >>> import advloss
        >>> advloss.registry.available("label_transform")
        ['flip', 'noisy', 'smooth']
    """
    return _kind("available", kind).available()


def get(kind: str, spec: Any, /, **hyperparameters: Any) -> Any:
    """The object of ``kind`` that ``spec`` names: a name with keyword ``hyperparameters``, a
    config dict ``{"name": ..., **hyperparameters}`` (a built-in's ``config()``), or an object
    of that kind, returned as it is.

    Examples:
        >>> import advloss
        >>> advloss.registry.get("penalty", {"name": "r1", "gamma": 1.0})
        R1Penalty(every=1, gamma=1.0)
        >>> advloss.registry.get("schedule", "cosine", start=0.1, steps=100)
        Cosine(start=0.1, end=0.0, steps=100, begin=0)

    Raises:
        AdvlossValueError: unknown kind or name (the message lists the known ones), or an
            invalid value.
        AdvlossTypeError: a hyperparameter the object does not have, or a factory that
            returned no object of the kind.
    """
    return _kind("get", kind).build(f"get({kind!r}, ...)", spec, hyperparameters)


def register(kind: str, name: str, obj: Any, *, overwrite: bool = False) -> None:
    """Make ``get(kind, name, **hyperparameters)`` return an object of your own: ``obj`` is a
    **factory** (a class or callable returning the object when called with keyword
    hyperparameters) or an **instance** (returned as it is).  ``register_loss`` and
    ``register_penalty`` are this function for their kinds; the rules are the same.

    Examples:
        >>> import advloss
        >>> from advloss.schedules import Linear
        >>> advloss.registry.register("schedule", "warmup", lambda steps=100: Linear(start=0.0, end=1.0, steps=steps))
        >>> advloss.registry.get("schedule", "warmup", steps=10)(5)
        0.5
        >>> advloss.registry.unregister("schedule", "warmup")
    """
    _kind("register", kind).register(f"register({kind!r}, ...)", "obj", name, obj, overwrite)


def unregister(kind: str, name: str) -> None:
    """Remove an object registered with ``register`` (a built-in it replaced comes back).

    Examples:
        >>> import advloss
        >>> advloss.registry.register("ratio", "wgan", advloss.FixedRatio(d_steps=5))
        >>> advloss.registry.get("ratio", "wgan")
        FixedRatio(d_steps=5, g_steps=1)
        >>> advloss.registry.unregister("ratio", "wgan")
    """
    _kind("unregister", kind).unregister(f"unregister({kind!r}, ...)", name)


# -------------------------------------------------------------------------------------- losses


def available_losses() -> list[str]:
    """The names ``get_loss`` accepts: built-ins, registrations and installed plugins.

    The first call reads the ``advloss.losses`` entry points (see ``refresh_plugins``).

    Examples:
        >>> import advloss
        >>> {"hinge", "lsgan", "minimax", "ns", "ragan", "wgan"} <= set(advloss.available_losses())
        True
    """
    return _LOSS_REGISTRY.available()


def get_loss(name: str | Mapping[str, Any], **hyperparameters: Any) -> AdversarialLoss:
    """The loss called ``name``, built with keyword ``hyperparameters``; or the loss a config
    dict describes (``{"name": "ns", "real_label": 0.9}``, what ``loss.config()`` returns).

    Names: ``"minimax"``, ``"ns"`` (non-saturating), ``"lsgan"`` (``a``, ``b``, ``c``),
    ``"hinge"`` (``real_margin``, ``fake_margin``), ``"wgan"``, ``"ragan"``, and the relativistic
    pairing losses ``"rpgan"``, ``"rp_hinge"``, ``"rp_lsgan"``; ``"minimax"`` and ``"ns"`` take
    ``real_label`` (one-sided label smoothing).  Also the names given to
    ``register_loss`` and those of installed plugins (the ``advloss.losses`` entry points,
    read on the first name that is neither built in nor registered).

    Examples:
        >>> import advloss
        >>> advloss.get_loss("ns", real_label=0.9)
        NonSaturatingLoss(real_label=0.9)
        >>> advloss.get_loss({"name": "hinge", "real_margin": 2.0})
        HingeLoss(real_margin=2.0, fake_margin=1.0)

    Raises:
        AdvlossValueError: unknown name (the message lists the known ones) or an invalid value.
        AdvlossTypeError: a hyperparameter the loss does not have, hyperparameters for a loss
            registered as an instance, or a registered factory that returned no loss.
    """
    return _LOSS_REGISTRY.build("get_loss", name, hyperparameters)


def register_loss(name: str, loss: Any, *, overwrite: bool = False) -> None:
    """Make ``get_loss(name, **hyperparameters)`` return a loss of your own.

    ``loss`` is a **factory** — a class or callable that returns a loss object when called with
    keyword hyperparameters, like ``NonSaturatingLoss`` — or an **instance**,
    returned as it is (it then takes no hyperparameters).  A loss object is anything with
    callable ``discriminator(real_logits, fake_logits, **options)`` and
    ``generator(fake_logits, **options)``; a factory's product is checked when ``get_loss``
    builds it.  Registrations take precedence over plugins of the same name.

    Args:
        name: lowercase letters, digits, ``_``, ``-`` and ``.``.
        loss: the factory or the instance.
        overwrite: replace an existing name (a built-in or an earlier registration) instead of
            raising.

    Examples:
        >>> import numpy as np
        >>> from advloss.registry import get_loss, register_loss, unregister_loss
        >>> class ScaledNS:
        ...     def __init__(self, *, scale=1.0):
        ...         self.scale, self.ns = scale, get_loss("ns")
        ...     def discriminator(self, real_logits, fake_logits, **options):
        ...         return self.scale * self.ns.discriminator(real_logits, fake_logits, **options)
        ...     def generator(self, fake_logits, **options):
        ...         return self.scale * self.ns.generator(fake_logits, **options)
        >>> register_loss("scaled-ns", ScaledNS)
        >>> loss = get_loss("scaled-ns", scale=0.5)
        >>> round(float(loss.discriminator(np.zeros(4), np.zeros(4))), 6)  # 0.5 * 2 log 2
        0.693147
        >>> unregister_loss("scaled-ns")

    Raises:
        AdvlossTypeError: ``name`` is not a str, or ``loss`` is neither a factory nor a loss.
        AdvlossValueError: an invalid name, or a taken one without ``overwrite=True``.
    """
    _LOSS_REGISTRY.register("register_loss", "loss", name, loss, overwrite)


def unregister_loss(name: str) -> None:
    """Remove a loss registered with ``register_loss`` (a built-in it replaced comes back).

    Raises:
        AdvlossValueError: ``name`` was not registered in this process (built-ins and plugins
            cannot be unregistered).

    Examples:
        >>> import advloss
        >>> advloss.register_loss("half_ns", lambda: advloss.NonSaturatingLoss())
        >>> "half_ns" in advloss.available_losses()
        True
        >>> advloss.unregister_loss("half_ns")
        >>> "half_ns" in advloss.available_losses()
        False
    """
    _LOSS_REGISTRY.unregister("unregister_loss", name)


# ----------------------------------------------------------------------------------- penalties


def available_penalties() -> list[str]:
    """The names ``get_penalty`` accepts: built-ins, registrations and installed plugins.

    Examples:
        >>> import advloss
        >>> {"gp", "r1", "r2"} <= set(advloss.registry.available_penalties())
        True
    """
    return _PENALTY_REGISTRY.available()


def get_penalty(name: str | Mapping[str, Any], **hyperparameters: Any) -> Any:
    """The penalty called ``name``, built with keyword ``hyperparameters``; or the penalty a
    config dict describes (``{"name": "r1", "gamma": 10, "every": 16}``).

    Built-ins: ``"gp"`` (``GradientPenalty``: ``weight``, ``center``,
    ``one_sided``), ``"r1"`` and ``"r2"`` (``R1Penalty``,
    ``R2Penalty``: ``gamma``); all take ``every`` (lazy application).
    Also the names given to ``register_penalty`` and those of installed plugins (the
    ``advloss.penalties`` entry points).

    Examples:
        >>> from advloss.registry import get_penalty
        >>> get_penalty("r1", gamma=1.0, every=16)
        R1Penalty(every=16, gamma=1.0)
        >>> get_penalty(get_penalty("gp", weight=1.0).config())
        GradientPenalty(every=1, weight=1.0, center=1.0, one_sided=False)

    Raises:
        AdvlossValueError: unknown name (the message lists the known ones) or an invalid value.
        AdvlossTypeError: a hyperparameter the penalty does not have, hyperparameters for a
            penalty registered as an instance, or a registered factory that returned no penalty.
    """
    return _PENALTY_REGISTRY.build("get_penalty", name, hyperparameters)


def register_penalty(name: str, penalty: Any, *, overwrite: bool = False) -> None:
    """Make ``get_penalty(name, **hyperparameters)`` return a penalty of your own.

    ``penalty`` is a factory (a class or callable returning a penalty object when called with
    keyword hyperparameters) or an instance.  A penalty object has a callable
    ``term(discriminator, real, fake, *, step=None, key=None)`` returning the penalty, already
    weighted, as a 0-d tensor of the inputs' framework.  Rules as in ``register_loss``.

    Examples:
        >>> import numpy as np
        >>> from advloss.backend import backend_for
        >>> from advloss.registry import get_penalty, register_penalty, unregister_penalty
        >>> class Drift:  # ProGAN's drift penalty: weight * mean(D(real)^2)
        ...     def __init__(self, *, weight=1e-3):
        ...         self.weight = weight
        ...     def term(self, discriminator, real, fake, *, step=None, key=None):
        ...         out = discriminator(real)
        ...         return self.weight * backend_for(out).mean(out * out)
        >>> register_penalty("drift", Drift)
        >>> float(get_penalty("drift", weight=0.5).term(lambda x: 2 * x, np.ones(3), np.zeros(3)))
        2.0
        >>> unregister_penalty("drift")

    Raises:
        AdvlossTypeError: ``name`` is not a str, or ``penalty`` is neither a factory nor a
            penalty.
        AdvlossValueError: an invalid name, or a taken one without ``overwrite=True``.
    """
    _PENALTY_REGISTRY.register("register_penalty", "penalty", name, penalty, overwrite)


def unregister_penalty(name: str) -> None:
    """Remove a penalty registered with ``register_penalty`` (a built-in it replaced comes
    back).

    Raises:
        AdvlossValueError: ``name`` was not registered in this process.

    Examples:
        >>> import advloss
        >>> advloss.register_penalty("r1_small", lambda: advloss.R1Penalty(gamma=0.1))
        >>> advloss.unregister_penalty("r1_small")
        >>> "r1_small" in advloss.available_penalties()
        False
    """
    _PENALTY_REGISTRY.unregister("unregister_penalty", name)


# ------------------------------------------------------------------------------------- plugins


def refresh_plugins() -> None:
    """Read the ``advloss.losses`` and ``advloss.penalties`` entry points again (and the other
    kinds' groups on their next lookup).

    advloss reads them by itself on first need; call this after installing or removing a plugin
    distribution in a running process (e.g. ``%pip install`` in a notebook).  Each entry point
    is loaded (its module imported) and registered under the entry point's name as a factory
    or an instance.  One that cannot be used — its import or load raises, it loads neither a
    factory nor a loss/penalty object, its name is invalid, or the name is a built-in, registered
    in this process or already provided by another entry point — is skipped with an
    ``AdvlossPluginWarning`` naming it, its distribution and the error.

    Examples:
        >>> from advloss.registry import refresh_plugins
        >>> refresh_plugins()
    """
    import importlib

    importlib.invalidate_caches()  # directories that changed since they were last read
    _LOSS_REGISTRY.scan()
    _PENALTY_REGISTRY.scan()
    for registry in _KINDS.values():  # the other kinds: read again on their next lookup
        if registry not in (_LOSS_REGISTRY, _PENALTY_REGISTRY):
            with _LOCK:
                registry.scanned = False
            registry.changed()
