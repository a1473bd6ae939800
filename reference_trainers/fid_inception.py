"""Standard FID, KID and Inception Score from the Inception network that pytorch-fid uses,
loaded from a weights file the user provides (``--fid-weights PATH``; nothing is downloaded).

The network is :class:`FIDInceptionV3`: Inception-v3 (Szegedy et al. 2016) as the FID code of
Heusel et al. (2017, TTUR) runs it from TensorFlow's ``inception-2015-12-05`` graph, in the form
pytorch-fid re-creates it on top of torchvision's ``Inception3`` -- the weights file is
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (its GitHub release ``fid_weights``).
The blocks differ from torchvision's Inception-v3 where TensorFlow's graph does:

* the pooling branch of the 35×35 (``Mixed_5b``–``5d``), 17×17 (``Mixed_6b``–``6e``) and first
  8×8 (``Mixed_7b``) blocks averages over the 3×3 window *without* the zero padding
  (``count_include_pad=False``);
* the last block (``Mixed_7c``) max-pools in that branch instead of averaging;
* every convolution has no bias and is followed by batch norm with ε = 0.001 and ReLU;
* the classifier ``fc`` has 1008 outputs (TensorFlow's graph has 1008 classes, 1000 used).

The input, (N, 3, H, W) in [0, 1], is resized to 299×299 (bilinear, ``align_corners=False``),
mapped to [-1, 1] by 2x − 1 and run to the global average pool: the 2048-d ``pool3`` features
of FID and KID.  The Inception Score uses the softmax of ``pool3 · Wᵀ`` over the 1008 classes,
without ``fc``'s bias: the logits of the original IS code (OpenAI's ``inception_score.py``
multiplies ``pool3`` by the ``softmax/logits/MatMul`` weight) and of torch-fidelity's
``logits_unbiased``, its and torchmetrics' IS feature.

Why it is written here instead of imported: pytorch-fid, torch-fidelity, clean-fid and
torchmetrics' FID all import torchvision, which this project's package registry offers only as a
CUDA build that cannot be installed on the CPU machines the project is tested on; and
torch-fidelity reads a weights path the user points it to with ``torch.load`` without
``weights_only`` (full unpickling: a crafted file runs code), which this project does not do.
Here the file is read with ``torch.load(path, weights_only=True)`` and must be a mapping of
tensors with exactly :func:`expected_shapes`'s names and shapes (those of pytorch-fid's model:
torchvision's ``Inception3(num_classes=1008, aux_logits=False)`` state dict, batch-norm
``num_batches_tracked`` counters included); anything else is a one-line
:class:`~reference_trainers.common.TrainerError` naming the file, what was expected and what was
found.  The architecture was re-created from the published structure (torchvision's
``inception.py`` and pytorch-fid's ``inception.py``), not copied; tests/test_fid_inception.py
checks the state dict's names and shapes against an independent list.

The scores (:class:`InceptionMetrics`):

* ``fid_inception``: the Fréchet distance of Gaussians fitted to the pool3 features
  (:func:`reference_trainers.metrics.frechet_distance` without a ridge: tr (Σ₁Σ₂)^½ from the
  eigenvalues of Σ₁Σ₂, equal to pytorch-fid's ``scipy.linalg.sqrtm`` formula -- the test checks
  it to 1e-6);
* ``kid_inception``: :func:`reference_trainers.realism.kid`, the unbiased MMD² with the cubic
  polynomial kernel (x·y / 2048 + 1)³ on all samples at once (torch-fidelity and torchmetrics
  average the same unbiased estimate over 100 random subsets of 1000: the same expectation);
* ``is_inception``: exp E_x KL(p(y|x) ‖ p(y)), the mean over 10 consecutive splits
  (the original protocol; torch-fidelity shuffles the samples first).

Images are quantized to 8 bits first (what saving the samples as PNG and scoring the files with
pytorch-fid does) and grayscale images are repeated into three channels.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reference_trainers.common import TrainerError

#: the file pytorch-fid downloads (the user fetches it; this code never does)
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
)
RESOLUTION = 299  # the network's input side
FEATURES = 2048  # pool3
CLASSES = 1008  # fc's outputs (TensorFlow's graph)
IS_SPLITS = 10
BN_EPS = 1e-3


class BasicConv(nn.Module):
    """Convolution without bias, batch norm (ε = 0.001), ReLU; parameters ``conv.*``, ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


