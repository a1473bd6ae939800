"""Bad input to the library gives a clear advloss error, never a silent NaN or a wrong value.

Each case names the argument, what was expected and what was received.  The classes are listed
in ``docs/reliability.md`` with the test that keeps each; every one failed (silently or with a
framework traceback) before the fix that added it.  Plugin-security cases are in
``tests/test_plugins.py``, the trainers' run folders in ``tests/test_reliability_runs.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.errors import AdvlossTypeError, AdvlossValueError
from tests.frameworks import FRAMEWORK_PARAMS

LOSSES = ["minimax", "ns", "lsgan", "hinge", "wgan", "ragan", "rpgan", "rp_hinge", "rp_lsgan"]


def linear_d(h, dtype="float32"):
    """D(x) = x @ (3, 4): input gradient (3, 4) everywhere, so R1 = gamma/2 * 25."""
    w = h.tensor(np.array([3.0, 4.0]), dtype)
    return lambda x: h.backend.sum_per_sample(x * w)


# --------------------------------------------------------------------------- empty batches


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("shape", [(0,), (0, 1, 30, 30)], ids=["flat", "patchgan"])
@pytest.mark.parametrize("name", LOSSES)
def test_empty_batch_is_an_error_for_every_loss(h, shape, name):
    loss = advloss.get_loss(name)
    empty = h.tensor(np.zeros(shape), "float32")
    full = h.tensor(np.zeros((2, *shape[1:])), "float32")
    with pytest.raises(AdvlossValueError, match=r"real_logits is an empty batch \(shape \(0,"):
        loss.discriminator(empty, full)
    with pytest.raises(AdvlossValueError, match=r"fake_logits is an empty batch"):
        loss.discriminator(full, empty)
    with pytest.raises(AdvlossValueError, match=r"fake_logits is an empty batch"):
        loss.generator(empty, real_logits=full)


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
def test_empty_batch_is_an_error_for_every_penalty(h):
    empty = h.tensor(np.zeros((0, 2)), "float32")
    D = linear_d(h)
    for call in (
        lambda: advloss.r1_penalty(D, empty),
        lambda: advloss.r2_penalty(D, empty),
        lambda: advloss.gradient_penalty(D, empty, empty, key=0 if h.name != "torch" else None),
    ):
        with pytest.raises(AdvlossValueError, match=r"is an empty batch \(shape \(0, 2\)\)"):
            call()


# --------------------------------------------------------------------------- 0-d logits


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("name", LOSSES)
def test_zero_dimensional_logits_are_an_error(h, name):
    loss = advloss.get_loss(name)
    scalar = h.tensor(np.array(1.0), "float32")
    batch = h.tensor(np.zeros(3), "float32")
    with pytest.raises(AdvlossValueError, match="real_logits must have a batch dimension"):
        loss.discriminator(scalar, batch)
    with pytest.raises(AdvlossValueError, match="fake_logits must have a batch dimension"):
        loss.generator(scalar, real_logits=batch)


# ------------------------------------------------------------- what the discriminator returns


def _bad_outputs(h):
    D = linear_d(h)
    mean = {
        "torch": lambda x: D(x).mean(),
        "tensorflow": lambda x: __import__("tensorflow").reduce_mean(D(x)),
        "jax": lambda x: D(x).mean(),
    }[h.name]
    return [
        ("0-d (the batch mean)", mean, AdvlossValueError, r"one value \(or map\) per sample"),
        ("first half of the batch", lambda x: D(x)[:2], AdvlossValueError, r"shape \(2,\)"),
        ("a tuple", lambda x: (D(x), D(x)), AdvlossTypeError, "object of type tuple"),
        ("a dict", lambda x: {"logits": D(x)}, AdvlossTypeError, "object of type dict"),
        ("an int", lambda x: 3, AdvlossTypeError, "object of type int"),
    ]


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
def test_discriminator_output_is_checked(h):
    real = h.tensor(np.ones((4, 2)), "float32")
    fake = h.tensor(np.zeros((4, 2)), "float32")
    key = None if h.name == "torch" else 0
    for label, D, error, pattern in _bad_outputs(h):
        for name, call in (
            ("r1", lambda D=D: advloss.r1_penalty(D, real)),
            ("r2", lambda D=D: advloss.r2_penalty(D, fake)),
            ("gp", lambda D=D: advloss.gradient_penalty(D, real, fake, key=key)),
            ("lazy r1, skipped step", lambda D=D: advloss.r1_penalty(D, real, every=2, step=1)),
        ):
            with pytest.raises(error, match=pattern) as info:
                call()
            assert "N = 4 (the batch size)" in str(info.value), (label, name, info.value)


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
def test_a_batch_mean_discriminator_no_longer_scales_r1(h):
    """The trial behind the check: R1 of D(x).mean() was 7.8125 instead of 125 (1/N^2)."""
    D = linear_d(h)
    real = h.tensor(np.zeros((4, 2)), "float32")
    assert float(h.numpy(advloss.r1_penalty(D, real))) == pytest.approx(125.0)
    with pytest.raises(AdvlossValueError, match=r"it returned shape \(\)"):
        advloss.r1_penalty(_bad_outputs(h)[0][1], real)


@pytest.mark.parametrize("h", [p for p in FRAMEWORK_PARAMS if p.id in ("torch", "tensorflow")])
def test_input_independent_discriminator_is_an_error(h):
    """torch and TF see that the output does not depend on x (no gradient path); JAX's vjp
    returns the mathematically correct zero gradient, so R1 = 0 there (docs/reliability.md)."""
    real = h.tensor(np.ones((4, 2)), "float32")
    const = h.tensor(np.ones(4), "float32")
    with pytest.raises(AdvlossValueError, match="does not depend on its input"):
        advloss.r1_penalty(lambda x: const, real)


# --------------------------------------------------------------------------- argument types


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
def test_python_number_beside_a_tensor(h):
    batch = h.tensor(np.zeros(3), "float32")
    ns = advloss.get_loss("ns")
    with pytest.raises(
        AdvlossTypeError,
        match=r"real_logits must be a tensor of shape \(N, ...\); received the Python float 0.5",
    ):
        ns.discriminator(0.5, batch)
    with pytest.raises(
        AdvlossTypeError, match=r"fake_logits must be a tensor of shape .*Python int 1"
    ):
        ns.discriminator(batch, 1)
    with pytest.raises(
        AdvlossTypeError, match=r"gradient_penalty: real must be a tensor of shape .*Python float"
    ):
        advloss.gradient_penalty(linear_d(h), 0.5, h.tensor(np.zeros((3, 2)), "float32"))


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("step", [3.0, "3", True, [3]], ids=["float", "str", "bool", "list"])
def test_step_must_be_an_int(h, step):
    real = h.tensor(np.zeros((4, 2)), "float32")
    with pytest.raises(AdvlossTypeError, match="step must be a Python int or a 0-d integer"):
        advloss.r1_penalty(linear_d(h), real, every=2, step=step)


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
def test_step_tensor_must_be_integer(h):
    real = h.tensor(np.zeros((4, 2)), "float32")
    with pytest.raises(AdvlossTypeError, match=r"received a .* of dtype float32 and shape \(\)"):
        advloss.r1_penalty(linear_d(h), real, every=2, step=h.tensor(np.array(2.0), "float32"))
    # NumPy integers are steps too (a loop over np.arange)
    for step, expected in ((np.int64(2), 250.0), (np.int32(3), 0.0)):
        value = advloss.r1_penalty(linear_d(h), real, every=2, step=step)
        assert float(h.numpy(value)) == pytest.approx(expected)


@pytest.mark.parametrize("h", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("key", ["abc", 1.5, {"seed": 0}], ids=["str", "float", "dict"])
def test_key_type_is_checked(h, key):
    real = h.tensor(np.zeros((4, 2)), "float32")
    fake = h.tensor(np.ones((4, 2)), "float32")
    with pytest.raises(AdvlossTypeError, match=r"key must be .*received"):
        advloss.gradient_penalty(linear_d(h), real, fake, key=key)


def test_numpy_key_type_is_checked():
    with pytest.raises(
        AdvlossTypeError, match=r"key must be an int seed, a numpy.random.Generator"
    ):
        advloss.instance_noise(np.zeros((2, 3)), 0.1, key="abc")


def test_no_autodiff_and_no_grad_errors_are_advloss_errors():
    """Adapters raise advloss errors (still the builtin exceptions they raised before)."""
    with pytest.raises(AdvlossTypeError, match="no automatic differentiation") as info:
        advloss.r1_penalty(lambda x: x.sum(1), np.zeros((2, 3)))
    assert isinstance(info.value, NotImplementedError)
    torch = pytest.importorskip("torch")
    with torch.no_grad(), pytest.raises(AdvlossValueError, match="autograd") as info:
        advloss.r1_penalty(lambda x: x.sum(1), torch.zeros(2, 3))
    assert isinstance(info.value, RuntimeError)


# ---------------------------------------------------------------- validation at construction


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: advloss.GradientPenalty(one_sided="yes"), AdvlossTypeError, "one_sided must be"),
        (lambda: advloss.GradientPenalty(one_sided=1), AdvlossTypeError, "one_sided must be"),
        (lambda: advloss.R1Penalty(every=10**300), AdvlossValueError, "int of 301 digits"),
        (lambda: advloss.R2Penalty(every=2**31), AdvlossValueError, "from 1 to 2147483647"),
        (lambda: advloss.R1Penalty(every=0), AdvlossValueError, "every must be an int from 1"),
        (
            lambda: advloss.Objective("ns", instance_noise=-0.1),
            AdvlossValueError,
            "instance_noise is a standard deviation and must be >= 0",
        ),
        (
            lambda: advloss.Objective("ns", instance_noise="linear:0.1:-0.1:100"),
            AdvlossValueError,
            "end=-0.1",
        ),
        (
            lambda: advloss.get_schedule(
                {"name": "linear", "start": 0.1, "end": 0.0, "steps": float("1e400")}
            ),
            AdvlossTypeError,
            "steps must be an int; received inf",
        ),
        (lambda: advloss.get_loss("ns", real_label=float("nan")), AdvlossValueError, "finite"),
    ],
    ids=[
        "one_sided-str",
        "one_sided-int",
        "every-300-digits",
        "every-2**31",
        "every-0",
        "noise-negative",
        "noise-schedule-negative",
        "steps-1e400",
        "real_label-nan",
    ],
)
def test_validation_at_construction(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_objective_noise_of_zero_is_fine():
    assert advloss.Objective("ns", instance_noise=0.0).instance_noise(5) == 0.0


# --------------------------------------------------------------------------- the mini-language


def test_duplicate_keywords_are_rejected():
    with pytest.raises(AdvlossValueError, match="gives real_label= twice"):
        advloss.Objective.parse("ns(real_label=0.9, real_label=0.8)")
    with pytest.raises(AdvlossValueError, match="gives gamma= twice"):
        advloss.Objective.parse("ns + r1(gamma=1, every=2, gamma=3)")


@pytest.mark.parametrize("n", [300, 1500, 100_000])
def test_too_many_terms_is_a_clear_error(n):
    with pytest.raises(AdvlossValueError, match="at most 256 terms"):
        advloss.Objective.parse("ns + " + " + ".join(["r1"] * n))


def test_deep_nesting_is_a_clear_error():
    with pytest.raises(AdvlossValueError, match=r"nested too deeply|cannot parse"):
        advloss.Objective.parse("ns(real_label=" + "(" * 5000 + "0.9" + ")" * 5000 + ")")


class _Margin:
    """A plugin loss with a name that is not a Python identifier."""

    name = "logistic-margin"

    def __init__(self, *, margin=1.0):
        self.margin = margin

    def config(self):
        return {"name": self.name, "margin": self.margin}

    def __eq__(self, other):
        return isinstance(other, _Margin) and other.margin == self.margin

    def __hash__(self):
        return hash(self.margin)

    def discriminator(self, real_logits, fake_logits, **options):
        return advloss.get_loss("ns").discriminator(real_logits - self.margin, fake_logits)

    def generator(self, fake_logits, **options):
        return advloss.get_loss("ns").generator(fake_logits)


@pytest.mark.parametrize("name", ["logistic-margin", "myproj.loss", "my.proj-loss"])
def test_plugin_names_with_dash_and_dot_round_trip(name):
    class Named(_Margin):
        pass

    Named.name = name
    advloss.register_loss(name, Named)
    try:
        objective = advloss.Objective(advloss.get_loss(name, margin=0.5), penalties=["r1"])
        text = repr(objective)
        assert advloss.Objective.parse(text) == objective, text
        quoted = advloss.Objective.parse(f"{name!r}(margin=0.5) + r1")
        assert quoted == objective
    finally:
        advloss.unregister_loss(name)


def test_the_reliability_page_names_tests_that_exist():
    """docs/reliability.md's table cites the test that keeps each row: they must exist."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "reliability.md").read_text()
    cited = set(re.findall(r"\btest_\w+", text)) - set(re.findall(r"tests/(test_\w+)\.py", text))
    defined = set()
    for path in (root / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.M))
    assert len(cited) >= 30
    assert not sorted(cited - defined)
