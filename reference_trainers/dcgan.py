"""DCGAN (Radford et al. 2016) with any advloss loss and regularizer, on offline digits.

    python -m reference_trainers.dcgan                       # CPU preset: ~1-2 min here
    python -m reference_trainers.dcgan --loss lsgan --penalty r1 --penalty-every 4 \\
        --real-label 0.9 --instance-noise 0.1:0:1000 --out runs/lsgan-r1
    python -m reference_trainers.dcgan --out runs/lsgan-r1 --resume --steps 3000
    python -m reference_trainers.dcgan --recipe r3gan --d-norm none   # R3GAN's recipe

Writes config.json, metrics.jsonl, samples/*.png, curves.png and the checkpoint
(checkpoint.pt; checkpoint.npz for --framework jax / tf) to --out.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from reference_trainers import common
from reference_trainers.config import DCGANConfig
from reference_trainers.distributed import check_devices

# This module is the command line: it imports no framework, so --help and bad options answer
# at once; the PyTorch trainer (reference_trainers.dcgan_torch) and the JAX / TensorFlow ones
# are imported by train() once the options are parsed and checked.

FRAMEWORKS = ("torch", "jax", "tf")

PRESETS = {
    "cpu": {"image_size": 16, "width": 32, "z_dim": 32, "batch_size": 64, "steps": 1500,
            "eval_every": 500, "log_every": 25, "data": "digits", "eval_samples": 1000},
    "gpu": {"image_size": 64, "width": 64, "z_dim": 100, "batch_size": 128, "steps": 20000,
            "eval_every": 2000, "log_every": 100, "data": "digits", "eval_samples": 2000,
            "amp": "bf16", "channels_last": True},
}  # fmt: skip

#: the PyTorch side's names, importable from here as before (imported on first use)
TORCH_NAMES = ("Generator", "Discriminator", "torch_net", "load_numpy_weights",
               "load_spectral_state", "init_weights", "train_torch")  # fmt: skip
#: the shared evaluation's names (reference_trainers.dcgan_eval; no framework)
EVAL_NAMES = ("metrics_for", "make_evaluate")


def __getattr__(name: str) -> Any:
    if name in TORCH_NAMES:
        from reference_trainers import dcgan_torch

        return getattr(dcgan_torch, name)
    if name in EVAL_NAMES:
        from reference_trainers import dcgan_eval

        return getattr(dcgan_eval, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parser() -> Any:
    p = common.common_parser("python -m reference_trainers.dcgan", __doc__)
    common.set_help(p, "data", "The training data: digits (scikit-learn's, offline), "
                    "stacked-digits (three digits as RGB channels: 1000 modes) or a folder of "
                    "images, MNIST-style IDX files or CIFAR-10 binary batches.")  # fmt: skip
    p.add_argument("--recipe", default=None, metavar="SPEC",
                   help="A published training setup as one option (advloss.recipes): r3gan "
                   "(R3GAN: rpgan + R1 + R2 with gamma on a cosine from 0.05 to 0.005, Adam "
                   "with beta1 = 0 and the learning rate 2e-4 -> 5e-5 and beta2 0.9 -> 0.99 "
                   "on cosines, over --steps), or r3gan(gamma=..., steps=..., lr=..., ...) "
                   "with other hyperparameters. It replaces --objective, --loss, --penalty, "
                   "--penalty-weight, --penalty-every, --real-label, --flip-prob, "
                   "--instance-noise, --lr-g, --lr-d, --beta1 and --beta2 (giving one of them "
                   "as well is an error). Default: none.")  # fmt: skip
    p.add_argument("--image-size", type=int, choices=[16, 32, 64], default=None,
                   help="The side of the square images, in pixels.")  # fmt: skip
    p.add_argument("--width", type=int, default=None,
                   help="The base channel count of both networks.")  # fmt: skip
    p.add_argument("--z-dim", type=int, default=None, help="The latent dimension of G's input.")
    p.add_argument(
        "--d-norm",
        choices=["auto", "batch", "layer", "instance", "none"],
        default="auto",
        help="D's normalization; auto = batch norm, or layer norm with a gradient penalty.",
    )
    p.add_argument("--train-size", type=int, default=None, metavar="N",
                   help="Train on N images of --data only, drawn by --seed (the limited-data "
                   "setting; the metrics still compare with all of it). Default: all.")  # fmt: skip
    p.add_argument("--gradient-norm", action="store_true",
                   help="GN-GAN's gradient normalization of D (advloss.gradient_normalize): "
                   "D(x) / (||grad_x D(x)|| + |D(x)|) per sample, in D's and G's losses; an "
                   "alternative to --spectral-norm (not both). D's normalization defaults to "
                   "layer norm, as with a gradient penalty.")  # fmt: skip
    p.add_argument("--eval-samples", type=int, default=None,
                   help="Generated samples per evaluation (the quality metrics' sample size).")  # fmt: skip
    p.add_argument("--fid-weights", default=None, metavar="PATH",
                   help="The Inception weights of pytorch-fid (pt_inception-2015-12-05-6726825d.pth, "
                   "a file you provide; nothing is downloaded): every evaluation adds the standard "
                   "fid_inception, kid_inception and is_inception against --eval-samples real "
                   "images of --data (needs PyTorch, also for --framework jax / tf). Default: none "
                   "(no Inception scores).")  # fmt: skip
    p.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        default="torch",
        help="Train with PyTorch, JAX (Flax + optax) or TensorFlow (Keras 3).",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="The networks' and data's precision (float64: the cross-framework checks).",
    )
    p.add_argument(
        "--numpy-rng",
        action="store_true",
        help="Draw the initial weights, latents and advloss's random numbers from NumPy streams "
        "(always on for jax and tf): the three frameworks then train on the same numbers.",
    )
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        metavar="N",
        help="Train data-parallel over N devices, each on an equal share of --batch-size: JAX "
        "over the first N of jax.devices() (on a CPU: XLA_FLAGS="
        "--xla_force_host_platform_device_count=N), TensorFlow under a MirroredStrategy (N GPUs, "
        "else N logical CPU devices). PyTorch: use torchrun instead.",
    )
    return common.show_defaults(p, PRESETS)


def options(argv: list[str]) -> DCGANConfig:
    """The config ``argv`` resolves to (command line > ``--config`` file > ``--preset`` >
    defaults), not yet checked: for tests and benchmarks that build a run's options."""
    return DCGANConfig.from_options(common.resolve(parser(), argv, PRESETS))


