"""Offline data: scikit-learn's bundled digits (1,797 8×8 images, upsampled), or any folder of
images; batches in a deterministic, resumable order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from reference_trainers.common import TrainerError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def digits(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled digits as (N, 1, S, S) float32 in [-1, 1] (bilinear upsampling) and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]  # values 0..16
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x.clamp(0, 1) * 2 - 1, torch.from_numpy(d.target.astype(np.int64))


def image_folder(path: str, image_size: int, channels: int) -> torch.Tensor:
    """Every image under ``path`` (recursively), resized to ``image_size``, in [-1, 1].  A
    missing or empty folder, an unreadable file or images of mixed sizes are one-line errors."""
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise TrainerError(f"--data {path}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TrainerError(f"--data {path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    sizes: dict[tuple[int, int], Path] = {}
    arrays = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                sizes.setdefault(im.size, f)
                if len(sizes) > 1:
                    (s1, f1), (s2, f2) = list(sizes.items())[:2]
                    raise TrainerError(
                        f"--data {path}: images of mixed sizes ({f1.name} is {s1[0]}x{s1[1]}, "
                        f"{f2.name} is {s2[0]}x{s2[1]}); resize them to one size first"
                    )
                im = im.resize((image_size, image_size), Image.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.float32) / 127.5 - 1.0)
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(f"--data {path}: cannot read {f.name} ({err})") from None
    x = torch.from_numpy(np.stack(arrays))
    return x[:, None] if channels == 1 else x.permute(0, 3, 1, 2).contiguous()


class Batches:
    """Shuffled batches, epoch by epoch, with explicit state (epoch, position): the order
    depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int) -> None:
        if len(data) < batch_size:
            raise TrainerError(
                f"--batch-size {batch_size} is larger than the dataset ({len(data)} images)"
            )
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data))

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.data):  # drop the last partial batch
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        idx = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[torch.from_numpy(idx)]

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation()
