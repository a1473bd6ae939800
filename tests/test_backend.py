"""Framework detection, the backend= override, and the error contract."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.backend import backend_for
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_detects_the_framework_of_each_call(fw):
    x = fw.tensor(np.zeros(3), "float32")
    assert backend_for(x, None, 1.0, 2).name == fw.name
    assert backend_for(np.zeros(2)).name == "numpy"


def test_detects_tf_variables_and_jax_tracers():
    names = {h.name for h in FRAMEWORKS}
    if "tensorflow" in names:
        import tensorflow as tf

        assert backend_for(tf.Variable([1.0])).name == "tensorflow"
        seen = []

        @tf.function
        def f(x):
            seen.append(backend_for(x).name)
            return x

        f(tf.constant([1.0]))
        assert seen == ["tensorflow"]
    if "jax" in names:
        import jax
        import jax.numpy as jnp

        seen = []

        def g(x):
            seen.append(backend_for(x).name)
            return advloss.get_loss("ns").generator(x)

        jax.jit(g)(jnp.ones(2))
        jax.grad(g)(jnp.ones(2))
        jax.vmap(g)(jnp.ones((3, 2)))
        assert seen == ["jax"] * 3


@pytest.mark.parametrize("a,b", PAIRS)
def test_mixed_frameworks_raise_naming_both(a, b):
    x, y = a.tensor(np.zeros(2), "float32"), b.tensor(np.zeros(2), "float32")
    with pytest.raises(
        advloss.AdvlossTypeError, match=rf"mix frameworks.*{a.name}.*{b.name}"
    ) as info:
        advloss.get_loss("ns").discriminator(x, y)
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError, match=r"NonSaturatingLoss\.discriminator"):
        advloss.get_loss("ns").discriminator(x, x, weights=b.tensor(np.ones(2), "float32"))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_numpy_weights_with_framework_logits_are_mixed(fw):
    x = fw.tensor(np.zeros(2), "float32")
    with pytest.raises(advloss.AdvlossTypeError, match="numpy"):
        advloss.get_loss("ns").generator(x, weights=np.ones(2))


def test_unknown_types_and_missing_tensors():
    loss = advloss.get_loss("ns")
    with pytest.raises(advloss.AdvlossTypeError, match="not a tensor of a supported framework"):
        loss.generator("logits")
    with pytest.raises(advloss.AdvlossTypeError, match="not a tensor of a supported framework"):
        loss.generator([0.1, 0.2])
    with pytest.raises(advloss.AdvlossTypeError, match="no tensor among the arguments"):
        loss.generator(0.5)


def test_backend_override():
    loss = advloss.get_loss("ns")
    out = loss.generator([0.0, 1.0], backend="numpy")
    assert isinstance(out, np.ndarray | np.generic)
    np.testing.assert_allclose(out, np.mean(np.logaddexp(0, -np.array([0.0, 1.0]))))
    with pytest.raises(advloss.AdvlossValueError, match="not a known framework"):
        loss.generator([0.0], backend="mxnet")
    for fw in FRAMEWORKS:
        t = loss.generator(np.array([0.0, 1.0]), backend=fw.name)  # NumPy data converted
        assert fw.backend.is_tensor_type(type(t))
        np.testing.assert_allclose(fw.numpy(t), out)
    if len(FRAMEWORKS) >= 2:
        a, b = FRAMEWORKS[:2]
        with pytest.raises(advloss.AdvlossTypeError, match="was requested"):
            loss.generator(b.tensor(np.zeros(2), "float32"), backend=a.name)
    assert (
        advloss.get_backend("tf").name == "tensorflow"
        if "tensorflow" in [h.name for h in FRAMEWORKS]
        else True
    )


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_non_floating_and_mismatched_dtypes(fw):
    loss = advloss.get_loss("hinge")
    ints = fw.backend.asarray([1, 2], "int32")
    with pytest.raises(
        advloss.AdvlossTypeError, match=r"real_logits must be a floating-point tensor.*int32"
    ):
        loss.discriminator(ints, ints)
    a, b = fw.tensor(np.zeros(2), "float32"), fw.tensor(np.zeros(2), "float64")
    with pytest.raises(
        advloss.AdvlossTypeError,
        match="real_logits has dtype float32 but fake_logits has dtype float64",
    ):
        loss.discriminator(a, b)
    with pytest.raises(
        advloss.AdvlossValueError,
        match=r"reduction must be one of \['mean', 'sum', 'none'\]; received 'avg'",
    ):
        loss.discriminator(a, a, reduction="avg")


def test_hyperparameter_errors():
    bad = [
        (
            lambda: advloss.get_loss("ns", real_label=0.0),
            ValueError,
            r"real_label must lie in \(0, 1\]",
        ),
        (lambda: advloss.get_loss("minimax", real_label=1.5), ValueError, "received 1.5"),
        (lambda: advloss.get_loss("ns", real_label=float("nan")), ValueError, "finite"),
        (lambda: advloss.get_loss("ns", real_label="0.9"), TypeError, "Python number"),
        (lambda: advloss.get_loss("ns", real_label=True), TypeError, "Python number"),
        (
            lambda: advloss.get_loss("hinge", real_margin=-1.0),
            ValueError,
            "real_margin must be >= 0",
        ),
        (lambda: advloss.get_loss("hinge", fake_margin=-0.1), ValueError, "fake_margin"),
        (lambda: advloss.get_loss("lsgan", a=1.0, b=1.0), ValueError, "must differ"),
        (lambda: advloss.get_loss("lsgan", c=float("inf")), ValueError, "finite"),
        (
            lambda: advloss.get_loss("hinge", real_label=0.9),
            TypeError,
            r"no hyperparameter 'real_label'.*accepts \['real_margin', 'fake_margin'\]",
        ),
        (lambda: advloss.get_loss("wgan", clip=0.01), TypeError, "accepts none"),
        (
            lambda: advloss.get_loss("nonsaturating"),
            ValueError,
            r"unknown loss name 'nonsaturating'; known losses: \['hinge', 'lsgan', 'minimax', 'ns', 'ragan', 'rp_hinge', 'rp_lsgan', 'rpgan', 'wgan'\]",
        ),
        (
            lambda: advloss.get_loss("ns").discriminator(np.zeros(2), np.zeros(2), real_label=0.0),
            ValueError,
            "real_label",
        ),
    ]
    for make, builtin, pattern in bad:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
    # NumPy scalars are accepted as hyperparameters and stored as Python floats.
    loss = advloss.get_loss("ns", real_label=np.float32(0.5))
    assert loss.real_label == 0.5 and type(loss.real_label) is float


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_tensor_hyperparameters_are_rejected(fw):
    with pytest.raises(advloss.AdvlossTypeError, match="real_label must be a Python number"):
        advloss.get_loss("ns", real_label=fw.tensor(np.array(0.9), "float32"))


def test_ragan_generator_weight_errors_name_the_argument():
    loss = advloss.get_loss("ragan")
    x = np.zeros((4, 1))
    with pytest.raises(
        advloss.AdvlossValueError, match=r"RelativisticAverageLoss\.generator: weights of shape"
    ):
        loss.generator(x, real_logits=x, weights=np.ones(4))
    with pytest.raises(advloss.AdvlossValueError, match=r"real_weights of shape"):
        loss.generator(x, real_logits=x, real_weights=np.ones(4))


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_missing_logits_bool_weights_and_mixed_low_precision(fw):
    x32 = fw.tensor(np.zeros((2, 1)), "float32")
    x16 = fw.tensor(np.zeros((2, 1)), "float16")
    with pytest.raises(advloss.AdvlossTypeError, match="real_logits is required; received None"):
        advloss.get_loss("ragan").generator(x32, real_logits=None)
    with pytest.raises(advloss.AdvlossTypeError, match="received the bool True"):
        advloss.get_loss("ns").generator(x32, weights=True)
    # float16 and float32 are both computed in float32, but mixing them is still a mistake.
    with pytest.raises(advloss.AdvlossTypeError, match="float32 but fake_logits has dtype float16"):
        advloss.get_loss("ns").discriminator(x32, x16)
