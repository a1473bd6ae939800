"""``synthetic-facades``: a procedural paired image-to-image set that needs no download.

Each example is a building front: a label map (A) with six classes drawn as flat colours, and
a "photo" (B) rendered from it with textures from scikit-image's bundled images (brick for
walls, grass for vegetation, gravel for pavement and doors), tinted per building, under a
lighting gradient.  Layouts vary: building extent and roofline, window grid (rows, columns,
size, spacing), door position, bushes, pavement height.  Generated deterministically from the
index, then cached in the standard pix2pix layout: ``train/``, ``val/``, ``test/`` folders of
side-by-side A|B PNGs (512×256), so the same reader serves the real pix2pix datasets.

``multimodal-facades`` (issue 18): the same label maps, but the photo given the map is
**multimodal** -- the sky, the wall, every window, the door, every bush and the pavement each
draw their appearance at random from several distinct choices (colour, texture, fine
detail), independently of the label map.  Nothing in A says which choice was drawn, so the
L1-optimal output is the per-pixel median over the choices: a blurred, greyed average (see
:func:`conditional_median`) -- the situation in which pix2pix's paper shows that L1 alone
blurs and the adversarial term restores realism.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from reference_trainers.common import file_lock

VERSION = 1
SIZE = 256  # stored resolution (the pix2pix standard); the trainer resizes
SPLITS = {"train": 400, "val": 100, "test": 100}
#: the offline paired sets: name -> (version, splits)
DATASETS = {
    "synthetic-facades": (VERSION, SPLITS),
    "multimodal-facades": (1, {"train": 800, "val": 200, "test": 200}),
}  # multimodal-facades also stores val-redraw/ (see redraw) and <split>-looks.json
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


def _instances(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected regions of ``mask`` (4-connectivity): (instance map, count)."""
    from scipy import ndimage

    found, n = ndimage.label(mask)
    return found, int(n)


def _stripes(rng: np.random.Generator, axis: int, period: tuple[float, float]) -> np.ndarray:
    """A SIZE×SIZE pattern of soft stripes (across ``axis``) with a random period and phase."""
    t = np.arange(SIZE, dtype=np.float32)
    wave = np.sin(2 * np.pi * (t / rng.uniform(*period) + rng.uniform(0, 1)))
    return np.broadcast_to(wave[:, None] if axis == 0 else wave[None, :], (SIZE, SIZE))


#: the appearance choices of multimodal-facades, per part (windows and bushes: per instance)
LOOKS = {"sky": 3, "wall": 4, "window": 4, "door": 3, "bush": 3, "pavement": 2}


def render_multimodal(
    labels: np.ndarray,
    rng: np.random.Generator,
    textures: dict[str, np.ndarray],
    looks: dict[str, list[int]] | None = None,
) -> np.ndarray:
    """A "photo" (SIZE, SIZE, 3) uint8 for a class map in which every region instance draws its
    look from several choices: sky (clear / overcast / sunset), wall (red brick / grey stone /
    cream plaster / blue boards), each window (dark glass / lit / shutters), the door (red /
    brown / green), each bush (green / autumn / flowering), pavement (grey gravel / brown
    cobbles).  ``looks``, when given, receives the choices drawn (part -> indices; see
    :data:`LOOKS`)."""
    s = SIZE
    drawn: dict[str, list[int]] = looks if looks is not None else {}
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    y3 = yy[..., None]
    photo = np.zeros((s, s, 3), np.float32)

    def paint(part: str, mask: np.ndarray, choices: list[Any]) -> None:
        """Fill ``mask`` with one of ``choices`` (functions that build a layer), drawn here."""
        if mask.any():
            k = int(rng.integers(len(choices)))
            drawn.setdefault(part, []).append(k)
            photo[mask] = np.broadcast_to(choices[k](), (s, s, 3))[mask]

    gravel, brick, grass = textures["gravel"], textures["brick"], textures["grass"]
    tint = lambda colour, t, amount: np.array(colour) * (1 + amount * t)[..., None]  # noqa: E731
    paint("sky", labels == 0, [
        lambda: np.array([0.40, 0.60, 0.95]) + 0.25 * y3 * np.array([1, 0.6, 0.05]),  # clear
        lambda: np.array([0.70, 0.72, 0.75]) + 0.08 * y3 + 0.04 * _crop(gravel, rng, 2)[..., None],
        lambda: np.array([0.95, 0.45, 0.35]) + 0.35 * y3 * np.array([0.05, 0.9, 0.4]),  # sunset
    ])  # fmt: skip
    paint("wall", labels == 1, [
        lambda: tint([0.70, 0.33, 0.22], _crop(brick, rng, 1), 0.30),  # red brick
        lambda: tint([0.55, 0.55, 0.57], _crop(gravel, rng, 2), 0.30),  # grey stone
        lambda: tint([0.92, 0.86, 0.70], _crop(gravel, rng, 1), 0.04),  # cream plaster
        lambda: tint([0.25, 0.40, 0.65], _stripes(rng, 0, (5, 9)), 0.25),  # blue boards
    ])  # fmt: skip
    windows, n = _instances(labels == 2)
    for i in range(1, n + 1):
        paint("window", windows == i, [
            lambda: np.array([0.10, 0.14, 0.25]) + 0.25 * (1 - y3) * np.array([0.5, 0.7, 1.0]),
            lambda: np.array([0.98, 0.85, 0.45]) + 0.05 * _crop(gravel, rng, 1)[..., None],  # lit
            lambda: tint([0.20, 0.45, 0.25], _stripes(rng, 0, (2.5, 4)), 0.35),  # green shutters
            lambda: tint([0.45, 0.28, 0.15], _stripes(rng, 0, (2.5, 4)), 0.35),  # brown shutters
        ])  # fmt: skip
    paint("door", labels == 3, [
        lambda c=c: tint(c, _stripes(rng, 1, (6, 10)), 0.2)
        for c in ([0.60, 0.08, 0.08], [0.30, 0.18, 0.08], [0.10, 0.35, 0.20])
    ])  # fmt: skip
    bushes, n = _instances(labels == 4)
    for i in range(1, n + 1):
        paint("bush", bushes == i, [
            lambda: tint([0.18, 0.48, 0.14], _crop(grass, rng, 1), 0.35),  # green
            lambda: tint([0.80, 0.40, 0.10], _crop(grass, rng, 1), 0.35),  # autumn
            lambda: np.where(_crop(grass, rng, 1)[..., None] > 1.2,  # flowering: pink blossoms
                             np.array([0.95, 0.45, 0.70]), np.array([0.15, 0.42, 0.15])),
        ])  # fmt: skip
    paint("pavement", labels == 5, [
        lambda: tint([0.52, 0.52, 0.50], _crop(gravel, rng, 1), 0.25),  # grey gravel
        lambda: tint([0.50, 0.36, 0.25], _crop(brick, rng, 2), 0.35),  # brown cobbles
    ])  # fmt: skip
    sun = rng.uniform(-0.25, 0.25)
    photo *= (1 + sun * (xx - 0.5))[..., None]
    return (np.clip(photo, 0, 1) * 255).round().astype(np.uint8)


