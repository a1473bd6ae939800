"""``synthetic-facades``: a procedural paired image-to-image set that needs no download.

Each example is a building front: a label map (A) with six classes drawn as flat colours, and
a "photo" (B) rendered from it with textures from scikit-image's bundled images (brick for
walls, grass for vegetation, gravel for pavement and doors), tinted per building, under a
lighting gradient.  Layouts vary: building extent and roofline, window grid (rows, columns,
size, spacing), door position, bushes, pavement height.  Generated deterministically from the
index, then cached in the standard pix2pix layout: ``train/``, ``val/``, ``test/`` folders of
side-by-side A|B PNGs (512×256), so the same reader serves the real pix2pix datasets.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from reference_trainers.common import file_lock

VERSION = 1
SIZE = 256  # stored resolution (the pix2pix standard); the trainer resizes
SPLITS = {"train": 400, "val": 100, "test": 100}
CLASSES = ("sky", "wall", "window", "door", "vegetation", "pavement")
# label-map colours (A); far apart, so a resized map is still classified by the nearest colour
PALETTE = np.array(
    [[20, 40, 160], [230, 110, 40], [250, 230, 60], [170, 20, 20], [40, 200, 80], [150, 150, 150]],
    dtype=np.uint8,
)


def _textures() -> dict[str, np.ndarray]:
    """scikit-image's bundled 512×512 grayscale textures, as float in [0, 1]."""
    from skimage import data

    return {
        name: getattr(data, name)().astype(np.float32) / 255.0
        for name in ("brick", "grass", "gravel")
    }


def _crop(texture: np.ndarray, rng: np.random.Generator, scale: int) -> np.ndarray:
    """A SIZE×SIZE view of a texture: every ``scale``-th pixel from a random offset, normalised
    to zero mean and unit spread."""
    span = SIZE * scale
    y, x = (
        rng.integers(0, texture.shape[0] - span + 1),
        rng.integers(0, texture.shape[1] - span + 1),
    )
    t = texture[y : y + span : scale, x : x + span : scale]
    return (t - t.mean()) / (t.std() + 1e-6)


