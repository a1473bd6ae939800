"""Metrics without downloads: a small classifier trained by our code on the bundled digits
(deterministic, cached), a Fréchet distance on its features, and class coverage."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

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


def classifier(image_size: int) -> tuple[DigitClassifier, float]:
    """The classifier for ``image_size`` digits and its held-out accuracy: trained once
    (deterministically, ~10 s on CPU) and cached in ``$ADVLOSS_CACHE`` (~/.cache/advloss)."""
    path = cache_dir() / f"digits-classifier-{image_size}.pt"
    model = DigitClassifier()
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
            return model.eval(), float(state["accuracy"])
        except Exception:  # a corrupt cache: train again
            pass
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "accuracy": accuracy}, tmp)
    os.replace(tmp, path)
    return model, accuracy


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N, D)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    # A tiny ridge keeps sqrtm stable where ReLU features make the covariances singular.
    ridge = 1e-6 * np.eye(a.shape[1])
    s1, s2 = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    with np.errstate(all="ignore"):
        covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


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