# A step of a branch: a convolution's name, a pair of names (both applied to the step's input,
# outputs concatenated: the 1×3 / 3×1 split of the 8×8 blocks) or a pooling:
#   "avg": 3×3 stride 1, padding 1, averaging over the window's pixels inside the image;
#   "max": 3×3 stride 1, padding 1;   "max/2": 3×3 stride 2, no padding (the grid reductions).
Step = str | tuple[str, str]
POOLS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "avg": lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
    "max": lambda x: F.max_pool2d(x, 3, 1, 1),
    "max/2": lambda x: F.max_pool2d(x, 3, 2),
}


class Mixed(nn.Module):
    """An Inception block: parallel branches over the same input, concatenated on channels.

    ``convs`` maps each convolution's name to (in, out, kernel, stride, padding); ``branches``
    lists each branch's steps (see :data:`Step`)."""

    def __init__(
        self,
        convs: Mapping[str, tuple[int, int, Any, int, Any]],
        branches: Sequence[Sequence[Step]],
    ) -> None:
        super().__init__()
        for name, (cin, cout, kernel, stride, padding) in convs.items():
            self.add_module(name, BasicConv(cin, cout, kernel, stride=stride, padding=padding))
        self.branches = [list(b) for b in branches]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for branch in self.branches:
            h = x
            for step in branch:
                if isinstance(step, tuple):
                    h = torch.cat([self.get_submodule(s)(h) for s in step], 1)
                elif step in POOLS:
                    h = POOLS[step](h)
                else:
                    h = self.get_submodule(step)(h)
            outputs.append(h)
        return torch.cat(outputs, 1)


def block_a(cin: int, pool: int) -> Mixed:
    """35×35 block: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1 (64 + 64 + 96 + ``pool``)."""
    return Mixed(
        {
            "branch1x1": (cin, 64, 1, 1, 0),
            "branch5x5_1": (cin, 48, 1, 1, 0),
            "branch5x5_2": (48, 64, 5, 1, 2),
            "branch3x3dbl_1": (cin, 64, 1, 1, 0),
            "branch3x3dbl_2": (64, 96, 3, 1, 1),
            "branch3x3dbl_3": (96, 96, 3, 1, 1),
            "branch_pool": (cin, pool, 1, 1, 0),
        },
        [
            ["branch1x1"],
            ["branch5x5_1", "branch5x5_2"],
            ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
            ["avg", "branch_pool"],
        ],
    )


