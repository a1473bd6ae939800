"""DiffAugment's translation traced with neither the batch size nor the channel count static:
the per-axis gathers it then falls back to give the same batch as the single gather over the
flattened pixels (NumPy, static shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from advloss.augment import diffaugment
from tests.frameworks import FRAMEWORKS

NAMES = {h.name for h in FRAMEWORKS}


@pytest.mark.skipif("tensorflow" not in NAMES, reason="tensorflow not installed")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_translation_with_unknown_batch_and_channels(layout):
    import tensorflow as tf

    shape = (3, 2, 6, 5) if layout == "NCHW" else (3, 6, 5, 2)
    spec = [None, None, 6, 5] if layout == "NCHW" else [None, 6, 5, None]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    # shifts beyond the image included: the same formulas (all zeros there)
    draws = {
        "translation": np.array([[1, -1], [-7, 2], [0, 9]], np.int32),
        "cutout": np.array([[0, 5], [3, 2], [6, -4]], np.int32),
    }
    fn = tf.function(
        lambda x: diffaugment(x, "translation,cutout", draws=draws, layout=layout),
        input_signature=[tf.TensorSpec(spec, tf.float32)],
    )
    want = diffaugment(x, "translation,cutout", draws=draws, layout=layout)
    np.testing.assert_array_equal(fn(tf.constant(x)).numpy(), want)
