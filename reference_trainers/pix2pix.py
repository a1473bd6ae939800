"""pix2pix (Isola et al. 2017) with any advloss loss and regularizer, on offline paired data.

    python -m reference_trainers.pix2pix                     # CPU preset: ~1-2 min here
    python -m reference_trainers.pix2pix --loss lsgan --lambda-l1 150 --real-label 0.9
    python -m reference_trainers.pix2pix --data ~/datasets/facades --direction BtoA --preset gpu

Writes config.json, metrics.jsonl, samples/*.png (input | output | target), curves.png and
checkpoint.pt to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reference_trainers import common
from reference_trainers.common import TrainerError
from reference_trainers.config import Pix2PixConfig

# This module is the command line: it imports no framework, so --help and bad options answer
# at once; the trainer (reference_trainers.pix2pix_torch) is imported by train().

PRESETS = {
    "cpu": {"image_size": 64, "width": 16, "batch_size": 8, "steps": 1000, "eval_every": 250,
            "log_every": 20, "data": "synthetic-facades"},
    "gpu": {"image_size": 256, "width": 64, "batch_size": 1, "steps": 80000, "eval_every": 4000,
            "log_every": 100, "data": "synthetic-facades", "amp": "bf16", "channels_last": True},
}  # fmt: skip

#: the PyTorch side's names, importable from here as before (imported on first use)
TORCH_NAMES = ("UNet", "PatchGAN", "patch_layers", "init_weights", "load_data")


def __getattr__(name: str) -> Any:
    if name in TORCH_NAMES:
        from reference_trainers import pix2pix_torch

        return getattr(pix2pix_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parser() -> Any:
    p = common.common_parser("python -m reference_trainers.pix2pix", __doc__)
    common.set_help(p, "data", "The paired data: synthetic-facades or multimodal-facades "
                    "(generated offline; the second draws every part's look at random, so L1 "
                    "alone blurs) or a pix2pix dataset folder with train/ and val/ or test/ (A "
                    "and B side by side in each image).")  # fmt: skip
    p.add_argument("--image-size", type=int, choices=[32, 64, 128, 256], default=None,
                   help="The side of the square images, in pixels.")  # fmt: skip
    p.add_argument("--width", type=int, default=None,
                   help="The base channel count of the U-Net and the PatchGAN (ngf = ndf).")  # fmt: skip
    p.add_argument("--lambda-l1", type=float, default=100.0,
                   help="The weight of the L1 term in G's loss (the paper: 100).")  # fmt: skip
    p.add_argument(
        "--gan-weight",
        type=float,
        default=1.0,
        help="The weight of the adversarial term in G's loss; 0 = L1 only (D still trains and "
        "is logged, but G ignores it: the paper's 'L1 alone' baseline).",
    )
    p.add_argument(
        "--l1-weighting",
        choices=["fixed", "gradient-ratio"],
        default="fixed",
        help="How G's loss weighs its terms. fixed: gan_weight * GAN + lambda_l1 * L1. "
        "gradient-ratio: the GAN "
        "term's weight is set each step so that the L1 term's gradient norm (w.r.t. the "
        "generated images) is --gradient-ratio times the GAN term's (TF-GAN's "
        "combine_adversarial_loss, advloss.combine_adversarial_loss).",
    )
    p.add_argument("--gradient-ratio", type=float, default=1.0,
                   help="With --l1-weighting gradient-ratio: |grad L1 term| / |grad GAN term|.")  # fmt: skip
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="Translate the A half of each pair into the B half, or back.")  # fmt: skip
    p.add_argument(
        "--jitter",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Random jitter: load at 286/256 of the size, then a random crop and mirror.",
    )
    p.add_argument("--dropout", type=float, default=0.5,
                   help="The dropout probability of the U-Net's decoder.")  # fmt: skip
    p.add_argument("--d-layers", type=int, default=None,
                   help="The PatchGAN's strided layers. Default: by the image size (1 up to 64, "
                   "2 at 128, 3 at 256).")  # fmt: skip
    p.add_argument(
        "--d-norm",
        choices=["auto", "batch", "layer", "instance", "none"],
        default="auto",
        help="D's normalization; auto = batch norm, or layer norm with a gradient penalty.",
    )
    return common.show_defaults(p, PRESETS)


#: the generated paired sets (reference_trainers.facades.DATASETS; named here so that the
#: command line checks --data without importing the generator)
GENERATED = ("synthetic-facades", "multimodal-facades")


def check_data(cfg: Pix2PixConfig) -> None:
    """``--data`` and ``--direction``: a pix2pix dataset folder, or a generated set AtoB."""
    root = cfg.data
    if root not in GENERATED and not Path(root).is_dir():
        raise TrainerError(
            f"--data {root}: no such folder (expected {' or '.join(GENERATED)} or a pix2pix "
            f"dataset folder with train/ and val/ or test/)"
        )
    if root in GENERATED and cfg.direction != "AtoB":
        raise TrainerError(f"--direction BtoA: {root} maps label maps (A) to photos (B)")


def check_weights(cfg: Pix2PixConfig) -> None:
    """``--lambda-l1`` and ``--gan-weight``: >= 0, not both 0."""
    for name in ("lambda_l1", "gan_weight"):
        value = getattr(cfg, name)
        if value < 0:
            raise TrainerError(f"--{name.replace('_', '-')} must be >= 0; received {value}")
    if cfg.lambda_l1 == 0 and cfg.gan_weight == 0:
        raise TrainerError("--lambda-l1 0 with --gan-weight 0: the generator would have no loss")
    if cfg.l1_weighting == "gradient-ratio":
        if not cfg.gradient_ratio > 0:
            raise TrainerError(f"--gradient-ratio must be > 0; received {cfg.gradient_ratio}")
        if cfg.lambda_l1 == 0 or cfg.gan_weight == 0:
            raise TrainerError(
                "--l1-weighting gradient-ratio needs both terms: --lambda-l1 and --gan-weight > 0"
            )


def options(argv: list[str]) -> Pix2PixConfig:
    """The config ``argv`` resolves to (command line > ``--config`` file > ``--preset`` >
    defaults), not yet checked: for tests and benchmarks that build a run's options."""
    return Pix2PixConfig.from_options(common.resolve(parser(), argv, PRESETS))


def check(cfg: Pix2PixConfig) -> None:
    """The checks made before PyTorch is imported: :func:`common.check_options`, the loss
    weights and the data."""
    if cfg.feature_matching != 0:
        raise TrainerError(
            f"--feature-matching {cfg.feature_matching}: the pix2pix trainer's discriminator (a "
            "PatchGAN) does not expose its intermediate features; the DCGAN trainer has the option"
        )
    common.check_options(cfg)
    common.refuse_feature_terms(cfg, "pix2pix")
    common.refuse_latent_terms(cfg, "pix2pix")
    check_weights(cfg)
    check_data(cfg)


def train(cfg: Pix2PixConfig) -> dict[str, Any]:
    """Train with the resolved config; returns the last evaluation row."""
    from reference_trainers import pix2pix_torch

    return pix2pix_torch.train(cfg)


def main(argv: list[str] | None = None) -> int:
    return common.main("pix2pix", parser(), PRESETS, train, argv, check=check, config=Pix2PixConfig)


if __name__ == "__main__":
    sys.exit(main())
