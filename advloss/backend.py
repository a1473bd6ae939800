"""The primitive set the spec is written in, and per-call framework detection.

The losses never name a framework.  They call the few primitives of ``Backend``, and
ordinary arithmetic operators, on whatever tensors they receive.  Which backend serves a call is
decided per call from the *types* of its tensor arguments:

* only frameworks already imported by the user (present in ``sys.modules``) are considered,
  so ``import advloss`` imports no framework and never triggers one's import;
* each type is matched with ``issubclass`` against the framework's tensor base classes (JAX tracers
  included, so everything works inside ``jax.jit``), and the answer is cached per type;
* Python scalars and ``None`` are skipped; tensors of two frameworks in one call raise
  ``AdvlossTypeError`` naming both.

There is no global backend switch: a process can hold tensors of every framework at once, which is
what the cross-framework tests do.

The list of backends is open, as einops' is: the adapters are the ``"backend"`` kind of
``advloss.registry``.  A third party adds one for another array library (MLX, CuPy, ...) with
``register_backend(name, adapter)`` or an entry point in the group ``advloss.backends``
(``BACKEND_ENTRY_POINT_GROUP``); the adapter declares the top-level ``module`` of its
framework, and is considered for detection only while that module is imported.  ``backend="torch"`` (or ``"tensorflow"``/``"tf"``, ``"jax"``,
``"numpy"``) skips detection; arguments that are not tensors of that framework (NumPy arrays,
lists, scalars) are then converted with the framework's own ``asarray``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from advloss import registry
from advloss.errors import AdvlossTypeError, AdvlossValueError

__all__ = [
    "BACKEND_ENTRY_POINT_GROUP",
    "FLOATING_DTYPES",
    "LOW_PRECISION_DTYPES",
    "Backend",
    "available_backends",
    "backend_for",
    "get_backend",
    "register_backend",
    "unregister_backend",
]

#: The entry-point group third-party distributions use to provide backends (adapters).
BACKEND_ENTRY_POINT_GROUP = "advloss.backends"

#: Normalized dtype names the losses accept.
FLOATING_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
#: Dtypes that are computed in float32 (see the numerics section of the spec).
LOW_PRECISION_DTYPES = frozenset({"float16", "bfloat16"})


@runtime_checkable
class Backend(Protocol):
    """The primitives a framework adapter provides.

    Every method takes and returns tensors of the adapter's framework; dtypes are exchanged as
    normalized names (``"float32"``, ``"bfloat16"``, ``"int64"``, ...).  Arithmetic (``+ - * /``,
    unary minus, ``**``) is done with the tensors' own operators and is not part of the protocol.
    """

    name: str
    #: The framework's top-level module (``"torch"``, ``"mlx"``): the adapter is a candidate
    #: for detection only while it is in ``sys.modules``, so detection imports no framework.
    module: str
    #: Capabilities the core asks for instead of naming a framework:
    #: tensors are host arrays whose values Python may read freely, with no device to
    #: synchronise (NumPy): schedules then compute in Python and return Python floats.
    host_values: bool
    #: Random draws need an explicit key: the framework has no global random state (JAX).
    needs_explicit_key: bool
    #: The framework differentiates, so the penalties (input gradients) run on it.
    has_autodiff: bool

    def is_tensor_type(self, cls: type) -> bool:
        """Whether instances of ``cls`` are tensors of this framework."""

    def asarray(self, value: Any, dtype: str) -> Any:
        """Convert a scalar, list or NumPy array to a tensor of ``dtype``."""

    def dtype(self, x: Any) -> str:
        """Normalized dtype name of ``x``."""

    def cast(self, x: Any, dtype: str) -> Any:
        """``x`` converted to ``dtype`` (differentiable)."""

    def shape(self, x: Any) -> tuple[int | None, ...]:
        """Static shape of ``x``; ``None`` for a dimension unknown at trace time."""

    def softplus(self, x: Any) -> Any:
        """``log(1 + exp(x))`` with the framework's numerically stable op."""

    def relu(self, x: Any) -> Any:
        """``max(x, 0)``, with derivative 0 at 0."""

    def mean(self, x: Any) -> Any:
        """Mean over all elements (a 0-d tensor)."""

    def sum(self, x: Any) -> Any:
        """Sum over all elements (a 0-d tensor)."""

    def stop_gradient(self, x: Any) -> Any:
        """``x`` as a constant for differentiation."""

    def sqrt(self, x: Any) -> Any:
        """Elementwise square root."""

    def maximum(self, x: Any, y: Any) -> Any:
        """Elementwise maximum of a tensor and a tensor or Python number."""

    def minimum(self, x: Any, y: Any) -> Any:
        """Elementwise minimum of a tensor and a tensor or Python number."""

    def cos(self, x: Any) -> Any:
        """Elementwise cosine."""

    def sin(self, x: Any) -> Any:
        """Elementwise sine."""

    def exp(self, x: Any) -> Any:
        """Elementwise exponential."""

    def floor(self, x: Any) -> Any:
        """Elementwise floor of a float tensor (same dtype; derivative 0)."""

    def full(self, value: float, dtype: str, like: Any) -> Any:
        """A 0-d tensor holding ``value`` in ``dtype``, on the device of ``like``."""

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        """``x`` with a new shape (``-1`` allowed once)."""

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        """``x`` with axis ``source`` moved to position ``destination``."""

    def matmul(self, a: Any, b: Any) -> Any:
        """Matrix product of 2-D (or matrix-vector) tensors."""

    def sum_per_sample(self, x: Any) -> Any:
        """Sum over every axis but the first: shape ``(N, ...)`` -> ``(N,)``."""

    def uniform(self, rng: Any, shape: tuple[int | None, ...], dtype: str, like: Any) -> Any:
        """U[0, 1) samples of ``shape`` (``None``: the size of that axis of ``like``) from ``rng`` (the framework's key / generator / seed, or ``None`` for
        its global generator where it has one), on the device of ``like``."""

    def normal(self, rng: Any, shape: tuple[int | None, ...], dtype: str, like: Any) -> Any:
        """N(0, 1) samples, with ``rng`` as in ``uniform``."""

    def split_key(self, rng: Any, n: int) -> list[Any]:
        """``n`` independent random sources from ``rng`` (as accepted by ``uniform``): a JAX
        key is split, a TensorFlow seed goes through ``stateless_split``, a stateful generator
        (``torch.Generator``, ``tf.random.Generator``, ``numpy.random.Generator``) or ``None``
        is shared (its draws are consumed in call order)."""

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        """``true_fn()`` if the 0-d boolean tensor ``pred`` holds, else ``false_fn()``, without
        reading ``pred`` on the host: the framework's conditional where it has one that
        differentiates (JAX, TensorFlow), else both branches and an elementwise select."""

    def host_int(self, x: Any) -> int | None:
        """The value of the 0-d integer tensor ``x`` (a step) as a Python int where reading it
        on the host is free — no device synchronisation, no trace broken (a CPU tensor in eager
        PyTorch, a concrete CPU array in JAX, an eager CPU tensor in TensorFlow) — else
        ``None`` (a traced value, a tensor on an accelerator).  Optional: an adapter without it
        is read never, and lazy penalties then select with ``cond``."""

    def is_concrete(self, x: Any) -> bool:
        """Whether ``x`` is a tensor computed eagerly — not traced (``jax.jit``,
        ``tf.function``, ``torch.compile``, a ``torch.func`` transform): work on it then runs
        when it is called, so work nobody asks for is best deferred.  Optional: an adapter
        without it is treated as tracing (nothing deferred)."""

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        """Elementwise select: ``x`` where the boolean tensor ``cond`` holds, else ``y``
        (tensors or Python numbers, broadcast together; the gradient flows only to the
        selected entries)."""

    def mean_over(self, x: Any, axes: tuple[int, ...]) -> Any:
        """Mean over ``axes``, kept as axes of size 1."""

    def arange(self, n: int, dtype: str, like: Any) -> Any:
        """``0, 1, ..., n - 1`` in the integer ``dtype``, on the device of ``like``."""

    def take_along_axis(self, x: Any, indices: Any, axis: int) -> Any:
        """``x`` gathered along ``axis`` at the integer ``indices``, which have ``x``'s rank;
        their other axes may have size 1 (broadcast), as in ``numpy.take_along_axis``.  The
        indices must lie in ``0..x.shape[axis] - 1``: negative ones are not wrapped (adapters
        may skip that pass)."""

    def to_device(self, x: Any, like: Any) -> Any:
        """``x``, a tensor of this framework, on the device of ``like`` (a no-op where the
        framework places tensors itself)."""

    def input_gradient(self, fn: Any, x: Any) -> tuple[Any, Any]:
        """``(fn(x), ∇ₓ Σ fn(x))`` with the gradient itself differentiable with respect to the
        parameters ``fn`` closes over (for penalties), and no gradient flowing into ``x``."""

    def input_gradient_through(self, fn: Any, x: Any) -> tuple[Any, Any]:
        """``(fn(x), ∇ₓ Σ fn(x))`` as ``input_gradient``, but with ``x`` left attached: the
        gradient (and ``fn(x)``) stays differentiable with respect to ``x`` too — and, through
        ``x``, to whatever computed it (a generator's mapping network, for path-length
        regularization; the generator, for a gradient-normalized discriminator's G loss).
        Optional: an adapter without it cannot run ``path_length_penalty`` and
        ``gradient_normalize`` (they say so)."""

    def replica_mean(self, values: list[Any], replicas: Any) -> list[Any]:
        """The means over the data-parallel replicas ``replicas`` of the 0-d tensors
        ``values`` (one collective for them all; no gradient flows through the result).
        ``replicas`` names the replicas in the framework's own terms: JAX — the mapped axis
        name(s) of ``shard_map``/``pmap`` (``jax.lax.pmean``); PyTorch — a
        ``torch.distributed`` process group, or ``True`` for the default one (a sum
        all-reduce divided by the group's size; one process when ``torch.distributed`` is not
        initialised); TensorFlow — a ``tf.distribute.ReplicaContext``, or ``True`` for the
        current one (``ReplicaContext.all_reduce(MEAN, ...)``); NumPy — one process: the values
        unchanged.  Optional: an adapter without it accepts only ``replicas=None``."""

    def square(self, x: Any) -> Any:
        """``x * x``, elementwise.  Optional: the core falls back to ``x * x``; an adapter has it
        where the framework's own op is cheaper eagerly than its operator (``tf.square``,
        ``jnp.square``: no Python operator dispatch).  It must give exactly ``x * x``, value and
        gradient."""

    def l2_norm(self, x: Any) -> Any:
        """The Euclidean norm of all of ``x``'s entries, a 0-d tensor — used where no gradient
        flows (the power iteration of spectral normalization; its derivative at 0 differs
        between frameworks).  Optional: the core falls back to ``sqrt(sum(x * x))`` (three ops
        where the framework has one)."""

    def dot(self, a: Any, b: Any) -> Any:
        """``Σᵢ aᵢ bᵢ`` of two vectors of one length, a 0-d tensor, differentiable.  Optional:
        the core falls back to ``sum(a * b)``."""

    def to_numpy(self, x: Any) -> Any:
        """A NumPy copy of ``x`` (host transfer: never called inside losses)."""

    def from_numpy(self, a: Any, dtype: str | None = None) -> Any:
        """A tensor of this framework holding the NumPy array ``a``."""


