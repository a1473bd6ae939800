"""Metrics without downloads, on NumPy arrays: the Fréchet distance and class / mode coverage
on a small digit classifier, and pix2pix's PSNR, SSIM and segmentation scores.

This module imports no framework.  The digit classifier is a small CNN trained once by our
PyTorch code (:mod:`reference_trainers.metrics_torch`) and shipped as NumPy weights
(``reference_trainers/weights/digits-classifier-<size>.npz``), so every framework scores with
the same network: the PyTorch trainer runs it in PyTorch
(:class:`~reference_trainers.metrics_torch.TorchDigitClassifier`: its numbers are those of
before), the JAX and TensorFlow trainers in NumPy (:class:`NumpyDigitClassifier`, float64:
the same features to float32 rounding, ``fd`` to ~1e-7 relative).  The PyTorch-only
pieces (the networks' modules, their training and cache, :class:`PairMetrics`) are importable
from here as before and import PyTorch on first use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from reference_trainers.common import TrainerError
from reference_trainers.data import digits

#: the shipped classifier weights, one file per image size
WEIGHTS = Path(__file__).resolve().parent / "weights"

#: the PyTorch side's names, importable from here as before (imported on first use)
TORCH_NAMES = ("DigitClassifier", "TorchDigitClassifier", "cached_model", "classifier",
               "train_classifier", "Segmenter", "segmenter", "PairMetrics")  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in TORCH_NAMES:
        from reference_trainers import metrics_torch

        return getattr(metrics_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cache_dir() -> Path:
    return Path(os.environ.get("ADVLOSS_CACHE", Path.home() / ".cache" / "advloss"))


def frechet_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N, D):
    |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), with tr (Σ₁Σ₂)^½ as the sum of the square roots
    of Σ₁Σ₂'s eigenvalues -- torchmetrics' method, stable where ReLU features leave dead
    channels and the covariances singular (equal to torchmetrics to 1e-6 with ``ridge=0``:
    tests/test_realism.py).  ``ridge`` is added to both covariances' diagonals (the digit
    metrics keep the 1e-6 they were published with).  Kept here rather than taken from
    torchmetrics or torch-fidelity: both need PyTorch, and the JAX and TensorFlow trainers use it."""
    mu1, mu2 = a.mean(0), b.mean(0)
    eye = ridge * np.eye(a.shape[1])
    s1, s2 = np.cov(a, rowvar=False) + eye, np.cov(b, rowvar=False) + eye
    eig = np.linalg.eigvals(s1 @ s2)
    tr_covmean = np.sqrt(eig.astype(np.complex128)).real.sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


# ---------------------------------------------------------------------- the digit classifier


def classifier_path(image_size: int) -> Path:
    return WEIGHTS / f"digits-classifier-{image_size}.npz"


def classifier_weights(image_size: int) -> tuple[dict[str, np.ndarray], float]:
    """The shipped digit classifier for ``image_size`` digits: its float32 weights under
    PyTorch's ``state_dict`` names (``body.0.weight`` ...) and its held-out accuracy."""
    path = classifier_path(image_size)
    if not path.is_file():
        sizes = sorted(
            int(p.stem.rsplit("-", 1)[1]) for p in WEIGHTS.glob("digits-classifier-*.npz")
        )
        raise TrainerError(
            f"--image-size {image_size}: no digit classifier for this size (shipped: {sizes}); "
            f"train one with `python -m reference_trainers.metrics_torch {image_size}` (needs "
            f"PyTorch)"
        )
    with np.load(path, allow_pickle=False) as stored:
        weights = {k: stored[k] for k in stored.files if k != "accuracy"}
        accuracy = float(stored["accuracy"])
    return weights, accuracy


class DigitNetwork(Protocol):
    """What the digit metrics ask of the classifier (NumPy in, NumPy out)."""

    accuracy: float

    def features(self, x: np.ndarray) -> np.ndarray:
        """The 64-d penultimate features (float64) of (N, 1, S, S) digits in [-1, 1]."""
        ...

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """The (N, 10) class probabilities from :meth:`features`."""
        ...

    def classes(self, x: np.ndarray) -> np.ndarray:
        """The predicted class (N,) of each digit."""
        ...


