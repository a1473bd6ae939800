"""advloss.testing's harness: imports no framework, builds the same network from NumPy weights
in every framework (NCHW and TF's channels-last), differentiates and compiles."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from advloss.testing import assert_close, get_harness, nets
from tests.frameworks import FRAMEWORK_PARAMS

# A DCGAN-style discriminator with strides and a flatten (the speed benchmark's, smaller).
STRIDED = (
    ("conv", "k1", "b1", 2, 1),
    ("act", "leaky_relu", 0.25),  # TF keeps the slope in float32: 0.25 is exact
    ("conv", "k2", "b2", 1, 0),
    ("act", "tanh"),
    ("flatten",),
    ("dense", "w", "b"),
)


def strided_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "k1": rng.normal(0, 0.3, (4, 3, 4, 4)),
        "b1": rng.normal(0, 0.1, (4,)),
        "k2": rng.normal(0, 0.3, (5, 4, 3, 3)),
        "b2": rng.normal(0, 0.1, (5,)),
        "w": rng.normal(0, 0.3, (5 * 2 * 2, 1)),
        "b": rng.normal(0, 0.1, (1,)),
    }


def test_importing_the_harness_imports_no_framework():
    code = (
        "import sys, advloss.testing, advloss.testing.nets, advloss.equivalence; "
        "advloss.testing.get_harness('torch'); "
        "print([m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_unknown_framework_is_named():
    assert get_harness("tf").name == "tensorflow"
    with pytest.raises(ValueError, match="no harness for 'mxnet'"):
        get_harness("mxnet")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
@pytest.mark.parametrize("kind", ["mlp", "conv", "strided"])
def test_net_matches_the_numpy_reference(fw, kind):
    rng = np.random.default_rng(0)
    if kind == "strided":
        layers, w, x = STRIDED, strided_weights(), rng.normal(size=(3, 3, 8, 8))
    else:
        layers, w = nets.LAYERS[kind], nets.weights(kind)
        x = rng.normal(size=(3, *nets.INPUT_SHAPES[kind]))
    expected = nets.numpy_net(layers, w, x)
    got = fw.net(layers)(fw.params(w, "float64"), fw.tensor(x, "float64"))
    assert_close(fw.numpy(got), expected, "float64", what=f"{kind} in {fw.name}")
    if fw.name == "tensorflow" and x.ndim == 4:  # NHWC data and HWIO kernels: the same function
        last = fw.net(layers, channels_last=True)
        nhwc = fw.tensor(np.transpose(x, (0, 2, 3, 1)), "float64")
        if any(layer[0] == "flatten" for layer in layers):
            return  # a channels-last flatten orders features differently (by design)
        got = last(fw.params(w, "float64", channels_last=True), nhwc)
        assert_close(fw.numpy(got), expected, "float64", what=f"{kind} channels-last")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_evaluate_gives_zero_gradients_for_unconnected_inputs(fw):
    def fn(t):
        return {"y": t["a"] * t["a"], "z": t["a"] + 1.0}

    out = fw.evaluate(fn, {"a": np.array([1.0, -2.0]), "c": np.ones(2)}, ["a", "c"], "float64")
    np.testing.assert_array_equal(out["y"], [1.0, 4.0])
    np.testing.assert_array_equal(out["d/d a"], [3.0, -3.0])  # 2a + 1
    np.testing.assert_array_equal(out["d/d c"], [0.0, 0.0])


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_value_and_grad_keeps_the_dtype(fw):
    value, (grad,) = fw.value_and_grad(lambda x: x * 3.0, [np.arange(3.0)], "float32")
    assert value.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_array_equal(grad, [3.0, 3.0, 3.0])


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_compiled_modes_agree_with_eager(fw):
    layers, w = nets.LAYERS["conv"], nets.weights("conv")
    x = np.random.default_rng(1).normal(size=(2, *nets.INPUT_SHAPES["conv"]))
    d = fw.net(layers)

    def fn(t):
        return {"y": d({k: t[k] for k in w}, t["x"])}

    eager = fw.evaluate(fn, {**w, "x": x}, list(w), "float32")
    compiled = fw.evaluate(fn, {**w, "x": x}, list(w), "float32", compiled=True)
    for key in eager:
        assert_close(compiled[key], eager[key], "float32", what=key)
    for mode in fw.modes:
        assert fw.compile(lambda v: v + 1, mode) is not None