#: Primitives an adapter may leave out (the core falls back to another primitive).
_OPTIONAL = (
    "host_int",
    "is_concrete",
    "input_gradient_through",
    "replica_mean",
    "square",
    "l2_norm",
    "dot",
)
#: The primitives (methods) and attributes an adapter must have.
_PRIMITIVES = tuple(
    n
    for n, v in vars(Backend).items()
    if callable(v) and not n.startswith("_") and n not in _OPTIONAL
)
_ATTRIBUTES = ("name", "module", "host_values", "needs_explicit_key", "has_autodiff")


def _is_adapter(obj: Any) -> bool:
    return all(callable(getattr(obj, m, None)) for m in _PRIMITIVES) and all(
        hasattr(obj, a) for a in _ATTRIBUTES
    )


class _BuiltinAdapter:
    """The factory of a built-in adapter: imports the adapter (and its framework) when called."""

    def __init__(self, name: str, module: str, extra: str) -> None:
        self.name, self.module, self.extra = name, module, extra

    def __call__(self) -> Backend:
        return _import_adapter(self.name).BACKEND

    def __repr__(self) -> str:
        return f"<the built-in {self.name} adapter, advloss.adapters.{self.name}>"


_KIND = registry._define_kind(
    "backend",
    "backend",
    "backends",
    BACKEND_ENTRY_POINT_GROUP,
    _is_adapter,
    f"an adapter with the primitives of advloss.backend.Backend ({', '.join(_PRIMITIVES)}) "
    f"and the attributes {', '.join(_ATTRIBUTES)}",
)
for _name, _module, _extra in (
    ("torch", "torch", "torch"),
    ("tensorflow", "tensorflow", "tf"),
    ("jax", "jax", "jax"),
    ("numpy", "numpy", "all"),
):
    _KIND.add_builtin(_name, _BuiltinAdapter(_name, _module, _extra))
