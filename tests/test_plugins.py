"""Plugins: register_loss / register_penalty, entry points, and a real plugin distribution
(tests/plugin_pkg) installed with pip during the run.

Only NumPy here, and torch in the tests that need it (TensorFlow and JAX stay unimported)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import advloss
from advloss import registry
from advloss.errors import AdvlossPluginWarning, AdvlossTypeError, AdvlossValueError
from advloss.penalties import GradientPenalty, R1Penalty
from advloss.registry import (
    available_losses,
    available_penalties,
    get_loss,
    get_penalty,
    refresh_plugins,
    register_loss,
    register_penalty,
    unregister_loss,
    unregister_penalty,
)

BUILTIN_LOSSES = [
    "hinge", "lsgan", "minimax", "ns", "ragan", "rp_hinge", "rp_lsgan", "rpgan", "wgan"
]  # fmt: skip
BUILTIN_PENALTIES = [
    "bcr",
    "cr",
    "dragan",
    "feature_matching",
    "gp",
    "lecam",
    "maxgp",
    "path_length",
    "r1",
    "r2",
    "zcr",
]
REPO_ROOT = Path(advloss.__file__).resolve().parents[1]
PLUGIN_SRC = Path(__file__).resolve().parent / "plugin_pkg"
PLUGIN_MODULE = "advloss_example_plugin"


def softplus(x):
    return np.logaddexp(0.0, x)


# ------------------------------------------------------------------------------ test helpers


@pytest.fixture(autouse=True)
def isolated_registry():
    """Every test leaves the registries (registrations, loaded plugins, scan state) as it found
    them."""
    saved = [
        (reg, dict(reg.registered), dict(reg.plugins), reg.scanned)
        for reg in (registry._LOSS_REGISTRY, registry._PENALTY_REGISTRY)
    ]
    refused = set(registry._REFUSED)
    yield
    for reg, registered, plugins, scanned in saved:
        reg.registered, reg.plugins, reg.scanned = registered, plugins, scanned
    registry._REFUSED.clear()
    registry._REFUSED.update(refused)


class FakeEntryPoint:
    """An entry point whose load() returns ``obj`` or raises ``error``."""

    def __init__(self, name, obj=None, *, error=None, value=None, dist="fake-dist"):
        self.name = name
        self.value = value or f"fake_module:{name.replace('-', '_')}"
        self.dist = types.SimpleNamespace(name=dist, version="1.0") if dist else None
        self._obj, self._error = obj, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._obj


@pytest.fixture
def entry_points(monkeypatch):
    """``entry_points(losses=[...], penalties=[...])`` makes those the installed entry points
    (read by the next scan); returns the list of groups read so far."""
    reads: list[str] = []
    table: dict[str, list] = {}

    def fake(group):
        reads.append(group)
        return table.get(group, [])

    monkeypatch.setattr(registry, "_entry_points", fake)

    def install(losses=(), penalties=()):
        table[registry.LOSS_ENTRY_POINT_GROUP] = list(losses)
        table[registry.PENALTY_ENTRY_POINT_GROUP] = list(penalties)
        return reads

    install()
    registry._LOSS_REGISTRY.scanned = registry._PENALTY_REGISTRY.scanned = False
    return install


class ScaledNS:
    """A plugin loss factory: keyword-only hyperparameter ``scale``."""

    def __init__(self, *, scale=1.0):
        self.scale = scale
        self._ns = advloss.NonSaturatingLoss()

    def discriminator(self, real_logits, fake_logits, **options):
        return self.scale * self._ns.discriminator(real_logits, fake_logits, **options)

    def generator(self, fake_logits, **options):
        return self.scale * self._ns.generator(fake_logits, **options)


class Drift:
    """A plugin penalty: weight * mean(D(real)^2)."""

    def __init__(self, *, weight=1e-3):
        self.weight = weight

    def term(self, discriminator, real, fake, *, step=None, key=None):
        out = discriminator(real)
        return self.weight * np.mean(out * out)


# ---------------------------------------------------------------- registration, in process


def test_register_a_factory():
    register_loss("scaled-ns", ScaledNS)
    assert "scaled-ns" in available_losses()
    loss = get_loss("scaled-ns", scale=0.5)
    assert isinstance(loss, ScaledNS) and loss.scale == 0.5
    assert float(loss.discriminator(np.zeros(4), np.zeros(4))) == pytest.approx(np.log(2.0))
    with pytest.raises(
        AdvlossTypeError,
        match=r"loss 'scaled-ns' has no hyperparameter 'bogus'; it accepts \['scale'\]",
    ):
        get_loss("scaled-ns", bogus=1.0)
    unregister_loss("scaled-ns")
    assert "scaled-ns" not in available_losses()
    with pytest.raises(AdvlossValueError, match="unknown loss name 'scaled-ns'"):
        get_loss("scaled-ns")


def test_register_an_instance():
    instance = ScaledNS(scale=3.0)
    register_loss("scaled-ns-3", instance)
    assert get_loss("scaled-ns-3") is instance
    with pytest.raises(
        AdvlossTypeError,
        match=r"get_loss: loss 'scaled-ns-3' is registered as an instance; it takes no "
        r"hyperparameters; received 'scale'",
    ):
        get_loss("scaled-ns-3", scale=1.0)


def test_function_factories():
    """Keyword arguments of a function factory are checked; **kwargs switches the check off."""
    register_loss("by-function", lambda scale=1.0: ScaledNS(scale=scale))
    assert get_loss("by-function", scale=2.0).scale == 2.0
    with pytest.raises(AdvlossTypeError, match=r"no hyperparameter 'gain'; it accepts \['scale'\]"):
        get_loss("by-function", gain=2.0)
    register_loss("by-kwargs", lambda **hp: ScaledNS(**hp))
    assert get_loss("by-kwargs", scale=4.0).scale == 4.0
    with pytest.raises(TypeError, match="gain"):  # the factory's own error, unchanged
        get_loss("by-kwargs", gain=2.0)


def test_a_factory_product_is_checked():
    register_loss("not-a-loss", lambda: object())
    with pytest.raises(AdvlossTypeError) as info:
        get_loss("not-a-loss")
    message = str(info.value)
    assert "get_loss: the factory" in message and "registered as loss 'not-a-loss'" in message
    assert "returned object <object object" in message
    assert "expected an object with callable .discriminator(real_logits, fake_logits" in message


class OnlyDiscriminator:
    def discriminator(self, real_logits, fake_logits):
        return 0.0

    generator = "not callable"


@pytest.mark.parametrize(
    ("value", "received"),
    [(3, "int 3"), ("ns", "str 'ns'"), (None, "NoneType None"), (OnlyDiscriminator(), "OnlyDiscr")],
)
def test_register_rejects_what_is_no_loss(value, received):
    with pytest.raises(AdvlossTypeError) as info:
        register_loss("x", value)
    message = str(info.value)
    assert message.startswith("register_loss: loss must be a loss factory (a class or callable")
    assert ".discriminator(real_logits, fake_logits, **options)" in message
    assert ".generator(fake_logits, **options)" in message
    assert f"received {received}" in message


@pytest.mark.parametrize("name", ["", "NS", "my loss", "ns!", "über", "a/b", "ns\n"])
def test_invalid_names(name):
    for register, obj in ((register_loss, ScaledNS), (register_penalty, Drift)):
        with pytest.raises(AdvlossValueError, match="name must be a non-empty string of lowercase"):
            register(name, obj)


@pytest.mark.parametrize("name", [None, 3, b"ns", ("ns",)])
def test_names_must_be_strings(name):
    with pytest.raises(AdvlossTypeError, match="register_loss: name must be a str; received"):
        register_loss(name, ScaledNS)


def test_valid_names():
    for name in ("a", "0", "my.org-loss_v2", "x-"):
        register_loss(name, ScaledNS)
        assert isinstance(get_loss(name), ScaledNS)


def test_overwriting_a_builtin_and_restoring_it():
    with pytest.raises(AdvlossValueError) as info:
        register_loss("ns", ScaledNS)
    message = str(info.value)
    assert "loss name 'ns' is already taken (built-in: advloss.losses.NonSaturatingLoss)" in message
    assert "overwrite=True" in message
    with pytest.warns(AdvlossPluginWarning, match="replaces the built-in loss 'ns'"):
        register_loss("ns", ScaledNS, overwrite=True)
    assert isinstance(get_loss("ns", scale=2.0), ScaledNS)
    unregister_loss("ns")
    assert get_loss("ns") == advloss.NonSaturatingLoss()


def test_re_registering():
    register_loss("mine", ScaledNS)
    with pytest.raises(AdvlossValueError, match=r"already taken \(registered in this process"):
        register_loss("mine", ScaledNS)
    register_loss("mine", advloss.HingeLoss, overwrite=True)
    assert get_loss("mine") == advloss.HingeLoss()
    with pytest.raises(AdvlossTypeError, match="overwrite must be a bool; received int"):
        register_loss("mine", ScaledNS, overwrite=1)  # type: ignore[arg-type]


def test_unregister_errors():
    with pytest.raises(AdvlossValueError, match="'ns' is a built-in loss; built-ins cannot"):
        unregister_loss("ns")
    register_loss("mine", ScaledNS)
    with pytest.raises(
        AdvlossValueError,
        match=r"no loss is registered in this process under the name 'nope'; "
        r"registered: \['mine'\]",
    ):
        unregister_loss("nope")
    with pytest.raises(AdvlossValueError, match="'r1' is a built-in penalty"):
        unregister_penalty("r1")


def test_unknown_name_lists_every_name(entry_points):
    entry_points(losses=[FakeEntryPoint("from-entry-point", ScaledNS)])
    register_loss("zz-mine", ScaledNS)
    with pytest.raises(AdvlossValueError) as info:
        get_loss("nope")
    expected = sorted([*BUILTIN_LOSSES, "from-entry-point", "zz-mine"])
    assert str(info.value) == f"get_loss: unknown loss name 'nope'; known losses: {expected}."
    with pytest.raises(AdvlossValueError, match="unknown loss name 3"):
        get_loss(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- penalties


def test_builtin_penalties(entry_points):
    assert available_penalties() == BUILTIN_PENALTIES
    assert get_penalty("gp", weight=1.0, every=2) == GradientPenalty(weight=1.0, every=2)
    assert get_penalty("r1", gamma=0.5) == R1Penalty(gamma=0.5)
    assert isinstance(get_penalty("r2"), advloss.R2Penalty)
    with pytest.raises(
        AdvlossTypeError,
        match=r"get_penalty: penalty 'gp' has no hyperparameter 'gamma'; it accepts "
        r"\['every', 'weight', 'center', 'one_sided'\]",
    ):
        get_penalty("gp", gamma=1.0)
    with pytest.raises(
        AdvlossValueError,
        match=r"get_penalty: unknown penalty name 'r3'; known penalties: \['bcr', 'cr', 'dragan', "
        r"'feature_matching', 'gp', 'lecam', 'maxgp', 'path_length', 'r1', 'r2', 'zcr'\]",
    ):
        get_penalty("r3")


def test_register_penalties():
    register_penalty("drift", Drift)
    assert "drift" in available_penalties()
    penalty = get_penalty("drift", weight=0.5)
    real = np.array([1.0, -2.0, 3.0])
    assert float(penalty.term(lambda x: 2 * x, real, None)) == pytest.approx(
        0.5 * np.mean(4 * real**2)
    )
    instance = Drift(weight=2.0)
    register_penalty("drift-2", instance)
    assert get_penalty("drift-2") is instance
    with pytest.raises(AdvlossTypeError, match="registered as an instance; it takes no"):
        get_penalty("drift-2", weight=1.0)
    # The built-in penalty values are accepted as instances (exempt from the `term` check).
    register_penalty("lazy-r1", R1Penalty(every=16))
    assert get_penalty("lazy-r1") == R1Penalty(every=16)
    with pytest.warns(AdvlossPluginWarning, match="replaces the built-in penalty 'r1'"):
        register_penalty("r1", Drift, overwrite=True)
    assert isinstance(get_penalty("r1"), Drift)
    unregister_penalty("r1")
    assert get_penalty("r1") == R1Penalty()


def test_register_penalty_rejects_what_is_no_penalty():
    with pytest.raises(AdvlossTypeError) as info:
        register_penalty("x", ScaledNS())  # a loss, not a penalty
    message = str(info.value)
    assert message.startswith("register_penalty: penalty must be a penalty factory")
    assert ".term(discriminator, real, fake, *, step=None, key=None)" in message
    assert "received ScaledNS" in message
    register_penalty("no-term", lambda: ScaledNS())
    with pytest.raises(
        AdvlossTypeError, match=r"registered as penalty 'no-term'.*returned ScaledNS"
    ):
        get_penalty("no-term")


# ---------------------------------------------------------------------------- entry points


def test_builtin_and_registered_names_read_no_entry_points(entry_points):
    reads = entry_points(losses=[FakeEntryPoint("plug", ScaledNS)])
    register_loss("mine", ScaledNS)
    get_loss("ns")
    get_loss("mine")
    get_penalty("r1")
    assert reads == []
    assert isinstance(get_loss("plug"), ScaledNS)  # the first miss reads the losses group
    assert reads == [registry.LOSS_ENTRY_POINT_GROUP]
    with pytest.raises(AdvlossValueError):
        get_loss("missing")  # read once: misses do not read again
    available_losses()
    assert reads == [registry.LOSS_ENTRY_POINT_GROUP]
    available_penalties()
    assert reads == [registry.LOSS_ENTRY_POINT_GROUP, registry.PENALTY_ENTRY_POINT_GROUP]
    refresh_plugins()
    assert reads[2:] == [registry.LOSS_ENTRY_POINT_GROUP, registry.PENALTY_ENTRY_POINT_GROUP]


def test_broken_entry_points_warn_and_the_others_load(entry_points):
    instance = ScaledNS(scale=5.0)
    register_loss("mine", ScaledNS)
    entry_points(
        losses=[
            FakeEntryPoint("good-factory", ScaledNS),
            FakeEntryPoint("good-instance", instance),
            importlib.metadata.EntryPoint(
                "no-module", "advloss_no_such_module_for_tests:Loss", "advloss.losses"
            ),
            importlib.metadata.EntryPoint("no-attribute", "math:no_such_loss", "advloss.losses"),
            importlib.metadata.EntryPoint("wrong-type", "math:pi", "advloss.losses"),
            FakeEntryPoint("raises", error=RuntimeError("boom at load")),
            FakeEntryPoint("ns", ScaledNS),
            FakeEntryPoint("mine", ScaledNS),
            FakeEntryPoint("good-factory", ScaledNS, dist="other-dist"),
            FakeEntryPoint("Bad Name", ScaledNS),
        ],
        penalties=[
            FakeEntryPoint("drift", Drift),
            FakeEntryPoint("not-a-penalty", ScaledNS()),
        ],
    )
    with pytest.warns(AdvlossPluginWarning) as record:
        refresh_plugins()
    messages = [str(w.message) for w in record]
    expected = {
        "no-module": "ModuleNotFoundError: No module named 'advloss_no_such_module_for_tests'",
        "no-attribute": "AttributeError",
        "wrong-type": "it loaded float 3.14159",
        "raises": "loading it raised RuntimeError: boom at load",
        "ns": "the name 'ns' is a built-in loss",
        "mine": "the name 'mine' is registered in this process",
        "good-factory": "already provided by entry point 'good-factory = fake_module:good_factory' "
        "(distribution fake-dist 1.0), which was found first",
        "Bad Name": "its name must be a non-empty string",
        "not-a-penalty": "expected a penalty factory",
    }
    assert len(messages) == len(expected), messages
    for name, reason in expected.items():
        [message] = [m for m in messages if f"entry point '{name} = " in m]
        assert message.startswith("advloss: skipped the plugin "), message
        assert reason in message, message
    assert (
        "advloss: skipped the plugin loss entry point 'raises = fake_module:raises' (distribution "
        "fake-dist 1.0) in group 'advloss.losses': loading it raised RuntimeError: boom at load"
    ) in messages
    # The good ones load; the clashing names keep their owner.
    assert available_losses() == sorted([*BUILTIN_LOSSES, "good-factory", "good-instance", "mine"])
    assert get_loss("good-factory", scale=2.0).scale == 2.0
    assert get_loss("good-instance") is instance
    assert get_loss("ns") == advloss.NonSaturatingLoss()
    assert available_penalties() == sorted([*BUILTIN_PENALTIES, "drift"])
    assert get_penalty("drift", weight=0.25).weight == 0.25
    with pytest.raises(AdvlossValueError, match="comes from an installed plugin"):
        unregister_loss("good-factory")


def test_plugin_warnings_as_errors(entry_points):
    """With the warning turned into an error the lookup raises, and the next one reads again."""
    reads = entry_points(losses=[FakeEntryPoint("raises", error=RuntimeError("boom"))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdvlossPluginWarning)
        with pytest.raises(AdvlossPluginWarning, match="RuntimeError: boom"):
            available_losses()
        with pytest.raises(AdvlossPluginWarning, match="RuntimeError: boom"):
            get_loss("raises")
        assert get_loss("ns") == advloss.NonSaturatingLoss()
    assert reads == [registry.LOSS_ENTRY_POINT_GROUP] * 2


def test_an_entry_point_factory_product_is_checked(entry_points):
    entry_points(losses=[FakeEntryPoint("lazy-bad", lambda: 42, value="pkg:make")])
    with pytest.raises(AdvlossTypeError) as info:
        get_loss("lazy-bad")
    message = str(info.value)
    assert "returned int 42" in message
    assert "(entry point 'lazy-bad = pkg:make' (distribution fake-dist 1.0))" in message


def test_registering_over_a_loaded_plugin_shadows_it(entry_points):
    entry_points(losses=[FakeEntryPoint("plug", ScaledNS)])
    assert "plug" in available_losses()
    with pytest.warns(AdvlossPluginWarning, match=r"loss entry point 'plug = .*' .* is shadowed"):
        register_loss("plug", advloss.HingeLoss)
    assert get_loss("plug") == advloss.HingeLoss()
    unregister_loss("plug")
    assert "plug" not in available_losses()  # until the entry points are read again
    refresh_plugins()
    assert isinstance(get_loss("plug"), ScaledNS)


class HijackingEntryPoint(FakeEntryPoint):
    """A plugin whose module, when imported, replaces a built-in with overwrite=True."""

    def __init__(self, name, target, *, kind="loss"):
        super().__init__(name, ScaledNS, value=f"evil_module:{name}", dist="evil-dist")
        self.target, self.kind, self.imports = target, kind, 0

    def load(self):
        self.imports += 1
        if self.kind == "loss":
            register_loss(self.target, ScaledNS, overwrite=True)
        else:
            register_penalty(self.target, Drift, overwrite=True)
        return ScaledNS


@pytest.mark.parametrize("kind", ["loss", "penalty"])
def test_a_plugin_cannot_replace_a_builtin(entry_points, kind):
    """Issue: a plugin module calling register_loss("ns", ..., overwrite=True) at import
    silently replaced ns; the parse of "ns + r1" read the entry points itself."""
    target = "ns" if kind == "loss" else "r1"
    hijack = HijackingEntryPoint("innocent", target, kind=kind)
    reads = entry_points(losses=[hijack])
    # Built-in names never read the entry points: parsing "ns + r1" imports no plugin.
    objective = advloss.Objective.parse("ns + r1")
    assert reads == [] and hijack.imports == 0
    assert objective.loss == advloss.NonSaturatingLoss() and objective.penalties == (R1Penalty(),)
    # The first scan imports the plugin: its replacement is refused with an error naming both.
    with pytest.raises(AdvlossValueError) as info:
        available_losses()
    message = str(info.value)
    assert "the plugin entry point 'innocent = evil_module:innocent'" in message
    assert "(distribution evil-dist 1.0)" in message
    assert f"tried to replace the built-in {kind} {target!r}" in message
    assert get_loss("ns") == advloss.NonSaturatingLoss()
    assert get_penalty("r1") == R1Penalty()
    # Later scans skip that entry point with a warning (its module would not run again).
    with pytest.warns(AdvlossPluginWarning, match="tried to replace a built-in name"):
        names = available_losses()
    assert "innocent" not in names and hijack.imports == 1
    assert get_loss("ns") == advloss.NonSaturatingLoss()
    assert advloss.Objective.parse("ns + r1") == objective


def test_registrations_made_by_a_plugin_name_it(entry_points):
    class Registering(FakeEntryPoint):
        def load(self):
            register_loss("side-loss", advloss.HingeLoss)
            return ScaledNS

    entry_points(losses=[Registering("main-loss", ScaledNS)])
    assert {"main-loss", "side-loss"} <= set(available_losses())
    origin = registry._LOSS_REGISTRY.origin("side-loss")
    assert origin.startswith("registered by the plugin entry point 'main-loss = ")
    assert registry._LOSS_REGISTRY.origin("ns") == "built-in"


def test_the_equivalence_suite_names_the_provider_of_non_builtin_items(entry_points):
    from advloss.equivalence._items import loss_items, penalty_items

    entry_points(losses=[FakeEntryPoint("plug", ScaledNS)])
    register_penalty("drift", Drift)
    described = {item.name: item.description for item in [*loss_items(), *penalty_items()]}
    assert "not built in" not in described["loss:ns.discriminator"]
    assert (
        "[not built in: entry point 'plug = fake_module:plug' (distribution fake-dist 1.0)]"
        in (described["loss:plug.discriminator"])
    )
    assert (
        "[not built in: registered in this process by the module tests.test_plugins]"
        in (described["penalty:drift"])
    )


def test_unreadable_entry_point_metadata(monkeypatch):
    def broken(group):
        raise ValueError("malformed entry_points.txt")

    monkeypatch.setattr(registry, "_entry_points", broken)
    with pytest.warns(AdvlossPluginWarning, match="could not read the entry points of group"):
        refresh_plugins()
    assert available_losses() == BUILTIN_LOSSES
    assert get_loss("hinge") == advloss.HingeLoss()


# ------------------------------------------------- a real plugin distribution, installed by pip


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """tests/plugin_pkg installed with pip into a fresh directory (not on sys.path); offline."""
    tmp = tmp_path_factory.mktemp("plugin")
    src, target = tmp / "src", tmp / "site"
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    shutil.copytree(
        PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    command = [
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "--quiet", "--target", str(target), str(src),
    ]  # fmt: skip
    env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore", "PIP_NO_INPUT": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    # (pip is not imported here: with setuptools' distutils shim installed, importing or even
    # finding pip in this process swaps distutils under torch.compile's feet.)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        pytest.skip("pip is not installed in this environment (uv venvs lack it)")
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert (target / PLUGIN_MODULE / "__init__.py").is_file()
    return target


@contextlib.contextmanager
def on_sys_path(target):
    """``target`` importable and its entry points read; afterwards removed, its modules
    forgotten and the entry points read again, so other tests see only the built-ins."""
    sys.path.insert(0, str(target))
    try:
        with pytest.warns(AdvlossPluginWarning) as record:
            refresh_plugins()
        yield [str(w.message) for w in record]
    finally:
        sys.path.remove(str(target))
        for module in [m for m in sys.modules if m.split(".")[0] == PLUGIN_MODULE]:
            del sys.modules[module]
        with warnings.catch_warnings():
            warnings.simplefilter("error", AdvlossPluginWarning)
            refresh_plugins()
        assert "logistic-margin" not in available_losses()
        assert "drift" not in available_penalties()


def test_installed_plugin_in_process(installed_plugin):
    rng = np.random.default_rng(0)
    r, f = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    with on_sys_path(installed_plugin) as messages:
        # The broken entry point warns, naming itself, its distribution and the error.
        assert len(messages) == 1, messages
        assert (
            "entry point 'broken-example = advloss_example_plugin.broken:BrokenLoss' "
            in messages[0]
        )
        assert "(distribution advloss-example-plugin 0.1.0)" in messages[0]
        assert "RuntimeError: advloss_example_plugin.broken is broken on purpose" in messages[0]

        assert available_losses() == sorted(
            [*BUILTIN_LOSSES, "logistic-margin", "logistic-margin-2"]
        )
        assert available_penalties() == sorted([*BUILTIN_PENALTIES, "drift"])

        loss = get_loss("logistic-margin", margin=0.5)
        assert type(loss).__module__ == PLUGIN_MODULE
        np.testing.assert_allclose(
            loss.discriminator(r, f),
            softplus(0.5 - r).mean() + softplus(0.5 + f).mean(),
            rtol=1e-13,
        )
        np.testing.assert_allclose(loss.generator(f), softplus(0.5 - f).mean(), rtol=1e-13)
        instance = get_loss("logistic-margin-2")
        assert instance.margin == 2.0 and get_loss("logistic-margin-2") is instance
        np.testing.assert_allclose(instance.generator(f), softplus(2.0 - f).mean(), rtol=1e-13)
        with pytest.raises(AdvlossTypeError, match="registered as an instance"):
            get_loss("logistic-margin-2", margin=1.0)
        with pytest.raises(AdvlossTypeError, match=r"has no hyperparameter 'gamma'.*\['margin'\]"):
            get_loss("logistic-margin", gamma=1.0)

        penalty = get_penalty("drift", weight=0.5)
        np.testing.assert_allclose(
            penalty.term(lambda x: 2.0 * x, r, f), 0.5 * np.mean((2.0 * r) ** 2), rtol=1e-13
        )

        # Built-ins are unaffected; unknown names list the plugins.
        assert get_loss("ns") == advloss.NonSaturatingLoss()
        assert get_penalty("r1", gamma=1.0) == R1Penalty(gamma=1.0)
        with pytest.raises(AdvlossValueError, match=r"known losses: \[.*'logistic-margin-2'"):
            get_loss("broken-example")


def test_installed_plugin_on_torch_tensors(installed_plugin):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    r, f = rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    with on_sys_path(installed_plugin):
        loss = get_loss("logistic-margin", margin=0.5)
        rt = torch.tensor(r, requires_grad=True)
        ft = torch.tensor(f, requires_grad=True)
        d = loss.discriminator(rt, ft)
        assert isinstance(d, torch.Tensor) and d.shape == () and d.dtype == torch.float64
        np.testing.assert_allclose(
            d.item(), softplus(0.5 - r).mean() + softplus(0.5 + f).mean(), rtol=1e-13
        )
        d.backward()  # d/dr softplus(m - r) = -sigmoid(m - r), averaged
        np.testing.assert_allclose(
            rt.grad.numpy(), -1.0 / (1.0 + np.exp(r - 0.5)) / r.size, rtol=1e-12
        )
        g = loss.generator(ft.detach())
        np.testing.assert_allclose(g.item(), softplus(0.5 - f).mean(), rtol=1e-13)
        penalty = get_penalty("drift", weight=0.5)
        value = penalty.term(lambda x: 2.0 * x, torch.tensor(r), torch.tensor(f))
        assert isinstance(value, torch.Tensor) and value.shape == ()
        np.testing.assert_allclose(value.item(), 0.5 * np.mean((2.0 * r) ** 2), rtol=1e-13)


def test_installed_plugin_is_discovered_in_a_fresh_process(installed_plugin):
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import advloss
        from advloss import registry
        print(sorted(m for m in sys.modules if m.startswith("advloss_example_plugin")))
        advloss.get_loss("ns"); registry.get_penalty("r1")
        print(sorted(m for m in sys.modules if m.startswith("advloss_example_plugin")))
        loss = advloss.get_loss("logistic-margin", margin=0.5)
        print(type(loss).__module__, loss.margin)
        print(round(float(loss.generator(np.full(3, 0.5))), 12))
        print(registry.get_penalty("drift").weight)
        print(advloss.available_losses())
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_plugin), str(REPO_ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "[]"  # import advloss reads no entry point ...
    assert lines[1] == "[]"  # ... and neither do built-in names
    assert lines[2] == f"{PLUGIN_MODULE} 0.5"
    assert float(lines[3]) == pytest.approx(np.log(2.0))  # softplus(0)
    assert lines[4] == "0.001"
    assert "'logistic-margin'" in lines[5] and "'logistic-margin-2'" in lines[5]
    assert "AdvlossPluginWarning" in proc.stderr and "broken-example" in proc.stderr