def _conv3x3(h: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3×3 convolution with padding 1 (cross-correlation, as PyTorch's ``Conv2d``) of NHWC
    ``h`` with a PyTorch-layout ``weight`` (out, in, 3, 3): nine matrix products."""
    n, rows, cols, c = h.shape
    padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.broadcast_to(bias, (n * rows * cols, len(bias))).copy()
    for dy in range(3):
        for dx in range(3):
            window = padded[:, dy : dy + rows, dx : dx + cols, :].reshape(-1, c)
            out += window @ weight[:, :, dy, dx].T
    return out.reshape(n, rows, cols, -1)


def _max_pool2(h: np.ndarray) -> np.ndarray:
    n, rows, cols, c = h.shape
    h = h[:, : rows // 2 * 2, : cols // 2 * 2]
    return h.reshape(n, rows // 2, 2, cols // 2, 2, c).max(axis=(2, 4))


def _adaptive_avg_pool(h: np.ndarray, size: int) -> np.ndarray:
    """PyTorch's ``AdaptiveAvgPool2d(size)`` on NHWC ``h``: cell i spans
    [⌊i·L/size⌋, ⌈(i+1)·L/size⌉)."""
    _, rows, cols, _ = h.shape
    span = lambda i, n: slice(i * n // size, -(-(i + 1) * n // size))  # noqa: E731
    return np.stack(
        [np.stack([h[:, span(i, rows), span(j, cols)].mean(axis=(1, 2)) for j in range(size)], 1)
         for i in range(size)], 1,
    )  # fmt: skip


class NumpyDigitClassifier:
    """The digit classifier's forward pass in NumPy (float64) from the shipped weights: conv
    3×3 (32) → ReLU → max-pool 2 → conv 3×3 (64) → ReLU → adaptive average pool 2×2 → linear
    (256 → 64) → ReLU = the features; a linear head (64 → 10).  The same function as the
    PyTorch module (tests/test_trainers.py compares the features)."""

    #: float64 activation values per chunk of images (~32 MB)
    CHUNK = 1 << 22

    def __init__(self, image_size: int) -> None:
        weights, self.accuracy = classifier_weights(image_size)
        self.w = {k: v.astype(np.float64) for k, v in weights.items()}

    def _features(self, x: np.ndarray) -> np.ndarray:
        w = self.w
        h = np.asarray(x, np.float64).transpose(0, 2, 3, 1)  # NHWC
        h = _max_pool2(np.maximum(_conv3x3(h, w["body.0.weight"], w["body.0.bias"]), 0))
        h = np.maximum(_conv3x3(h, w["body.3.weight"], w["body.3.bias"]), 0)
        h = _adaptive_avg_pool(h, 2).transpose(0, 3, 1, 2).reshape(len(h), -1)  # (C, H, W)
        return np.maximum(h @ w["body.7.weight"].T + w["body.7.bias"], 0)

    def features(self, x: np.ndarray) -> np.ndarray:
        step = max(1, self.CHUNK // (x.shape[-1] * x.shape[-2] * 32))
        parts = [self._features(x[i : i + step]) for i in range(0, len(x), step)]
        return np.concatenate(parts) if parts else np.zeros((0, 64))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.w["head.weight"].T + self.w["head.bias"]
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def classes(self, x: np.ndarray) -> np.ndarray:
        return self.probabilities(self.features(x)).argmax(1)


def _kl_to_uniform(labels: np.ndarray, classes: int) -> float:
    hist = np.bincount(labels, minlength=classes) / len(labels)
    return float(np.sum(np.where(hist > 0, hist * np.log(np.maximum(hist, 1e-12) * classes), 0.0)))


class DigitMetrics:
    """fd (Fréchet distance on the classifier's features against all real digits), fd_baseline
    (two disjoint halves of the real digits), class coverage (classes that receive at least a
    tenth of their uniform share of confident predictions) and class_kl (KL of the predicted
    class histogram to uniform).  Called on (N, 1, S, S) NumPy samples; ``network`` runs the
    classifier (default: in NumPy)."""

    def __init__(self, image_size: int, network: DigitNetwork | None = None) -> None:
        self.network = network if network is not None else NumpyDigitClassifier(image_size)
        self.accuracy = self.network.accuracy
        real, _ = digits(image_size)
        self.real_features = self.network.features(real)
        half = len(real) // 2
        order = np.random.default_rng(1).permutation(len(real))
        self.baseline = frechet_distance(
            self.real_features[order[:half]], self.real_features[order[half : 2 * half]]
        )

    def __call__(self, samples: np.ndarray) -> dict[str, float]:
        samples = np.clip(np.asarray(samples, np.float32), -1, 1)
        feats = self.network.features(samples)
        probs = self.network.probabilities(feats)
        conf, pred = probs.max(1), probs.argmax(1)
        counts = np.bincount(pred[conf > 0.5], minlength=10)
        share = len(samples) / 10
        return {
            "fd": frechet_distance(feats, self.real_features),
            "fd_baseline": self.baseline,
            "coverage": float(np.mean(counts >= 0.1 * share)),
            "class_kl": _kl_to_uniform(pred, 10),
        }


class StackedDigitMetrics:
    """Stacked digits (1,000 modes, the Stacked-MNIST protocol): each channel is classified by
    the digit classifier, giving a mode ``100·r + 10·g + b``.  ``modes`` counts the modes that
    receive at least one sample, ``mode_kl`` is KL(predicted mode distribution ‖ uniform), and
    both come with the same numbers for the same count of real stacked digits (``*_baseline``,
    the ceiling a perfect generator reaches with this many samples).  ``fd`` is on the three
    channels' features concatenated."""

    def __init__(
        self, image_size: int, n_samples: int, network: DigitNetwork | None = None
    ) -> None:
        from reference_trainers.data import stacked_digits

        self.network = network if network is not None else NumpyDigitClassifier(image_size)
        self.accuracy = self.network.accuracy
        real, _ = stacked_digits(image_size, n=max(2 * n_samples, 2000), seed=1)
        feats = self._channel_features(real)
        self.real_features = feats[:n_samples]
        self.baseline = frechet_distance(feats[:n_samples], feats[n_samples : 2 * n_samples])
        self.real_scores = self._modes(real[:n_samples])

    def _channel_features(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.network.features(x[:, c : c + 1]) for c in range(3)], axis=1)

    def _modes(self, x: np.ndarray) -> dict[str, float]:
        preds = [self.network.classes(x[:, c : c + 1]) for c in range(3)]
        modes = 100 * preds[0] + 10 * preds[1] + preds[2]
        return {
            "modes": float(np.count_nonzero(np.bincount(modes, minlength=1000))),
            "mode_kl": _kl_to_uniform(modes, 1000),
        }

    def __call__(self, samples: np.ndarray) -> dict[str, float]:
        samples = np.clip(np.asarray(samples, np.float32), -1, 1)
        scores = self._modes(samples)
        return {
            "fd": frechet_distance(self._channel_features(samples), self.real_features),
            "fd_baseline": self.baseline,
            **scores,
            "modes_baseline": self.real_scores["modes"],
            "mode_kl_baseline": self.real_scores["mode_kl"],
        }


# ----------------------------------------------------------------------------- pix2pix metrics


def psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio in dB of each image pair, (N, C, H, W) in [-1, 1], measured
    on the [0, 1] scale: ``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=2`` on
    the [-1, 1] values (the same number).  Identical images give 100 dB, the value of an MSE
    floored at 1e-10 (scikit-image returns inf), so a table's mean stays finite."""
    from skimage.metrics import peak_signal_noise_ratio

    x, y = np.asarray(x), np.asarray(y)
    with np.errstate(divide="ignore"):
        values = [peak_signal_noise_ratio(a, b, data_range=2.0) for a, b in zip(x, y, strict=True)]
    return np.minimum(np.asarray(values, np.float64), 100.0)


def ssim(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) of each image pair, (N, C, H, W) in [-1, 1],
    on the [0, 1] scale: ``skimage.metrics.structural_similarity`` with an 11×11 Gaussian
    window (σ = 1.5), K1 = 0.01, K2 = 0.03, population (co)variances, averaged over the pixels
    whose window lies inside the image and over the channels."""
    from skimage.metrics import structural_similarity

    x = (np.asarray(x, np.float64) + 1) / 2
    y = (np.asarray(y, np.float64) + 1) / 2
    return np.asarray([
        structural_similarity(a, b, gaussian_weights=True, sigma=sigma,
                              use_sample_covariance=False, data_range=1.0, channel_axis=0)
        for a, b in zip(x, y, strict=True)
    ], np.float64)  # fmt: skip


def segmentation_scores(pred: np.ndarray, labels: np.ndarray, classes: int) -> dict[str, float]:
    """FCN-score style scores of predicted class maps against the true ones: per-pixel
    accuracy, mean per-class accuracy and mean class IoU (classes present in ``labels``)."""
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    confusion = np.bincount(labels * classes + pred, minlength=classes * classes)
    confusion = confusion.reshape(classes, classes).astype(np.float64)
    true, hit = confusion.sum(1), np.diag(confusion)
    present = true > 0
    union = true + confusion.sum(0) - hit
    return {
        "seg_pixel_acc": float(hit.sum() / true.sum()),
        "seg_class_acc": float((hit[present] / true[present]).mean()),
        "seg_iou": float((hit[present] / union[present]).mean()),
    }
