"""Metrics without downloads: a small classifier trained by our code on the bundled digits
(deterministic, cached), a Fréchet distance on its features, and class coverage."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reference_trainers.common import file_lock
from reference_trainers.data import digits


class DigitClassifier(nn.Module):
    """A small CNN for (N, 1, S, S) digits in [-1, 1]; ``features`` is its 64-d penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(256, 64), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def cache_dir() -> Path:
    return Path(os.environ.get("ADVLOSS_CACHE", Path.home() / ".cache" / "advloss"))


def cached_model(name: str, make: Callable[[], nn.Module], train: Callable[[], Any]) -> Any:
    """``(model, accuracy)`` from ``$ADVLOSS_CACHE/<name>.pt``, or ``train()`` once and cache
    it: processes that start together wait on a lock and the first one trains (``make`` builds
    the empty model a cache file is loaded into)."""
    path = cache_dir() / f"{name}.pt"
    cached = _load_cached(path, make())
    if cached is not None:
        return cached
    with file_lock(path.with_suffix(".lock")):
        cached = _load_cached(path, make())
        if cached is not None:  # another process trained it while we waited
            return cached
        model, accuracy = train()
        _save_cached(path, model, accuracy)
    return model, accuracy


def classifier(image_size: int) -> tuple[DigitClassifier, float]:
    """The classifier for ``image_size`` digits and its held-out accuracy: trained once
    (deterministically, ~10 s on CPU) and cached in ``$ADVLOSS_CACHE`` (~/.cache/advloss)."""
    return cached_model(
        f"digits-classifier-{image_size}", DigitClassifier, lambda: _train_classifier(image_size)
    )


def _load_cached(path: Path, model: nn.Module) -> Any:
    """``(model, accuracy)`` from a cache file, or None (missing or corrupt: train again)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        return model.eval(), float(state["accuracy"])
    except Exception:
        return None


def _save_cached(path: Path, model: nn.Module, accuracy: float) -> None:
    """Write a cache file atomically (a per-process temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"model": model.state_dict(), "accuracy": accuracy}, tmp)
    os.replace(tmp, path)


def _train_classifier(image_size: int) -> tuple[DigitClassifier, float]:
    x, y = digits(image_size)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = torch.from_numpy(order[:1500]), torch.from_numpy(order[1500:])
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(15):
        perm = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            # light augmentation (one-pixel shifts) so features generalise to generated digits
            xb = torch.roll(
                x[idx], shifts=tuple(torch.randint(-1, 2, (2,), generator=g).tolist()), dims=(2, 3)
            )
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x[test]).argmax(1) == y[test]).float().mean())
    return model, accuracy


def frechet_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N, D):
    |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), with tr (Σ₁Σ₂)^½ as the sum of the square roots
    of Σ₁Σ₂'s eigenvalues -- torchmetrics' method, stable where ReLU features leave dead
    channels and the covariances singular (equal to torchmetrics to 1e-6 with ``ridge=0``:
    tests/test_realism.py).  ``ridge`` is added to both covariances' diagonals (the digit
    metrics keep the 1e-6 they were published with)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    eye = ridge * np.eye(a.shape[1])
    s1, s2 = np.cov(a, rowvar=False) + eye, np.cov(b, rowvar=False) + eye
    eig = np.linalg.eigvals(s1 @ s2)
    tr_covmean = np.sqrt(eig.astype(np.complex128)).real.sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


