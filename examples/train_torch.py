"""advloss in a plain PyTorch training loop: a GAN on a ring of 8 Gaussians.

    python examples/train_torch.py [--steps 2000] [--objective "ns + r1(gamma=0.1, every=4)"]

The objective (loss + penalties + label transforms + instance noise) is one advloss value; the
loop is ordinary PyTorch.  Prints the losses, D's accuracies and the balance monitor's verdict,
then how close the samples are to the 8 modes.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import advloss


def ring(n: int, gen: torch.Generator) -> torch.Tensor:
    """n samples of 8 Gaussians (σ 0.02) on the unit circle."""
    angle = torch.randint(0, 8, (n,), generator=gen) * (2 * math.pi / 8)
    return torch.stack([angle.cos(), angle.sin()], 1) + 0.02 * torch.randn(n, 2, generator=gen)


def mlp(n_in: int, n_out: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, 128), act, nn.Linear(128, 128), act, nn.Linear(128, n_out))


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--objective", default="ns + r1(gamma=0.1, every=4) + noise('0.05:0:1000')")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    G, D = mlp(8, 2, nn.ReLU()), mlp(2, 1, nn.LeakyReLU(0.2))
    g_opt = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.9))
    objective = advloss.Objective.parse(args.objective)
    monitor = advloss.BalanceMonitor()
    state, verdict = monitor.init(), None

    for step in range(args.steps):
        real = ring(args.batch, gen)
        fake = G(torch.randn(args.batch, 8, generator=gen))
        out = objective.discriminator(D, real, fake.detach(), step=step, key=gen)
        d_opt.zero_grad()
        out.total.backward()
        d_opt.step()

        g_out = objective.generator(D, G(torch.randn(args.batch, 8, generator=gen)), step=step,
                                    real=real, key=gen)  # fmt: skip
        g_opt.zero_grad()
        g_out.total.backward()
        g_opt.step()

        state = monitor.update(state, out.stats, d_loss=out.total, g_loss=g_out.total)
        if (step + 1) % max(args.steps // 5, 1) == 0:  # host reads only when printing
            verdict = monitor.verdict(state, previous=verdict)
            print(f"step {step + 1}: d {out.total.item():.3f} g {g_out.total.item():.3f} "
                  f"acc real/fake {float(out.stats['real_acc']):.2f}/"
                  f"{float(out.stats['fake_acc']):.2f} [{verdict.regime}]")  # fmt: skip

    with torch.no_grad():
        samples = G(torch.randn(2000, 8, generator=gen))
    distance = (samples.norm(dim=1) - 1).abs().mean().item()
    print(f"mean distance of samples to the ring: {distance:.3f}")
    return distance


if __name__ == "__main__":
    main()
