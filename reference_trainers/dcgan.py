"""DCGAN (Radford et al. 2016) with any advloss loss and regularizer, on offline digits.

    python -m reference_trainers.dcgan                       # CPU preset: ~1-2 min here
    python -m reference_trainers.dcgan --loss lsgan --penalty r1 --penalty-every 4 \\
        --real-label 0.9 --instance-noise 0.1:0:1000 --out runs/lsgan-r1
    python -m reference_trainers.dcgan --out runs/lsgan-r1 --resume --steps 3000

Writes config.json, metrics.jsonl, samples/*.png, curves.png and checkpoint.pt to --out.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
from torch import nn

from reference_trainers import common
from reference_trainers.data import Batches, load
from reference_trainers.session import Session

PRESETS = {
    "cpu": {"image_size": 16, "width": 32, "z_dim": 32, "batch_size": 64, "steps": 1500,
            "eval_every": 500, "log_every": 25, "data": "digits", "eval_samples": 1000},
    "gpu": {"image_size": 64, "width": 64, "z_dim": 100, "batch_size": 128, "steps": 20000,
            "eval_every": 2000, "log_every": 100, "data": "digits", "eval_samples": 2000,
            "amp": "bf16", "channels_last": True},
}  # fmt: skip


# ---------------------------------------------------------------------------------- networks


def _d_norm(kind: str, channels: int) -> nn.Module:
    return {
        "batch": lambda: nn.BatchNorm2d(channels),
        "layer": lambda: nn.GroupNorm(1, channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "none": lambda: nn.Identity(),
    }[kind]()


class Generator(nn.Module):
    """z (N, z_dim) → image (N, C, S, S) in [-1, 1]: a 4×4 projection, then ×2 upsampling
    transposed convolutions with batch norm and ReLU, halving the channels."""

    def __init__(self, z_dim: int, width: int, image_size: int, channels: int) -> None:
        super().__init__()
        n_up = int(math.log2(image_size)) - 2
        ch = width * 2 ** (n_up - 1) if n_up > 0 else width
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """image → one logit per sample (N, 1): stride-2 convolutions with LeakyReLU(0.2), doubling
    the channels down to 4×4, then a 4×4 convolution."""

    def __init__(self, width: int, image_size: int, channels: int, norm: str) -> None:
        super().__init__()
        n_down = int(math.log2(image_size)) - 2
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"),
                _d_norm(norm, ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------- training


def parser() -> Any:
    p = common.common_parser("python -m reference_trainers.dcgan", __doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, choices=[16, 32, 64], default=None)
    p.add_argument("--width", type=int, default=None, help="base channel count")
    p.add_argument("--z-dim", type=int, default=None)
    p.add_argument(
        "--d-norm",
        choices=["auto", "batch", "layer", "instance", "none"],
        default="auto",
        help="D's normalization; auto = batch norm, or layer norm with a gradient penalty",
    )
    p.add_argument("--eval-samples", type=int, default=None)
    return p


def train(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train with the resolved config; returns the last evaluation row."""
    s = Session(cfg, "dcgan", quality="fd")  # validates the options and builds the objective
    norm = s.d_norm(cfg["d_norm"])
    data, channels = load(cfg["data"], cfg["image_size"])
    batches = Batches(data, cfg["batch_size"], cfg["seed"])
    common.seed_everything(cfg["seed"])
    G = Generator(cfg["z_dim"], cfg["width"], cfg["image_size"], channels)
    D = Discriminator(cfg["width"], cfg["image_size"], channels, norm)
    G.apply(init_weights)
    D.apply(init_weights)
    G_run, D_run = s.setup(G, D, batches)

    from reference_trainers.metrics import DigitMetrics, StackedDigitMetrics

    metrics: Any = None
    if cfg["data"] == "digits":
        metrics = DigitMetrics(cfg["image_size"])
    elif cfg["data"] == "stacked-digits":
        metrics = StackedDigitMetrics(cfg["image_size"], cfg["eval_samples"])
    fixed_z = torch.randn(64, cfg["z_dim"], generator=torch.Generator().manual_seed(12345))

    def evaluate(step: int) -> dict[str, Any]:
        common.save_grid(G(fixed_z.to(s.device)), s.run.dir / "samples" / f"step_{step:06d}.png")
        if metrics is None:
            return {}
        eval_gen = torch.Generator().manual_seed(777)  # never touches the training RNGs
        z = torch.randn(cfg["eval_samples"], cfg["z_dim"], generator=eval_gen).to(s.device)
        return metrics(torch.cat([G(z[i : i + 500]) for i in range(0, len(z), 500)]))

    def latents() -> torch.Tensor:
        return torch.randn(s.local_batch, cfg["z_dim"], generator=s.gens["z"], device=s.device)

    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        for _ in range(d_steps):
            real = s.local(batches.next())
            z = latents()
            with s.autocast():
                out = s.objective.discriminator(
                    D_run, real, G_run(z).detach(), step=s.step, key=s.key, noise_std=s.noise_std
                )
            s.update_d(out)
        for _ in range(g_steps):
            z = latents()
            with s.autocast():
                g_out = s.objective.generator(
                    D_run, G_run(z), real=real if s.needs_real else None,
                    step=s.step, key=s.key, noise_std=s.noise_std,
                )  # fmt: skip
            s.update_g(g_out.total)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate)
    return s.finish()


def main(argv: list[str] | None = None) -> int:
    return common.main("dcgan", parser(), PRESETS, train, argv)


if __name__ == "__main__":
    sys.exit(main())
