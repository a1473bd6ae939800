"""Third-party backends (issue 17 item 6): a toy adapter for a tiny wrapper array class, defined
here and delegating to NumPy, registered in process or through an ``advloss.backends`` entry
point, detected only once its "framework" is imported, and computing a loss and a penalty-free
objective end to end with the values of the NumPy backend."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import advloss
from advloss import backend as backend_module
from advloss import registry

TOY_MODULE = "toyarray"  # the toy framework's (fake) top-level module


class ToyArray:
    """A wrapper array: NumPy inside, its own type outside (like an MLX or CuPy array)."""

    __array_priority__ = 1000  # NumPy defers to our reflected operators

    def __init__(self, a):
        self.a = np.asarray(a)

    def _binary(self, other, op):
        return ToyArray(op(self.a, other.a if isinstance(other, ToyArray) else other))

    def __add__(self, o):
        return self._binary(o, np.add)

    def __radd__(self, o):
        return ToyArray(np.add(o, self.a))

    def __sub__(self, o):
        return self._binary(o, np.subtract)

    def __rsub__(self, o):
        return ToyArray(np.subtract(o, self.a))

    def __mul__(self, o):
        return self._binary(o, np.multiply)

    def __rmul__(self, o):
        return ToyArray(np.multiply(o, self.a))

    def __truediv__(self, o):
        return self._binary(o, np.true_divide)

    def __neg__(self):
        return ToyArray(-self.a)

    def __gt__(self, o):
        return self._binary(o, np.greater)

    def __lt__(self, o):
        return self._binary(o, np.less)

    def __ge__(self, o):
        return self._binary(o, np.greater_equal)

    def __float__(self):
        return float(self.a)


def _np(x):
    return x.a if isinstance(x, ToyArray) else x


class ToyBackend:
    """The primitive set for ``ToyArray``, by delegating to the NumPy adapter."""

    name = "toy"
    module = TOY_MODULE
    host_values = False
    needs_explicit_key = False
    has_autodiff = False

    def __init__(self):
        self.np = advloss.get_backend("numpy")

    def __getattr__(self, primitive):  # every other primitive: NumPy's, on unwrapped arrays
        op = getattr(self.np, primitive)

        def call(*args, **kwargs):
            out = op(*map(_np, args), **{k: _np(v) for k, v in kwargs.items()})
            return ToyArray(out) if isinstance(out, (np.ndarray, np.generic)) else out

        return call

    def is_tensor_type(self, cls):
        return issubclass(cls, ToyArray)

    def dtype(self, x):
        return self.np.dtype(x.a)

    def shape(self, x):
        return self.np.shape(x.a)

    def to_numpy(self, x):
        return np.array(x.a)


@pytest.fixture
def toy_registered(monkeypatch):
    """ToyBackend registered in process; its framework not imported yet."""
    monkeypatch.delitem(sys.modules, TOY_MODULE, raising=False)
    advloss.register_backend("toy", ToyBackend)
    yield
    advloss.unregister_backend("toy")


def _import_toy_framework(monkeypatch):
    monkeypatch.setitem(sys.modules, TOY_MODULE, types.ModuleType(TOY_MODULE))


def test_the_toy_backend_computes_a_loss_and_an_objective(toy_registered, monkeypatch):
    _import_toy_framework(monkeypatch)
    rng = np.random.default_rng(0)
    r, f = rng.normal(size=(8, 1)), rng.normal(size=(6, 1))
    for name in ("ns", "lsgan", "hinge", "wgan", "ragan"):
        loss = advloss.get_loss(name)
        value = loss.discriminator(ToyArray(r), ToyArray(f))
        assert isinstance(value, ToyArray)
        assert float(value) == float(loss.discriminator(r, f))  # the NumPy backend's value
        g = loss.generator(ToyArray(f), real_logits=ToyArray(r))
        assert float(g) == float(loss.generator(f, real_logits=r))

    objective = advloss.Objective.parse("ns(real_label=0.9)")
    w = np.array([[0.5], [-1.0]])

    def D(x):  # a "discriminator" on the toy framework: a linear map
        return ToyArray(x.a @ w) if isinstance(x, ToyArray) else x @ w

    real, fake = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    toy = objective.discriminator(D, ToyArray(real), ToyArray(fake))
    ref = objective.discriminator(D, real, fake)
    assert float(toy.total) == float(ref.total)
    assert sorted(toy.stats) == sorted(ref.stats)
    for key in ref.stats:
        assert float(toy.stats[key]) == float(ref.stats[key]), key
    assert float(objective.generator(D, ToyArray(fake)).total) == float(
        objective.generator(D, fake).total
    )
    assert advloss.get_backend("toy").name == "toy"
    assert "toy" in advloss.available_backends()


class ToyWithoutSquare(ToyBackend):
    """A plugin adapter without the optional ``square`` primitive."""

    name = "toy_nosq"

    def __getattr__(self, primitive):
        if primitive == "square":
            raise AttributeError(primitive)
        return super().__getattr__(primitive)


def test_an_adapter_without_square_gets_x_times_x(monkeypatch):
    """The squared losses fall back to ``x * x`` where an adapter lacks the optional
    ``square``; the value equals the NumPy adapter's (which has it)."""
    monkeypatch.delitem(sys.modules, TOY_MODULE, raising=False)
    _import_toy_framework(monkeypatch)
    advloss.register_backend("toy_nosq", ToyWithoutSquare)
    try:
        assert not hasattr(advloss.get_backend("toy_nosq"), "square")
        rng = np.random.default_rng(1)
        r, f = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
        for name in ("lsgan", "rp_lsgan"):
            loss = advloss.get_loss(name)
            toy = loss.discriminator(r, f, backend="toy_nosq")
            assert isinstance(toy, ToyArray)
            assert float(toy) == float(loss.discriminator(r, f))
        lecam = advloss.lecam_penalty(
            ToyArray(r), ToyArray(f), ema_real=0.2, ema_fake=-0.1, backend="toy_nosq"
        )
        assert float(lecam) == float(advloss.lecam_penalty(r, f, ema_real=0.2, ema_fake=-0.1))
    finally:
        advloss.unregister_backend("toy_nosq")


