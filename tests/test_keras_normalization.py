"""advloss.nn.keras.LayerNormalization / GroupNormalization: drop-ins for Keras' layers (same
weights and outputs) whose second derivatives are exact, so gradient penalties through them give
PyTorch's parameter gradients on TensorFlow — where Keras' own layers do not (tf.nn.moments stops
the gradient through the mean inside the variance)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import advloss  # noqa: E402
from advloss.errors import AdvlossValueError  # noqa: E402
from advloss.nn.keras import GroupNormalization, LayerNormalization  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the TensorFlow backend's moments"
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 4, 6))
W = 1 + 0.3 * RNG.standard_normal((4, 4, 6))  # a scale per position and channel in front
R = RNG.standard_normal((3, 4, 4, 6))
GAMMA, BETA = 1 + 0.2 * RNG.standard_normal(6), 0.1 * RNG.standard_normal(6)


def keras_pair(kind, **kwargs):
    cls_ours, cls_theirs = {
        "layer": (LayerNormalization, keras.layers.LayerNormalization),
        "group": (GroupNormalization, keras.layers.GroupNormalization),
    }[kind]
    layers = [cls(dtype="float64", epsilon=1e-5, **kwargs) for cls in (cls_ours, cls_theirs)]
    for layer in layers:
        layer.build(X.shape)
        if layer.gamma.shape == (6,):
            layer.set_weights([GAMMA, BETA])
    return layers


def torch_reference(kind, **kwargs):
    """(output, d/dW of the R1-like penalty sum(grad_x(sum(tanh(norm(x*W)) * R))^2))."""
    x = torch.tensor(X.transpose(0, 3, 1, 2), requires_grad=True)
    w = torch.tensor(W.transpose(2, 0, 1), requires_grad=True)
    if kind == "group":
        norm = torch.nn.GroupNorm(kwargs["groups"], 6, eps=1e-5).double()
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(GAMMA))
            norm.bias.copy_(torch.from_numpy(BETA))
        f = norm
    else:  # LayerNormalization(axis=-1): over channels, per pixel
        g, b = torch.from_numpy(GAMMA), torch.from_numpy(BETA)
        f = lambda v: torch.nn.functional.layer_norm(v.movedim(1, -1), (6,), g, b, 1e-5).movedim(
            -1, 1
        )
    y = f(x * w)
    out = (torch.tanh(y) * torch.from_numpy(R.transpose(0, 3, 1, 2))).sum()
    (grad,) = torch.autograd.grad(out, x, create_graph=True)
    (dw,) = torch.autograd.grad((grad**2).sum(), w)
    return y.detach().numpy().transpose(0, 2, 3, 1), dw.numpy().transpose(1, 2, 0)


def tf_second_order(layer):
    x, w = tf.constant(X), tf.Variable(W)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            out = tf.reduce_sum(tf.tanh(layer(x * w)) * R)
        penalty = tf.reduce_sum(inner.gradient(out, x) ** 2)
    return outer.gradient(penalty, w).numpy()


@pytest.mark.parametrize(
    "kind, kwargs",
    [("layer", {}), ("group", {"groups": 1}), ("group", {"groups": 3}), ("group", {"groups": 6})],
    ids=["layer", "group1", "group3", "instance"],
)
def test_same_outputs_as_keras_and_exact_second_derivatives(kind, kwargs):
    ours, theirs = keras_pair(kind, **kwargs)
    want_y, want_dw = torch_reference(kind, **kwargs)
    np.testing.assert_allclose(np.asarray(ours(X)), np.asarray(theirs(X)), atol=1e-12)
    np.testing.assert_allclose(np.asarray(ours(X * W)), want_y, atol=1e-12)
    np.testing.assert_allclose(tf_second_order(ours), want_dw, rtol=1e-9, atol=1e-12)
    # Keras' own layer: same values and first derivatives, wrong second derivatives.  If this
    # starts to fail, Keras fixed tf.nn.moments' stop_gradient: update docs/penalties.md.
    err = np.max(np.abs(tf_second_order(theirs) - want_dw) / np.abs(want_dw))
    assert err > 1e-4, err


def test_layer_normalization_over_several_axes_matches_keras():
    ours = LayerNormalization(axis=[1, 2, 3], dtype="float64")
    theirs = keras.layers.LayerNormalization(axis=[1, 2, 3], dtype="float64")
    ours.build(X.shape)
    theirs.build(X.shape)
    weights = [RNG.standard_normal((4, 4, 6)), RNG.standard_normal((4, 4, 6))]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(np.asarray(ours(X)), np.asarray(theirs(X)), atol=1e-12)


def test_r1_through_a_keras_discriminator_equals_pytorch():
    """advloss.r1_penalty on Dense -> LayerNormalization -> LeakyReLU -> Dense: the penalty's
    gradient with respect to the first layer's kernel equals PyTorch's (our layer) and differs
    from it with Keras' layer."""
    x = RNG.standard_normal((5, 7))
    k1, k2 = RNG.standard_normal((7, 8)) * 0.5, RNG.standard_normal((8, 1)) * 0.5

    t1 = torch.tensor(k1, requires_grad=True)
    t2 = torch.tensor(k2)

    def torch_d(v):
        h = torch.nn.functional.layer_norm(v @ t1, (8,), eps=1e-5)
        return torch.nn.functional.leaky_relu(h, 0.2) @ t2

    (want,) = torch.autograd.grad(advloss.r1_penalty(torch_d, torch.tensor(x)), t1)

    def keras_grad(norm_cls):
        v1, v2 = tf.Variable(k1), tf.constant(k2)
        norm = norm_cls(epsilon=1e-5, dtype="float64")

        def d(v):  # not tf.nn.leaky_relu: its slope is a float32 attribute (0.20000000298)
            h = norm(v @ v1)
            return tf.where(h > 0, h, 0.2 * h) @ v2

        with tf.GradientTape() as tape:
            penalty = advloss.r1_penalty(d, tf.constant(x))
        return tape.gradient(penalty, v1).numpy()

    np.testing.assert_allclose(keras_grad(LayerNormalization), want.numpy(), rtol=1e-9, atol=1e-12)
    assert np.max(np.abs(keras_grad(keras.layers.LayerNormalization) - want.numpy())) > 1e-3


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
def test_rms_scaling_is_refused():
    with pytest.raises(AdvlossValueError, match="rms_scaling"):
        LayerNormalization(rms_scaling=True)


def test_mixed_precision_inputs_are_normalized_in_float32():
    layer = GroupNormalization(groups=2, dtype="mixed_float16")
    y = layer(X.astype(np.float16))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    np.testing.assert_allclose(
        np.asarray(y, np.float32),
        np.asarray(keras.layers.GroupNormalization(groups=2)(X.astype(np.float32))),
        atol=2e-3,
    )