def _layout_rng(name: str, split: str, index: int) -> np.random.Generator:
    version, splits = DATASETS[name]
    return np.random.default_rng([version, list(splits).index(split), index])


def example(
    split: str,
    index: int,
    textures: dict[str, np.ndarray],
    name: str = "synthetic-facades",
    looks: dict[str, list[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Example ``index`` of ``split`` of the set ``name``: (A label map RGB, B photo RGB), each
    (SIZE, SIZE, 3) uint8; ``looks`` receives multimodal-facades' appearance choices."""
    rng = _layout_rng(name, split, index)
    labels = layout(rng)
    if name == "synthetic-facades":
        return PALETTE[labels], render(labels, rng, textures)
    return PALETTE[labels], render_multimodal(labels, rng, textures, looks)


def redraw(split: str, index: int, textures: dict[str, np.ndarray], draw: int) -> np.ndarray:
    """Another photo (SIZE, SIZE, 3) uint8 for a ``multimodal-facades`` example's label map: the
    appearance drawn afresh (``draw`` >= 1; draw 0 is the example's own photo).  A sample from
    the same conditional distribution -- what an ideal generator could output."""
    if draw == 0:
        return example(split, index, textures, "multimodal-facades")[1]
    labels = layout(_layout_rng("multimodal-facades", split, index))
    version, splits = DATASETS["multimodal-facades"]
    look = np.random.default_rng([version, 7, list(splits).index(split), index, draw])
    return render_multimodal(labels, look, textures)


def conditional_median(
    split: str, index: int, textures: dict[str, np.ndarray], draws: int = 9
) -> np.ndarray:
    """The L1-optimal prediction for a ``multimodal-facades`` example: the per-pixel median of
    ``draws`` photos of its label map (:func:`redraw` 1 … draws) -- what an L1-only generator
    converges to; the realism metrics must rank it below real photos."""
    photos = [redraw(split, index, textures, k) for k in range(1, draws + 1)]
    return np.median(np.stack(photos), axis=0).round().astype(np.uint8)


def labels_from_colors(a: np.ndarray) -> np.ndarray:
    """Class indices (…, H, W) from label-map colours (…, H, W, 3) by the nearest palette colour."""
    d = ((a[..., None, :].astype(np.int32) - PALETTE.astype(np.int32)) ** 2).sum(-1)
    return d.argmin(-1).astype(np.int64)


def ensure(root: Path, name: str = "synthetic-facades") -> Path:
    """The cached dataset folder of the set ``name`` (a key of :data:`DATASETS`), generated on
    first use in ~15-30 s.  Safe under concurrency: processes that start together wait on a
    lock and the first one generates; generation goes to a temporary folder renamed into place
    when complete, so an interrupted generation leaves nothing that a later run would trust,
    and a complete folder is never removed."""
    stem = f"{name}-v{DATASETS[name][0]}"
    folder = root / stem
    if (folder / "COMPLETE").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{stem}.lock"):
        if (folder / "COMPLETE").is_file():  # another process generated it while we waited
            return folder
        _generate(root, folder, name)
    return folder


def _generate(root: Path, folder: Path, name: str) -> None:
    from PIL import Image

    tmp = root / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    textures = _textures()
    for split, n in DATASETS[name][1].items():
        (tmp / split).mkdir(parents=True)
        looks: list[dict[str, list[int]]] = []
        for i in range(n):
            looks.append({})
            a, b = example(split, i, textures, name, looks[-1])
            Image.fromarray(np.concatenate([a, b], axis=1)).save(tmp / split / f"{i:04d}.png")
        if name != "synthetic-facades":  # the appearance choices: targets of the feature net
            (tmp / f"{split}-looks.json").write_text(json.dumps(looks))
    if name == "multimodal-facades":  # a second draw of each validation photo: the metrics' floor
        (tmp / "val-redraw").mkdir()
        for i in range(DATASETS[name][1]["val"]):
            Image.fromarray(redraw("val", i, textures, 1)).save(tmp / "val-redraw" / f"{i:04d}.png")
    (tmp / "COMPLETE").write_text(f"{folder.name}\n")
    if (folder / "COMPLETE").is_file():  # finished elsewhere (no lock available): keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        return
    shutil.rmtree(folder, ignore_errors=True)  # an incomplete leftover
    os.replace(tmp, folder)