_ALIASES = {"tf": "tensorflow", "pytorch": "torch", "np": "numpy"}

# Caches, emptied whenever a backend is registered or unregistered or plugins are read again.
_BACKENDS: dict[str, Backend] = {}
_BACKEND_OF_TYPE: dict[type, Backend | None] = {}


def _forget() -> None:
    _BACKENDS.clear()
    _BACKEND_OF_TYPE.clear()


_KIND.listeners.append(_forget)


def get_backend(name: str) -> Backend:
    """The adapter for framework ``name`` (``"torch"``, ``"tensorflow"``/``"tf"``, ``"jax"``,
    ``"numpy"``, or a registered backend); imports that framework.

    Examples:
        >>> import numpy as np, advloss
        >>> b = advloss.get_backend("numpy")
        >>> b.name, float(b.softplus(np.array(0.0)))
        ('numpy', 0.6931471805599453)
    """
    key = _ALIASES.get(name, name) if isinstance(name, str) else name
    try:
        return _BACKENDS[key]
    except (KeyError, TypeError):
        pass
    entry = _KIND.lookup(key)
    if entry is None:
        raise AdvlossValueError(
            f"backend={name!r} is not a known framework; expected one of "
            f"{_KIND.available()} (or the aliases {sorted(_ALIASES)})."
        )
    try:
        backend: Backend = _KIND.get(f"backend={name!r}", key, {})
    except ImportError as err:
        module = getattr(entry.obj, "module", key)
        extra = getattr(entry.obj, "extra", None)
        install = f"`pip install advloss[{extra}]`" if extra else f"`pip install {module}`"
        raise AdvlossValueError(
            f"backend={name!r} needs the {module!r} package, which cannot be imported "
            f"({err}). Install it, e.g. {install}."
        ) from None
    _BACKENDS[key] = backend
    return backend


