"""Offline data as NumPy arrays: scikit-learn's bundled digits (1,797 8×8 images, upsampled),
stacked digits, MNIST-style IDX files, CIFAR-10 binary batches, any folder of images and
pix2pix's paired folders; batches in a deterministic, resumable order.

Every reader returns float32 ``(N, C, H, W)`` arrays in [-1, 1] and imports no framework, so
the JAX and TensorFlow trainers run without PyTorch; the PyTorch trainers wrap them with
``torch.from_numpy``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reference_trainers.common import TrainerError, check_data_source

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two source indices and weights of each output position of a linear resize with
    half-pixel centres (``align_corners=False``), in float32 as PyTorch computes them."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(np.float32), np.float32(0), np.float32(1))
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    return i0, i1, np.float32(1) - lam, lam


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """``(N, C, H, W)`` float32 images resized to ``size`` × ``size`` by bilinear interpolation
    without antialiasing, as ``torch.nn.functional.interpolate(x, size, mode="bilinear",
    align_corners=False)`` (the same taps and weights; each row interpolated along the width,
    then the two rows along the height, in float32).  Equal bit for bit on the digits, whose
    values make every product and sum exact; within 1 float32 ulp elsewhere, where PyTorch's
    kernels sum the four terms in another order (tests/test_trainers.py).  Kept here rather
    than taken from a library: PIL and scikit-image resize with antialiasing or in float64,
    and the digit data (hence the committed metrics) depend on these numbers."""
    x = np.asarray(x, np.float32)
    h0, h1, wh0, wh1 = _linear_taps(x.shape[-2], size)
    w0, w1, ww0, ww1 = _linear_taps(x.shape[-1], size)
    top, bottom = x[..., h0, :], x[..., h1, :]
    top = top[..., w0] * ww0 + top[..., w1] * ww1
    bottom = bottom[..., w0] * ww0 + bottom[..., w1] * ww1
    return top * wh0[:, None] + bottom * wh1[:, None]


def digits(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as (N, 1, S, S) float32 in [-1, 1] (bilinear upsampling) and their
    int64 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0))[:, None]  # values 0..16
    if image_size != 8:
        x = resize_bilinear(x, image_size)
    return np.clip(x, 0, 1) * 2 - 1, d.target.astype(np.int64)


def image_folder(path: str, image_size: int, channels: int) -> np.ndarray:
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
                im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.float32) / 127.5 - 1.0)
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(f"--data {path}: cannot read {f.name} ({err})") from None
    x = np.stack(arrays)
    return x[:, None] if channels == 1 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class Batches:
    """Shuffled batches, epoch by epoch, with explicit state (epoch, position): the order
    depends only on (seed, epoch), so a resumed run sees the same batches.  ``data`` is a
    array (or tensor), or a tuple of them indexed together (pix2pix's pairs)."""

    def __init__(self, data: Any, batch_size: int, seed: int) -> None:
        self.size = len(data[0]) if isinstance(data, tuple) else len(data)
        if self.size < batch_size:
            raise TrainerError(
                f"--batch-size {batch_size} is larger than the dataset ({self.size} images)"
            )
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.size)

    def next(self) -> Any:
        if self.position + self.batch_size > self.size:  # drop the last partial batch
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        idx = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        if isinstance(self.data, tuple):
            return tuple(d[idx] for d in self.data)
        return self.data[idx]

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation()