class DigitMetrics:
    """fd (Fréchet distance on the classifier's features against all real digits), fd_baseline
    (two disjoint halves of the real digits), class coverage (classes that receive at least a
    tenth of their uniform share of confident predictions) and class_kl (KL of the predicted
    class histogram to uniform)."""

    def __init__(self, image_size: int) -> None:
        self.model, self.accuracy = classifier(image_size)
        real, _ = digits(image_size)
        self.real_features = self._features(real)
        half = len(real) // 2
        order = np.random.default_rng(1).permutation(len(real))
        self.baseline = frechet_distance(
            self.real_features[order[:half]], self.real_features[order[half : 2 * half]]
        )

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> np.ndarray:
        return (
            torch.cat(
                [self.model.features(x[i : i + 500].float().cpu()) for i in range(0, len(x), 500)]
            )
            .numpy()
            .astype(np.float64)
        )

    @torch.no_grad()
    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        samples = samples.float().cpu().clamp(-1, 1)
        feats = self._features(samples)
        probs = torch.softmax(self.model.head(torch.from_numpy(feats).float()), 1)
        conf, pred = probs.max(1)
        counts = np.bincount(pred[conf > 0.5].numpy(), minlength=10)
        share = len(samples) / 10
        hist = np.bincount(pred.numpy(), minlength=10) / len(samples)
        kl = float(np.sum(np.where(hist > 0, hist * np.log(np.maximum(hist, 1e-12) * 10), 0.0)))
        return {
            "fd": frechet_distance(feats, self.real_features),
            "fd_baseline": self.baseline,
            "coverage": float(np.mean(counts >= 0.1 * share)),
            "class_kl": kl,
        }


class StackedDigitMetrics(DigitMetrics):
    """Stacked digits (1,000 modes, the Stacked-MNIST protocol): each channel is classified by
    the digit classifier, giving a mode ``100·r + 10·g + b``.  ``modes`` counts the modes that
    receive at least one sample, ``mode_kl`` is KL(predicted mode distribution ‖ uniform), and
    both come with the same numbers for the same count of real stacked digits (``*_baseline``,
    the ceiling a perfect generator reaches with this many samples).  ``fd`` is on the three
    channels' features concatenated."""

    def __init__(self, image_size: int, n_samples: int) -> None:
        from reference_trainers.data import stacked_digits

        self.model, self.accuracy = classifier(image_size)
        real, _ = stacked_digits(image_size, n=max(2 * n_samples, 2000), seed=1)
        feats = self._channel_features(real)
        self.real_features = feats[:n_samples]
        self.baseline = frechet_distance(feats[:n_samples], feats[n_samples : 2 * n_samples])
        self.real_scores = self._modes(real[:n_samples])

    @torch.no_grad()
    def _channel_features(self, x: torch.Tensor) -> np.ndarray:
        return np.concatenate([self._features(x[:, c : c + 1]) for c in range(3)], axis=1)

    @torch.no_grad()
    def _modes(self, x: torch.Tensor) -> dict[str, float]:
        preds = [
            torch.cat(
                [
                    self.model(x[i : i + 500, c : c + 1].float()).argmax(1)
                    for i in range(0, len(x), 500)
                ]
            )
            for c in range(3)
        ]
        modes = (100 * preds[0] + 10 * preds[1] + preds[2]).numpy()
        hist = np.bincount(modes, minlength=1000) / len(modes)
        kl = float(np.sum(np.where(hist > 0, hist * np.log(np.maximum(hist, 1e-12) * 1000), 0.0)))
        return {"modes": float(np.count_nonzero(hist)), "mode_kl": kl}

    @torch.no_grad()
    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        samples = samples.float().cpu().clamp(-1, 1)
        scores = self._modes(samples)
        return {
            "fd": frechet_distance(self._channel_features(samples), self.real_features),
            "fd_baseline": self.baseline,
            **scores,
            "modes_baseline": self.real_scores["modes"],
            "mode_kl_baseline": self.real_scores["mode_kl"],
        }


