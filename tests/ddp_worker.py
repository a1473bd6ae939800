"""Worker for tests/test_ddp.py: one discriminator step (NS loss on fused R1 outputs + R1 + GP)
with a spectrally normalized layer, on this rank's shard of a global batch, with the model
wrapped in DistributedDataParallel."""

from __future__ import annotations

import os
import sys

import numpy as np


def make_discriminator():
    import torch
    from torch import nn

    from advloss.nn.torch import spectral_norm

    torch.manual_seed(0)
    # The conv is spectrally normalized: its u, v buffers are updated by every training forward
    # (three per step here) and broadcast by DDP from rank 0.
    return nn.Sequential(
        spectral_norm(
            nn.Conv2d(3, 4, 3, padding=1).double(), generator=torch.Generator().manual_seed(1)
        ),
        nn.Softplus(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 1).double(),
    )


def global_batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 3, 6, 6)), rng.normal(size=(8, 3, 6, 6)), rng.uniform(size=8)


def d_step(d, real, fake, alpha):
    import advloss

    r1, real_logits = advloss.r1_penalty(d, real, gamma=10.0, return_outputs=True)
    gp = advloss.gradient_penalty(d, real, fake, alpha=alpha, weight=10.0)
    return advloss.get_loss("ns").discriminator(real_logits, d(fake)) + r1 + gp


def run(rank: int, world: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        d = DDP(make_discriminator())
        real, fake, alpha = (torch.from_numpy(a) for a in global_batch())
        shard = slice(rank * 8 // world, (rank + 1) * 8 // world)
        loss = d_step(d, real[shard], fake[shard], alpha[shard])
        loss.backward()
        if rank == 0:
            buffers = [b.numpy() for b in d.module.buffers()]
            np.savez(out, *[p.grad.numpy() for p in d.module.parameters()], *buffers)
        # Both ranks reach teardown together: a rank destroying the group while its peer still
        # talks to it can abort the process ("terminate called without an active exception").
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    run(rank, world, port, out)