def check(cfg: DCGANConfig) -> None:
    """The checks made before a framework is imported: :func:`common.check_options`,
    ``--framework`` and the options it does not have, ``--data``, ``--train-size`` and
    ``--fid-weights``."""
    common.check_options(cfg)
    if cfg.gradient_norm and cfg.spectral_norm:
        raise common.TrainerError(
            "--gradient-norm with --spectral-norm: two ways of bounding D's Lipschitz "
            "constant; choose one"
        )
    framework = cfg.framework
    if framework not in FRAMEWORKS:
        raise common.TrainerError(f"--framework {framework!r}: expected one of {FRAMEWORKS}")
    if framework != "torch":
        common.torch_only_options(cfg, framework)
    check_devices(cfg.devices, framework, cfg.batch_size)
    common.check_data_source(cfg.data)
    size = cfg.train_size
    if size is not None and (size < 1 or size < cfg.batch_size):
        raise common.TrainerError(
            f"--train-size {size}: expected at least --batch-size ({cfg.batch_size}) images"
        )
    if cfg.fid_weights is not None:
        from reference_trainers.dcgan_eval import check_fid_weights

        check_fid_weights(cfg.fid_weights)


def train(cfg: DCGANConfig) -> dict[str, Any]:
    """Train with the resolved config (``cfg.framework`` picks the trainer); returns the last
    evaluation row with ``steps_per_second`` (not logged)."""
    framework = cfg.framework
    if framework not in FRAMEWORKS:
        raise common.TrainerError(f"--framework {framework!r}: expected one of {FRAMEWORKS}")
    if framework != "torch":  # a one-line error before the seconds JAX / TensorFlow take to import
        common.check_writable(Path(cfg.out))
    if framework == "jax":
        from reference_trainers import dcgan_jax

        return dcgan_jax.train(cfg)
    if framework == "tf":
        from reference_trainers import dcgan_tf

        return dcgan_tf.train(cfg)
    from reference_trainers import dcgan_torch

    return dcgan_torch.train_torch(cfg)


def main(argv: list[str] | None = None) -> int:
    return common.main("dcgan", parser(), PRESETS, train, argv, check=check, config=DCGANConfig)


if __name__ == "__main__":
    sys.exit(main())
