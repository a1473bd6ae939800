"""Hand-written losses, from the formulas in advloss/losses.py (default hyperparameters:
real_label = 1, lsgan a, b, c = 0, 1, 1, hinge margins 1), as a user would write them in each
framework's own idiom: the other side of every ratio the benchmark reports.

TensorFlow and JAX are written once (:func:`array_hand`) over their functions bound to local
names, exactly what a user writes (``mean = tf.reduce_mean``): no wrapper call is added to the
hand-written side.  torch's idiom is the tensor method (``x.mean()``), and its squares are
``d * d`` (see below), so it keeps its own table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def table(ns_d, lsgan_d, hinge_d, wgan_d, ragan_d, minimax_g, ns_g, lsgan_g, neg_mean_g, ragan_g) -> dict[str, Callable]:  # fmt: skip
    """The 12 cases from the 10 distinct formulas."""
    return {
        "minimax.D": ns_d,
        "ns.D": ns_d,
        "lsgan.D": lsgan_d,
        "hinge.D": hinge_d,
        "wgan.D": wgan_d,
        "ragan.D": ragan_d,
        "minimax.G": minimax_g,
        "ns.G": ns_g,
        "lsgan.G": lsgan_g,
        "hinge.G": neg_mean_g,
        "wgan.G": neg_mean_g,
        "ragan.G": ragan_g,
    }


def torch_hand() -> dict[str, Callable]:
    import torch.nn.functional as F

    # F.softplus's default threshold (20) is the one advloss uses for float32.
    def ns_d(r, f):
        return F.softplus(-r).mean() + F.softplus(f).mean()

    # Squares as d * d, the ATen op advloss emits (`d ** 2` is aten.pow, which inductor also
    # turns into a multiply), so that the graph comparison shows only real differences.
    def lsgan_d(r, f):
        dr = r - 1.0
        return 0.5 * (dr * dr).mean() + 0.5 * (f * f).mean()

    def hinge_d(r, f):
        return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()

    def wgan_d(r, f):
        return f.mean() - r.mean()

    def ragan_d(r, f):
        return F.softplus(f.mean() - r).mean() + F.softplus(f - r.mean()).mean()

    def minimax_g(f):
        return -F.softplus(f).mean()

    def ns_g(f):
        return F.softplus(-f).mean()

    def lsgan_g(f):
        d = f - 1.0
        return 0.5 * (d * d).mean()

    def neg_mean_g(f):
        return -f.mean()

    def ragan_g(f, r):
        return F.softplus(r - f.mean()).mean() + F.softplus(r.mean() - f).mean()

    return table(ns_d, lsgan_d, hinge_d, wgan_d, ragan_d, minimax_g, ns_g, lsgan_g, neg_mean_g, ragan_g)  # fmt: skip


def array_hand(mean: Any, softplus: Any, relu: Any, square: Any) -> dict[str, Callable]:
    """The table in a NumPy-like API's functions (TensorFlow's, JAX's)."""

    def ns_d(r, f):
        return mean(softplus(-r)) + mean(softplus(f))

    def lsgan_d(r, f):
        return 0.5 * mean(square(r - 1.0)) + 0.5 * mean(square(f))

    def hinge_d(r, f):
        return mean(relu(1.0 - r)) + mean(relu(1.0 + f))

    def wgan_d(r, f):
        return mean(f) - mean(r)

    def ragan_d(r, f):
        return mean(softplus(mean(f) - r)) + mean(softplus(f - mean(r)))

    def minimax_g(f):
        return -mean(softplus(f))

    def ns_g(f):
        return mean(softplus(-f))

    def lsgan_g(f):
        return 0.5 * mean(square(f - 1.0))

    def neg_mean_g(f):
        return -mean(f)

    def ragan_g(f, r):
        return mean(softplus(r - mean(f))) + mean(softplus(mean(r) - f))

    return table(ns_d, lsgan_d, hinge_d, wgan_d, ragan_d, minimax_g, ns_g, lsgan_g, neg_mean_g, ragan_g)  # fmt: skip


def tf_hand() -> dict[str, Callable]:
    import tensorflow as tf

    return array_hand(tf.reduce_mean, tf.nn.softplus, tf.nn.relu, tf.square)


def jax_hand() -> dict[str, Callable]:
    import jax
    import jax.numpy as jnp

    return array_hand(jnp.mean, jax.nn.softplus, jax.nn.relu, jnp.square)


HAND = {"torch": torch_hand, "tensorflow": tf_hand, "jax": jax_hand}