def block_b(cin: int) -> Mixed:
    """35→17 reduction: 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2 (384 + 96 + ``cin``)."""
    return Mixed(
        {
            "branch3x3": (cin, 384, 3, 2, 0),
            "branch3x3dbl_1": (cin, 64, 1, 1, 0),
            "branch3x3dbl_2": (64, 96, 3, 1, 1),
            "branch3x3dbl_3": (96, 96, 3, 2, 0),
        },
        [["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["max/2"]],
    )


def block_c(cin: int, c7: int) -> Mixed:
    """17×17 block with factorized 7×7 convolutions (``c7`` inner channels), 4 × 192 out."""
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding)
    return Mixed(
        {
            "branch1x1": (cin, 192, 1, 1, 0),
            "branch7x7_1": (cin, c7, 1, 1, 0),
            "branch7x7_2": (c7, c7, row[0], 1, row[1]),
            "branch7x7_3": (c7, 192, col[0], 1, col[1]),
            "branch7x7dbl_1": (cin, c7, 1, 1, 0),
            "branch7x7dbl_2": (c7, c7, col[0], 1, col[1]),
            "branch7x7dbl_3": (c7, c7, row[0], 1, row[1]),
            "branch7x7dbl_4": (c7, c7, col[0], 1, col[1]),
            "branch7x7dbl_5": (c7, 192, row[0], 1, row[1]),
            "branch_pool": (cin, 192, 1, 1, 0),
        },
        [
            ["branch1x1"],
            ["branch7x7_1", "branch7x7_2", "branch7x7_3"],
            [f"branch7x7dbl_{i}" for i in range(1, 6)],
            ["avg", "branch_pool"],
        ],
    )


def block_d(cin: int) -> Mixed:
    """17→8 reduction: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2 (320 + 192 + ``cin``)."""
    return Mixed(
        {
            "branch3x3_1": (cin, 192, 1, 1, 0),
            "branch3x3_2": (192, 320, 3, 2, 0),
            "branch7x7x3_1": (cin, 192, 1, 1, 0),
            "branch7x7x3_2": (192, 192, (1, 7), 1, (0, 3)),
            "branch7x7x3_3": (192, 192, (7, 1), 1, (3, 0)),
            "branch7x7x3_4": (192, 192, 3, 2, 0),
        },
        [["branch3x3_1", "branch3x3_2"], [f"branch7x7x3_{i}" for i in range(1, 5)], ["max/2"]],
    )


def block_e(cin: int, pool: str) -> Mixed:
    """8×8 block with split 1×3 / 3×1 outputs (320 + 768 + 768 + 192 = 2048); ``pool`` is the
    pooling branch's ("avg" in ``Mixed_7b``, "max" in ``Mixed_7c``)."""
    return Mixed(
        {
            "branch1x1": (cin, 320, 1, 1, 0),
            "branch3x3_1": (cin, 384, 1, 1, 0),
            "branch3x3_2a": (384, 384, (1, 3), 1, (0, 1)),
            "branch3x3_2b": (384, 384, (3, 1), 1, (1, 0)),
            "branch3x3dbl_1": (cin, 448, 1, 1, 0),
            "branch3x3dbl_2": (448, 384, 3, 1, 1),
            "branch3x3dbl_3a": (384, 384, (1, 3), 1, (0, 1)),
            "branch3x3dbl_3b": (384, 384, (3, 1), 1, (1, 0)),
            "branch_pool": (cin, 192, 1, 1, 0),
        },
        [
            ["branch1x1"],
            ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
            ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")],
            [pool, "branch_pool"],
        ],
    )


class FIDInceptionV3(nn.Module):
    """pytorch-fid's Inception-v3 (module docstring); attribute names = the weights file's keys.

    :meth:`features`: (N, 3, H, W) images in [0, 1] → (N, 2048) pool3 features;
    :meth:`class_logits`: those features → (N, 1008) logits without ``fc``'s bias."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv(80, 192, 3)
        self.Mixed_5b = block_a(192, 32)
        self.Mixed_5c = block_a(256, 64)
        self.Mixed_5d = block_a(288, 64)
        self.Mixed_6a = block_b(288)
        self.Mixed_6b = block_c(768, 128)
        self.Mixed_6c = block_c(768, 160)
        self.Mixed_6d = block_c(768, 160)
        self.Mixed_6e = block_c(768, 192)
        self.Mixed_7a = block_d(768)
        self.Mixed_7b = block_e(1280, "avg")
        self.Mixed_7c = block_e(2048, "max")
        self.fc = nn.Linear(FEATURES, CLASSES)
        self.eval()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images, size=(RESOLUTION, RESOLUTION), mode="bilinear",
                          align_corners=False)  # fmt: skip
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = self.get_submodule(f"Mixed_{name}")(x)
        return x.mean((2, 3))

    def class_logits(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.fc.weight.T

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The weights file's names and shapes: :class:`FIDInceptionV3`'s state dict, 566 tensors
    (94 convolutions' weights and their batch norms' weight, bias, running mean, running
    variance and ``num_batches_tracked``; ``fc.weight``, ``fc.bias``)."""
    return dict(_expected_shapes())


@functools.cache
def _expected_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.device("meta"):  # no memory, no initialisation
        model = FIDInceptionV3()
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def _names(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state(state: Any, path: str) -> dict[str, torch.Tensor]:
    """``state`` if it is a mapping of tensors with exactly :func:`expected_shapes`'s names and
    shapes; otherwise a :class:`TrainerError` naming ``path``, what was expected and what was
    found (the missing and unexpected names, the first mismatched shape)."""
    where = f"--fid-weights {path}"
    expected = expected_shapes()
    if not isinstance(state, Mapping):
        raise TrainerError(
            f"{where}: expected a state dict (a mapping of {len(expected)} tensors, pytorch-fid's "
            f"{WEIGHTS_FILE}); found a {type(state).__name__}"
        )
    odd = [(str(k), type(v).__name__) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise TrainerError(
            f"{where}: expected a mapping of tensors; {odd[0][0]!r} is a {odd[0][1]}"
            + (f" ({len(odd) - 1} more entries are not tensors)" if len(odd) > 1 else "")
        )
    missing = [k for k in expected if k not in state]
    unexpected = [str(k) for k in state if k not in expected]
    if missing or unexpected:
        found = []
        if missing:
            found.append(f"missing {len(missing)} ({_names(missing)})")
        if unexpected:
            found.append(f"unexpected {len(unexpected)} ({_names(unexpected)})")
        raise TrainerError(
            f"{where}: not the weights of pytorch-fid's Inception ({WEIGHTS_FILE}): expected "
            f"{len(expected)} tensors; {'; '.join(found)}"
        )
    for key, shape in expected.items():
        value = state[key]
        if tuple(value.shape) != shape:
            raise TrainerError(
                f"{where}: {key} has shape {tuple(value.shape)}; expected {shape} "
                f"(pytorch-fid's Inception, {WEIGHTS_FILE})"
            )
        if not key.endswith("num_batches_tracked") and not value.is_floating_point():
            raise TrainerError(f"{where}: {key} is {value.dtype}; expected floating point")
    return dict(state)


def load(path: str | Path) -> FIDInceptionV3:
    """The network with the weights of ``path`` (read with ``weights_only=True``, checked by
    :func:`check_state`), in eval mode, float32, on the CPU."""
    p = Path(path)
    if not p.is_file():
        raise TrainerError(f"--fid-weights {path}: no such file (pytorch-fid's {WEIGHTS_FILE})")
    try:
        state = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as err:  # the unpickler's many error types, as one line
        raise TrainerError(
            f"--fid-weights {path}: cannot be read as a weights-only PyTorch file (expected "
            f"pytorch-fid's {WEIGHTS_FILE}, a state dict of tensors): {_load_failure(err)}"
        ) from None
    checked = check_state(state, str(path))
    with torch.device("meta"):  # the file's tensors become the parameters: no initialisation
        model = FIDInceptionV3()
    model.load_state_dict(checked, assign=True)
    return model.float().eval().requires_grad_(False)


def _load_failure(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in a few words (its own message is long and
    suggests ``weights_only=False``, which this code never uses)."""
    text = str(err)
    if "Weights only load failed" in text:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            return (
                f"it holds a reference to {found.group(1)}, which a weights-only load refuses "
                f"(unpickling it could run code from the file)"
            )
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        return "the weights-only unpickler refuses it" + (
            f" ({detail.group(1)[:120]})" if detail else ""
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"not a PyTorch file ({type(err).__name__}{': ' + first[:120] if first else ''})"


# ------------------------------------------------------------------------------- the scores


def as_unit_rgb(images: np.ndarray) -> np.ndarray:
    """(N, C, S, S) images in [-1, 1] → (N, 3, S, S) float32 in [0, 1] on 8-bit levels (one
    channel repeated three times)."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise TrainerError(
            f"--fid-weights: images must be (N, 1 or 3, S, S); received shape {x.shape}"
        )
    unit = (np.round((np.clip(x, -1, 1) + 1) * 127.5) / 255).astype(np.float32)
    return np.repeat(unit, 3, axis=1) if unit.shape[1] == 1 else unit


def inception_score(logits: np.ndarray, splits: int = IS_SPLITS) -> float:
    """exp E_x KL(p(y|x) ‖ p(y)) of (N, K) class logits, the mean over ``splits`` consecutive
    splits (p(y) = the split's mean prediction), in float64."""
    z = np.asarray(logits, np.float64)
    log_p = z - z.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    scores = []
    n = len(z)
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        if len(part) == 0:
            continue
        p = np.exp(part)
        log_marginal = np.log(p.mean(0))
        scores.append(np.exp((p * (part - log_marginal)).sum(1).mean()))
    return float(np.mean(scores))


class InceptionMetrics:
    """``fid_inception``, ``kid_inception``, ``is_inception`` of generated images against
    ``real()`` (called on first use: (M, C, S, S) real images in [-1, 1]).

    ``net`` runs on ``device`` in batches of ``batch_size``."""

    KEYS = ("fid_inception", "kid_inception", "is_inception")

    def __init__(
        self,
        net: FIDInceptionV3,
        real: Callable[[], np.ndarray],
        device: Any = "cpu",
        batch_size: int = 100,
    ) -> None:
        self.net = net.to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._real = real
        self._real_features: np.ndarray | None = None

    @torch.no_grad()
    def features_and_logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2048) pool3 features and (N, 1008) unbiased class logits of (N, C, S, S)
        images in [-1, 1], float64."""
        x = as_unit_rgb(images)
        feats, logits = [], []
        for i in range(0, len(x), self.batch_size):
            batch = torch.from_numpy(x[i : i + self.batch_size]).to(self.device)
            f = self.net.features(batch)
            feats.append(f.double().cpu().numpy())
            logits.append(self.net.class_logits(f).double().cpu().numpy())
        return np.concatenate(feats), np.concatenate(logits)

    def real_features(self) -> np.ndarray:
        if self._real_features is None:
            self._real_features = self.features_and_logits(self._real())[0]
        return self._real_features

    def __call__(self, samples: np.ndarray) -> dict[str, float]:
        from reference_trainers.metrics import frechet_distance
        from reference_trainers.realism import kid

        real = self.real_features()
        feats, logits = self.features_and_logits(samples)
        return {
            "fid_inception": frechet_distance(feats, real, ridge=0.0),
            "kid_inception": kid(feats, real),
            "is_inception": inception_score(logits),
        }
