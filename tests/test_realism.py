"""The realism metrics (reference_trainers.realism) and the multimodal paired set: formulas
against torchmetrics and prdc on the same features, each metric's direction on blurred images,
and the set's determinism and multimodality."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from reference_trainers import facades, realism  # noqa: E402
from reference_trainers.metrics import frechet_distance  # noqa: E402


def features(seed: int, n: int = 300, d: int = 16, shift: float = 0.0) -> np.ndarray:
    """Samples of one correlated Gaussian (the mixing matrix is fixed; ``seed`` draws the
    samples), shifted by ``shift`` in every coordinate."""
    mix = np.random.default_rng(12345).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ mix + shift


def test_frechet_distance_matches_torchmetrics() -> None:
    fid = pytest.importorskip("torchmetrics.image.fid")
    a, b = features(0), features(1, shift=0.3)
    ours = frechet_distance(a, b, ridge=0.0)
    t = lambda x: torch.from_numpy(x).double()
    theirs = fid._compute_fid(
        t(a.mean(0)), t(np.cov(a, rowvar=False)), t(b.mean(0)), t(np.cov(b, rowvar=False))
    )
    assert ours == pytest.approx(float(theirs), rel=1e-6, abs=1e-9)
    assert ours > 0.05  # the shift is seen


def test_kid_matches_torchmetrics() -> None:
    kid_module = pytest.importorskip("torchmetrics.image.kid")
    a, b = features(0), features(1, shift=0.3)
    theirs = kid_module.poly_mmd(torch.from_numpy(a).double(), torch.from_numpy(b).double())
    assert realism.kid(a, b) == pytest.approx(float(theirs), rel=1e-6, abs=1e-12)


def test_kid_is_unbiased_near_zero_for_one_distribution() -> None:
    same = [realism.kid(features(s), features(100 + s)) for s in range(5)]
    shifted = realism.kid(features(0), features(1, shift=0.3))
    assert abs(np.mean(same)) < shifted / 10


def test_prdc_scores_come_from_the_prdc_package() -> None:
    prdc = pytest.importorskip("prdc")
    a, b = features(0, n=120), features(1, n=120, shift=1.0)
    assert realism.prdc_scores(a, b) == {
        k: pytest.approx(float(v)) for k, v in prdc.compute_prdc(a, b, nearest_k=5).items()
    }
    same = realism.prdc_scores(a, a)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


def test_c2st_is_chance_for_one_distribution_and_high_for_two() -> None:
    assert realism.c2st(features(0), features(1)) == pytest.approx(0.5, abs=0.08)
    assert realism.c2st(features(0), features(1, shift=1.0)) > 0.9


def images(seed: int, n: int = 16, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, size, size), generator=g) * 2 - 1


def test_spectrum_sees_blur() -> None:
    x = images(0)
    same = realism.spectrum_scores(realism.radial_spectrum(x), realism.radial_spectrum(x))
    assert same == {"spectrum": 0.0, "hf_ratio": 1.0}
    blurred = realism.spectrum_scores(
        realism.radial_spectrum(realism.degraded(x, 1.0)), realism.radial_spectrum(x)
    )
    assert blurred["hf_ratio"] < 0.2 and blurred["spectrum"] > 0.3
    assert realism.radial_spectrum(x).shape == (16,)


def test_degraded_keeps_a_constant_image_and_the_shape() -> None:
    x = torch.full((2, 3, 20, 20), 0.25)
    assert torch.allclose(realism.degraded(x, 2.0), x, atol=1e-6)
    assert realism.degraded(images(1), 1.5).shape == (16, 3, 32, 32)


def test_multimodal_examples_are_deterministic_and_multimodal() -> None:
    textures = facades._textures()
    looks: dict[str, list[int]] = {}
    a1, b1 = facades.example("val", 2, textures, "multimodal-facades", looks)
    a2, b2 = facades.example("val", 2, textures, "multimodal-facades")
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert set(looks) <= set(facades.LOOKS)
    assert all(0 <= k < facades.LOOKS[part] for part, ks in looks.items() for k in ks)
    assert len(looks["window"]) >= 3  # one draw per window instance
    assert np.array_equal(facades.redraw("val", 2, textures, 0), b1)
    other = facades.redraw("val", 2, textures, 1)
    assert not np.array_equal(other, b1) and other.shape == b1.shape
    # the label map is the same as synthetic-facades' layout for the same draw order
    median = facades.conditional_median("val", 2, textures, draws=3)
    assert median.dtype == np.uint8 and median.shape == b1.shape


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Matrix is singular")  # 24 images, 128 features: expected
def test_realism_metrics_end_to_end_on_a_tiny_set(tmp_path, monkeypatch) -> None:
    """A tiny multimodal set, a briefly trained feature net, and the metric set: every key,
    finite; the floor's c2st is chance-level-ish and blur lowers the high-frequency ratio."""
    monkeypatch.setitem(
        facades.DATASETS, "multimodal-facades", (1, {"train": 24, "val": 24, "test": 4})
    )
    monkeypatch.setattr(realism, "TRAIN_STEPS", 20)
    monkeypatch.setenv("ADVLOSS_CACHE", str(tmp_path))
    folder = facades.ensure(tmp_path, "multimodal-facades")
    assert (folder / "train-looks.json").is_file()
    assert len(list((folder / "val-redraw").iterdir())) == 24
    metric_set, accuracy = realism.for_dataset(folder, 32)
    assert 0 <= accuracy <= 1
    other = realism.photos(folder / "val-redraw", 32)
    row = metric_set(realism.degraded(other, 2.0))
    assert set(realism.RealismMetrics.KEYS) <= set(row)
    assert {f"{k}_real" for k in realism.RealismMetrics.KEYS} <= set(row)
    assert all(np.isfinite(v) for v in row.values())
    assert row["hf_ratio"] < row["hf_ratio_real"]