def test_a_backend_is_detected_only_once_its_framework_is_imported(toy_registered, monkeypatch):
    x = ToyArray(np.zeros((2, 1)))
    with pytest.raises(advloss.AdvlossTypeError, match="not a tensor of a supported framework"):
        advloss.get_loss("ns").generator(x)
    _import_toy_framework(monkeypatch)
    assert backend_module.backend_for(x).name == "toy"


def test_a_penalty_on_a_backend_without_autodiff_names_it(toy_registered, monkeypatch):
    _import_toy_framework(monkeypatch)
    x = ToyArray(np.zeros((2, 3)))
    with pytest.raises(advloss.AdvlossTypeError, match="the toy backend has no automatic"):
        advloss.r1_penalty(lambda u: u, x)


def test_backends_from_entry_points(monkeypatch):
    class EntryPoint:
        name, value, dist = "toy", "toy_pkg:ToyBackend", None

        def load(self):
            return ToyBackend

    def fake(group):
        return [EntryPoint()] if group == registry.ENTRY_POINT_GROUPS["backend"] else []

    backends = registry._KINDS["backend"]
    saved = backends.plugins, backends.scanned
    monkeypatch.setattr(registry, "_entry_points", fake)
    backends.scanned = False
    try:
        _import_toy_framework(monkeypatch)
        x = ToyArray(np.zeros((3, 1)))
        value = advloss.get_loss("wgan").discriminator(x, x)
        assert isinstance(value, ToyArray) and float(value) == 0.0
        assert "toy" in registry.available("backend")
    finally:
        backends.plugins, backends.scanned = saved
        backend_module._forget()


def test_register_backend_checks_the_adapter():
    class NotAnAdapter:
        name = "broken"

    with pytest.raises(advloss.AdvlossTypeError, match="backend"):
        advloss.register_backend("broken", NotAnAdapter())
    with pytest.raises(advloss.AdvlossValueError, match="already taken"):
        advloss.register_backend("numpy", ToyBackend)
