"""Realism metrics that see blur, for pix2pix on ``multimodal-facades`` (issue 18).

L1, PSNR and SSIM reward the L1-optimal output -- the per-pixel median over the appearances a
label map allows, a blurred, greyed average -- so they cannot show what pix2pix's adversarial
term is for.  These compare the *distribution* of generated photos with real ones:

* ``fd`` and ``kid``: the Fréchet distance and the kernel inception distance (unbiased MMD²,
  cubic polynomial kernel) on the features of :class:`AppearanceNet`, a small CNN trained here
  on the real training photos to recognise each part's appearance (sky, wall material, window
  kind, door colour, bush kind, pavement); the same formulas as torchmetrics' FID/KID
  (tests/test_realism.py checks both to 1e-6 on the same features).
* ``precision``, ``recall``, ``density``, ``coverage`` on the same features, by the ``prdc``
  package (Naeem et al. 2020, k = 5).
* ``spectrum``: the mean absolute difference of log10 radially averaged power spectra
  (grayscale), generated vs real; ``hf_ratio``: the generated images' power above half the
  Nyquist frequency over the real images' (1 = as much fine detail as real, < 1 = blur).
* ``c2st``: a classifier two-sample test -- a logistic regression on the standardised features
  tells real from generated; its held-out accuracy (two folds split by image index) is 0.5 when
  the two are indistinguishable and 1.0 when every generated image is recognised.

The generated photos are compared with the real photos of the same label maps (the validation
targets).  Each metric comes with its floor (``*_real``): another real draw of the same label
maps (``val-redraw/``, what an ideal generator could output) against the targets; the
benchmark (``python -m benchmarks.cgan``) checks that every metric ranks blurred real photos
and the conditional median (the L1-optimal output) below that floor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reference_trainers import facades
from reference_trainers.metrics import frechet_distance
from reference_trainers.metrics_torch import cached_model

HEADS = facades.LOOKS  # part -> number of appearance choices


class AppearanceNet(nn.Module):
    """A small CNN for (N, 3, S, S) photos in [-1, 1]: four stride-2 3×3 convolutions (32, 64,
    64, 64 channels, ReLU), global mean and standard-deviation pooling (``features``: 128-d,
    the embedding the metrics use -- fewer dimensions than the 200 validation images, so the
    covariances of the Fréchet distance have full rank), one linear head per part predicting
    the share of each appearance choice."""

    def __init__(self) -> None:
        super().__init__()
        chs = [3, 32, 64, 64, 64]
        self.body = nn.Sequential(
            *[m for i in range(4) for m in (nn.Conv2d(chs[i], chs[i + 1], 3, 2, 1), nn.ReLU())]
        )
        self.heads = nn.ModuleDict({part: nn.Linear(128, n) for part, n in HEADS.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).flatten(2)
        return torch.cat([h.mean(2), h.std(2)], 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {part: head(f) for part, head in self.heads.items()}


def looks_targets(folder: Path, split: str) -> dict[str, torch.Tensor]:
    """Per part, the (N, choices) share of each appearance choice in ``split`` (rows of zeros
    where the part is absent, e.g. no bushes)."""
    looks = json.loads((folder / f"{split}-looks.json").read_text())
    out = {}
    for part, n in HEADS.items():
        t = np.zeros((len(looks), n), np.float32)
        for i, row in enumerate(looks):
            for k in row.get(part, []):
                t[i, k] += 1
        out[part] = torch.from_numpy(t / np.maximum(t.sum(1, keepdims=True), 1))
    return out


def appearance_net(
    images: torch.Tensor, targets: dict[str, torch.Tensor], name: str
) -> tuple[AppearanceNet, float]:
    """The feature network trained on (real photos (N, 3, S, S) in [-1, 1], their appearance
    shares) and its held-out accuracy (the most common choice per part, on the last 10 %):
    trained once, deterministically (~1 min on one CPU thread at 64×64), cached as
    ``$ADVLOSS_CACHE/<name>.pt``."""
    return cached_model(name, AppearanceNet, lambda: _train(images, targets))


#: the feature net's training steps (batch 32)
TRAIN_STEPS = 1500


def _train(images: torch.Tensor, targets: dict[str, torch.Tensor]) -> tuple[AppearanceNet, float]:
    n_train = int(len(images) * 0.9)
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AppearanceNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(TRAIN_STEPS):
        idx = torch.randint(0, n_train, (32,), generator=g)
        x = images[idx]
        if bool(torch.rand((), generator=g) < 0.5):  # mirror: the looks do not depend on it
            x = x.flip(-1)
        out = model(x)
        loss = sum(-(targets[p][idx] * F.log_softmax(out[p], 1)).sum(1).mean() for p in HEADS)
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(images[n_train:])
        hits = []
        for p in HEADS:
            t = targets[p][n_train:]
            present = t.sum(1) > 0
            hits.append((out[p].argmax(1) == t.argmax(1))[present].float())
        accuracy = float(torch.cat(hits).mean())
    return model, accuracy


# ---------------------------------------------------------------------------- the formulas


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Kernel inception distance: the unbiased MMD² between feature sets ``a`` (N, D) and
    ``b`` (M, D) under the kernel k(x, y) = (x·y / D + 1)³ (Bińkowski et al. 2018), in
    float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = a.shape[1]
    kxx, kyy, kxy = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    n, m = len(a), len(b)
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2 * kxy.mean())


def radial_spectrum(images: torch.Tensor) -> np.ndarray:
    """The mean radially averaged power spectrum of (N, 3, S, S) images in [-1, 1] (grayscale,
    mean removed per image): (S // 2,) powers at integer radii 1 … S/2 (in cycles per image)."""
    gray = images.double().mean(1)
    gray = gray - gray.mean((1, 2), keepdim=True)
    power = (torch.fft.fft2(gray).abs() ** 2).mean(0).numpy()
    s = power.shape[0]
    f = np.fft.fftfreq(s) * s
    r = np.rint(np.hypot(f[:, None], f[None, :])).astype(int)
    return np.array([power[r == k].mean() for k in range(1, s // 2 + 1)])


def spectrum_scores(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """``spectrum``: mean |log10 P_fake − log10 P_real| over the radii; ``hf_ratio``: the fake
    power above half the Nyquist radius over the real power there."""
    high = slice(len(real) // 2, None)
    return {
        "spectrum": float(np.abs(np.log10(fake) - np.log10(real)).mean()),
        "hf_ratio": float(fake[high].sum() / real[high].sum()),
    }


def c2st(real: np.ndarray, fake: np.ndarray) -> float:
    """Held-out accuracy of a logistic regression telling ``real`` (N, D) from ``fake`` (N, D)
    features: two folds (even / odd image index), each trained on one and scored on the other;
    features standardised on the training fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(real), len(fake))
    x = np.concatenate([real[:n], fake[:n]]).astype(np.float64)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    fold = np.concatenate([np.arange(n) % 2, np.arange(n) % 2])
    scores = []
    for k in (0, 1):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        clf.fit(x[fold == k], y[fold == k])
        scores.append(clf.score(x[fold != k], y[fold != k]))
    return float(np.mean(scores))


def prdc_scores(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) by the ``prdc`` package."""
    import contextlib
    import io

    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        scores = compute_prdc(real, fake, nearest_k=k)
    return {key: float(v) for key, v in scores.items()}


# ---------------------------------------------------------------------------- the metric set


class RealismMetrics:
    """Realism of generated photos against the real ones of the same inputs: ``fd``, ``kid``,
    ``precision``/``recall``/``density``/``coverage``, ``spectrum``, ``hf_ratio``, ``c2st``,
    each beside its floor (``<name>_real``: ``reference`` -- other real photos of the same
    inputs -- against the real targets)."""

    KEYS = ("fd", "kid", "precision", "recall", "density", "coverage", "spectrum", "hf_ratio",
            "c2st")  # fmt: skip

    def __init__(self, net: AppearanceNet, targets: torch.Tensor, reference: torch.Tensor) -> None:
        self.net = net
        self.real_features = self.features(targets)
        self.real_spectrum = radial_spectrum(targets)
        self.floor = {f"{k}_real": v for k, v in self.scores(reference).items()}

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        images = images.float().cpu().clamp(-1, 1)  # also for the targets, read once
        return torch.cat(
            [self.net.features(images[i : i + 100]) for i in range(0, len(images), 100)]
        ).numpy()

    def scores(self, images: torch.Tensor) -> dict[str, float]:
        images = images.float().cpu().clamp(-1, 1)
        f = self.features(images)
        return {
            "fd": frechet_distance(f, self.real_features, ridge=0.0),
            "kid": kid(f, self.real_features),
            **prdc_scores(self.real_features, f),
            **spectrum_scores(radial_spectrum(images), self.real_spectrum),
            "c2st": c2st(self.real_features, f),
        }

    def __call__(self, outputs: torch.Tensor) -> dict[str, float]:
        return {**self.scores(outputs), **self.floor}


def photos(folder: Path, size: int) -> torch.Tensor:
    """The (N, 3, size, size) images in [-1, 1] of a folder of square photos, resized as the
    paired reader resizes B (bicubic), in file-name order."""
    from PIL import Image

    files = sorted(folder.glob("*.png"))
    arrays = []
    for f in files:
        with Image.open(f) as im:
            arrays.append(
                np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
            )
    return torch.from_numpy(np.stack(arrays).astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)


def for_dataset(folder: Path, size: int) -> tuple[RealismMetrics, float]:
    """The metric set for multimodal-facades at ``size``: feature net trained on the train
    photos; targets = the validation photos; the floor = ``val-redraw/`` (another draw of each
    validation label map's appearance: an ideal generator's output).  Returns it and the
    feature net's held-out accuracy."""
    from reference_trainers.data import paired_folder

    train_b = torch.from_numpy(paired_folder(str(folder), "train", size, nearest_a=True)[1])
    net, accuracy = appearance_net(
        train_b, looks_targets(folder, "train"), f"{folder.name}-appearance-{size}"
    )
    val_b = torch.from_numpy(paired_folder(str(folder), "val", size, nearest_a=True)[1])
    return RealismMetrics(net, val_b, photos(folder / "val-redraw", size)), accuracy


def degraded(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``images`` blurred by a Gaussian of std ``sigma`` pixels (the metrics' sanity check)."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(images.dtype)
    c = images.shape[1]
    x = F.pad(images, (radius,) * 4, mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def describe(row: dict[str, Any]) -> str:
    """One line of the realism scores for progress output."""
    return ", ".join(f"{k} {row[k]:.3g}" for k in RealismMetrics.KEYS if k in row)
