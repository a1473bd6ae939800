"""The primitive set, per adapter: accuracy of softplus across its whole range, dtype names,
NumPy round trips."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from tests.frameworks import FRAMEWORK_PARAMS

ALL = [*FRAMEWORK_PARAMS, pytest.param(None, id="numpy")]


def backend(fw):
    return advloss.get_backend("numpy") if fw is None else fw.backend


@pytest.mark.parametrize("fw", ALL)
def test_softplus_is_accurate_in_float64_everywhere(fw):
    """softplus(x) - x = log1p(e^-x) for large x and softplus(x) = log1p(e^x) for very negative
    x, to float64 resolution: a softplus that returns x above a threshold of 20 (torch's default)
    loses the tail e^-x (1e-9 at x = 20.5, far above the 4e-15 resolution of x there)."""
    b = backend(fw)
    big = np.linspace(20.5, 30.0, 32)
    out = b.to_numpy(b.softplus(b.from_numpy(big, "float64")))
    np.testing.assert_allclose(out - big, np.log1p(np.exp(-big)), rtol=0, atol=2e-14)
    small = -np.linspace(20.0, 700.0, 32)
    out = b.to_numpy(b.softplus(b.from_numpy(small, "float64")))
    np.testing.assert_allclose(out, np.log1p(np.exp(small)), rtol=1e-12)


@pytest.mark.parametrize("fw", ALL)
def test_softplus_float32_range(fw):
    b = backend(fw)
    x = np.array([-1e4, -100.0, -20.0, 0.0, 20.0, 88.0, 100.0, 1e4], dtype=np.float32)
    out = b.to_numpy(b.softplus(b.from_numpy(x, "float32")))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.logaddexp(0, x.astype(np.float64)), rtol=2e-7, atol=1e-38)


@pytest.mark.parametrize("fw", ALL)
def test_dtype_names_and_round_trip(fw):
    b = backend(fw)
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        x = b.from_numpy(np.array([1.5, -2.0]), dtype)
        assert b.dtype(x) == dtype
        np.testing.assert_array_equal(b.to_numpy(x), [1.5, -2.0])
        assert b.dtype(b.cast(x, "float32")) == "float32"
    assert b.dtype(b.asarray([1, 2], "int32")) == "int32"
    assert b.shape(b.from_numpy(np.zeros((2, 3)))) == (2, 3)
    assert b.is_tensor_type(type(b.from_numpy(np.zeros(2))))
    assert not b.is_tensor_type(float)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_relu_and_stop_gradient_derivatives(fw):
    b = fw.backend
    _, (g,) = fw.value_and_grad(lambda x: b.relu(x), [np.array([-1.0, 0.0, 2.0])], "float64")
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    _, (g,) = fw.value_and_grad(lambda x: b.stop_gradient(x) * x, [np.array([3.0])], "float64")
    np.testing.assert_array_equal(g, [3.0])


@pytest.mark.parametrize("fw", ALL)
def test_minimum_cos_full(fw):
    b = backend(fw)
    x = b.from_numpy(np.array([-1.0, 0.5, 3.0]), "float32")
    np.testing.assert_array_equal(b.to_numpy(b.minimum(x, 1.0)), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(b.to_numpy(b.minimum(x, x * 0.0)), [-1.0, 0.0, 0.0])
    np.testing.assert_allclose(b.to_numpy(b.cos(x)), np.cos([-1.0, 0.5, 3.0]), rtol=1e-6)
    full = b.full(0.25, "float64", x)
    assert b.dtype(full) == "float64" and b.shape(full) == ()
    assert float(b.to_numpy(full)) == 0.25


@pytest.mark.parametrize("fw", ALL)
def test_sin_exp_floor(fw):
    b = backend(fw)
    x = b.from_numpy(np.array([-1.5, -0.0, 0.5, 2.0]), "float64")
    np.testing.assert_allclose(b.to_numpy(b.sin(x)), np.sin([-1.5, 0.0, 0.5, 2.0]), rtol=1e-15)
    np.testing.assert_allclose(b.to_numpy(b.exp(x)), np.exp([-1.5, 0.0, 0.5, 2.0]), rtol=1e-15)
    floor = b.floor(x)
    assert b.dtype(floor) == "float64"
    np.testing.assert_array_equal(b.to_numpy(floor), [-2.0, 0.0, 0.0, 2.0])


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_floor_has_a_zero_derivative(fw):
    b = fw.backend
    _, (g,) = fw.value_and_grad(lambda x: b.floor(x) + x, [np.array([-1.5, 0.5])], "float64")
    np.testing.assert_array_equal(g, [1.0, 1.0])


def _seed(fw):
    if fw is None:
        return 7
    if fw.name == "jax":
        import jax

        return jax.random.key(7)
    return 7 if fw.name == "tensorflow" else None


@pytest.mark.parametrize("fw", ALL)
def test_split_key_gives_independent_reproducible_streams(fw):
    """Seeds and keys split into distinct streams, and the same seed splits the same way; a
    stateful generator is shared (so its draws differ by call order)."""
    b = backend(fw)
    like = b.from_numpy(np.zeros(3), "float32")
    if fw is not None and fw.name == "torch":
        import torch

        rng = torch.Generator().manual_seed(7)
        a, c = b.split_key(rng, 2)
        assert a is rng and c is rng
        return
    keys = b.split_key(_seed(fw), 3)
    draws = [b.to_numpy(b.uniform(k, (64,), "float32", like)) for k in keys]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    again = [b.to_numpy(b.uniform(k, (64,), "float32", like)) for k in b.split_key(_seed(fw), 3)]
    np.testing.assert_array_equal(draws[0], again[0])


@pytest.mark.parametrize("fw", ALL)
def test_take_along_axis_broadcasts_like_numpy(fw):
    """Indices of size 1 on another axis broadcast over x, and x of size 1 over the indices
    (the torch adapter expands both and gathers once, without ``take_along_dim``)."""
    b = backend(fw)
    x = np.arange(24.0).reshape(2, 3, 4)
    for xs, index, axis in (
        (x, np.array([[[3, 0, 1, 1]]] * 2), 2),  # (2, 1, 4) along axis 2 of (2, 3, 4)
        (x[:1], np.array([[[2], [0], [1]]] * 2), 2),  # (2, 3, 1) along axis 2 of (1, 3, 4)
        (x, np.array([[[2, 0, 1, 0]], [[1, 1, 0, 2]]]), 1),  # (2, 1, 4) along axis 1
    ):
        out = b.to_numpy(
            b.take_along_axis(b.from_numpy(xs, "float32"), b.from_numpy(index, "int32"), axis)
        )
        np.testing.assert_array_equal(out, np.take_along_axis(xs, index, axis))
