"""The trainers' ``--augment`` (issue 19 item 6): what each choice does to the batches D and G
see, pix2pix's pairs kept aligned, the NumPy draws equal in both layouts, ``ada`` plugged in
when ``advloss.augment`` has it, and (slow) trainer runs that resume exactly with an adaptive
p in the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

import advloss
from reference_trainers import augmentation, dcgan
from reference_trainers.common import TrainerError


def _augmentation(*args: str) -> augmentation.Augmentation | None:
    cfg = dcgan.options(["--batch-size", "4", *args])
    from reference_trainers.common import build_objective

    return augmentation.from_options(cfg, build_objective(cfg))


def _batch(seed: int, shape=(4, 3, 8, 8)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def test_options_resolve_to_the_method_and_its_p():
    assert _augmentation() is None
    diff = _augmentation("--augment", "diffaug")
    assert (diff.method, diff.policy, diff.adaptive) == (
        "diffaug",
        "color,translation,cutout",
        False,
    )
    apa = _augmentation("--augment", "apa")
    assert apa.adaptive and apa.target == 0.6 and apa.kimg == 500.0
    assert apa.controller().step_size == pytest.approx(4 * 4 / 500_000)
    fixed = _augmentation("--augment", "apa", "--augment-p", "0.25")
    assert (fixed.p, fixed.adaptive, fixed.controller()) == (0.25, False, None)
    term = _augmentation("--objective", "ns + diffaug('translation')")
    assert term.term is not None and term.policy == "translation"


def test_adaptive_objective_terms_run_the_loops_controller_with_their_settings():
    """``--objective "... + ada(target=...)"`` / ``apa(...)``: the loop's controller with the
    term's target, ada_kimg, interval and initial p (what ``Objective`` runs with the term's
    state), the same as ``--augment ada --augment-target ...``."""
    term = _augmentation("--objective", "ns + ada(p=0.1, target=0.7, ada_kimg=2, interval=2)")
    assert term.method == "ada" and term.adaptive and term.p is None
    c = term.controller()
    assert (c.target, c.ada_kimg, c.interval, c.initial, c.batch_size) == (0.7, 2.0, 2, 0.1, 4)
    flag = _augmentation("--augment", "ada", "--augment-target", "0.7", "--augment-kimg", "2")
    assert flag.controller().step_size == pytest.approx(2 * c.step_size)  # interval 4 vs 2
    fixed = _augmentation("--objective", "ns + ada(p=0.3, ops='bg')")
    assert (fixed.p, fixed.adaptive) == (0.3, False)
    real = _batch(8)
    draws = {k: np.random.default_rng(9).random(s) for k, (_, s) in
             fixed.term.draw_specs(real.shape).items()}  # fmt: skip
    got, _ = fixed.transform(real, 0.3, None, draws, "NCHW")
    np.testing.assert_array_equal(got, advloss.augment.ada(real, 0.3, ops="bg", draws=draws))
    apa = _augmentation("--objective", "hinge + apa(target=0.6)")
    assert (apa.method, apa.term, apa.adaptive) == ("apa", None, True)
    with pytest.raises(TrainerError, match=r"apa\(batch_size=8\): the trainer's batch is 4"):
        _augmentation("--objective", "hinge + apa(target=0.6, batch_size=8)")


def test_the_discriminator_and_generator_batches():
    real, fake = _batch(0), _batch(1)
    diff = _augmentation("--augment", "diffaug", "--augment-policy", "translation")
    rng = np.random.default_rng(0)
    real_in, fake_in = diff.discriminator_inputs(real, fake, None, key=rng)
    assert real_in.shape == real.shape and not np.array_equal(real_in, real)
    fake_g, real_g = diff.generator_inputs(fake, None, None, key=rng)
    assert real_g is None and fake_g.shape == fake.shape
    apa = _augmentation("--augment", "apa", "--augment-p", "1")
    real_in, fake_in = apa.discriminator_inputs(real, fake, 1.0, key=rng)
    assert np.array_equal(real_in, fake) and fake_in is fake  # every real replaced
    assert apa.generator_inputs(fake, real, 1.0) == (fake, real)  # APA leaves G alone


def test_pix2pix_pairs_get_one_transform():
    diff = _augmentation("--augment", "diffaug")
    cond = _batch(2)
    x_in, y_in, f_in = diff.paired_discriminator_inputs(cond, cond.copy(), _batch(3), None,
                                                        key=np.random.default_rng(1))  # fmt: skip
    np.testing.assert_array_equal(x_in, y_in)  # the same draws on the condition and the image
    x_g, f_g, y_g = diff.paired_generator_inputs(cond, cond.copy(), None, None,
                                                 key=np.random.default_rng(2))  # fmt: skip
    np.testing.assert_array_equal(x_g, f_g)
    assert y_g is None and not np.array_equal(x_g, x_in)  # fresh draws in the G step


def test_numpy_draws_give_the_same_batches_in_both_layouts():
    diff = _augmentation("--augment", "diffaug")
    draws = diff.numpy_draws(np.random.default_rng(3), (4, 3, 8, 8), "discriminator")
    assert set(draws) == {"real", "fake"}
    real, fake = _batch(4), _batch(5)
    nchw = diff.discriminator_inputs(real, fake, None, draws=draws)
    nhwc = diff.discriminator_inputs(real.transpose(0, 2, 3, 1), fake.transpose(0, 2, 3, 1),
                                     None, draws=draws, layout="NHWC")  # fmt: skip
    for a, b in zip(nchw, nhwc, strict=True):
        np.testing.assert_array_equal(a, b.transpose(0, 3, 1, 2))
    g = diff.numpy_draws(np.random.default_rng(3), (4, 3, 8, 8), "generator", with_real=False)
    assert set(g) == {"fake"}
    apa = _augmentation("--augment", "apa")
    assert set(apa.numpy_draws(np.random.default_rng(3), (4, 3, 8, 8), "discriminator")) == {"apa"}
    assert apa.numpy_draws(np.random.default_rng(3), (4, 3, 8, 8), "generator") == {}


def test_ada_plugs_in_when_advloss_augment_has_it(monkeypatch):
    calls = []

    def ada(x, p, *, ops="bgc", key=None, draws=None, layout="NCHW", return_draws=False):
        calls.append((ops, layout, draws is None))
        used = draws if draws is not None else {"u": np.full(len(x), 0.5)}
        y = x * (1.0 + p * used["u"].reshape(-1, 1, 1, 1))
        return (y, used) if return_draws else y

    if not hasattr(advloss.augment, "ada"):
        with pytest.raises(TrainerError, match="ada is not available yet"):
            _augmentation("--augment", "ada")
    monkeypatch.setattr(advloss.augment, "ada", ada, raising=False)
    aug = _augmentation("--augment", "ada", "--augment-policy", "bg")
    assert aug.adaptive and aug.policy == "bg"
    draws = aug.numpy_draws(np.random.default_rng(0), (4, 3, 8, 8), "discriminator")
    real_in, _ = aug.discriminator_inputs(_batch(6), _batch(7), 0.5, draws=draws, layout="NHWC")
    np.testing.assert_allclose(real_in, _batch(6) * 1.25)
    assert calls[-1] == ("bg", "NHWC", False) and calls[0] == ("bg", "NCHW", True)


@pytest.mark.slow
def test_torch_run_resumes_exactly_with_an_adaptive_p(tmp_path):
    """APA with an adaptive p (its state in the checkpoint): a run split at step 3 and resumed
    equals the straight run.  (DiffAugment with NumPy draws and a generator loss that needs
    D(real): tests/test_xframework.py, against the JAX and TensorFlow trainers.)"""
    common = ["--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "1",
              "--eval-samples", "200", "--eval-every", "3", "--augment", "apa",
              "--augment-kimg", "0.05"]  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert dcgan.main(["--out", str(straight), "--steps", "6", *common]) == 0
    assert dcgan.main(["--out", str(split), "--steps", "3", *common]) == 0
    assert dcgan.main(["--out", str(split), "--steps", "6", "--resume", *common]) == 0

    def rows(out):
        return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    assert rows(straight) == rows(split)
    ps = [r["augment_p"] for r in rows(straight) if "d_loss" in r]
    assert ps[0] == 0.0 and max(ps) > 0.5  # D overfits at once: p rises
