"""Feature matching: the NumPy float64 reference with hand-derived gradients, the paper's,
openai/improved-gan's and StudioGAN's formulas re-created from their source, equality across
frameworks (float32 and float64, eager and compiled), the Objective's generator-side term, and
errors."""

from __future__ import annotations

import numpy as np
import pytest

import advloss
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, PAIRS

DTYPES = ["float32", "float64"]
OPTIONS = [("l2", "sum"), ("l2", "mean"), ("l1", "mean"), ("l1", "sum")]


def features(seed=0):
    """Two layers, batches of different sizes (5 real, 4 fake): a map (C, H, W) and a vector."""
    rng = np.random.default_rng(seed)
    return (
        [rng.normal(0.5, 1.0, (5, 2, 3, 3)), rng.normal(0.2, 1.0, (5, 4))],
        [rng.normal(-0.3, 1.0, (4, 2, 3, 3)), rng.normal(0.0, 1.0, (4, 4))],
    )


def reference(reals, fakes, weight, norm, reduction):
    """λ Σ_l R_j φ(μ_r - μ_f) and its gradient w.r.t. each fake layer, by hand: with
    d = μ_r - μ_f, ∂/∂fake_nj = -φ'(d_j) / M (÷ J for the mean); the real layers get none."""
    value, grads = 0.0, []
    for r, f in zip(reals, fakes, strict=True):
        d = r.mean(0) - f.mean(0)
        phi = d**2 if norm == "l2" else np.abs(d)
        dphi = 2 * d if norm == "l2" else np.sign(d)
        scale = 1.0 if reduction == "sum" else 1.0 / d.size
        value += weight * scale * phi.sum()
        grads.append(np.broadcast_to(-weight * scale * dphi / len(f), f.shape))
    return value, grads


def _fm(norm, reduction, weight=0.7):
    def f(r0, r1, f0, f1):
        return advloss.feature_matching(
            [r0, r1], [f0, f1], weight=weight, norm=norm, reduction=reduction
        )

    return f


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_matches_the_reference_with_hand_derived_gradients(fw):
    reals, fakes = features(0)
    for norm, reduction in OPTIONS:
        v, grads = fw.value_and_grad(_fm(norm, reduction), [*reals, *fakes], "float64")
        ev, eg = reference(reals, fakes, 0.7, norm, reduction)
        what = f"{norm}/{reduction}"
        assert_close(v, ev, "float64", what=f"value {what}")
        for g in grads[:2]:
            np.testing.assert_array_equal(g, 0.0)  # the real features are targets
        for g, e in zip(grads[2:], eg, strict=True):
            assert_close(g, e, "float64", what=f"d/dfake {what}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b, dtype):
    reals, fakes = features(1)
    for norm, reduction in OPTIONS[:3]:
        va, ga = a.value_and_grad(_fm(norm, reduction), [*reals, *fakes], dtype)
        vb, gb = b.value_and_grad(_fm(norm, reduction), [*reals, *fakes], dtype)
        assert_close(va, vb, dtype, what=f"value {a.name} vs {b.name}")
        for x, y in zip(ga, gb, strict=True):
            assert_close(x, y, dtype, what=f"gradient {a.name} vs {b.name}")


@pytest.mark.slow
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_compiled_equals_eager(fw):
    reals, fakes = features(2)
    ve, ge = fw.value_and_grad(_fm("l1", "mean"), [*reals, *fakes], "float32")
    vc, gc = fw.value_and_grad(_fm("l1", "mean"), [*reals, *fakes], "float32", compiled=True)
    assert_close(vc, ve, "float32", what="compiled value")
    for x, y in zip(gc, ge, strict=True):
        assert_close(x, y, "float32", what="compiled gradient")


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_low_precision_features_give_float32(fw):
    reals, fakes = features(3)
    value = advloss.feature_matching(
        fw.tensor(reals[1], "bfloat16"), fw.tensor(fakes[1], "bfloat16")
    )
    assert fw.backend.dtype(value) == "float32" and fw.backend.shape(value) == ()


# ------------------------------------------------------------------ the peers, re-created


def test_the_peers_formulas_map_as_documented():
    """The paper's ‖E f(x) − E f(G(z))‖²₂; openai/improved-gan (train_cifar_feature_matching.py
    @ master): mom_gen = T.mean(features(gen), axis=0), mom_real likewise, loss_gen =
    T.mean(T.square(mom_gen - mom_real)); StudioGAN (src/utils/losses.py @ 947b35e9,
    feature_matching_loss(real_embed, fake_embed)): torch.mean(torch.abs(torch.mean(fake_embed,
    0) - torch.mean(real_embed, 0))) with the real embedding detached (src/worker.py)."""
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(6, 10)), rng.normal(1.0, 1.0, size=(6, 10))
    paper = np.sum((real.mean(0) - fake.mean(0)) ** 2)
    mom_gen, mom_real = fake.mean(axis=0), real.mean(axis=0)
    improved_gan = np.mean(np.square(mom_gen - mom_real))
    studiogan = np.mean(np.abs(np.mean(fake, 0) - np.mean(real, 0)))
    fm = advloss.feature_matching
    np.testing.assert_allclose(float(fm(real, fake)), paper, rtol=1e-14)
    np.testing.assert_allclose(float(fm(real, fake, reduction="mean")), improved_gan, rtol=1e-14)
    ours = float(fm(real, fake, norm="l1", reduction="mean"))
    np.testing.assert_allclose(ours, studiogan, rtol=1e-14)
    torch = pytest.importorskip("torch")
    real_t = torch.tensor(real, requires_grad=True)
    fake_a = torch.tensor(fake, requires_grad=True)
    fake_b = torch.tensor(fake, requires_grad=True)
    theirs = torch.mean(torch.abs(torch.mean(fake_a, 0) - torch.mean(real_t.detach(), 0)))
    ours_t = fm(real_t, fake_b, norm="l1", reduction="mean")
    theirs.backward()
    ours_t.backward()
    assert_close(ours_t.detach().numpy(), theirs.detach().numpy(), "float64")
    assert_close(fake_b.grad.numpy(), fake_a.grad.numpy(), "float64", what="StudioGAN gradient")
    assert real_t.grad is None or not real_t.grad.any()


