"""The PyTorch side of the pix2pix trainer (:mod:`reference_trainers.pix2pix` is its command
line, which imports this module once the options are parsed and checked): the U-Net, the
PatchGAN, the data and the training loop."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advloss
from reference_trainers import common, data, facades
from reference_trainers.config import Pix2PixConfig
from reference_trainers.dcgan_torch import init_weights  # pix2pix initialises as DCGAN does
from reference_trainers.pix2pix import check_data, check_weights
from reference_trainers.session import Session

# ---------------------------------------------------------------------------------- networks


def _norm(kind: str, channels: int) -> nn.Module:
    return {
        "batch": lambda: nn.BatchNorm2d(channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "layer": lambda: nn.GroupNorm(1, channels),
        "none": lambda: nn.Identity(),
    }[kind]()


class UNet(nn.Module):
    """The pix2pix U-Net: (N, C_in, S, S) → (N, C_out, S, S) in [-1, 1].  log2(S) stride-2
    4×4 convolutions down to 1×1 (channels width·1, 2, 4, 8, 8, ...; LeakyReLU 0.2, batch norm
    except on the first and the innermost), then as many transposed convolutions up (ReLU, batch
    norm, dropout 0.5 on the three decoder layers after the innermost, as in the paper), each
    concatenated with the encoder layer of the same size; Tanh out."""

    def __init__(
        self, in_ch: int, out_ch: int, width: int, image_size: int, dropout: float = 0.5
    ) -> None:
        super().__init__()
        n = int(math.log2(image_size))
        chs = [width * min(2**i, 8) for i in range(n)]
        self.downs = nn.ModuleList([nn.Conv2d(in_ch, chs[0], 4, 2, 1)])
        for i in range(1, n):
            inner = i == n - 1
            self.downs.append(
                nn.Sequential(
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(chs[i - 1], chs[i], 4, 2, 1, bias=inner),
                    nn.Identity() if inner else nn.BatchNorm2d(chs[i]),
                )
            )
        self.ups = nn.ModuleList()
        for j, i in enumerate(range(n - 1, 0, -1)):  # j = 0 is the innermost
            layers: list[nn.Module] = [
                nn.ReLU(),
                nn.ConvTranspose2d(chs[i] * (1 if j == 0 else 2), chs[i - 1], 4, 2, 1, bias=False),
                nn.BatchNorm2d(chs[i - 1]),
            ]
            if dropout and 1 <= j <= 3:
                layers.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*layers))
        self.out = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(2 * chs[0], out_ch, 4, 2, 1), nn.Tanh()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for up, skip in zip(self.ups, reversed(skips[:-1]), strict=True):
            x = torch.cat([up(x), skip], 1)
        return self.out(x)


def patch_layers(image_size: int) -> int:
    """PatchGAN depth that keeps the receptive field near a quarter of the image: 3 strided
    layers (70×70) at 256, 2 (34×34) at 128, 1 (16×16) at 64 and below."""
    return max(1, min(3, int(math.log2(image_size)) - 5))


class PatchGAN(nn.Module):
    """The pix2pix PatchGAN: (N, C_in + C_out, S, S) → a logit per patch (N, 1, h, w).  ``layers``
    stride-2 4×4 convolutions (width, 2·width, ... capped at 8·width; LeakyReLU 0.2; norm after
    all but the first), one stride-1 convolution, then a stride-1 convolution to one channel.
    Receptive field: 16, 34, 70 pixels for 1, 2, 3 layers."""

    def __init__(self, in_ch: int, width: int, layers: int, norm: str) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = width
        for i in range(1, layers + 1):
            nxt = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            mods += [
                nn.Conv2d(ch, nxt, 4, stride, 1, bias=norm == "none"),
                _norm(norm, nxt),
                nn.LeakyReLU(0.2),
            ]
            ch = nxt
        mods.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------- data


def load_data(cfg: Pix2PixConfig) -> dict[str, Any]:
    """Train pairs (stored at the jitter size when --jitter is on), validation pairs, and --
    for the generated sets -- the validation class maps and a trained segmenter; for
    multimodal-facades also the realism metrics (:mod:`reference_trainers.realism`)."""
    from reference_trainers.metrics import cache_dir

    check_data(cfg)
    size, synthetic = cfg.image_size, cfg.data in facades.DATASETS
    root = str(facades.ensure(cache_dir(), cfg.data)) if synthetic else cfg.data
    direction = cfg.direction
    load_size = data.jitter_size(size) if cfg.jitter else size

    def pairs(split: str, size: int, **kw: Any) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = data.paired_folder(root, split, size, **kw)
        return torch.from_numpy(a), torch.from_numpy(b)

    train = pairs("train", load_size, direction=direction, nearest_a=synthetic)
    val_split = "val" if (Path(root) / "val").is_dir() else "test"
    val = pairs(val_split, size, direction=direction, nearest_a=synthetic)
    out: dict[str, Any] = {"train": train, "val": val, "segmenter": None, "labels": None,
                           "realism": None}  # fmt: skip
    if synthetic:
        from reference_trainers.metrics_torch import segmenter

        def classes(a: torch.Tensor) -> torch.Tensor:
            colors = ((a.permute(0, 2, 3, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
            return torch.from_numpy(facades.labels_from_colors(colors))

        stem = "facades" if cfg.data == "synthetic-facades" else cfg.data
        version = facades.DATASETS[cfg.data][0]
        seg_x, seg_y = pairs("train", size, nearest_a=True)
        out["segmenter"], out["segmenter_accuracy"] = segmenter(
            seg_y, classes(seg_x), len(facades.CLASSES), f"{stem}-v{version}-seg-{size}"
        )
        out["labels"] = classes(val[0])
    if cfg.data == "multimodal-facades":
        from reference_trainers import realism

        out["realism"], out["appearance_accuracy"] = realism.for_dataset(Path(root), size)
    return out


# ---------------------------------------------------------------------------------- training


def train(cfg: Pix2PixConfig) -> dict[str, Any]:
    """Train with the resolved config; returns the last evaluation row."""
    s = Session(cfg, "pix2pix", quality=["l1", "seg_pixel_acc"])
    norm = s.d_norm(cfg.d_norm)
    check_weights(cfg)
    d = load_data(cfg)
    batches = data.Batches(d["train"], cfg.batch_size, cfg.seed)
    common.seed_everything(cfg.seed)
    G = UNet(3, 3, cfg.width, cfg.image_size, cfg.dropout)
    layers = cfg.d_layers or patch_layers(cfg.image_size)
    D = PatchGAN(6, cfg.width, layers, norm)
    G.apply(init_weights)
    D.apply(init_weights)
    G_run, D_run = s.setup(G, D, batches)

    from reference_trainers.metrics_torch import PairMetrics

    val_x, val_y = d["val"]
    metrics = PairMetrics(
        val_y, d["labels"], d["segmenter"], len(facades.CLASSES), realism=d["realism"]
    )
    shown = torch.linspace(0, len(val_x) - 1, 8).long()  # fixed validation inputs

    def evaluate(step: int) -> dict[str, Any]:
        outputs = torch.cat(
            [G(val_x[i : i + 50].to(s.device)).float().cpu() for i in range(0, len(val_x), 50)]
        )
        grid = torch.stack([val_x[shown], outputs[shown], val_y[shown]], 1).flatten(0, 1)
        common.save_grid(grid, s.run.dir / "samples" / f"step_{step:06d}.png", nrow=6)
        return metrics(outputs)

    def next_pair() -> tuple[torch.Tensor, torch.Tensor]:
        pair = batches.next()
        if cfg.jitter:
            pair = data.jitter(pair, cfg.image_size, s.gens["data"])
        return s.local(pair)

    def conditioned(x: torch.Tensor) -> Any:
        """D given the condition ``x``: the penalties act on the image only."""
        return lambda image: D_run(torch.cat([x, image], 1))

    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        for _ in range(d_steps):
            x, y = next_pair()
            with s.autocast():
                # --augment: one transform on each (condition, image) pair D sees
                x_in, y_in, fake_in = s.augment_pair_d(x, y, G_run(x).detach(), key=s.key)
                out = s.objective.discriminator(
                    conditioned(x_in), y_in, fake_in, step=s.step, key=s.key,
                    noise_std=s.noise_std, states=s.term_states,  # lecam's averages, if any
                    replicas=s.replicas,  # torchrun: the states averaged over the ranks
                )  # fmt: skip
            s.update_d(out)
            s.advance_states(out)
        for _ in range(g_steps):
            with s.autocast():
                fake = G_run(x)

                def gan_term(image: torch.Tensor, x: torch.Tensor = x, y: torch.Tensor = y) -> Any:
                    # --augment: one transform on the (condition, generated image) pair; with
                    # --l1-weighting gradient-ratio each call draws its own transform
                    x_in, image_in, y_in = s.augment_pair_g(
                        x, image, y if s.needs_real else None, key=s.key
                    )
                    return s.objective.generator(
                        conditioned(x_in), image_in, real=y_in,
                        step=s.step, key=s.key, noise_std=s.noise_std,
                    )  # fmt: skip

                g_out = gan_term(fake)
                l1 = (fake.float() - y).abs().mean()
            extra = {"l1": l1}
            if cfg.l1_weighting == "gradient-ratio":  # TF-GAN's combine_adversarial_loss
                g_loss, extra["adv_weight"] = advloss.combine_adversarial_loss(
                    lambda image: cfg.lambda_l1 * (image.float() - y).abs().mean(),  # noqa: B023
                    lambda image: cfg.gan_weight * gan_term(image).total,
                    fake, gradient_ratio=cfg.gradient_ratio, return_weight=True,
                )  # fmt: skip
            else:
                g_loss = cfg.gan_weight * g_out.total + cfg.lambda_l1 * l1
            s.update_g(g_loss)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out, extra=extra):
            s.evaluate(evaluate)
    return s.finish()