def stacked_digits(
    image_size: int, n: int = 10_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked digits (the Stacked-MNIST protocol on the bundled digits): three random digits as
    the R, G, B channels, so 1,000 modes; returns (n, 3, S, S) in [-1, 1] and the mode labels
    ``100·r + 10·g + b``.  Deterministic in ``seed``."""
    x, y = digits(image_size)
    idx = np.random.default_rng([seed, 7]).integers(0, len(x), (n, 3))
    images = np.concatenate([x[idx[:, c]] for c in range(3)], axis=1)
    modes = 100 * y[idx[:, 0]] + 10 * y[idx[:, 1]] + y[idx[:, 2]]
    return images, modes


def _open(path: Path) -> Any:
    import gzip

    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def idx_images(path: str) -> np.ndarray:
    """MNIST / Fashion-MNIST images from an IDX file (``train-images-idx3-ubyte``, optionally
    ``.gz``) as (N, 1, 28, 28) in [-1, 1]."""
    p = Path(path)
    with _open(p) as fh:
        header = fh.read(16)
        if len(header) < 16 or int.from_bytes(header[:4], "big") != 2051:
            raise TrainerError(f"--data {path}: not an IDX image file (magic number 2051 expected)")
        n, rows, cols = (int.from_bytes(header[i : i + 4], "big") for i in (4, 8, 12))
        data = np.frombuffer(fh.read(n * rows * cols), dtype=np.uint8)
    if data.size != n * rows * cols:
        raise TrainerError(
            f"--data {path}: truncated IDX file ({data.size} of {n * rows * cols} bytes)"
        )
    return data.reshape(n, 1, rows, cols).astype(np.float32) / 127.5 - 1.0


CIFAR_RECORD = 1 + 3 * 32 * 32  # the binary version: a label byte, then R, G, B planes


def cifar10(folder: str) -> np.ndarray:
    """CIFAR-10 training images from the *binary* version (``cifar-10-batches-bin``:
    ``data_batch_1.bin`` ... ``_5.bin``, each record a label byte and 3,072 pixel bytes, the
    red, green and blue 32×32 planes) in ``folder`` or its ``cifar-10-batches-bin/`` as
    (N, 3, 32, 32) in [-1, 1].  Raw bytes only: nothing in the files is ever executed.  The
    python version (pickled ``data_batch_1`` ...) is refused, since unpickling a crafted file
    runs arbitrary code."""
    root = Path(folder)
    if not sorted(root.glob("data_batch_*.bin")) and (root / "cifar-10-batches-bin").is_dir():
        root = root / "cifar-10-batches-bin"
    files = sorted(root.glob("data_batch_*.bin"))
    if not files:
        if _cifar_python(root):
            raise TrainerError(_CIFAR_PICKLE.format(folder=folder))
        raise TrainerError(f"--data {folder}: no CIFAR-10 data_batch_*.bin files")
    arrays = []
    for f in files:
        raw = np.fromfile(f, dtype=np.uint8)
        if raw.size == 0 or raw.size % CIFAR_RECORD:
            raise TrainerError(
                f"--data {folder}: {f.name} is not a CIFAR-10 binary batch ({raw.size} bytes, "
                f"not a multiple of {CIFAR_RECORD})"
            )
        arrays.append(raw.reshape(-1, CIFAR_RECORD)[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(arrays).astype(np.float32) / 127.5 - 1.0


_CIFAR_PICKLE = (
    "--data {folder}: CIFAR-10 python batches (data_batch_1 ...) are pickles, which can run "
    "code when read; use the binary version (cifar-10-binary.tar.gz: "
    "cifar-10-batches-bin/data_batch_1.bin ...)"
)


def _cifar_python(folder: Path) -> bool:
    """Whether ``folder`` holds CIFAR-10 python batches (``data_batch_1``, no suffix)."""
    return any(f.suffix == "" for f in folder.glob("data_batch_*"))


def load(name: str, image_size: int) -> tuple[np.ndarray, int]:
    """``--data``: "digits", "stacked-digits", a folder with MNIST-style IDX files, a folder of
    CIFAR-10 binary batches (:func:`cifar10`), or a folder of images.  Returns images resized to ``image_size`` and the
    channel count."""
    if name == "digits":
        return digits(image_size)[0], 1
    if name == "stacked-digits":
        return stacked_digits(image_size)[0], 3
    check_data_source(name)
    folder = Path(name)
    idx = sorted(folder.glob("train-images-idx3-ubyte*")) or sorted(
        folder.glob("*-images-idx3-ubyte*")
    )
    if idx:
        x, channels = idx_images(str(idx[0])), 1
    elif any(folder.glob("data_batch_*")) or (folder / "cifar-10-batches-bin").is_dir():
        x, channels = cifar10(str(folder)), 3
    elif (folder / "cifar-10-batches-py").is_dir():
        raise TrainerError(_CIFAR_PICKLE.format(folder=name))
    else:
        return image_folder(name, image_size, channels=3), 3
    if x.shape[-1] != image_size:
        x = resize_bilinear(x, image_size)
    return np.clip(x, -1, 1), channels


def training_subset(x: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """``--train-size``: ``size`` images of ``x`` drawn without replacement, in their original
    order, the same for a seed in every framework and run (``None``: all of ``x``); the
    limited-data setting of ADA, DiffAugment and APA."""
    if size is None:
        return x
    if not 1 <= size <= len(x):
        raise TrainerError(f"--train-size {size}: expected 1 to {len(x)} (the dataset's images)")
    keep = np.sort(np.random.default_rng([seed, 17]).permutation(len(x))[:size])
    return np.ascontiguousarray(x[keep])


# ----------------------------------------------------------------------- paired (pix2pix) data


def paired_folder(
    root: str, split: str, image_size: int, *, direction: str = "AtoB", nearest_a: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A pix2pix split: every image in ``root/split`` is A and B side by side (width = 2 ×
    height).  Returns (inputs, targets), each (N, 3, S, S) in [-1, 1], swapped for
    ``direction="BtoA"``.  ``nearest_a`` resizes A with nearest-neighbour (label maps: no
    blended colours).  A missing split, no images, an image that is not A|B, mixed sizes or an
    unreadable file are one-line errors."""
    from PIL import Image

    if direction not in ("AtoB", "BtoA"):
        raise TrainerError(f"--direction: expected AtoB or BtoA; received {direction!r}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise TrainerError(
            f"--data {root}: no {split}/ folder (expected the pix2pix layout: train/, val/ or "
            f"test/ folders of side-by-side A|B images)"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TrainerError(f"--data {root}: no images in {split}/")
    first_size: tuple[int, int] | None = None
    a_list, b_list = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                w, h = im.size
                if w != 2 * h:
                    raise TrainerError(
                        f"--data {root}: {split}/{f.name} is {w}x{h}; pix2pix images are A and B "
                        f"side by side (width = 2 x height)"
                    )
                if first_size is None:
                    first_size = im.size
                elif im.size != first_size:
                    raise TrainerError(
                        f"--data {root}: images of mixed sizes in {split}/ ({files[0].name} is "
                        f"{first_size[0]}x{first_size[1]}, {f.name} is {w}x{h})"
                    )
                a, b = im.crop((0, 0, h, h)), im.crop((h, 0, w, h))
                a = a.resize(
                    (image_size, image_size),
                    Image.Resampling.NEAREST if nearest_a else Image.Resampling.BICUBIC,
                )
                b = b.resize((image_size, image_size), Image.Resampling.BICUBIC)
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(f"--data {root}: cannot read {split}/{f.name} ({err})") from None
        a_list.append(np.asarray(a))
        b_list.append(np.asarray(b))

    def nchw(arrays: list[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(
            (np.stack(arrays).astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2)
        )

    a_t, b_t = nchw(a_list), nchw(b_list)
    return (a_t, b_t) if direction == "AtoB" else (b_t, a_t)


def jitter(
    pair: tuple[torch.Tensor, torch.Tensor], size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """pix2pix's random jitter on a batch of pairs stored at a larger size (286 for 256): the
    same random ``size`` crop and the same random horizontal mirror for input and target
    (PyTorch tensors: the random numbers come from the PyTorch trainer's ``generator``)."""
    import torch

    a, b = pair
    n, big = len(a), a.shape[-1]
    # drawn on the generator's device (the trainer's generators live on the training device:
    # a CUDA generator cannot fill a CPU tensor); on the CPU the numbers are unchanged
    where = generator.device
    offsets = torch.randint(0, big - size + 1, (n, 2), generator=generator, device=where).tolist()
    flips = (torch.rand(n, generator=generator, device=where) < 0.5).tolist()
    out_a, out_b = [], []
    for i, ((y, x), flip) in enumerate(zip(offsets, flips, strict=True)):
        ca, cb = a[i, :, y : y + size, x : x + size], b[i, :, y : y + size, x : x + size]
        if flip:
            ca, cb = ca.flip(-1), cb.flip(-1)
        out_a.append(ca)
        out_b.append(cb)
    return torch.stack(out_a), torch.stack(out_b)


def jitter_size(size: int) -> int:
    """The size pix2pix loads at before cropping: 286 for 256, the same ratio elsewhere."""
    return round(size * 286 / 256)