# ----------------------------------------------------------------------------- pix2pix metrics


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image pair, (N, C, H, W) in [-1, 1], measured
    on the [0, 1] scale (data range 1); identical images give 100 dB (MSE floored at 1e-10)."""
    mse = (((x - y) / 2) ** 2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def ssim(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of each image pair, (N, C, H, W) in [-1, 1],
    on the [0, 1] scale: an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, population
    (co)variances, averaged over the pixels whose window lies inside the image and over the
    channels.  Equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1)`` (tested)."""
    x, y = (x.double() + 1) / 2, (y.double() + 1) / 2
    radius = int(3.5 * sigma + 0.5)  # scikit-image's truncation
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    w_rows = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    w_cols = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)

    def blur(v: torch.Tensor) -> torch.Tensor:  # separable, "valid": windows inside the image
        return F.conv2d(F.conv2d(v, w_rows, groups=c), w_cols, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


class Segmenter(nn.Module):
    """A small fully convolutional segmenter (photo → class per pixel), in the spirit of
    pix2pix's FCN-score: a stride-2 stem, dilated 3×3 convolutions (receptive field ~ 40 px at
    full resolution), a 1×1 classifier, bilinear upsampling."""

    def __init__(self, classes: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
            nn.Conv2d(width, classes, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.net(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


def segmenter(
    images: torch.Tensor, labels: torch.Tensor, classes: int, name: str
) -> tuple[Segmenter, float]:
    """A segmenter trained on (images (N, 3, S, S) in [-1, 1], labels (N, S, S)) and its
    pixel accuracy on the last 10 % (held out): trained once, deterministically (~10-20 s on
    CPU at 64×64), cached as ``$ADVLOSS_CACHE/<name>.pt``."""
    return cached_model(
        name, lambda: Segmenter(classes), lambda: _train_segmenter(images, labels, classes)
    )


def _train_segmenter(
    images: torch.Tensor, labels: torch.Tensor, classes: int
) -> tuple[Segmenter, float]:
    n_train = int(len(images) * 0.9)
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Segmenter(classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = 16
    steps = max(300, 6 * n_train // batch)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=g)
        x, y = images[idx], labels[idx]
        if bool(torch.rand((), generator=g) < 0.5):  # mirror: facades are symmetric left-right
            x, y = x.flip(-1), y.flip(-1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(images[n_train:]).argmax(1)
        accuracy = float((pred == labels[n_train:]).double().mean())
    return model, accuracy


def segmentation_scores(pred: torch.Tensor, labels: torch.Tensor, classes: int) -> dict[str, float]:
    """FCN-score style scores of predicted class maps against the true ones: per-pixel
    accuracy, mean per-class accuracy and mean class IoU (classes present in ``labels``)."""
    pred, labels = pred.flatten(), labels.flatten()
    confusion = torch.bincount(labels * classes + pred, minlength=classes * classes)
    confusion = confusion.view(classes, classes).double()
    true, hit = confusion.sum(1), confusion.diag()
    present = true > 0
    union = true + confusion.sum(0) - hit
    return {
        "seg_pixel_acc": float(hit.sum() / true.sum()),
        "seg_class_acc": float((hit[present] / true[present]).mean()),
        "seg_iou": float((hit[present] / union[present]).mean()),
    }


class PairMetrics:
    """pix2pix's evaluation on a fixed validation set: ``l1`` (mean |G(x) - y| on the [-1, 1]
    scale, as in the loss), ``psnr`` (dB) and ``ssim`` on the [0, 1] scale, and -- when class
    maps are known (synthetic-facades) -- the segmentation score: a segmenter trained on real
    photos labels G(x), scored against the true classes (``seg_pixel_acc``, ``seg_class_acc``,
    ``seg_iou``), beside the same scores on the real photos (``*_baseline``: the ceiling); and
    with ``realism`` (multimodal-facades) its distribution scores (fd, kid, prdc, spectrum,
    hf_ratio, c2st and their ``*_real`` floors)."""

    def __init__(
        self,
        targets: torch.Tensor,
        labels: torch.Tensor | None = None,
        segment: Segmenter | None = None,
        classes: int = 0,
        realism: Any = None,
    ) -> None:
        self.targets, self.labels, self.segment, self.classes = targets, labels, segment, classes
        self.realism = realism  # reference_trainers.realism.RealismMetrics, or None
        self.baseline = self._segmentation(targets) if segment is not None else {}

    @torch.no_grad()
    def _segmentation(self, images: torch.Tensor) -> dict[str, float]:
        assert self.segment is not None and self.labels is not None
        pred = torch.cat(
            [self.segment(images[i : i + 50]).argmax(1) for i in range(0, len(images), 50)]
        )
        return segmentation_scores(pred, self.labels, self.classes)

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor) -> dict[str, float]:
        outputs = outputs.float().cpu().clamp(-1, 1)
        row = {
            "l1": float((outputs - self.targets).abs().mean()),
            "psnr": float(psnr(outputs, self.targets).mean()),
            "ssim": float(ssim(outputs, self.targets).mean()),
        }
        if self.segment is not None:
            row.update(self._segmentation(outputs))
            row.update({f"{k}_baseline": v for k, v in self.baseline.items()})
        if self.realism is not None:
            row.update(self.realism(outputs))
        return row
