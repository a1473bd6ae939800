"""advloss in a PyTorch Lightning ``LightningModule`` with manual optimization.

    python examples/train_lightning.py [--steps 2000]

GANs alternate two optimizers, so the module sets ``automatic_optimization = False`` and calls
``manual_backward`` and each optimizer's ``step`` itself.  The objective is one advloss value.
"""

from __future__ import annotations

import argparse
import math

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import advloss


class RingGAN(L.LightningModule):
    def __init__(self, objective: str = "ns + r1(gamma=0.1, every=4)") -> None:
        super().__init__()
        self.automatic_optimization = False
        self.G = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                               nn.Linear(128, 2))  # fmt: skip
        self.D = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128),
                               nn.LeakyReLU(0.2), nn.Linear(128, 1))  # fmt: skip
        self.objective = advloss.Objective.parse(objective)
        self.gen = torch.Generator().manual_seed(0)

    def configure_optimizers(self):
        return (torch.optim.Adam(self.G.parameters(), 1e-3, betas=(0.5, 0.9)),
                torch.optim.Adam(self.D.parameters(), 1e-3, betas=(0.5, 0.9)))  # fmt: skip

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        (real,) = batch
        z = torch.randn(len(real), 8, generator=self.gen).to(real)
        out = self.objective.discriminator(self.D, real, self.G(z).detach(), step=batch_idx,
                                           key=self.gen)  # fmt: skip
        d_opt.zero_grad()
        self.manual_backward(out.total)
        d_opt.step()

        z = torch.randn(len(real), 8, generator=self.gen).to(real)
        g_out = self.objective.generator(self.D, self.G(z), step=batch_idx, key=self.gen)
        g_opt.zero_grad()
        self.manual_backward(g_out.total)
        g_opt.step()
        self.log_dict({"d_loss": out.total, "g_loss": g_out.total,
                       "d_real_acc": out.stats["real_acc"], "d_fake_acc": out.stats["fake_acc"]},
                      prog_bar=True)  # fmt: skip


def ring_data(n: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(1)
    angle = torch.randint(0, 8, (n,), generator=gen) * (2 * math.pi / 8)
    x = torch.stack([angle.cos(), angle.sin()], 1) + 0.02 * torch.randn(n, 2, generator=gen)
    return TensorDataset(x)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    model = RingGAN()
    loader = DataLoader(ring_data(args.steps * args.batch), batch_size=args.batch, shuffle=True)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=False)  # fmt: skip
    trainer.fit(model, loader)
    with torch.no_grad():
        samples = model.G(torch.randn(2000, 8, generator=torch.Generator().manual_seed(2)))
    distance = (samples.norm(dim=1) - 1).abs().mean().item()
    metrics = {k: round(float(v), 3) for k, v in trainer.callback_metrics.items()}
    print(f"last step: {metrics}; mean distance of samples to the ring: {distance:.3f}")
    return distance


if __name__ == "__main__":
    main()