def register_backend(name: str, adapter: Any, *, overwrite: bool = False) -> None:
    """Add a backend: ``adapter`` is an adapter class (or other factory called with no
    arguments) or an adapter instance with the primitives of ``Backend`` and the attributes
    ``name``, ``module`` (the framework's top-level module: the adapter is considered for
    detection only while it is imported), ``host_values``, ``needs_explicit_key`` and
    ``has_autodiff``.  ``registry.register("backend", ...)`` with the registry's rules
    (``overwrite=True`` replaces a built-in; ``unregister_backend`` restores it).

    Examples:
        >>> import advloss
        >>> from advloss.adapters.numpy import NumpyBackend
        >>> class Float64Numpy(NumpyBackend):   # NumPy, under another name (a toy)
        ...     name = "np64"
        >>> advloss.register_backend("np64", Float64Numpy)
        >>> advloss.get_backend("np64").name
        'np64'
        >>> advloss.unregister_backend("np64")
    """
    where = "register_backend"
    module = getattr(adapter, "module", None)
    if not isinstance(module, str) or not module:
        raise AdvlossTypeError(
            f"{where}: the adapter must name its framework's top-level module in a `module` "
            f"attribute (a str such as 'mlx'), so that detection considers it only once that "
            f"module is imported; received {adapter!r:.60} with module={module!r}."
        )
    _KIND.register(where, "adapter", name, adapter, overwrite)


def unregister_backend(name: str) -> None:
    """Remove a backend added with ``register_backend`` (a built-in it replaced comes back).

    Examples:
        >>> import advloss
        >>> "numpy" in advloss.registry.available("backend")
        True
    """
    _KIND.unregister("unregister_backend", name)


def _import_adapter(key: str) -> Any:
    # Plain import statements rather than importlib.import_module: torch.compile's tracer
    # (dynamo) follows import statements when a first call happens inside a compiled function.
    if key == "torch":
        from advloss.adapters import torch as torch_adapter

        return torch_adapter
    if key == "tensorflow":
        from advloss.adapters import tensorflow as tensorflow_adapter

        return tensorflow_adapter
    if key == "jax":
        from advloss.adapters import jax as jax_adapter

        return jax_adapter
    from advloss.adapters import numpy as numpy_adapter

    return numpy_adapter


def available_backends() -> list[str]:
    """Names of the backends whose framework can be imported in this environment (the
    built-in ones first, then registered and installed ones).

    Examples:
        >>> import advloss
        >>> "numpy" in advloss.available_backends()          # always; torch/tensorflow/jax if installed
        True
    """
    return [name for name, module in _candidates(scan=True) if _importable(module)]


