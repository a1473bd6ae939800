"""The PyTorch side of the metrics (:mod:`reference_trainers.metrics` is framework-neutral): the
digit classifier's module and its training, the networks the pix2pix metrics train and cache
(segmenter; :mod:`reference_trainers.realism`'s appearance net) and :class:`PairMetrics`.

The digit classifier is trained here once per image size and shipped as NumPy weights, so
that the JAX and TensorFlow trainers score with it without PyTorch::

    python -m reference_trainers.metrics_torch 16 32 64   # rewrites reference_trainers/weights/
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reference_trainers.common import file_lock
from reference_trainers.data import digits
from reference_trainers.metrics import (
    cache_dir,
    classifier_path,
    classifier_weights,
    psnr,
    segmentation_scores,
    ssim,
)

# ---------------------------------------------------------------------- the digit classifier


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


def classifier(image_size: int) -> tuple[DigitClassifier, float]:
    """The shipped classifier for ``image_size`` digits (``reference_trainers/weights/``) as a
    PyTorch module in eval mode, and its held-out accuracy."""
    weights, accuracy = classifier_weights(image_size)
    model = DigitClassifier()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return model.eval(), accuracy


class TorchDigitClassifier:
    """The digit metrics' network (:class:`reference_trainers.metrics.DigitNetwork`) in
    PyTorch, on the CPU in chunks of 500: the PyTorch trainer's evaluator."""

    def __init__(self, image_size: int) -> None:
        self.model, self.accuracy = classifier(image_size)

    @torch.no_grad()
    def features(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(x, np.float32))
        parts = [self.model.features(t[i : i + 500]) for i in range(0, len(t), 500)]
        return torch.cat(parts).numpy().astype(np.float64)

    @torch.no_grad()
    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = self.model.head(torch.from_numpy(features).float())
        return torch.softmax(logits, 1).numpy()

    @torch.no_grad()
    def classes(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(x, np.float32))
        parts = [self.model(t[i : i + 500]).argmax(1) for i in range(0, len(t), 500)]
        return torch.cat(parts).numpy()


def train_classifier(image_size: int) -> tuple[DigitClassifier, float]:
    """Train the digit classifier (deterministically, ~10 s on CPU at 16×16) on 1,500 of the
    bundled digits; its accuracy is on the other 297."""
    x_np, y_np = digits(image_size)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
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


def save_classifier(model: nn.Module, accuracy: float, path: Path) -> None:
    """Write a classifier's weights (float32, ``state_dict`` names) and accuracy as ``.npz``."""
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, accuracy=np.float64(accuracy), **arrays)


def main(argv: list[str] | None = None) -> int:
    """Train the digit classifier for each image size given and write its shipped weights."""
    p = argparse.ArgumentParser(prog="python -m reference_trainers.metrics_torch",
                                description=main.__doc__)  # fmt: skip
    p.add_argument("sizes", type=int, nargs="+", help="Image sizes (16, 32, 64).")
    for size in p.parse_args(argv).sizes:
        model, accuracy = train_classifier(size)
        save_classifier(model, accuracy, classifier_path(size))
        print(f"{classifier_path(size)}: held-out accuracy {accuracy:.4f}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ networks trained on demand


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


# ----------------------------------------------------------------------------- pix2pix metrics


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
        return segmentation_scores(pred.numpy(), self.labels.numpy(), self.classes)

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor) -> dict[str, float]:
        outputs = outputs.float().cpu().clamp(-1, 1)
        out_np, target_np = outputs.numpy(), self.targets.numpy()
        row = {
            "l1": float((outputs - self.targets).abs().mean()),
            "psnr": float(psnr(out_np, target_np).mean()),
            "ssim": float(ssim(out_np, target_np).mean()),
        }
        if self.segment is not None:
            row.update(self._segmentation(outputs))
            row.update({f"{k}_baseline": v for k, v in self.baseline.items()})
        if self.realism is not None:
            row.update(self.realism(outputs))
        return row


if __name__ == "__main__":
    sys.exit(main())