def layout(rng: np.random.Generator) -> np.ndarray:
    """A (SIZE, SIZE) class map: sky, a building with a window grid and a door, pavement and
    bushes."""
    s = SIZE
    labels = np.zeros((s, s), np.uint8)  # sky
    left, right = 0, s
    if rng.random() < 0.5:  # a narrower building with sky beside it
        left, right = int(rng.integers(0, s // 4)), s - int(rng.integers(0, s // 4))
    roof = int(rng.integers(s // 12, s // 4))
    ground = int(s - rng.integers(s // 14, s // 7))
    labels[roof:ground, left:right] = 1  # wall
    rows, cols = int(rng.integers(2, 6)), int(rng.integers(2, 7))
    cell_h, cell_w = (ground - roof) / (rows + 0.6), (right - left) / cols
    win_h, win_w = cell_h * rng.uniform(0.35, 0.6), cell_w * rng.uniform(0.3, 0.6)
    door_col = int(rng.integers(0, cols))
    for r in range(rows):
        for c in range(cols):
            if r == rows - 1 and c == door_col:
                continue  # the door replaces this window
            y0 = roof + cell_h * (r + 0.5) - win_h / 2 + cell_h * 0.1
            x0 = left + cell_w * (c + 0.5) - win_w / 2
            labels[int(y0) : int(y0 + win_h), int(x0) : int(x0 + win_w)] = 2
    door_w, door_h = cell_w * rng.uniform(0.4, 0.6), cell_h * rng.uniform(0.7, 0.95)
    x0 = left + cell_w * (door_col + 0.5) - door_w / 2
    labels[int(ground - door_h) : ground, int(x0) : int(x0 + door_w)] = 3
    labels[ground:, :] = 5  # pavement
    yy, xx = np.mgrid[0:s, 0:s]
    for _ in range(int(rng.integers(0, 4))):  # bushes in front of the building
        cx, cy = rng.uniform(0, s), ground + rng.uniform(-s / 30, s / 40)
        rx, ry = rng.uniform(s / 20, s / 7), rng.uniform(s / 25, s / 10)
        labels[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = 4
    return labels


def render(
    labels: np.ndarray, rng: np.random.Generator, textures: dict[str, np.ndarray]
) -> np.ndarray:
    """The "photo" (SIZE, SIZE, 3) uint8 for a class map."""
    s = SIZE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    wall_tint = np.array([rng.uniform(0.55, 0.85), rng.uniform(0.35, 0.6), rng.uniform(0.25, 0.5)])
    if rng.random() < 0.3:  # grey stone instead of red brick
        wall_tint = np.full(3, rng.uniform(0.5, 0.75))
    sky = np.stack([0.45 + 0.3 * yy, 0.6 + 0.25 * yy, 0.9 + 0.05 * yy], -1)
    glass = 0.18 + 0.25 * (1 - yy)[..., None] * np.array([0.7, 0.8, 1.0])
    layers = [
        sky,
        wall_tint * (1 + 0.25 * _crop(textures["brick"], rng, 1))[..., None],
        glass + 0.03 * _crop(textures["gravel"], rng, 1)[..., None],
        np.array([0.35, 0.2, 0.1]) * (1 + 0.15 * _crop(textures["gravel"], rng, 2))[..., None],
        np.array([0.2, 0.45, 0.15]) * (1 + 0.35 * _crop(textures["grass"], rng, 1))[..., None],
        np.array([0.5, 0.5, 0.48]) * (1 + 0.25 * _crop(textures["gravel"], rng, 1))[..., None],
    ]
    photo = np.zeros((s, s, 3), np.float32)
    for k, layer in enumerate(layers):
        photo = np.where((labels == k)[..., None], layer, photo)
    sun = rng.uniform(-0.25, 0.25)  # light from the left or the right
    photo *= (1 + sun * (xx - 0.5))[..., None]
    return (np.clip(photo, 0, 1) * 255).round().astype(np.uint8)


def example(
    split: str, index: int, textures: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Example ``index`` of ``split``: (A label map RGB, B photo RGB), each (SIZE, SIZE, 3) uint8."""
    rng = np.random.default_rng([VERSION, list(SPLITS).index(split), index])
    labels = layout(rng)
    return PALETTE[labels], render(labels, rng, textures)


def labels_from_colors(a: np.ndarray) -> np.ndarray:
    """Class indices (…, H, W) from label-map colours (…, H, W, 3) by the nearest palette colour."""
    d = ((a[..., None, :].astype(np.int32) - PALETTE.astype(np.int32)) ** 2).sum(-1)
    return d.argmin(-1).astype(np.int64)


def ensure(root: Path) -> Path:
    """The cached dataset folder, generated on first use in ~15 s.  Safe under concurrency:
    processes that start together wait on a lock and the first one generates; generation goes
    to a temporary folder renamed into place when complete, so an interrupted generation leaves
    nothing that a later run would trust, and a complete folder is never removed."""
    folder = root / f"synthetic-facades-v{VERSION}"
    if (folder / "COMPLETE").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".synthetic-facades-v{VERSION}.lock"):
        if (folder / "COMPLETE").is_file():  # another process generated it while we waited
            return folder
        _generate(root, folder)
    return folder


def _generate(root: Path, folder: Path) -> None:
    from PIL import Image

    tmp = root / f".synthetic-facades-v{VERSION}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    textures = _textures()
    for split, n in SPLITS.items():
        (tmp / split).mkdir(parents=True)
        for i in range(n):
            a, b = example(split, i, textures)
            Image.fromarray(np.concatenate([a, b], axis=1)).save(tmp / split / f"{i:04d}.png")
    (tmp / "COMPLETE").write_text(f"synthetic-facades v{VERSION}\n")
    if (folder / "COMPLETE").is_file():  # finished elsewhere (no lock available): keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        return
    shutil.rmtree(folder, ignore_errors=True)  # an incomplete leftover
    os.replace(tmp, folder)