def _candidates(scan: bool) -> list[tuple[str, str]]:
    """``(name, framework module)`` of every backend, in the order detection tries them:
    built-ins, in-process registrations, then (with ``scan``) installed plugins."""
    names = list(_KIND.builtins) + [n for n in _KIND.registered if n not in _KIND.builtins]
    if scan:
        names += [n for n in _KIND.available() if n not in names]
    out = []
    for name in names:
        entry = _KIND.lookup_local(name) or _KIND.plugins.get(name)
        module = getattr(entry.obj, "module", None) if entry is not None else None
        if isinstance(module, str):
            out.append((name, module))
    return out


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a ``None`` entry in
    ``sys.modules`` is an import blocked on purpose; a broken or blocked installation counts as
    missing)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _backend_of_type(cls: type) -> Backend | None:
    try:
        return _BACKEND_OF_TYPE[cls]
    except KeyError:
        pass
    found = None
    # Installed plugins are read only for a type no built-in or registered backend knows.
    for scan in (False, True):
        for name, module in _candidates(scan):
            if sys.modules.get(module) is not None:  # None: an import blocked on purpose
                candidate = get_backend(name)
                if candidate.is_tensor_type(cls):
                    found = candidate
                    break
        if found is not None:
            break
    # Only cache positive answers and types of frameworks already loaded: a type unknown now may
    # become known after the user imports its framework.
    if found is not None:
        _BACKEND_OF_TYPE[cls] = found
    return found


def _loaded() -> list[str]:
    """The backends whose framework is imported now."""
    return [n for n, m in _candidates(scan=False) if sys.modules.get(m) is not None]


def _describe(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def optional_primitive(b: Any, name: str) -> Callable[..., Any] | None:
    """The optional primitive ``name`` of adapter ``b`` (e.g. ``host_int``), or None when the
    adapter has none (a plugin's adapter may lack one; the built-in adapters have them all).
    A plain ``getattr`` in ``try``: ``torch.compile`` cannot trace ``getattr`` with a default
    on the built-in adapters' slotted instances, and this runs in the losses' eager path,
    where any test before the read would cost more than the read."""
    try:
        return getattr(b, name)
    except AttributeError:
        return None


def square(b: Any, x: Any) -> Any:
    """``x * x``, through the adapter's optional ``square`` primitive where it has one."""
    op = optional_primitive(b, "square")
    return x * x if op is None else op(x)


def backend_for(*values: Any, backend: str | None = None, where: object = "advloss") -> Backend:
    """The backend serving a call whose tensor arguments are ``values``.

    ``None``, Python numbers and bools are skipped.  Raises ``AdvlossTypeError`` when the
    tensors belong to two frameworks, when a value is of no supported framework, or when no
    tensor is given at all (pass ``backend=`` to compute on plain Python or NumPy data).
    ``where`` (any object; formatted with ``str`` only when an error is raised) names the caller
    in messages.
    """
    if backend is not None:
        chosen = get_backend(backend)
        for value in values:
            if value is None or isinstance(value, (int, float, list, tuple)):
                continue
            owner = _backend_of_type(type(value))
            if owner is not None and owner is not chosen and not owner.host_values:
                raise AdvlossTypeError(
                    f"{where}: backend={backend!r} was requested but an argument is a "
                    f"{owner.name} tensor ({_describe(value)}). Pass tensors of one framework."
                )
        return chosen

    if values:  # the common call: tensors of one type already seen (one dict lookup)
        kind = type(values[0])
        same = True
        for value in values:  # no for/else: autograph (tf.function) warns on it
            if value is not None and type(value) is not kind:
                same = False
                break
        known = _BACKEND_OF_TYPE.get(kind) if same else None
        if known is not None:
            return known
    found: Backend | None = None
    found_value: Any = None
    for value in values:
        if value is None or isinstance(value, (int, float)):
            continue
        owner = _backend_of_type(type(value))
        if owner is None:
            loaded = _loaded()
            raise AdvlossTypeError(
                f"{where}: received a {_describe(value)}, which is not a tensor of a supported "
                f"framework. Expected a torch.Tensor, tf.Tensor/tf.Variable, jax.Array or "
                f"numpy.ndarray (frameworks imported now: {loaded})."
            )
        if found is None:
            found, found_value = owner, value
        elif owner is not found:
            raise AdvlossTypeError(
                f"{where}: arguments mix frameworks: a {found.name} tensor "
                f"({_describe(found_value)}) and a {owner.name} tensor ({_describe(value)}). "
                f"Pass tensors of one framework (convert the other with its asarray/from_numpy)."
            )
    if found is None:
        raise AdvlossTypeError(
            f"{where}: no tensor among the arguments, so the framework cannot be detected. "
            f"Pass tensors, or name the framework with backend='torch'|'tensorflow'|'jax'|'numpy'."
        )
    return found
