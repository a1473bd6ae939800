"""Property tests (hypothesis): any shape, any finite values, every float dtype, against the
NumPy float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import advloss
from advloss.testing import assert_close
from tests import reference as ref
from tests.frameworks import FRAMEWORK_PARAMS
from tests.test_losses import CASES, rounded

shapes = st.one_of(
    hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5),
    st.tuples(st.integers(1, 4), st.just(1), st.integers(1, 6), st.integers(1, 6)),  # PatchGAN
)
values = st.one_of(
    st.floats(-30, 30, allow_nan=False, width=32),
    st.floats(-1e4, 1e4, allow_nan=False, width=32),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-30, 88.7, -88.7, 1e4, -1e4]),
)


@st.composite
def logit_pairs(draw):
    shape = draw(shapes)
    r = draw(hnp.arrays(np.float64, shape, elements=values))
    f = draw(hnp.arrays(np.float64, shape, elements=values))
    return r, f


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
@given(
    pair=logit_pairs(),
    case=st.sampled_from(CASES),
    dtype=st.sampled_from(["float32", "float64"]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_any_shape_and_value_matches_reference(fw, pair, case, dtype, reduction):
    name, hp = case
    r, f = (rounded(x, dtype) for x in pair)
    loss = advloss.get_loss(name, **hp)
    d, (gr, gf) = fw.value_and_grad(
        lambda r, f: loss.discriminator(r, f, reduction=reduction), [r, f], dtype
    )
    g, (gf2, _) = fw.value_and_grad(
        lambda f, r: loss.generator(f, real_logits=r, reduction=reduction), [f, r], dtype
    )
    for x in (d, gr, gf, g, gf2):
        assert np.all(np.isfinite(x))
    # Sums of up to ~500 terms of size 1e4 (1e8 for lsgan): scale atol by the largest term.
    big = max(np.abs(r).max(), np.abs(f).max(), 1.0)
    scale = (big**2 if name == "lsgan" else big) * (r.size if reduction == "sum" else 1)
    assert_close(
        d, ref.discriminator_loss(name, r, f, reduction=reduction, **hp), dtype, scale=scale
    )
    assert_close(g, ref.generator_loss(name, f, r, reduction=reduction, **hp), dtype, scale=scale)
    if reduction == "mean" and name != "hinge":  # hinge: derivative at the kink is a convention
        er, ef = ref.discriminator_grads(name, r, f, **hp)
        assert_close(
            gr, er, dtype, what="dD/dr", scale=max(big, 1.0) / r.size if name == "lsgan" else 1.0
        )
        assert_close(
            gf, ef, dtype, what="dD/df", scale=max(big, 1.0) / f.size if name == "lsgan" else 1.0
        )


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
@given(
    pair=logit_pairs(), case=st.sampled_from(CASES), low=st.sampled_from(["float16", "bfloat16"])
)
def test_low_precision_matches_float32(fw, pair, case, low):
    name, hp = case
    r, f = (np.clip(rounded(x, low), -6e4, 6e4) for x in pair)
    r, f = rounded(r, low), rounded(f, low)
    loss = advloss.get_loss(name, **hp)
    d16 = fw.numpy(loss.discriminator(fw.tensor(r, low), fw.tensor(f, low)))
    d32 = fw.numpy(loss.discriminator(fw.tensor(r, "float32"), fw.tensor(f, "float32")))
    assert np.isfinite(d16)
    np.testing.assert_array_equal(d16, d32)  # same float32 computation on the same rounded inputs