# -------------------------------------------------------------------------- the objective


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_in_an_objective_it_is_a_generator_term(fw):
    """``"ns + r1 + feature_matching(...)"``: the discriminator step skips it; the generator
    step adds it from ``features=``, under its name in ``terms``."""
    b = fw.backend
    rng = np.random.default_rng(5)
    w = fw.tensor(rng.normal(size=(3,)), "float64")
    d = lambda x: b.sum_per_sample(x * w)
    objective = advloss.Objective.parse("ns + r1(gamma=1) + feature_matching(weight=0.5)")
    real, fake = (fw.tensor(rng.normal(size=(4, 3)), "float64") for _ in range(2))
    out = objective.discriminator(d, real, fake)
    assert list(out.terms) == ["adversarial", "r1"]
    reals, fakes = features(6)
    feats = ([fw.tensor(x, "float64") for x in reals], [fw.tensor(x, "float64") for x in fakes])
    g_out = objective.generator(d, fake, features=feats)
    assert list(g_out.terms) == ["adversarial", "feature_matching"]
    expected = reference(reals, fakes, 0.5, "l2", "sum")[0]
    assert_close(fw.numpy(g_out.terms["feature_matching"]), expected, "float64")
    total = g_out.terms["adversarial"] + g_out.terms["feature_matching"]
    assert_close(fw.numpy(g_out.total), fw.numpy(total), "float64")
    plain = advloss.Objective.parse("ns + r1(gamma=1)").generator(d, fake)
    assert_close(fw.numpy(g_out.terms["adversarial"]), fw.numpy(plain.total), "float64")


def test_names_config_and_errors():
    objective = advloss.Objective.parse("hinge + feature_matching(norm='l1', reduction='mean')")
    assert advloss.Objective.parse(repr(objective)) == objective
    assert advloss.Objective.from_config(objective.config()) == objective
    assert "feature_matching" in advloss.available_penalties()
    fm = advloss.get_penalty("feature_matching", weight=2.0)
    assert fm.config() == {
        "name": "feature_matching",
        "weight": 2.0,
        "norm": "l2",
        "reduction": "sum",
    }
    x = np.zeros((2, 3))
    d = lambda x: x.sum(axis=1)
    cases = [
        (lambda: advloss.feature_matching(x, x, norm="l3"), ValueError, "norm must be one of"),
        (lambda: advloss.feature_matching(x, x, reduction="none"), ValueError, "reduction must"),
        (lambda: advloss.feature_matching(x, x, weight=-1), ValueError, "weight must be >= 0"),
        (lambda: advloss.feature_matching([x], [x, x]), ValueError, "same number of layers"),
        (lambda: advloss.feature_matching([], []), ValueError, "empty list"),
        (lambda: advloss.feature_matching(None, x), TypeError, "real_features must be a tensor"),
        (lambda: advloss.feature_matching(np.zeros(3), np.zeros(3)), ValueError, "at least 2-d"),
        (
            lambda: advloss.feature_matching(x, np.zeros((2, 4))),
            ValueError,
            "same shape apart from the batch size",
        ),
        (
            lambda: advloss.feature_matching([x, x], [x, np.zeros((2, 3), np.float32)]),
            TypeError,
            r"real_features\[1\] and fake_features\[1\] must share a dtype",
        ),
        (
            lambda: advloss.feature_matching(x, np.zeros((2, 3), np.int64)),
            TypeError,
            "fake_features must be a floating-point tensor",
        ),
        (lambda: advloss.FeatureMatching(norm="max"), ValueError, "norm must be one of"),
        (lambda: fm.term(d, x, x), TypeError, "intermediate features"),
        (
            lambda: objective.generator(d, x),
            ValueError,
            r"'feature_matching' term matches D's intermediate features: pass features=",
        ),
    ]
    for make, builtin, pattern in cases:
        with pytest.raises(builtin, match=pattern) as info:
            make()
        assert isinstance(info.value, advloss.AdvlossError)
